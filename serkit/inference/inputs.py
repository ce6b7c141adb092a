"""What serkit-infer recognises: its inputs (files, directories, wav.scp entries), who speaks in
them (utt2spk, turns), and their audio, read ahead of the model."""
from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

from serkit.errors import ConfigError, SerkitError

Item = Tuple[str, str, bool]   # (name, source, from a wav.scp): an input as list_inputs gives it


def list_inputs(inputs: List[str], extensions: List[str], wav_scp: str = "") -> List[Item]:
    """(name, source, from a wav.scp) triples: files as given, directories searched recursively
    (sorted), then the entries of a ``wav.scp`` (source = its value, which may be a pipe; the
    name is the utterance id). Only wav.scp values are ever run as commands."""
    out = []
    exts = {"." + e.lower().lstrip(".") for e in extensions}
    for name in inputs:
        p = Path(name)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in exts)
            if not found:
                logging.warning("%s: no %s files", name, "/".join(sorted(exts)))
            out += [(f, f, False) for f in found]
        else:
            out.append((name, name, False))
    if wav_scp:
        from serkit.data.datadir import read_kv

        out += [(utt, spec, True) for utt, spec in read_kv(wav_scp).items()]
    return out


def turns_by_input(items: List[Item], turns: list, source: str) -> Dict[str, list]:
    """Input name -> its turns. A turn's recording is an input's name (a wav.scp's utterance id,
    or the file path as found) or the stem of one input file's name (RTTM names recordings so)."""
    names = {name for name, _, _ in items}
    stems: Dict[str, List[str]] = {}
    for name, _, from_scp in items:
        if not from_scp:
            stems.setdefault(Path(name).stem, []).append(name)
    out: Dict[str, list] = {}
    for t in turns:
        if t.rec in names:
            name = t.rec
        elif len(stems.get(t.rec, [])) == 1:
            name = stems[t.rec][0]
        elif t.rec in stems:
            raise ConfigError(f"{t.where}: recording '{t.rec}' is the stem of several inputs "
                              f"({', '.join(stems[t.rec][:2])}, ...): give them by wav.scp ids")
        else:
            raise ConfigError(f"{t.where}: recording '{t.rec}' is none of the inputs (an input's path, its "
                              f"file name without extension, or a wav.scp id)")
        out.setdefault(name, []).append(t)
    if not out:
        raise ConfigError(f"{source}: no turns")
    return out


def speakers(items: List[Item], utt2spk: str, one_speaker: bool) -> Dict[str, str]:
    """Input name -> speaker: from ``utt2spk`` (every input must be listed), or one speaker for
    all with ``one_speaker``; empty: each file is a speaker of its own."""
    if one_speaker:
        return {name: "all" for name, _, _ in items}
    if not utt2spk:
        return {}
    from serkit.data.datadir import read_kv

    mapping = read_kv(utt2spk)
    missing = [name for name, _, _ in items if name not in mapping]
    if missing:
        raise ConfigError(f"{utt2spk}: no speaker for input '{missing[0]}'"
                          f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; list every input "
                          f"by its name (a wav.scp's utterance id, or the file path as found)")
    return {name: mapping[name] for name, _, _ in items}


def groupby_speaker(items: List[Item], speaker_of: Dict[str, str]) -> Dict[str, list]:
    groups: Dict[str, list] = {}
    for item in items:
        groups.setdefault(speaker_of[item[0]], []).append(item)
    return groups


def read_ahead(rec, items: List[Item], nj: int) -> Iterator[tuple]:
    """(name, wave or None, error or None) in input order; ``nj`` threads decode audio ahead."""
    from serkit.features.extract import read_scp_audio

    def load(item):
        name, source, from_scp = item
        try:
            wave = read_scp_audio(source, rec.sample_rate) if from_scp else rec.read(source)
            return name, wave, None
        except SerkitError as e:
            return name, None, e

    ahead = deque()
    with ThreadPoolExecutor(max_workers=nj) as pool:   # at most 2 * nj files in memory at once
        for item in items:
            ahead.append(pool.submit(load, item))
            if len(ahead) >= 2 * nj:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()
