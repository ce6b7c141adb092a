"""Any corpus from a manifest table -> a validated Kaldi-style data dir.

The manifest is CSV or TSV with a header; columns ``path, speaker, emotion`` and optionally
``gender, text, session, lang, start, end`` (seconds, for segments of longer recordings) and the
dimensional ratings ``valence, arousal, dominance`` (numbers, any scale). Paths
are relative to ``root`` (default: the manifest's folder). Unlabelled speech (for
self-supervised pretraining) has no ``emotion`` column and declares no labels; columns the data
dir has no file for are named in ``ignore`` (else they are errors, which catches typos). Utterance ids are
``<speaker>-<file stem>`` (``-<start ms>-<end ms>`` for segments), so the speaker is a prefix.
A segment's ``wav.scp`` entry is Kaldi's pipe form, which runs this module's ``cut`` command.
"""
from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

from serkit.data.datadir import DIMENSIONS, DataDir, audio_duration, is_rating, validate_datadir
from serkit.errors import DataDirError

REQUIRED = ("path", "speaker", "emotion")
OPTIONAL = ("gender", "text", "session", "lang", "start", "end") + DIMENSIONS
GENDER_NAMES = {"f": "f", "female": "f", "w": "f", "m": "m", "male": "m"}
FILES = {"gender": "utt2gender", "text": "text", "session": "utt2session", "lang": "utt2lang",
         **{d: f"utt2{d}" for d in DIMENSIONS}}


def _rows(manifest: Path, required: Sequence[str] = REQUIRED, ignore: Sequence[str] = ()):
    """(line number, row dict) of a CSV (``,``) or TSV (tab) file with a header; the ``ignore``
    columns are dropped."""
    try:
        text = manifest.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise DataDirError(f"cannot read manifest {manifest}: {e}") from None
    except UnicodeDecodeError as e:
        line = manifest.read_bytes()[: e.start].count(b"\n") + 1
        raise DataDirError(f"{manifest}:{line}: not UTF-8 text") from None
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataDirError(f"{manifest}:1: missing column(s) {missing}; the header needs {list(required)} "
                           f"and may have {list(OPTIONAL)}")
    if "emotion" in header and "emotion" not in required:
        raise DataDirError(f"{manifest}:1: an 'emotion' column, but no emotion labels declared (--emotions)")
    known = tuple(required) + OPTIONAL + tuple(ignore)
    unknown = [c for c in header if c not in known]
    if unknown:
        raise DataDirError(f"{manifest}:1: unknown column(s) {unknown}; known: {list(REQUIRED + OPTIONAL)} "
                           "(name columns to skip with --ignore_columns)")
    reader.fieldnames = header
    for i, row in enumerate(reader, 2):
        if None in row or any(v is None for v in row.values()):
            raise DataDirError(f"{manifest}:{i}: expected {len(header)} fields")
        yield i, {k: v.strip() for k, v in row.items() if k not in ignore}


def _seconds(value: str, where: str, name: str) -> float:
    try:
        t = float(value)
    except ValueError:
        raise DataDirError(f"{where}: {name} '{value}' is not a number of seconds") from None
    if t < 0:
        raise DataDirError(f"{where}: {name} {t} is negative")
    return t


