"""serkit-infer's records: whole files, their segments, or a conversation's turns recognised, one
record each, written as JSON lines or CSV."""
from __future__ import annotations

import csv
import json
import logging
import sys
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from serkit.errors import ConfigError, SerkitError
from serkit.inference.inputs import Item, groupby_speaker, list_inputs, read_ahead, speakers, turns_by_input
from serkit.inference.jobs import Jobs
from serkit.inference.options import InferOptions

BLOCK = 4    # whole files go through the model BLOCK batches at a time, sorted by length: little padding


def recognise(opts: InferOptions) -> None:
    """Every input of ``opts`` recognised, its records on stdout; a SerkitError at the end if any
    input could not be (its record says why)."""
    items = list_inputs(opts.inputs, opts.ext.split(","), opts.wav_scp)
    if not items:
        raise ConfigError("no input: give audio files, directories or --wav_scp")
    with Jobs(opts) as jobs:
        if opts.rttm or opts.segments:
            return recognise_turns(jobs, items, opts)
        recognise_files(jobs, items, opts)


def recognise_files(jobs: Jobs, items: List[Item], opts: InferOptions) -> None:
    """Whole files, or their windows / speech stretches: one record each (then the file's), each
    speaker's files normalised with their pooled statistics (a first pass pools them)."""
    rec = jobs.rec
    speaker_of = speakers(items, opts.utt2spk, opts.one_speaker)
    stats = {}
    if speaker_of and rec.speaker_normalised:   # a first pass: each speaker's statistics
        stats = dict(jobs.map(_speaker_stats, groupby_speaker(items, speaker_of).items()))
        logging.info("speaker statistics of %d speaker(s) from %d file(s)", len(stats), len(items))
    elif speaker_of:
        logging.info("the model was not trained with speaker CMVN: --utt2spk / --one_speaker change nothing")
    writer = Output(opts.format, rec.names)
    failed = 0

    def context(chunk):   # what the files of a chunk need: their speakers' statistics
        mine = {name: speaker_of[name] for name, _, _ in chunk} if speaker_of else {}
        return {"speaker_of": mine, "stats": {spk: stats[spk] for spk in set(mine.values()) if spk in stats}}
    bar = progress(len(items))
    for name, records, error in jobs.stream(_file_records, items, context):
        for r in records:
            writer.write(r)
        if error:   # this file's record says why; the others are still processed
            failed += 1
            bar.write(f"error: {error}", file=sys.stderr)
        bar.update()
    bar.close()
    if failed:
        raise SerkitError(f"{failed} of {len(items)} files could not be recognised (see their 'error' records)")


def _speaker_stats(rec, opts, task):
    """A first-pass task: (speaker, their files) -> (speaker, statistics)."""
    spk, group = task
    return spk, rec.speaker_stats((w for _, w, e in read_ahead(rec, group, opts.nj) if e is None), None,
                                  *opts.segmentation())


def _file_records(rec, opts, chunk, ctx) -> Iterator[Tuple[str, List[dict], Optional[str]]]:
    """(name, records, error message or None) of each file of ``chunk``, in order."""
    window, hop, vad = opts.segmentation()
    block = []   # whole files wait here to go through the model together, in length-sorted batches
    for name, wave, error in read_ahead(rec, chunk, opts.nj):
        if not (window or vad):
            block.append((name, wave, error))
            if len(block) == BLOCK * opts.batch_size:
                yield from _whole_files(rec, opts, block, ctx)
                block = []
            continue
        try:
            if error is not None:
                raise error
            segs, whole = rec.segments(wave, window, hop, opts.top_k or None, opts.batch_size,
                                       vad=vad or "energy", stats=_stats_of(name, ctx))
            yield name, [{"wav": name, **s} for s in segs] + [{"wav": name, **whole}], None
        except SerkitError as e:
            yield name, *_error(name, e)
    yield from _whole_files(rec, opts, block, ctx)


