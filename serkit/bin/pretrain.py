"""Self-supervised pretraining (stage 2): FOP or MPC on unlabelled features; no label is read.

Usage:
    serkit-pretrain --config conf/pretrain_fop.yaml --data DIR --feats FEATS_SCP [--cmvn_dir DIR | --cmvn_stats STATS.npz]
        [--data DIR2 --feats FEATS_SCP2 [--cmvn_dir DIR2] ...] --exp_dir DIR [--ngpu N]
        [--print_config] [--a.b.c VALUE ...]

Each ``--data`` takes the ``--feats`` (and, unless ``data.cmvn`` is none, ``--cmvn_dir``) given
in the same position, so corpora with their own dumps train together. Every
``pretrain.valid_every``-th utterance is held out; ``checkpoints/best.pt`` (lowest held-out loss)
is what stage 3 loads. Interrupted runs resume like ``serkit-train``.

Examples:
    serkit-pretrain --config conf/pretrain_fop.yaml --data data/all --feats dump/logmel80/all/feats.scp \
        --cmvn_dir dump/logmel80/all --exp_dir exp/pretrain/pretrain_fop_logmel80
    torchrun --nproc_per_node 2 -m serkit.bin.pretrain ... --ngpu 2
"""
from __future__ import annotations

import argparse

from serkit.bin.common import print_config, run_main, run_trainer, setup_logging
from serkit.models.registry import load_train_config
from serkit.errors import ConfigError


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--config", help="YAML pretraining config (model.encoder, pretrain.objective, ...)")
    p.add_argument("--data", action="append", default=[], help="data dir (repeatable)")
    p.add_argument("--feats", action="append", default=[], help="feats.scp of the --data in the same position")
    p.add_argument("--cmvn_dir", action="append", default=[],
                   help="CMVN statistics dir of each --data (its dump dir); data.cmvn picks the file")
    p.add_argument("--cmvn_stats", action="append", default=[], help="CMVN statistics, one per --data")
    p.add_argument("--exp_dir")
    p.add_argument("--ngpu", type=int, default=0)
    p.add_argument("--print_config", action="store_true", help="print the resolved config and exit")
    return p


def main() -> None:
    args, overrides = get_parser().parse_known_args()
    cfg = load_train_config(args.config, overrides)
    cfg.train.select_metric = "loss"  # the only thing a pretraining run can select on
    if args.print_config:
        return print_config(cfg)
    if not args.data or args.exp_dir is None:
        raise ConfigError("--data (at least one), --feats and --exp_dir are required")
    from serkit.features.cmvn import stats_file

    if cfg.data.cmvn != "none" and len(args.cmvn_dir or args.cmvn_stats) != len(args.data):
        raise ConfigError(f"data.cmvn is {cfg.data.cmvn}: give --cmvn_dir (or --cmvn_stats) for each --data "
                          "(or set data.cmvn none)")
    dirs = args.cmvn_dir or [None] * len(args.data)
    given = args.cmvn_stats or [None] * len(args.data)
    stats = [stats_file(d, cfg.data.cmvn, f) for d, f in zip(dirs, given)]
    setup_logging()
    from serkit.train.pretrainer import PretrainPaths, PretrainTrainer

    run_trainer(PretrainTrainer(cfg, PretrainPaths(args.data, args.feats, stats, args.exp_dir), ngpu=args.ngpu))


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