def prepare_manifest(manifest: str | Path, out_dir: str | Path, emotions: Sequence[str],
                     root: Optional[str | Path] = None, corpus: Optional[str] = None,
                     check_audio: bool = True, unlabelled: bool = False, ignore: Sequence[str] = ()) -> DataDir:
    """Write and validate the data dir ``out_dir`` from ``manifest``; ``emotions`` is the
    corpus's declared label set (a label outside it is an error naming the manifest line), or
    empty with ``unlabelled`` (no ``emotion`` column, no ``utt2emo``: pretraining data)."""
    from serkit.features.extract import segment_spec

    manifest = Path(manifest)
    root = Path(root) if root is not None else manifest.parent
    declared = list(emotions)
    if unlabelled and declared:
        raise DataDirError("unlabelled speech declares no emotion labels: give --unlabelled or --emotions, not both")
    if not declared and not unlabelled:
        raise DataDirError("give the corpus's emotion labels (--emotions), or --unlabelled for speech without them")
    required = tuple(c for c in REQUIRED if not (unlabelled and c == "emotion"))
    fields: Dict[str, Dict[str, str]] = {n: {} for n in ("wav.scp", "utt2spk", "utt2dur")}
    if not unlabelled:
        fields["utt2emo"] = {}
    first_line: Dict[str, int] = {}
    for lineno, row in _rows(manifest, required, ignore):
        where = f"{manifest}:{lineno}"
        for c in required:
            if not row[c]:
                raise DataDirError(f"{where}: empty {c}")
        spk, emo = row["speaker"], row.get("emotion")
        if len(spk.split()) != 1 or "/" in spk:
            raise DataDirError(f"{where}: speaker '{spk}' must be one word without '/'")
        if not unlabelled and emo not in declared:
            raise DataDirError(f"{where}: emotion '{emo}' is not one of the declared {declared}")
        wav = Path(row["path"])
        wav = wav if wav.is_absolute() else root / wav
        if check_audio and not wav.is_file():
            raise DataDirError(f"{where}: audio not found: {wav}")
        start, end = row.get("start", ""), row.get("end", "")
        utt = f"{spk}-{wav.stem}".replace(" ", "_")
        if start or end:
            if not (start and end):
                raise DataDirError(f"{where}: give both start and end, or neither")
            t0, t1 = _seconds(start, where, "start"), _seconds(end, where, "end")
            if t1 <= t0:
                raise DataDirError(f"{where}: end {t1} is not after start {t0}")
            utt += f"-{round(t0 * 1000):07d}-{round(t1 * 1000):07d}"
            spec = segment_spec(wav.resolve(), t0, t1)
            dur = t1 - t0
        else:
            spec = str(wav.resolve())
            dur = audio_duration(wav, where) if check_audio else 0.0
        if utt in first_line:
            raise DataDirError(f"{where}: utterance id '{utt}' repeats line {first_line[utt]} "
                               "(same speaker and file name)")
        first_line[utt] = lineno
        fields["wav.scp"][utt] = spec
        fields["utt2spk"][utt] = spk
        if not unlabelled:
            fields["utt2emo"][utt] = emo
        fields["utt2dur"][utt] = f"{dur:.3f}"
        for col, name in FILES.items():
            value = row.get(col, "")
            if col in row and not value and col != "text":
                raise DataDirError(f"{where}: empty {col}")
            if col == "gender" and value:
                if value.lower() not in GENDER_NAMES:
                    raise DataDirError(f"{where}: gender '{value}' is not f / m (female / male)")
                value = GENDER_NAMES[value.lower()]
            if col in DIMENSIONS and value and not is_rating(value):
                raise DataDirError(f"{where}: {col} '{value}' is not a number")
            if col in row:
                fields.setdefault(name, {})[utt] = value
        if corpus:
            fields.setdefault("utt2corpus", {})[utt] = corpus
    if not fields["wav.scp"]:
        raise DataDirError(f"{manifest}: no utterances")
    d = DataDir(Path(out_dir), fields, declared or None)
    d.write()
    rep = validate_datadir(out_dir, check_audio=False)
    if not rep.ok:
        raise DataDirError(rep.errors[0])
    return d


def cut(path: str, start: float, end: float) -> None:
    """Write seconds [start, end) of ``path`` to stdout as a mono float WAV file (a segment's
    wav.scp pipe, for tools other than serkit: serkit reads these segments itself)."""
    import numpy as np
    import soundfile

    from serkit.features.audio import read_samples

    x, sr, scale = read_samples(path, path, start, end)
    buf = io.BytesIO()
    soundfile.write(buf, np.multiply(x, np.float32(scale), dtype=np.float32), sr, format="WAV", subtype="FLOAT")
    sys.stdout.buffer.write(buf.getvalue())


if __name__ == "__main__":   # python -m serkit.corpora.manifest cut FILE START END
    if len(sys.argv) != 5 or sys.argv[1] != "cut":
        sys.exit("usage: python -m serkit.corpora.manifest cut FILE START END")
    cut(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
