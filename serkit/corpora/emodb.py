"""Berlin EMO-DB and SAVEE release layouts -> Kaldi-style data dirs.

EMO-DB: ``wav/03a01Fa.wav``: chars 1-2 speaker, 3-5 text code, 6 emotion, 7 version; 16 kHz.
SAVEE: ``AudioData/<SPK>/<code><NN>.wav``, 4 male speakers, 44.1 kHz (resampled at read time).
Speaker ids carry the corpus name (``emodb03``, ``saveeDC``) so that two corpora can share a
training set; the utt id is the speaker id, a dash and the file name.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict


from serkit.data.datadir import DataDir, audio_duration
from serkit.errors import DataDirError

EMODB_EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
                  "T": "sadness", "N": "neutral"}
EMODB_SPEAKERS = {"03": "m", "08": "f", "09": "f", "10": "m", "11": "m", "12": "m", "13": "f", "14": "f",
                  "15": "m", "16": "f"}
EMODB_RE = re.compile(r"^(?P<spk>\d{2})(?P<text>[ab]\d{2})(?P<emo>[A-Z])(?P<version>[a-z])$")

SAVEE_EMOTIONS = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral",
                  "sa": "sadness", "su": "surprise"}
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")
SAVEE_RE = re.compile(r"^(?P<emo>sa|su|[adfhn])(?P<num>\d{2})$")


def _write(out_dir, fields: Dict[str, Dict[str, str]], root: Path, emotions: Dict[str, str]) -> DataDir:
    if not fields["wav.scp"]:
        raise DataDirError(f"{root}: no utterances found")
    d = DataDir(Path(out_dir), fields, sorted(set(emotions.values())))
    d.write()
    return d


def _new_fields() -> Dict[str, Dict[str, str]]:
    return {n: {} for n in ("wav.scp", "utt2spk", "utt2emo", "utt2gender", "utt2dur", "utt2lang", "utt2corpus")}


def _add(f: Dict[str, Dict[str, str]], wav: Path, spk: str, emotion: str, gender: str, lang: str,
         corpus: str) -> None:
    utt = f"{spk}-{wav.stem}"
    f["wav.scp"][utt] = str(wav.resolve())
    f["utt2spk"][utt] = spk
    f["utt2emo"][utt] = emotion
    f["utt2gender"][utt] = gender
    f["utt2dur"][utt] = f"{audio_duration(wav):.3f}"
    f["utt2lang"][utt] = lang
    f["utt2corpus"][utt] = corpus


def prepare_emodb(root: str | Path, out_dir: str | Path) -> DataDir:
    """All 535 utterances of the release with their 7 emotions."""
    root = Path(root)
    wavs = sorted((root / "wav").glob("*.wav"))
    if not wavs:
        raise DataDirError(f"{root}/wav: no .wav files (is this an EMO-DB root?)")
    f = _new_fields()
    for wav in wavs:
        m = EMODB_RE.match(wav.stem)
        if not m or m["spk"] not in EMODB_SPEAKERS or m["emo"] not in EMODB_EMOTIONS:
            raise DataDirError(f"{wav}: not an EMO-DB file name (e.g. 03a01Fa.wav with a known speaker and emotion)")
        _add(f, wav, f"emodb{m['spk']}", EMODB_EMOTIONS[m["emo"]], EMODB_SPEAKERS[m["spk"]], "de", "emodb")
    return _write(out_dir, f, root, EMODB_EMOTIONS)


def prepare_savee(root: str | Path, out_dir: str | Path) -> DataDir:
    """The 480 utterances of SAVEE (4 male speakers, 7 emotions)."""
    root = Path(root)
    f = _new_fields()
    for spk_name in SAVEE_SPEAKERS:
        spk_dir = root / "AudioData" / spk_name
        if not spk_dir.is_dir():
            raise DataDirError(f"{spk_dir}: missing speaker directory (is this a SAVEE root?)")
        for wav in sorted(spk_dir.glob("*.wav")):
            m = SAVEE_RE.match(wav.stem)
            if not m:
                raise DataDirError(f"{wav}: not a SAVEE file name (<a|d|f|h|n|sa|su><NN>.wav)")
            _add(f, wav, f"savee{spk_name}", SAVEE_EMOTIONS[m["emo"]], "m", "en", "savee")
    return _write(out_dir, f, root, SAVEE_EMOTIONS)
