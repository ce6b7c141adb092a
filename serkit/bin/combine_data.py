"""Combine data dirs with disjoint utterances into one (as Kaldi's combine_data.sh).

Usage:
    serkit-combine-data OUT_DIR IN_DIR [IN_DIR ...]

Only the files every input has are kept (a corpus without transcripts drops ``text``).

Example:
    serkit-combine-data data/all data/savee data/emodb
"""
from __future__ import annotations

import argparse
import logging

from serkit.bin.common import run_main, setup_logging
from serkit.data.datadir import DataDir
from serkit.data.folds import merge_datadirs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir")
    p.add_argument("in_dirs", nargs="+")
    args = p.parse_args()
    setup_logging()
    out = DataDir.load(args.in_dirs[0])
    for d in args.in_dirs[1:]:
        out = merge_datadirs(out, DataDir.load(d), args.out_dir)
    out.write(args.out_dir)
    logging.info("%s: %d utterances from %s; files: %s", args.out_dir, len(out.utts), " ".join(args.in_dirs),
                 " ".join(sorted(out.fields)))


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
