"""Kaldi-style data directories: read, write, validate and fix.

A data dir holds one file per field (``wav.scp``, ``utt2spk``, ``utt2emo``, ...), one line per
utterance ``utt_id<space>value``, sorted in C locale, the speaker id a prefix of the utt id.
``spk2utt`` is derived from ``utt2spk``.
"""
from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

from serkit.errors import DataDirError
from serkit.fileio import atomic_write, write_text_atomic

# Per-utterance files a data dir may hold (spk2utt is per speaker and derived).
# Dimensional emotion ratings, one file per dimension (utt2valence, ...): a number per utterance.
DIMENSIONS = ("valence", "arousal", "dominance")
UTT_FILES = (
    "wav.scp", "utt2spk", "utt2emo", "utt2gender", "text", "utt2dur", "utt2lang",
    "utt2corpus", "utt2session",
) + tuple(f"utt2{d}" for d in DIMENSIONS)
REQUIRED_FILES = ("wav.scp", "utt2spk")
GENDERS = ("f", "m")
# The corpus's declared emotion label set, one label per line, written by the recipe's data prep
# (not derived from utt2emo): a label outside it (a typo such as 'angre') is an error, not a class.
EMOTIONS_FILE = "emotions"


def _lines(path: Path):
    """(line number, text) of a UTF-8 file; other bytes are an error naming the file and line."""
    if not path.is_file():
        raise DataDirError(f"{path}: no such file")
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                yield lineno, raw.decode("utf-8").rstrip("\n").rstrip("\r")
            except UnicodeDecodeError as e:
                raise DataDirError(f"{path}:{lineno}: not UTF-8 text (byte {raw[e.start]:#04x} at column "
                                   f"{e.start + 1})") from None


def audio_duration(wav: str | os.PathLike, where: str = "") -> float:
    """Seconds of audio in ``wav`` from its header; an unreadable file is an error naming it."""
    import soundfile

    try:
        return soundfile.info(str(wav)).duration
    except (RuntimeError, OSError, soundfile.LibsndfileError) as e:
        raise DataDirError(f"{where + ': ' if where else ''}cannot read audio {wav}: {e}") from None


def is_rating(value: str) -> bool:
    """A dimensional rating: a finite number."""
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def read_emotions(path: str | os.PathLike) -> List[str]:
    """The declared label set in ``path`` (one label per line)."""
    path = Path(path)
    labels: List[str] = []
    for lineno, line in _lines(path):
        label = line.strip()
        if not label or len(label.split()) != 1:
            raise DataDirError(f"{path}:{lineno}: expected one label per line, got '{line}'")
        if label in labels:
            raise DataDirError(f"{path}:{lineno}: label '{label}' is declared twice")
        labels.append(label)
    if not labels:
        raise DataDirError(f"{path}: declares no labels")
    return labels


def read_kv(path: str | os.PathLike, allow_empty_value: bool = False) -> Dict[str, str]:
    """Read ``key value`` lines into an ordered dict.

    Errors name the file, the 1-based line number and the offending id.
    """
    path = Path(path)
    out: Dict[str, str] = {}
    for lineno, line in _lines(path):
        if not line.strip():
            raise DataDirError(f"{path}:{lineno}: empty line")
        parts = line.split(maxsplit=1)
        key = parts[0]
        value = parts[1].strip() if len(parts) > 1 else ""
        if not value and not allow_empty_value:
            raise DataDirError(f"{path}:{lineno}: id '{key}' has no value")
        if key in out:
            raise DataDirError(f"{path}:{lineno}: duplicate id '{key}'")
        out[key] = value
    return out