def _whole_files(rec, opts, block, ctx) -> Iterator[Tuple[str, List[dict], Optional[str]]]:
    """(name, [record], error or None) of whole files read as (name, wave, error), in order: their
    features one by one, the model on all of them at once."""
    feats, failed = {}, {}
    for name, wave, error in block:
        try:
            if error is not None:
                raise error
            feats[name] = rec.features(wave, None, _stats_of(name, ctx))
        except SerkitError as e:
            failed[name] = e
    try:
        found = dict(zip(feats, rec.predict_features(list(feats.values()), opts.top_k or None, opts.batch_size)))
    except SerkitError:   # one file's outputs spoil the batch: each on its own, to name it
        found = {}
        for name, x in feats.items():
            try:
                found[name] = rec.predict_features([x], opts.top_k or None)[0]
            except SerkitError as e:
                failed[name] = e
    for name, _, _ in block:
        yield (name, [{"wav": name, **found[name]}], None) if name in found else (name, *_error(name, failed[name]))


def _stats_of(name: str, ctx) -> Optional[object]:
    """The statistics of this file's speaker, if it has one."""
    return ctx["stats"].get(ctx["speaker_of"][name]) if ctx["stats"] else None


def _message(name: str, e: Exception) -> str:
    """An error's message, naming the file if it does not already."""
    return str(e) if name in str(e) else f"{name}: {e}"


def _error(name: str, e: Exception) -> Tuple[List[dict], str]:
    msg = _message(name, e)
    return [{"wav": name, "error": msg}], msg


def recognise_turns(jobs: Jobs, items: List[Item], opts: InferOptions) -> None:
    """--rttm / --segments: one record per turn of each recording, in the file's order, then one
    per speaker; each speaker's turns normalised with their pooled statistics (a first pass pools
    those of a speaker found in several recordings: --segments with --utt2spk or --one_speaker)."""
    from serkit.data.datadir import read_kv
    from serkit.data.turns import read_rttm, read_segments

    rec = jobs.rec
    if opts.rttm:
        turns = read_rttm(opts.rttm)
    else:
        turns = read_segments(opts.segments, read_kv(opts.utt2spk) if opts.utt2spk else None, opts.utt2spk)
        if opts.one_speaker:
            turns = [t._replace(speaker="all") for t in turns]
    turns_of = turns_by_input(items, turns, opts.rttm or opts.segments)
    for name, _, _ in items:
        if name not in turns_of:
            logging.warning("%s: no turns in %s", name, opts.rttm or opts.segments)
    items = [item for item in items if item[0] in turns_of]
    # an RTTM's speakers are each one recording's; a segments file's may span recordings
    stats = shared_speaker_stats(jobs, items, turns_of) if opts.segments else {}
    lead = ["wav", *(["seg"] if opts.segments else []), "speaker", "start", "end"]
    writer = Output(opts.format, rec.names, lead)
    failed = 0
    total = sum(len(turns_of[name]) for name, _, _ in items)

    def context(chunk):   # what the recordings of a chunk need: their turns, shared speakers' statistics
        mine = {name: turns_of[name] for name, _, _ in chunk}
        spks = {t.speaker for ts in mine.values() for t in ts}
        return {"turns_of": mine, "stats": {spk: v for spk, v in stats.items() if spk in spks}}
    bar = progress(len(items))
    for name, records, errors in jobs.stream(_turn_records, items, context):
        for r in records:
            writer.write(r)
        for e in errors:
            bar.write(f"error: {e}", file=sys.stderr)
        failed += len(errors)
        bar.update()
    bar.close()
    if failed:
        raise SerkitError(f"{failed} of {total} turns could not be recognised (see their 'error' records)")


