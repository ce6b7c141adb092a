"""IEMOCAP release layout -> Kaldi-style data dir.

Used by ``egs/iemocap`` on the real release and by ``egs/mini_emo`` on the synthesized corpus
written in the same layout::

    Session{k}/dialog/EmoEvaluation/<dialog>.txt       summary + annotator lines
    Session{k}/dialog/transcriptions/<dialog>.txt      UTT [start-end]: words
    Session{k}/sentences/wav/<dialog>/<utt>.wav

Rules: the summary line's third field is the majority label (``xxx`` = no
majority, dropped); the 4-class set merges ``exc`` into ``hap``; the speaker is the session plus
the gender letter of the *last* id field (``Ses01F_impro01_M013`` -> ``Ses01M``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple


from serkit.data.datadir import DataDir, audio_duration
from serkit.errors import DataDirError

SUMMARY_RE = re.compile(
    r"^\[(?P<start>\d+(?:\.\d+)?) - (?P<end>\d+(?:\.\d+)?)\]\t(?P<utt>\S+)\t(?P<label>\S+)\t"
    r"\[(?P<vad>[^\]]*)\]\s*$"
)
UTT_RE = re.compile(r"^Ses(?P<session>\d{2})[FM]_(?P<dialog_rest>.+)_(?P<gender>[FM])\d{3}$")
TRANSCRIPT_RE = re.compile(r"^(?P<utt>\S+)\s+\[[\d.]+-[\d.]+\]:\s?(?P<words>.*)$")

# Named label sets: raw IEMOCAP label -> output label. Labels not in the map are dropped.
LABEL_SETS: Dict[str, Dict[str, str]] = {
    "4class": {"ang": "ang", "hap": "hap", "exc": "hap", "neu": "neu", "sad": "sad"},
    "4class_noexc": {"ang": "ang", "hap": "hap", "neu": "neu", "sad": "sad"},
    "5class_exc": {"ang": "ang", "hap": "hap", "exc": "exc", "neu": "neu", "sad": "sad"},
    "all": {k: k for k in ("ang", "hap", "exc", "neu", "sad", "fru", "sur", "fea", "dis", "oth")},
}


@dataclass
class Utterance:
    utt: str            # release id, e.g. Ses01F_impro01_M013
    label: str          # raw majority label
    start: float
    end: float
    vad: str
    source: str         # "file:line" of the summary line, for error messages

    def ratings(self) -> Tuple[float, float, float]:
        """(valence, arousal, dominance) of the summary line's ``[V, A, D]``."""
        try:
            v = tuple(float(x) for x in self.vad.split(","))
        except ValueError:
            v = ()
        if len(v) != 3 or not all(math.isfinite(x) for x in v):
            raise DataDirError(f"{self.source}: '[{self.vad}]' is not three numbers [V, A, D]")
        return v

    @property
    def session(self) -> int:
        return int(parse_utt_id(self.utt, self.source)["session"])

    @property
    def gender(self) -> str:
        return parse_utt_id(self.utt, self.source)["gender"].lower()

    @property
    def speaker(self) -> str:
        return speaker_of(self.utt)

    @property
    def dialog(self) -> str:
        return self.utt.rsplit("_", 1)[0]

    @property
    def dialog_type(self) -> str:
        return "impro" if "_impro" in self.utt else "script"


def parse_utt_id(utt: str, where: str = "") -> Dict[str, str]:
    m = UTT_RE.match(utt)
    if not m:
        raise DataDirError(f"{where + ': ' if where else ''}'{utt}' is not an IEMOCAP utterance id")
    return m.groupdict()


def speaker_of(utt: str) -> str:
    """Real speaker: session + gender letter of the last id field.

    >>> speaker_of("Ses01F_impro01_M013")
    'Ses01M'
    """
    g = parse_utt_id(utt)
    return f"Ses{g['session']}{g['gender']}"


def parse_emo_evaluation(path: str | Path) -> List[Utterance]:
    """Summary lines of one EmoEvaluation file; annotator lines and the header are skipped."""
    path = Path(path)
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.startswith("["):
                continue
            m = SUMMARY_RE.match(line.rstrip("\r\n"))
            where = f"{path}:{lineno}"
            if not m:
                raise DataDirError(f"{where}: malformed summary line: {line.strip()!r}")
            parse_utt_id(m["utt"], where)
            out.append(Utterance(m["utt"], m["label"], float(m["start"]), float(m["end"]), m["vad"], where))
    return out