def write_kv(path: str | os.PathLike, mapping: Mapping[str, str]) -> None:
    """Write a mapping sorted by key in C locale (byte order), atomically."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        for key in sorted(mapping, key=_c_key):
            f.write(f"{key} {mapping[key]}\n")


def _c_key(s: str) -> bytes:
    # LC_ALL=C sort order is byte order of the UTF-8 encoding.
    return s.encode("utf-8")


def spk2utt_from_utt2spk(utt2spk: Mapping[str, str]) -> Dict[str, List[str]]:
    spk2utt: Dict[str, List[str]] = {}
    for utt in sorted(utt2spk, key=_c_key):
        spk2utt.setdefault(utt2spk[utt], []).append(utt)
    return spk2utt


@dataclass
class DataDir:
    """In-memory view of a data directory: ``fields[name][utt] = value``."""

    path: Path
    fields: Dict[str, Dict[str, str]] = field(default_factory=dict)
    emotions: Optional[List[str]] = None   # the declared label set (file ``emotions``), if any

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DataDir":
        path = Path(path)
        if not path.is_dir():
            raise DataDirError(f"{path}: data directory does not exist")
        fields = {}
        for name in UTT_FILES:
            if (path / name).exists():
                fields[name] = read_kv(path / name, allow_empty_value=(name == "text"))
        for name in REQUIRED_FILES:
            if name not in fields:
                raise DataDirError(f"{path}: missing required file '{name}'")
        emotions = read_emotions(path / EMOTIONS_FILE) if (path / EMOTIONS_FILE).exists() else None
        return cls(path, fields, emotions)

    @property
    def utts(self) -> List[str]:
        return list(self.fields["utt2spk"].keys())

    def get(self, name: str) -> Dict[str, str]:
        if name not in self.fields:
            raise DataDirError(f"{self.path}: missing file '{name}'")
        return self.fields[name]

    def has(self, name: str) -> bool:
        return name in self.fields

    def subset(self, utts: Iterable[str], path: str | os.PathLike) -> "DataDir":
        keep = set(utts)
        fields = {name: {u: v for u, v in m.items() if u in keep} for name, m in self.fields.items()}
        return DataDir(Path(path), fields, self.emotions)

    def write(self, path: Optional[str | os.PathLike] = None) -> None:
        """Write every field plus ``spk2utt``; files are written atomically."""
        path = Path(path) if path is not None else self.path
        path.mkdir(parents=True, exist_ok=True)
        for name, mapping in self.fields.items():
            write_kv(path / name, mapping)
        spk2utt = spk2utt_from_utt2spk(self.fields["utt2spk"])
        write_kv(path / "spk2utt", {s: " ".join(u) for s, u in spk2utt.items()})
        if self.emotions is not None:
            write_text_atomic(path / EMOTIONS_FILE, "".join(f"{e}\n" for e in self.emotions))
        self.path = path


def write_datadir(path: str | os.PathLike, fields: Mapping[str, Mapping[str, str]],
                  emotions: Optional[Sequence[str]] = None) -> DataDir:
    d = DataDir(Path(path), {k: dict(v) for k, v in fields.items()}, list(emotions) if emotions else None)
    d.write()
    return d


@dataclass
class ValidationReport:
    errors: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_datadir(
    path: str | os.PathLike,
    emotions: Optional[Sequence[str]] = None,
    check_audio: bool = True,
    require_declared: bool = False,
) -> ValidationReport:
    """Check a data dir the way Kaldi's validate_data_dir.sh does, and explain every problem.

    Checks: required files; each file sorted (C locale) UTF-8 with unique ids; every file covers
    the same utterances (names the missing ones); speaker id is a prefix of the utt id;
    spk2utt agrees with utt2spk; labels in the declared set (``emotions``, or the data dir's
    ``emotions`` file, which ``require_declared`` makes compulsory); gender in {f, m}; audio exists.
    """
    path = Path(path)
    rep = ValidationReport()
    if not path.is_dir():
        rep.errors.append(f"{path}: data directory does not exist")
        return rep
    declared_in = "the declared set"
    if emotions is None and (path / EMOTIONS_FILE).exists():
        try:
            emotions = read_emotions(path / EMOTIONS_FILE)
            declared_in = f"the set declared in {path / EMOTIONS_FILE}"
        except DataDirError as e:
            rep.errors.append(str(e))
    elif emotions is None and require_declared and (path / "utt2emo").exists():
        rep.errors.append(f"{path / EMOTIONS_FILE}: missing: the recipe's data prep must declare the corpus's "
                          "emotion labels there, one per line")
    if (path / "segments").exists():   # Kaldi's utterances cut from recordings: wav.scp is keyed by recording
        rep.errors.append(f"{path / 'segments'}: a Kaldi segments file; serkit keeps one wav.scp line per "
                          f"utterance: serkit-validate-data-dir --fix {path} writes each segment there (the "
                          f"originals are kept under .backup/)")
        return rep
    fields: Dict[str, Dict[str, str]] = {}
    for name in UTT_FILES:
        fp = path / name
        if not fp.exists():
            if name in REQUIRED_FILES:
                rep.errors.append(f"{fp}: required file is missing")
            continue
        try:
            fields[name] = read_kv(fp, allow_empty_value=(name == "text"))
        except DataDirError as e:
            rep.errors.append(str(e))
            continue
        prev = None
        for lineno, key in enumerate(fields[name], 1):
            if prev is not None and _c_key(key) < _c_key(prev):
                rep.errors.append(
                    f"{fp}:{lineno}: id '{key}' is out of order (after '{prev}'); "
                    "sort with LC_ALL=C sort"
                )
                break
            prev = key
    if "utt2spk" not in fields:
        return rep
    ref = fields["utt2spk"]
    ref_set = set(ref)
    for name, mapping in fields.items():
        if name == "utt2spk":
            continue
        keys = set(mapping)
        missing = sorted(ref_set - keys, key=_c_key)
        extra = sorted(keys - ref_set, key=_c_key)
        if missing:
            rep.errors.append(
                f"{path / name}: {len(missing)} utterance(s) of utt2spk missing, e.g. "
                + ", ".join(missing[:5])
            )
        if extra:
            rep.errors.append(
                f"{path / name}: {len(extra)} utterance(s) not in utt2spk, e.g. " + ", ".join(extra[:5])
            )
    for lineno, (utt, spk) in enumerate(ref.items(), 1):
        if not utt.startswith(spk):
            rep.errors.append(
                f"{path / 'utt2spk'}:{lineno}: speaker id '{spk}' is not a prefix of utt id '{utt}'"
            )
            break
    spk2utt_path = path / "spk2utt"
    if spk2utt_path.exists():
        want = {s: " ".join(u) for s, u in spk2utt_from_utt2spk(ref).items()}
        try:
            have = read_kv(spk2utt_path)
        except DataDirError as e:
            rep.errors.append(str(e))
            have = want
        if have != want:
            rep.errors.append(f"{spk2utt_path}: does not match utt2spk (regenerate it with the fixer)")
    else:
        rep.errors.append(f"{spk2utt_path}: required file is missing")
    if emotions is not None and "utt2emo" in fields:
        allowed = set(emotions)
        for lineno, (utt, emo) in enumerate(fields["utt2emo"].items(), 1):
            if emo not in allowed:
                rep.errors.append(
                    f"{path / 'utt2emo'}:{lineno}: utterance '{utt}' has label '{emo}', "
                    f"not in {declared_in} {sorted(allowed)}"
                )
    if "utt2gender" in fields:
        for lineno, (utt, g) in enumerate(fields["utt2gender"].items(), 1):
            if g not in GENDERS:
                rep.errors.append(
                    f"{path / 'utt2gender'}:{lineno}: utterance '{utt}' has gender '{g}', expected f or m"
                )
    for dim in DIMENSIONS:
        for lineno, (utt, v) in enumerate(fields.get(f"utt2{dim}", {}).items(), 1):
            if not is_rating(v):
                rep.errors.append(f"{path / f'utt2{dim}'}:{lineno}: utterance '{utt}' has {dim} '{v}', "
                                  "expected a finite number")
                break
    if check_audio and "wav.scp" in fields:
        for lineno, (utt, wav) in enumerate(fields["wav.scp"].items(), 1):
            if wav.rstrip().endswith("|"):
                continue  # a command pipe: cannot be checked without running it
            if not Path(wav).exists():
                rep.errors.append(f"{path / 'wav.scp'}:{lineno}: audio of '{utt}' not found: {wav}")
    return rep


def fix_datadir(path: str | os.PathLike) -> List[str]:
    """Keep only utterances present in every file, sort, regenerate spk2utt.

    The original files are copied to ``<path>/.backup/<timestamp>/`` first. Returns the
    utterances that were dropped.
    """
    path = Path(path)
    present = [n for n in UTT_FILES if (path / n).exists()]
    if "utt2spk" not in present:
        raise DataDirError(f"{path}: cannot fix a data dir without utt2spk")
    fields = {}
    conflicts: List[str] = []
    for name in present:
        mapping: Dict[str, str] = {}
        first: Dict[str, int] = {}
        for lineno, line in _lines(path / name):
            parts = line.split(maxsplit=1)
            if not parts:
                continue
            value = parts[1].strip() if len(parts) > 1 else ""
            if not value and name != "text":
                continue
            key = parts[0]
            if key in mapping and mapping[key] != value:   # which is right cannot be guessed
                conflicts.append(f"{path / name}:{lineno}: id '{key}' is repeated with another value "
                                 f"('{value}' here, '{mapping[key]}' on line {first[key]})")
            elif key not in mapping:
                mapping[key], first[key] = value, lineno
        fields[name] = mapping
    if conflicts:   # nothing is written: the user decides
        raise DataDirError(f"{len(conflicts)} duplicate id(s) with conflicting values, nothing changed; "
                           f"first: {conflicts[0]}")
    backup = path / ".backup" / time.strftime("%Y%m%d-%H%M%S")
    backup.mkdir(parents=True, exist_ok=True)
    for name in present + (["spk2utt"] if (path / "spk2utt").exists() else []):
        shutil.copy2(path / name, backup / name)
    keep = set.intersection(*(set(m) for m in fields.values()))
    keep = {u for u in keep if u.startswith(fields["utt2spk"][u])}
    all_utts = set.union(*(set(m) for m in fields.values()))
    dropped = sorted(all_utts - keep, key=_c_key)
    emotions = read_emotions(path / EMOTIONS_FILE) if (path / EMOTIONS_FILE).exists() else None
    d = DataDir(path, {n: {u: v for u, v in m.items() if u in keep} for n, m in fields.items()}, emotions)
    d.write()
    return dropped
