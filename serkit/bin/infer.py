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
import logging

from serkit.bin.common import run_main
from serkit.inference.options import AUDIO_EXTENSIONS, InferOptions
from serkit.inference.records import recognise


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
    logging.getLogger("torchaudio").setLevel(logging.ERROR)
    recognise(InferOptions(**vars(args)))


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
