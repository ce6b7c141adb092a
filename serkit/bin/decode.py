"""Decode a data dir with the best checkpoint of an exp dir into ``predictions/<name>.tsv``.

Usage:
    serkit-decode --exp_dir DIR --data DIR --feats FEATS_SCP [--cmvn_stats STATS.npz] [--name test]

Each TSV line: utt, gold label (or -), predicted label, one probability per class.

Example:
    serkit-decode --exp_dir exp/blstm/fold1 --data data/folds/loso/fold1/test \
        --feats dump/mfcc/all/feats.scp --cmvn_stats dump/mfcc/loso/fold1/cmvn.npz
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from serkit.bin.common import run_main, setup_logging
from serkit.predict import predict


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp_dir", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--feats", required=True)
    p.add_argument("--cmvn_stats", default=None)
    p.add_argument("--name", default="test", help="predictions/<name>.tsv")
    p.add_argument("--batch_size", type=int, default=32)
    args = p.parse_args()
    setup_logging()
    out = Path(args.exp_dir) / "predictions" / f"{args.name}.tsv"
    n = predict(args.exp_dir, args.data, args.feats, args.cmvn_stats, out, batch_size=args.batch_size)
    logging.info("wrote %d predictions to %s", n, out)


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
