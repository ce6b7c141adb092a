"""Recognise the emotion of recordings with a trained model; one JSON line (or CSV row) per file
or per segment on stdout.

Usage:
    serkit-infer (--model MODEL.pt | --exp_dir EXP_DIR) [options] INPUT [INPUT ...]

MODEL.pt is a file written by serkit-export (usable from any directory); EXP_DIR a trained fold
(``exp/<tag>/fold1``), whose feature config and CMVN statistics are found through
``EXP_DIR/run.yaml`` unless given. An INPUT is an audio file or a directory (searched
recursively for --ext); --wav_scp adds the files of a Kaldi ``wav.scp`` (its pipes run without a
shell). Audio at any sample rate is resampled.

Whole files (default): ``{"wav", "emotion", "probs": {class: p}, "scores": [{"label", "score"}]}``
(scores sorted, --top_k of them), plus what other heads add (``transcript``; ratings such as
``arousal``). Long recordings: --window S --hop S (fixed windows) or --vad energy|silero (speech
stretches: frame energy, or the Silero VAD model of the silero-vad package) give one record per
segment with ``start`` / ``end`` in seconds, then the file's record with ``"segments": N`` and
the duration-weighted mean of the segments' posteriors.

Conversations: --rttm FILE (a diarization's who-spoke-when) or --segments FILE (Kaldi's
'<segment> <recording> <start> <end>' lines) give one record per turn, in the file's order:
``{"wav", "seg" (segments), "speaker", "start", "end", "emotion", ...}``, then one per speaker
of the recording with ``"turns": N`` and their turns' posteriors averaged by duration. A
recording is named by an input's path, its file name without extension, or a wav.scp id. Each
speaker's turns are normalised together: an RTTM's labels name the speakers of one recording;
with --segments, --utt2spk (over the segment ids) names speakers across recordings, else each
recording is one.

A model trained with speaker CMVN needs each speaker's statistics. By default each file is a
speaker of its own (a long recording's segments share its statistics); --utt2spk FILE groups
the inputs by speaker ('<input name> <speaker>' lines) and --one_speaker makes all of them one
speaker: a first pass pools each speaker's frames, then every file is normalised with them.
The statistics are smoothed with --prior_frames frames (default 1000) of the training
speakers', so a lone file leans on those; a speaker's many files outweigh them. A classical
system normalises each speaker's utterance vectors too (vector_norm: speaker), with their
statistics smoothed with --prior_utts utterances (default 30) of the training vectors'. Give a
speaker's files together where you can (README: on EMO-DB, 63 UA one file at a time, 79 with
each speaker's files together).

--jobs N recognises the inputs in N processes (each loads the model), records in input order.

A file that cannot be read gets ``{"wav": ..., "error": ...}``; the others are still processed
and the exit status is 1 at the end. File names are always files, never commands.

Examples:
    serkit-infer --model resnet_fold1.pt a.wav recordings/ --top_k 2
    serkit-infer --exp_dir exp/train_w2v2_ctc/fold1 long.wav --window 3 --hop 1 --format csv
    serkit-infer --model resnet_fold1.pt --wav_scp data/spk03/wav.scp --utt2spk data/spk03/utt2spk
    serkit-infer --model resnet_fold1.pt calls/ --rttm calls.rttm --format csv
"""
from __future__ import annotations

import argparse
import csv
from collections import deque
import json
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from serkit.bin.common import run_main
from serkit.errors import ConfigError, SerkitError

AUDIO_EXTENSIONS = "wav,flac,ogg,mp3,sph"


