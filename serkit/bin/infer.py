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
of the recording with ``"turns": N`` and their turns' posteriors averaged by duration. A recording is named by
an input's path, its file name without extension, or a wav.scp id. Each speaker's turns are
normalised together: an RTTM's labels name the speakers of one recording; with --segments,
--utt2spk (over the segment ids) names speakers across recordings, else each recording is one.

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
from typing import Dict, Iterator, List, Sequence, Tuple

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
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--device", default="cpu", help="where the model and its log-mel / MFCC run: cpu, cuda, cuda:1, ...")
    p.add_argument("--nj", type=int, default=2, help="threads reading audio ahead of the model")
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
    logging.getLogger("torchaudio").setLevel(logging.ERROR)
    from serkit.recognizer import Recognizer

    rec = Recognizer.load(args.model or args.exp_dir, args.feat_conf, args.cmvn_stats, device=args.device)
    for name, unit in (("prior_frames", "frames"), ("prior_utts", "utterances")):
        value = getattr(args, name)
        if value is not None:
            if not value >= 0:
                raise ConfigError(f"--{name} {value}: give a number of {unit} >= 0 (or inf)")
            setattr(rec, name, value)
    items = list_inputs(args.inputs, args.ext.split(","), args.wav_scp)
    if not items:
        raise ConfigError("no input: give audio files, directories or --wav_scp")
    if args.rttm or args.segments:
        return recognise_turns(rec, items, args)
    segmented = bool(args.window) or args.vad != "none"
    vad = args.vad if args.vad != "none" else "energy"
    speaker_of = speakers(items, args.utt2spk, args.one_speaker)
    stats = {}
    if speaker_of and rec.speaker_normalised:   # a first pass: each speaker's statistics
        seg = (args.window or None, args.hop or None, vad if segmented and not args.window else None)
        for spk, group in groupby_speaker(items, speaker_of).items():
            stats[spk] = rec.speaker_stats((w for _, w, e in read_ahead(rec, group, args.nj) if e is None), None, *seg)
        logging.info("speaker statistics of %d speaker(s) from %d file(s)", len(stats), len(items))
    elif speaker_of:
        logging.info("the model was not trained with speaker CMVN: --utt2spk / --one_speaker change nothing")
    writer = Output(args.format, rec.names)
    failed = 0
    from tqdm import tqdm

    # a progress bar on a terminal only: stdout holds the records, the bar goes to stderr
    bar = tqdm(read_ahead(rec, items, args.nj), total=len(items), unit="file", leave=False,
               disable=len(items) < 2 or not sys.stderr.isatty())
    for name, wave, error in bar:
        try:
            if error is not None:
                raise error
            spk_stats = stats.get(speaker_of[name]) if stats else None
            if segmented:
                segs, whole = rec.segments(wave, args.window or None, args.hop or None, args.top_k or None,
                                           args.batch_size, vad=vad, stats=spk_stats)
                for s in segs:
                    writer.write({"wav": name, **s})
                writer.write({"wav": name, **whole})
            else:
                writer.write({"wav": name, **rec.predict(wave, None, args.top_k or None, spk_stats)})
        except SerkitError as e:   # this file's record says why; the others are still processed
            failed += 1
            msg = str(e) if name in str(e) else f"{name}: {e}"
            writer.write({"wav": name, "error": msg})
            bar.write(f"error: {msg}", file=sys.stderr)
    if failed:
        raise SerkitError(f"{failed} of {len(items)} files could not be recognised (see their 'error' records)")


def recognise_turns(rec, items: List[Tuple[str, str, bool]], args) -> None:
    """--rttm / --segments: one record per turn of each recording, in the file's order, each
    speaker's turns normalised with their pooled statistics (a first pass pools those of a speaker
    found in several recordings: --segments with --utt2spk or --one_speaker)."""
    from serkit.data.datadir import read_kv
    from serkit.data.turns import read_rttm, read_segments

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
    stats = shared_speaker_stats(rec, items, turns_of, args.nj) if args.segments else {}
    lead = ["wav", *(["seg"] if args.segments else []), "speaker", "start", "end"]
    writer = Output(args.format, rec.names, lead)
    failed = total = 0
    from tqdm import tqdm

    bar = tqdm(read_ahead(rec, items, args.nj), total=len(items), unit="file", leave=False,
               disable=len(items) < 2 or not sys.stderr.isatty())
    for name, wave, error in bar:
        ts = turns_of[name]
        total += len(ts)
        head = [{"wav": name, **({"seg": t.seg} if t.seg else {}), "speaker": t.speaker} for t in ts]
        if error is not None:
            msg = str(error) if name in str(error) else f"{name}: {error}"
            for h, t in zip(head, ts):
                writer.write(h | _span(t) | {"error": msg})
            bar.write(f"error: {msg}", file=sys.stderr)
            failed += len(ts)
            continue
        duration = len(wave) / rec.sample_rate
        late = [t.start >= duration for t in ts]   # named by their line; the others are still recognised
        found, speakers = rec.turns(wave, [(t.start, t.end, t.speaker) for t, bad in zip(ts, late) if not bad],
                                    args.top_k or None, args.batch_size, stats)
        records = iter(found)
        for h, t, bad in zip(head, ts, late):
            r = (_span(t) | {"error": f"{t.where}: starts at {t.start} s, after the end of {name} ({duration:.3f} s)"}
                 if bad else next(records))
            if "error" in r:
                if not bad:
                    r["error"] = f"{t.where}: {name}: {r['error']}"
                failed += 1
                bar.write(f"error: {r['error']}", file=sys.stderr)
            writer.write(h | r)
        for r in speakers.values():   # then each speaker's turns in this recording, averaged
            writer.write({"wav": name} | r)
    if failed:
        raise SerkitError(f"{failed} of {total} turns could not be recognised (see their 'error' records)")


def shared_speaker_stats(rec, items: List[Tuple[str, str, bool]], turns_of: Dict[str, list], nj: int) -> dict:
    """A first pass: the statistics of each speaker with turns in several recordings, pooled over
    all of them (a speaker of one recording is pooled as it is recognised)."""
    from serkit.recognition import turn_samples

    if not rec.speaker_normalised:
        return {}
    where: Dict[str, Dict[str, list]] = {}   # speaker -> input -> turns
    for name, ts in turns_of.items():
        for t in ts:
            where.setdefault(t.speaker, {}).setdefault(name, []).append(t)
    stats = {}
    for spk, by_input in where.items():
        if len(by_input) < 2:
            continue
        group = [item for item in items if item[0] in by_input]
        pieces = (wave[slice(*turn_samples(t.start, t.end, len(wave), rec.sample_rate))]
                  for name, wave, error in read_ahead(rec, group, nj) if error is None for t in by_input[name])
        stats[spk] = rec.speaker_stats(pieces)
    if stats:
        logging.info("speaker statistics of %d speaker(s) found in several recordings", len(stats))
    return stats


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