def _turn_records(rec, opts, chunk, ctx) -> Iterator[Tuple[str, List[dict], List[str]]]:
    """(name, records, error messages) of each recording of ``chunk``: its turns, then its speakers."""
    for name, wave, error in read_ahead(rec, chunk, opts.nj):
        ts = ctx["turns_of"][name]
        head = [{"wav": name, **({"seg": t.seg} if t.seg else {}), "speaker": t.speaker} for t in ts]
        if error is not None:
            msg = _message(name, error)
            yield name, [h | _span(t) | {"error": msg} for h, t in zip(head, ts)], [msg] * len(ts)
            continue
        duration = len(wave) / rec.sample_rate
        late = [t.start >= duration for t in ts]   # named by their line; the others are still recognised
        found, speakers = rec.turns(wave, [(t.start, t.end, t.speaker) for t, bad in zip(ts, late) if not bad],
                                    opts.top_k or None, opts.batch_size, ctx["stats"])
        found = iter(found)
        records, errors = [], []
        for h, t, bad in zip(head, ts, late):
            r = (_span(t) | {"error": f"{t.where}: starts at {t.start} s, after the end of {name} ({duration:.3f} s)"}
                 if bad else next(found))
            if "error" in r:
                if not bad:
                    r["error"] = f"{t.where}: {name}: {r['error']}"
                errors.append(r["error"])
            records.append(h | r)
        # then each speaker's turns in this recording, averaged
        yield name, records + [{"wav": name} | r for r in speakers.values()], errors


def shared_speaker_stats(jobs: Jobs, items: List[Item], turns_of: Dict[str, list]) -> dict:
    """A first pass: the statistics of each speaker with turns in several recordings, pooled over
    all of them (a speaker of one recording is pooled as it is recognised)."""
    if not jobs.rec.speaker_normalised:
        return {}
    where: Dict[str, Dict[str, list]] = {}   # speaker -> input -> turns
    for name, ts in turns_of.items():
        for t in ts:
            where.setdefault(t.speaker, {}).setdefault(name, []).append(t)
    tasks = [(spk, [item for item in items if item[0] in by_input], by_input)
             for spk, by_input in where.items() if len(by_input) > 1]
    stats = dict(jobs.map(_shared_stats, tasks))
    if stats:
        logging.info("speaker statistics of %d speaker(s) found in several recordings", len(stats))
    return stats


def _shared_stats(rec, opts, task):
    """A first-pass task: (speaker, their recordings, their turns in each) -> (speaker, statistics)."""
    from serkit.recognition import turn_samples

    spk, group, by_input = task
    pieces = (wave[slice(*turn_samples(t.start, t.end, len(wave), rec.sample_rate))]
              for name, wave, error in read_ahead(rec, group, opts.nj) if error is None for t in by_input[name])
    return spk, rec.speaker_stats(pieces)


def _span(t) -> dict:
    """A turn's start and end as given (no end: to the recording's end)."""
    return {"start": round(t.start, 3), **({"end": round(t.end, 3)} if t.end != float("inf") else {})}


def progress(total: int):
    """A progress bar on a terminal only: stdout holds the records, the bar goes to stderr."""
    from tqdm import tqdm

    return tqdm(total=total, unit="file", leave=False, disable=total < 2 or not sys.stderr.isatty())


class Output:
    """JSON lines (strict: no NaN) or CSV with one column per class probability."""

    def __init__(self, fmt: str, names: List[str], lead: Sequence[str] = ("wav", "start", "end")):
        self.fmt, self.names, self.lead = fmt, names, list(lead)
        if fmt == "csv":
            self.csv = csv.writer(sys.stdout)
            self.csv.writerow([*self.lead, "emotion", *(f"p_{c}" for c in names), "error"])

    def write(self, record: dict) -> None:
        if self.fmt == "jsonl":
            print(json.dumps(record, allow_nan=False), flush=True)
            return
        probs = record.get("probs", {})
        self.csv.writerow([*(record.get(k, "") for k in self.lead), record.get("emotion", ""),
                           *(probs.get(c, "") for c in self.names), record.get("error", "")])
        sys.stdout.flush()