def list_inputs(inputs: List[str], extensions: List[str], wav_scp: str = "") -> List[Tuple[str, str, bool]]:
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="a model file written by serkit-export")
    src.add_argument("--exp_dir", help="a trained fold, e.g. exp/<tag>/fold1")
    p.add_argument("--feat_conf", default=None, help="with --exp_dir: feature config (default: the training dump's)")
    p.add_argument("--cmvn_stats", default=None, help="with --exp_dir: CMVN statistics (default: those of training)")
    p.add_argument("--window", type=float, default=0.0, help="segment seconds (fixed windows; 0: whole files)")
    p.add_argument("--hop", type=float, default=0.0, help="seconds between window starts (default: --window)")
    p.add_argument("--vad", choices=("none", "energy", "silero"), default="none",
                   help="segment at the speech stretches (without --window): energy (frame energy, "
                        "no dependency) or silero (Silero VAD, a neural model: pip install 'serkit[vad]')")
    p.add_argument("--top_k", type=int, default=0, help="scores of the k best classes (0: all)")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("--batch_size", type=int, default=16, help="files or segments per forward pass (sorted by length)")
    p.add_argument("--device", default="cpu", help="where the model and its log-mel / MFCC run: cpu, cuda, cuda:1, ...")
    p.add_argument("--nj", type=int, default=2, help="threads reading audio ahead of the model")
    p.add_argument("--jobs", type=int, default=1, help="processes recognising files side by side, each with the "
                                                       "model loaded (records still in input order)")
    p.add_argument("--ext", default=AUDIO_EXTENSIONS, help="extensions searched in directories")
    p.add_argument("--wav_scp", default="", help="also recognise the entries of this wav.scp")
    spk = p.add_mutually_exclusive_group()
    spk.add_argument("--utt2spk", default="", help="'<input name> <speaker>' lines (with --segments: '<segment> "
                                                   "<speaker>'): a model trained with speaker CMVN normalises each "
                                                   "speaker's files with their pooled statistics")
    spk.add_argument("--one_speaker", action="store_true", help="every input is one speaker (as --utt2spk)")
    p.add_argument("--prior_frames", type=float, default=None,
                   help="speaker CMVN: frames of the training speakers' statistics a speaker's are smoothed with "
                        "(default: the model's; 0: the speaker's alone; inf: the training speakers' alone)")
    p.add_argument("--prior_utts", type=float, default=None,
                   help="a classical system's speaker normalisation of utterance vectors: utterances of the "
                        "training statistics a speaker's are smoothed with (default: the model's; 0: the "
                        "speaker's alone; inf: the training statistics alone)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--rttm", default="", help="a diarization's RTTM file: one record per speaker turn, each "
                                                "speaker's turns normalised together (its speaker labels name "
                                                "speakers of one recording)")
    who.add_argument("--segments", default="", help="a Kaldi segments file ('<segment> <recording> <start> <end>'): "
                                                    "one record per segment; --utt2spk over the segment ids "
                                                    "pools a speaker's segments of all recordings")
    p.add_argument("inputs", nargs="*")
    args = p.parse_args()
    if args.window and args.vad != "none":
        raise ConfigError(f"give --window or --vad {args.vad}, not both")
    if (args.rttm or args.segments) and (args.window or args.vad != "none"):
        raise ConfigError(f"--{'rttm' if args.rttm else 'segments'} gives the segments: no --window / --vad with it")
    if args.rttm and (args.utt2spk or args.one_speaker):
        raise ConfigError("--rttm names each recording's speakers: no --utt2spk / --one_speaker with it")
    if args.top_k < 0 or args.batch_size < 1 or args.nj < 1:
        raise ConfigError("--top_k must be >= 0, --batch_size and --nj >= 1")
    if args.jobs < 1:
        raise ConfigError("--jobs must be >= 1")
    logging.getLogger("torchaudio").setLevel(logging.ERROR)
    items = list_inputs(args.inputs, args.ext.split(","), args.wav_scp)
    if not items:
        raise ConfigError("no input: give audio files, directories or --wav_scp")
    with Jobs(args) as jobs:
        if args.rttm or args.segments:
            return recognise_turns(jobs, items, args)
        recognise_files(jobs, items, args)


def recognise_files(jobs: "Jobs", items: List[Tuple[str, str, bool]], args) -> None:
    """Whole files, or their windows / speech stretches: one record each (then the file's), each
    speaker's files normalised with their pooled statistics (a first pass pools them)."""
    rec = jobs.rec
    speaker_of = speakers(items, args.utt2spk, args.one_speaker)
    stats = {}
    if speaker_of and rec.speaker_normalised:   # a first pass: each speaker's statistics
        stats = dict(jobs.map(_speaker_stats, groupby_speaker(items, speaker_of).items()))
        logging.info("speaker statistics of %d speaker(s) from %d file(s)", len(stats), len(items))
    elif speaker_of:
        logging.info("the model was not trained with speaker CMVN: --utt2spk / --one_speaker change nothing")
    writer = Output(args.format, rec.names)
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