def parse_transcriptions(path: str | Path) -> Dict[str, str]:
    """``UTT [start-end]: words`` lines; non-utterance ids (``MXX``/``FXX``, ...) are skipped."""
    out: Dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = TRANSCRIPT_RE.match(line.strip())
            if m and UTT_RE.match(m["utt"]):
                out[m["utt"]] = m["words"].strip()
    return out


def data_utt_id(utt: str) -> str:
    """Data-dir utt id: speaker prefix so that sorting groups by speaker (Kaldi rule)."""
    return f"{speaker_of(utt)}-{utt}"


def prepare_iemocap(
    root: str | Path,
    out_dir: str | Path,
    label_set: str | Mapping[str, str] = "4class",
    dialog_types: Sequence[str] = ("impro", "script"),
    sessions: Optional[Iterable[int]] = None,
    corpus: str = "iemocap",
    lang: str = "en",
    vad_scale: str = "raw",
) -> DataDir:
    """Write a Kaldi-style data dir for the IEMOCAP-layout corpus under ``root``.

    ``label_set`` is a name in ``LABEL_SETS`` or an explicit raw->output map.
    Fields: wav.scp utt2spk spk2utt utt2emo utt2gender text utt2dur utt2session utt2lang utt2corpus,
    and utt2valence utt2arousal utt2dominance from the summary line's ``[V, A, D]`` (1-5 as
    released; ``vad_scale="unit"``: (x - 1) / 4, in [0, 1]).
    """
    if vad_scale not in ("raw", "unit"):
        raise DataDirError(f"unknown vad_scale '{vad_scale}'; choose raw or unit")
    root = Path(root)
    if isinstance(label_set, str) and label_set not in LABEL_SETS:
        raise DataDirError(f"unknown label set '{label_set}'; choose from {sorted(LABEL_SETS)}")
    mapping = LABEL_SETS[label_set] if isinstance(label_set, str) else dict(label_set)
    session_dirs = sorted(root.glob("Session*/dialog/EmoEvaluation"))
    if not session_dirs:
        raise DataDirError(f"{root}: no Session*/dialog/EmoEvaluation directories (is this an IEMOCAP root?)")
    keep_sessions = set(sessions) if sessions is not None else None
    fields: Dict[str, Dict[str, str]] = {n: {} for n in (
        "wav.scp", "utt2spk", "utt2emo", "utt2gender", "text", "utt2dur", "utt2session",
        "utt2lang", "utt2corpus", "utt2valence", "utt2arousal", "utt2dominance")}
    for emo_dir in session_dirs:
        sess_root = emo_dir.parent.parent
        transcripts: Dict[str, str] = {}
        for tfile in sorted((sess_root / "dialog" / "transcriptions").glob("*.txt")):
            transcripts.update(parse_transcriptions(tfile))
        for efile in sorted(emo_dir.glob("*.txt")):
            for u in parse_emo_evaluation(efile):
                if keep_sessions is not None and u.session not in keep_sessions:
                    continue
                if u.dialog_type not in dialog_types or u.label not in mapping:
                    continue
                wav = sess_root / "sentences" / "wav" / u.dialog / f"{u.utt}.wav"
                if not wav.exists():
                    raise DataDirError(f"{u.source}: audio of '{u.utt}' not found: {wav}")
                if u.utt not in transcripts:
                    raise DataDirError(f"{u.source}: no transcript for '{u.utt}' in {sess_root}/dialog/transcriptions")
                uid = data_utt_id(u.utt)
                if uid in fields["wav.scp"]:
                    raise DataDirError(f"{u.source}: utterance '{u.utt}' appears twice")
                fields["wav.scp"][uid] = str(wav.resolve())
                fields["utt2spk"][uid] = u.speaker
                fields["utt2emo"][uid] = mapping[u.label]
                fields["utt2gender"][uid] = u.gender
                fields["text"][uid] = transcripts[u.utt]
                fields["utt2dur"][uid] = f"{audio_duration(wav, u.source):.3f}"
                fields["utt2session"][uid] = f"Ses{u.session:02d}"
                fields["utt2lang"][uid] = lang
                fields["utt2corpus"][uid] = corpus
                for name, value in zip(("valence", "arousal", "dominance"), u.ratings()):
                    fields[f"utt2{name}"][uid] = f"{(value - 1) / 4 if vad_scale == 'unit' else value:.4f}"
    if not fields["wav.scp"]:
        raise DataDirError(f"{root}: no utterance kept (label set {sorted(set(mapping.values()))})")
    d = DataDir(Path(out_dir), fields, sorted(set(mapping.values())))
    d.write()
    return d
