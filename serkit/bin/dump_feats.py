"""Dump features of a data dir into sharded storage, in parallel and resumably.

Usage:
    serkit-dump-feats --feat_conf conf/mfcc.yaml [--nj 4] [--shard_size 2000] DATA_DIR DUMP_DIR

Example:
    serkit-dump-feats --feat_conf conf/mfcc.yaml --nj 2 data/all dump/mfcc/all
"""
from __future__ import annotations

import argparse

import yaml

from serkit.bin.common import run_main, setup_logging
from serkit.errors import ConfigError
from serkit.features.dump import dump_features
from serkit.features.extract import FeatureConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir")
    p.add_argument("dump_dir")
    p.add_argument("--feat_conf", required=True, help="YAML with FeatureConfig fields")
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--shard_size", type=int, default=2000, help="utterances per shard at most")
    args = p.parse_args()
    setup_logging()
    with open(args.feat_conf) as f:
        conf = yaml.safe_load(f) or {}
    if not isinstance(conf, dict):
        raise ConfigError(f"{args.feat_conf}: expected a mapping of feature options")
    dump_features(args.data_dir, args.dump_dir, FeatureConfig.from_dict(conf), nj=args.nj,
                  shard_size=args.shard_size)


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
