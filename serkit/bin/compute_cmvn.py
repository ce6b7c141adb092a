"""Compute CMVN statistics from dumped features.

Usage:
    serkit-compute-cmvn --mode global|speaker --feats FEATS_SCP --data DATA_DIR --out STATS.npz

global: statistics over the utterances of DATA_DIR (give a fold's train split only).
speaker: one set per speaker of DATA_DIR.

Example:
    serkit-compute-cmvn --mode global --feats dump/mfcc/all/feats.scp \
        --data data/folds/loso_session/fold1/train --out dump/mfcc/loso_session/fold1/cmvn.npz
"""
from __future__ import annotations

import argparse

from serkit.bin.common import run_main, setup_logging
from serkit.data.datadir import DataDir
from serkit.features.cmvn import compute_cmvn, compute_speaker_cmvn
from serkit.features.storage import FeatReader


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", required=True, choices=("global", "speaker"))
    p.add_argument("--feats", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    setup_logging()
    reader = FeatReader(args.feats)
    utt2spk = DataDir.load(args.data).get("utt2spk")
    if args.mode == "global":
        compute_cmvn(reader, utt2spk.keys(), args.out)
    else:
        compute_speaker_cmvn(reader, utt2spk, args.out)


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
