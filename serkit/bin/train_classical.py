"""Train an SVM, logistic regression or random forest on utterance vectors of one fold and write its predictions.

Usage:
    serkit-train-classical --config conf/classical_svm.yaml --train_data DIR --valid_data DIR
        --feats FEATS_SCP [--cmvn_dir DIR | --cmvn_stats STATS.npz] --exp_dir DIR [--data DIR --name NAME ...]
        [--vector_cache DIR] [--print_config] [--a.b VALUE ...]

Utterance vector = mean and std over frames of the features, or of a pretrained stack's layer /
hypercolumns (``--representation.checkpoint exp/pretrain/.../best.pt --representation.layer 2``).
The SVM's C is chosen on the valid split's UA. Each ``--data`` (with its ``--name``) is predicted
into ``exp_dir/predictions/<name>.tsv``, the format ``serkit-score`` reads. With ``--vector_cache``
the utterance vectors are kept in DIR by a hash of each utterance's normalised input, so the
other folds of a protocol (with speaker CMVN, the same input) do not compute them again.

Example:
    serkit-train-classical --config conf/classical_svm.yaml --train_data data/folds/loso/fold1/train \
        --valid_data data/folds/loso/fold1/valid --feats dump/logmel80/all/feats.scp \
        --cmvn_dir dump/logmel80/loso/fold1 --exp_dir exp/svm/fold1 \
        --data data/folds/loso/fold1/valid --name valid --data data/folds/loso/fold1/test --name test
"""
from __future__ import annotations

import argparse

from serkit.bin.common import print_config, require, run_main, setup_logging
from serkit.errors import ConfigError


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--config")
    for name in ("train_data", "valid_data", "feats", "cmvn_dir", "cmvn_stats", "exp_dir", "vector_cache"):
        p.add_argument(f"--{name}", default=None)
    p.add_argument("--data", action="append", default=[], help="data dir to predict (repeatable)")
    p.add_argument("--name", action="append", default=[], help="name of each --data's predictions")
    p.add_argument("--print_config", action="store_true")
    args, overrides = p.parse_known_args()
    from serkit.classical import load_classical_config, train_classical

    cfg = load_classical_config(args.config, overrides)
    if args.print_config:
        return print_config(cfg)
    require(args, "train_data", "valid_data", "feats", "exp_dir")
    if len(args.name) != len(args.data):
        raise ConfigError(f"{len(args.data)} --data but {len(args.name)} --name: give one name per data dir")
    setup_logging()
    from serkit.features.cmvn import stats_file

    stats = stats_file(args.cmvn_dir, cfg.data.cmvn, args.cmvn_stats)
    train_classical(cfg, args.train_data, args.valid_data, args.feats, stats, args.exp_dir,
                    list(zip(args.name, args.data)), vector_cache=args.vector_cache)


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
