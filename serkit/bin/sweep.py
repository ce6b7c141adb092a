"""Sweep one config key over a grid of values across folds: one table and one plot.

Usage:
    serkit-sweep --config conf/x.yaml --key model.heads.gender.weight --values 0,1e-3,0.1,1
        --folds_dir data/folds/loso --feats dump/mfcc/all/feats.scp
        [--cmvn_stats "dump/mfcc/loso/{fold}/cmvn.npz"] --exp_dir exp/sweep
        [--folds fold1,fold2] [--mode all|train|score] [--results_md RESULTS.md]
        [--ngpu N] [--launcher "torchrun --standalone --nproc_per_node 2"] [-- --train.max_epochs 5]

Options after ``--`` are passed to every training run. Finished (value, fold) runs are skipped.
Writes <exp_dir>/sweep.{md,json,png}; with --results_md also a section of RESULTS.md.

Example (from a recipe dir, after stage 1):
    serkit-sweep --config conf/tuning/train_blstm2l_gender.yaml --key model.heads.gender.weight \
        --values 0,1e-3,1e-2,1e-1,1,10,100,1000,5000 --folds_dir data/folds/loso \
        --feats dump/mfcc/all/feats.scp --cmvn_stats "dump/mfcc/loso/{fold}/cmvn.npz" \
        --exp_dir exp/sweep_gender_weight --results_md RESULTS.md
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from serkit.bin.common import run_main, setup_logging
from serkit.data.folds import read_protocol, select_folds
from serkit.scoring import environment_info, publish
from serkit.sweep import format_sweep_markdown, parse_values, run_sweep_training, score_sweep, write_sweep


def main() -> None:
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--key", required=True, help="dotted config key, e.g. model.heads.gender.weight")
    p.add_argument("--values", required=True, help="comma-separated values")
    p.add_argument("--folds_dir", required=True)
    p.add_argument("--feats", required=True)
    p.add_argument("--cmvn_stats", default=None, help="statistics file; {fold} is replaced by the fold")
    p.add_argument("--exp_dir", required=True)
    p.add_argument("--folds", default=None, help="comma list (default: every fold of the protocol)")
    p.add_argument("--mode", default="all", choices=("all", "train", "score"))
    p.add_argument("--results_md", default=None)
    p.add_argument("--title", default=None)
    p.add_argument("--ngpu", type=int, default=0)
    p.add_argument("--launcher", default="", help="command prefix for training, e.g. torchrun ...")
    args = p.parse_args(argv)
    setup_logging()
    from serkit.models.registry import load_train_config

    load_train_config(args.config, extra + [f"--{args.key}", parse_values(args.values)[0]])  # fail fast on bad keys
    values = parse_values(args.values)
    info = read_protocol(args.folds_dir)
    folds = select_folds(info, args.folds, args.folds_dir)
    if args.mode in ("all", "train"):
        run_sweep_training(args.config, args.key, values, args.folds_dir, folds, args.feats, args.cmvn_stats,
                           args.exp_dir, extra, shlex.split(args.launcher), args.ngpu)
    if args.mode in ("all", "score"):
        result = score_sweep(args.key, values, folds, args.exp_dir)
        title = args.title or Path(args.exp_dir).name
        protocol = info["protocol"] + (" (SPEAKER-DEPENDENT)" if info.get("speaker_dependent") else "")
        notes = {"config": args.config, "extra options": " ".join(extra) or "none",
                 "plot": f"{args.exp_dir}/sweep.png"} | environment_info()
        md = format_sweep_markdown(result, title, protocol, notes)
        write_sweep(result, args.exp_dir, md, f"{title} ({info['protocol']})")
        publish(md, title, args.results_md)


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
