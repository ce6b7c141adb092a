"""Train an SER model on one fold from dumped features (one process or many under torchrun).

Usage:
    serkit-train --config conf/x.yaml --train_data DIR --valid_data DIR --feats FEATS_SCP
        [--cmvn_dir DIR | --cmvn_stats STATS.npz] --exp_dir DIR [--ngpu N] [--print_config] [--a.b.c VALUE ...]

Any ``--section.key value`` option overrides the config (``--model.heads.gender.weight 0.1``);
unknown keys are errors. Re-running a finished exp dir is a no-op; an interrupted one resumes
from its last checkpoint.

Examples:
    serkit-train --config conf/train_blstm.yaml --train_data data/folds/loso/fold1/train \
        --valid_data data/folds/loso/fold1/valid --feats dump/mfcc/all/feats.scp \
        --cmvn_dir dump/mfcc/loso/fold1 --exp_dir exp/blstm/fold1
    torchrun --nproc_per_node 2 -m serkit.bin.train ... --ngpu 2
    serkit-train --config conf/train_blstm.yaml --print_config
"""
from __future__ import annotations

import argparse

from serkit.bin.common import print_config, require, run_main, run_trainer, setup_logging
from serkit.models.registry import load_train_config


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML training config")
    p.add_argument("--train_data")
    p.add_argument("--valid_data")
    p.add_argument("--feats", help="feats.scp of the feature dump")
    p.add_argument("--cmvn_dir", default=None, help="the fold's CMVN statistics dir (stage 1); the config's "
                   "data.cmvn picks the file")
    p.add_argument("--cmvn_stats", default=None, help="a statistics file instead of --cmvn_dir")
    p.add_argument("--exp_dir")
    p.add_argument("--ngpu", type=int, default=0)
    p.add_argument("--print_config", action="store_true", help="print the resolved config and exit")
    return p


def main() -> None:
    args, overrides = get_parser().parse_known_args()
    cfg = load_train_config(args.config, overrides)
    if args.print_config:
        return print_config(cfg)
    require(args, "train_data", "valid_data", "feats", "exp_dir")
    setup_logging()
    from serkit.features.cmvn import stats_file
    from serkit.train.trainer import RunPaths, Trainer

    stats = stats_file(args.cmvn_dir, cfg.data.cmvn, args.cmvn_stats)
    run_trainer(Trainer(cfg, RunPaths(args.train_data, args.valid_data, args.feats, stats, args.exp_dir),
                        ngpu=args.ngpu))


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
