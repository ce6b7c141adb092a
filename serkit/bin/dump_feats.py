"""Dump features of a data dir into sharded storage, in parallel and resumably.

Usage:
    serkit-dump-feats --feat_conf conf/mfcc.yaml [--nj 4] [--shard_size 2000] [--device cuda] DATA_DIR DUMP_DIR
    serkit-dump-feats ... --plan DATA_DIR DUMP_DIR         # print the shards left to do, one a line
    serkit-dump-feats ... --shard NAME DATA_DIR DUMP_DIR   # write one shard (a dispatched job)

Without --plan or --shard it writes every missing shard with --nj processes and merges the
index (``feats.scp``, ``utt2num_frames``, ``feat_dim``, ``.done``). Recipes plan, run the shards
as an array of jobs through their dispatcher (cmd.sh), then call it once more to merge.
With ``--device cuda`` the log-mel / MFCC of about 300 s of audio at a time are computed in one
batch on the GPU (the same numbers as on the CPU to 1e-4); reading, resampling, prosody and
deltas stay on the CPU.

Example:
    serkit-dump-feats --feat_conf conf/mfcc.yaml --nj 2 data/all dump/mfcc/all
    serkit-dump-feats --feat_conf conf/mfcc.yaml --nj 2 --plan data/all dump/mfcc/all > shards
    serkit-run JOB=@shards dump/mfcc/all/log/dump.JOB.log \\
        serkit-dump-feats --feat_conf conf/mfcc.yaml --shard JOB data/all dump/mfcc/all
"""
from __future__ import annotations

import argparse

import yaml

from serkit.bin.common import run_main, setup_logging
from serkit.errors import ConfigError
from serkit.features.dump import dump_features, dump_shard, plan_dump
from serkit.features.extract import FeatureConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir")
    p.add_argument("dump_dir")
    p.add_argument("--feat_conf", required=True, help="YAML with FeatureConfig fields")
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--shard_size", type=int, default=2000, help="utterances per shard at most")
    p.add_argument("--device", default="cpu", help="where log-mel / MFCC are computed: cpu, cuda, cuda:1, ...")
    step = p.add_mutually_exclusive_group()
    step.add_argument("--plan", action="store_true", help="plan the shards; print those left to do")
    step.add_argument("--shard", help="write this shard of the plan only (no merge)")
    args = p.parse_args()
    setup_logging()
    with open(args.feat_conf) as f:
        conf = yaml.safe_load(f) or {}
    if not isinstance(conf, dict):
        raise ConfigError(f"{args.feat_conf}: expected a mapping of feature options")
    cfg = FeatureConfig.from_dict(conf)
    if args.plan:
        _, _, todo = plan_dump(args.data_dir, args.dump_dir, cfg, nj=args.nj, shard_size=args.shard_size)
        for shard in todo:
            print(shard)
    elif args.shard is not None:
        dump_shard(args.data_dir, args.dump_dir, cfg, args.shard, device=args.device)
    else:
        dump_features(args.data_dir, args.dump_dir, cfg, nj=args.nj, shard_size=args.shard_size, device=args.device)


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
