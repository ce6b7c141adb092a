"""Fuse several systems by averaging their class posteriors fold by fold.

Usage:
    serkit-fuse --exp_dir exp/A --exp_dir exp/B [...] --folds_dir data/folds/PROTOCOL --out_dir exp/FUSED
        [--weights 1,2 | --weights valid [--grid 10]] [--folds fold1,fold2]

Each --exp_dir holds fold<k>/predictions/{valid,test}.tsv (any model, classical, seed or fusion).
--weights valid chooses each fold's weights on that fold's valid split (a grid in steps of
1/grid, most even weights on ties; --grid 1: the one member that scores best on each fold's
valid split, the first on ties); the default is equal weights. Writes
out_dir/fold<k>/predictions/{valid,test}.tsv and out_dir/fusion.yaml (members, weights per
fold); score with serkit-score --exp_dir out_dir.

Example:
    serkit-fuse --exp_dir exp/classical_svm_mfcc_prosody_loso --exp_dir exp/train_resnet_logmel64_sp_loso_seed1 \
        --folds_dir data/folds/loso --out_dir exp/fusion_svm_resnet
"""
from __future__ import annotations

import argparse

from serkit.bin.common import run_main, setup_logging
from serkit.errors import ConfigError


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp_dir", action="append", required=True, help="a member system (repeatable)")
    p.add_argument("--folds_dir", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--weights", default=None, help="comma list, one per --exp_dir, or 'valid'")
    p.add_argument("--grid", type=int, default=10, help="--weights valid: steps of 1/grid")
    p.add_argument("--folds", default=None, help="e.g. 'fold1,fold2' (default: all)")
    args = p.parse_args()
    setup_logging()
    from serkit.data.folds import read_protocol, select_folds
    from serkit.fusion import fuse

    weights, on_valid = None, args.weights == "valid"
    if args.weights and not on_valid:
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            raise ConfigError(f"--weights takes numbers (one per --exp_dir) or 'valid', got '{args.weights}'") from None
    folds = select_folds(read_protocol(args.folds_dir), args.folds, args.folds_dir)
    fuse(args.exp_dir, folds, args.out_dir, weights=weights, choose_on_valid=on_valid, steps=args.grid)


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
