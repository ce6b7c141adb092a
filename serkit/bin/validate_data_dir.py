"""Validate (and optionally fix) a Kaldi-style data dir.

Usage:
    serkit-validate-data-dir [--emotions ang,hap,neu,sad] [--require_declared] [--no_audio] [--fix] DATA_DIR

Exit status 0 when valid, 1 when not (each problem on its own line with file, line and id).
Labels are checked against --emotions, else against the data dir's ``emotions`` file (the
corpus's declared label set, one per line); --require_declared makes that file compulsory.
With --fix, keeps the utterances present in every file, merges duplicate lines, sorts,
regenerates spk2utt, and backs the originals up under DATA_DIR/.backup/; a duplicate id with
conflicting values is reported and nothing is changed. A Kaldi ``segments`` file (utterances cut
from recordings, wav.scp keyed by recording) is turned into wav.scp lines first, one per
segment, each the pipe that cuts it (serkit reads it without a process; other tools run it).

Example:
    serkit-validate-data-dir --emotions ang,hap,neu,sad data/all
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from serkit.bin.common import run_main
from serkit.data.datadir import fix_datadir, validate_datadir


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir")
    p.add_argument("--emotions", default=None, help="comma list of allowed labels in utt2emo")
    p.add_argument("--require_declared", action="store_true",
                   help="the data dir must declare its emotion labels in an 'emotions' file")
    p.add_argument("--no_audio", action="store_true", help="do not check that audio files exist")
    p.add_argument("--fix", action="store_true")
    args = p.parse_args()
    if args.fix:
        if (Path(args.data_dir) / "segments").exists():
            from serkit.data.turns import cut_segments

            print(f"{args.data_dir}: the {cut_segments(args.data_dir)} utterances of segments are now wav.scp lines")
        dropped = fix_datadir(args.data_dir)
        print(f"{args.data_dir}: fixed; dropped {len(dropped)} utterance(s)"
              + (": " + " ".join(dropped[:10]) if dropped else ""))
    emotions = args.emotions.split(",") if args.emotions else None
    rep = validate_datadir(args.data_dir, emotions=emotions, check_audio=not args.no_audio,
                          require_declared=args.require_declared)
    for e in rep.errors:
        print(e, file=sys.stderr)
    if not rep.ok:
        sys.exit(1)
    print(f"{args.data_dir}: OK")


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