def _speaker_stats(rec, args, task):
    """A first-pass task: (speaker, their files) -> (speaker, statistics)."""
    spk, group = task
    return spk, rec.speaker_stats((w for _, w, e in read_ahead(rec, group, args.nj) if e is None), None,
                                  *_segmentation(args))


def _segmentation(args) -> Tuple[Optional[float], Optional[float], Optional[str]]:
    """(window, hop, vad) of --window / --hop / --vad; all None for whole files."""
    if args.window:
        return args.window, args.hop or None, None
    return None, None, (args.vad if args.vad != "none" else None)


def _file_records(rec, args, chunk, ctx) -> Iterator[Tuple[str, List[dict], Optional[str]]]:
    """(name, records, error message or None) of each file of ``chunk``, in order."""
    window, hop, vad = _segmentation(args)
    block = []   # whole files wait here to go through the model together, in length-sorted batches
    for name, wave, error in read_ahead(rec, chunk, args.nj):
        if not (window or vad):
            block.append((name, wave, error))
            if len(block) == BLOCK * args.batch_size:
                yield from _whole_files(rec, args, block, ctx)
                block = []
            continue
        try:
            if error is not None:
                raise error
            segs, whole = rec.segments(wave, window, hop, args.top_k or None, args.batch_size,
                                       vad=vad or "energy", stats=_stats_of(name, ctx))
            yield name, [{"wav": name, **s} for s in segs] + [{"wav": name, **whole}], None
        except SerkitError as e:
            yield name, *_error(name, e)
    yield from _whole_files(rec, args, block, ctx)


def _whole_files(rec, args, block, ctx) -> Iterator[Tuple[str, List[dict], Optional[str]]]:
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
        found = dict(zip(feats, rec.predict_features(list(feats.values()), args.top_k or None, args.batch_size)))
    except SerkitError:   # one file's outputs spoil the batch: each on its own, to name it
        found = {}
        for name, x in feats.items():
            try:
                found[name] = rec.predict_features([x], args.top_k or None)[0]
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


def progress(total: int):
    """A progress bar on a terminal only: stdout holds the records, the bar goes to stderr."""
    from tqdm import tqdm

    return tqdm(total=total, unit="file", leave=False, disable=total < 2 or not sys.stderr.isatty())


def load_recognizer(args):
    from serkit.recognizer import Recognizer

    rec = Recognizer.load(args.model or args.exp_dir, args.feat_conf, args.cmvn_stats, device=args.device)
    for name, unit in (("prior_frames", "frames"), ("prior_utts", "utterances")):
        value = getattr(args, name)
        if value is not None:
            if not value >= 0:
                raise ConfigError(f"--{name} {value}: give a number of {unit} >= 0 (or inf)")
            setattr(rec, name, value)
    return rec


CHUNK = 64   # files a worker recognises per task at most: records come back in input order, chunk by chunk
BLOCK = 4    # whole files go through the model BLOCK batches at a time, sorted by length: little padding


