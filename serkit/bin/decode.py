"""Decode a data dir with the best checkpoint of an exp dir into ``predictions/<name>.tsv``.

Usage:
    serkit-decode --exp_dir DIR --data DIR [--data DIR ...] --feats FEATS_SCP [--cmvn_dir DIR | --cmvn_stats STATS.npz]
        [--name test [--name ...]] [--checkpoint best|last|top1|epoch<N>] [--out_dir DIR]

Each TSV line: utt, gold label (or -), predicted label, one probability per class. Several
data dirs (each with its --name) are decoded in one run, loading the model once.
--checkpoint decodes with other weights than the selected model: top1 is the best valid epoch
alone where the model is the average of the k best (train.average_best). --out_dir writes
<out_dir>/predictions/ instead of the exp dir's, e.g. exp/<tag>_top1/fold<k>, which serkit-score
then scores like any system.

Example:
    serkit-decode --exp_dir exp/blstm/fold1 --data data/folds/loso/fold1/test \
        --feats dump/mfcc/all/feats.scp --cmvn_dir dump/mfcc/loso/fold1
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from serkit.bin.common import run_main, setup_logging
from serkit.errors import ConfigError
from serkit.features.cmvn import stats_file
from serkit.predict import load_model, predict


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp_dir", required=True)
    p.add_argument("--data", required=True, action="append", help="data dir (repeatable)")
    p.add_argument("--feats", required=True)
    p.add_argument("--cmvn_dir", default=None, help="the fold's CMVN statistics dir; the model's config picks the file")
    p.add_argument("--cmvn_stats", default=None, help="a statistics file instead of --cmvn_dir")
    p.add_argument("--name", action="append", default=None, help="predictions/<name>.tsv, one per --data")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--checkpoint", default="best", help="best (default), last, top1 or epoch<N>")
    p.add_argument("--out_dir", default=None, help="write <out_dir>/predictions/ (default: the exp dir's)")
    args = p.parse_args()
    setup_logging()
    names = args.name or ["test"]
    if len(names) != len(args.data):
        raise ConfigError(f"{len(args.data)} --data but {len(names)} --name")
    model = load_model(args.exp_dir, args.checkpoint)
    stats = stats_file(args.cmvn_dir, model[1].data.cmvn, args.cmvn_stats)
    for data, name in zip(args.data, names):
        out = Path(args.out_dir or args.exp_dir) / "predictions" / f"{name}.tsv"
        n = predict(args.exp_dir, data, args.feats, stats, out, batch_size=args.batch_size, model=model)
        logging.info("wrote %d predictions to %s", n, out)


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
