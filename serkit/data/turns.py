"""Who speaks when in a recording: the turns of a conversation, from a diarization's RTTM file or
a Kaldi ``segments`` file.

A turn is a stretch of one recording (start and end in seconds) said by one speaker. RTTM is what
diarization systems write (pyannote, NeMo, DiariZen, Kaldi's own); its ``SPEAKER`` lines are

    SPEAKER <recording> <channel> <start> <duration> <NA> <NA> <speaker> <NA> <NA>

and its speaker labels name speakers of that recording only. A Kaldi ``segments`` file has
``<segment id> <recording> <start> <end>`` lines (end -1: the recording's end), with the speakers
in an ``utt2spk`` over the segment ids.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

from serkit.data.datadir import _lines
from serkit.errors import DataDirError


class Turn(NamedTuple):
    rec: str                # the recording, as the file names it
    start: float            # seconds
    end: float              # seconds; inf: to the recording's end
    speaker: str
    seg: Optional[str]      # the segment id (Kaldi segments), None for RTTM
    where: str              # "<file>:<line>", for messages


def _seconds(text: str, where: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataDirError(f"{where}: {what} '{text}' is not a number of seconds") from None
    if not math.isfinite(value):
        raise DataDirError(f"{where}: {what} '{text}' is not a number of seconds")
    return value


def read_rttm(path: str | os.PathLike) -> List[Turn]:
    """The ``SPEAKER`` lines of an RTTM file as turns, in file order; other line types (``SPKR-INFO``,
    ``LEXEME``, ...) and ``;;`` comments are skipped. Errors name the file and line."""
    path = Path(path)
    turns = []
    for lineno, line in _lines(path):
        fields = line.split()
        if not fields or fields[0].startswith(";;") or fields[0] != "SPEAKER":
            continue
        where = f"{path}:{lineno}"
        if len(fields) < 8:
            raise DataDirError(f"{where}: a SPEAKER line's 8th field is the speaker (type, recording, channel, "
                               f"start, duration, <NA>, <NA>, speaker, ...); this one has {len(fields)} fields")
        start, dur = _seconds(fields[3], where, "start"), _seconds(fields[4], where, "duration")
        if start < 0 or dur <= 0:
            raise DataDirError(f"{where}: start {fields[3]} must be >= 0 and duration {fields[4]} > 0")
        turns.append(Turn(fields[1], start, start + dur, fields[7], None, where))
    return turns


def read_segments(path: str | os.PathLike, utt2spk: Optional[Dict[str, str]] = None,
                  utt2spk_path: str = "utt2spk") -> List[Turn]:
    """A Kaldi ``segments`` file as turns, in file order; each segment's speaker from ``utt2spk``
    (every segment must be there), else its recording's name. Errors name the file and line."""
    path = Path(path)
    turns, seen = [], set()
    for lineno, line in _lines(path):
        fields = line.split()
        where = f"{path}:{lineno}"
        if len(fields) != 4:
            raise DataDirError(f"{where}: a segments line is '<segment> <recording> <start> <end>', "
                               f"this one has {len(fields)} fields")
        seg, rec = fields[0], fields[1]
        if seg in seen:
            raise DataDirError(f"{where}: duplicate segment '{seg}'")
        seen.add(seg)
        start, end = _seconds(fields[2], where, "start"), _seconds(fields[3], where, "end")
        if end == -1:   # Kaldi: to the end of the recording
            end = math.inf
        if start < 0 or end <= start:
            raise DataDirError(f"{where}: segment '{seg}': start {fields[2]} must be >= 0 and end {fields[3]} "
                               f"after it (or -1)")
        if utt2spk is not None and seg not in utt2spk:
            raise DataDirError(f"{utt2spk_path}: no speaker for segment '{seg}' ({where})")
        turns.append(Turn(rec, start, end, utt2spk[seg] if utt2spk is not None else rec, seg, where))
    return turns


def cut_segments(data_dir: str | os.PathLike) -> int:
    """A Kaldi data dir with a ``segments`` file (``wav.scp`` keyed by recording) -> serkit's form,
    where every utterance is a ``wav.scp`` line: each segment becomes the pipe that cuts it from
    its recording's file (``serkit.features.extract.segment_spec``, read in-process). ``utt2dur``
    is written where missing. ``wav.scp`` and ``segments`` are kept in ``.backup/<time>-segments/``
    first, and ``segments`` leaves the data dir. Returns the number of segments."""
    import shutil
    import time

    from serkit.data.datadir import audio_duration, read_kv, write_kv
    from serkit.features.extract import segment_spec

    data_dir = Path(data_dir)
    recordings = read_kv(data_dir / "wav.scp")
    wav, dur = {}, {}
    for t in read_segments(data_dir / "segments"):
        if t.rec not in recordings:
            raise DataDirError(f"{t.where}: recording '{t.rec}' is not in {data_dir / 'wav.scp'}")
        source = recordings[t.rec]
        if source.rstrip().endswith("|"):
            raise DataDirError(f"{t.where}: recording '{t.rec}' is a wav.scp pipe; segments are cut from "
                               f"audio files only (write the recording to a file first)")
        end = t.end if math.isfinite(t.end) else audio_duration(source, f"{data_dir / 'wav.scp'}: '{t.rec}'")
        wav[t.seg] = segment_spec(Path(source).resolve(), t.start, end)
        dur[t.seg] = f"{end - t.start:.3f}"
    backup = data_dir / ".backup" / f"{time.strftime('%Y%m%d-%H%M%S')}-segments"
    backup.mkdir(parents=True, exist_ok=True)
    for name in ("wav.scp", "segments"):
        shutil.copy2(data_dir / name, backup / name)
    write_kv(data_dir / "wav.scp", wav)
    if not (data_dir / "utt2dur").exists():
        write_kv(data_dir / "utt2dur", dur)
    (data_dir / "segments").unlink()
    return len(wav)