class Jobs:
    """--jobs N: the work spread over N processes, each with the model loaded, results in input
    order; 1: all of it in this process, streamed. ``map`` runs tasks ``fn(rec, args, task)``;
    ``stream`` runs a generator ``fn(rec, args, chunk, context(chunk))`` over chunks of inputs."""

    def __init__(self, args):
        self.args, self.rec, self.pool = args, load_recognizer(args), None
        if args.jobs > 1:
            import multiprocessing as mp

            # spawn: a forked child of a process that has run torch's thread pools can hang
            self.pool = mp.get_context("spawn").Pool(args.jobs, _init_worker, (args,))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.terminate() if exc[0] is not None else self.pool.close()
            self.pool.join()

    def map(self, fn, tasks):
        if self.pool is None:
            return (fn(self.rec, self.args, t) for t in tasks)
        return self.pool.imap(_run_task, [(fn, t) for t in tasks])

    def stream(self, fn, items, context):
        if self.pool is None:
            yield from fn(self.rec, self.args, items, context(items))
            return
        size = max(1, min(CHUNK, -(-len(items) // (4 * self.args.jobs))))   # a few chunks per worker at least
        chunks = [items[k:k + size] for k in range(0, len(items), size)]
        for results in self.pool.imap(_run_chunk, [(fn, c, context(c)) for c in chunks]):
            yield from results


_WORKER: Dict[str, object] = {}


def _init_worker(args) -> None:
    import os

    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.jobs))   # the cores shared, not oversubscribed
    logging.getLogger("torchaudio").setLevel(logging.ERROR)
    _WORKER.update(rec=load_recognizer(args), args=args)


def _run_task(job):
    fn, task = job
    return fn(_WORKER["rec"], _WORKER["args"], task)


def _run_chunk(job):
    fn, chunk, ctx = job
    return list(fn(_WORKER["rec"], _WORKER["args"], chunk, ctx))


def recognise_turns(jobs: "Jobs", items: List[Tuple[str, str, bool]], args) -> None:
    """--rttm / --segments: one record per turn of each recording, in the file's order, then one
    per speaker; each speaker's turns normalised with their pooled statistics (a first pass pools
    those of a speaker found in several recordings: --segments with --utt2spk or --one_speaker)."""
    from serkit.data.datadir import read_kv
    from serkit.data.turns import read_rttm, read_segments

    rec = jobs.rec
    if args.rttm:
        turns = read_rttm(args.rttm)
    else:
        turns = read_segments(args.segments, read_kv(args.utt2spk) if args.utt2spk else None, args.utt2spk)
        if args.one_speaker:
            turns = [t._replace(speaker="all") for t in turns]
    turns_of = turns_by_input(items, turns, args.rttm or args.segments)
    for name, _, _ in items:
        if name not in turns_of:
            logging.warning("%s: no turns in %s", name, args.rttm or args.segments)
    items = [item for item in items if item[0] in turns_of]
    # an RTTM's speakers are each one recording's; a segments file's may span recordings
    stats = shared_speaker_stats(jobs, items, turns_of) if args.segments else {}
    lead = ["wav", *(["seg"] if args.segments else []), "speaker", "start", "end"]
    writer = Output(args.format, rec.names, lead)
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


def _turn_records(rec, args, chunk, ctx) -> Iterator[Tuple[str, List[dict], List[str]]]:
    """(name, records, error messages) of each recording of ``chunk``: its turns, then its speakers."""
    for name, wave, error in read_ahead(rec, chunk, args.nj):
        ts = ctx["turns_of"][name]
        head = [{"wav": name, **({"seg": t.seg} if t.seg else {}), "speaker": t.speaker} for t in ts]
        if error is not None:
            msg = _message(name, error)
            yield name, [h | _span(t) | {"error": msg} for h, t in zip(head, ts)], [msg] * len(ts)
            continue
        duration = len(wave) / rec.sample_rate
        late = [t.start >= duration for t in ts]   # named by their line; the others are still recognised
        found, speakers = rec.turns(wave, [(t.start, t.end, t.speaker) for t, bad in zip(ts, late) if not bad],
                                    args.top_k or None, args.batch_size, ctx["stats"])
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


def shared_speaker_stats(jobs: "Jobs", items: List[Tuple[str, str, bool]], turns_of: Dict[str, list]) -> dict:
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


def _shared_stats(rec, args, task):
    """A first-pass task: (speaker, their recordings, their turns in each) -> (speaker, statistics)."""
    from serkit.recognition import turn_samples

    spk, group, by_input = task
    pieces = (wave[slice(*turn_samples(t.start, t.end, len(wave), rec.sample_rate))]
              for name, wave, error in read_ahead(rec, group, args.nj) if error is None for t in by_input[name])
    return spk, rec.speaker_stats(pieces)


def _span(t) -> dict:
    """A turn's start and end as given (no end: to the recording's end)."""
    return {"start": round(t.start, 3), **({"end": round(t.end, 3)} if t.end != float("inf") else {})}


def turns_by_input(items: List[Tuple[str, str, bool]], turns: list, source: str) -> Dict[str, list]:
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


def speakers(items: List[Tuple[str, str, bool]], utt2spk: str, one_speaker: bool) -> Dict[str, str]:
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


def groupby_speaker(items: List[Tuple[str, str, bool]], speaker_of: Dict[str, str]) -> Dict[str, list]:
    groups: Dict[str, list] = {}
    for item in items:
        groups.setdefault(speaker_of[item[0]], []).append(item)
    return groups


def read_ahead(rec, items: List[Tuple[str, str, bool]], nj: int) -> Iterator[tuple]:
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


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
