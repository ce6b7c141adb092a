"""Make cross-validation folds of a data dir for a protocol (the protocols table of README.md).

Usage:
    serkit-make-folds --protocol loso|loso_session|random|first2spk [--valid_rule auto]
        [--extra_train DIR [--extra_label_map FILE]] DATA_DIR OUT_DIR

Writes OUT_DIR/fold<k>/{train,valid,test}/ and OUT_DIR/protocol.yaml; fails if a fold shares
a speaker between splits for a speaker-independent protocol.

Example:
    serkit-make-folds --protocol loso_session data/all data/folds/loso_session
"""
from __future__ import annotations

import argparse
import logging

from pathlib import Path

from serkit.bin.common import run_main, setup_logging
from serkit.data.datadir import DataDir
from serkit.data.folds import PROTOCOLS, SPEAKER_DEPENDENT, make_folds, write_folds
from serkit.data.labels import map_labels, read_label_map


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir")
    p.add_argument("out_dir")
    p.add_argument("--protocol", required=True, choices=PROTOCOLS)
    p.add_argument("--valid_rule", default="auto", choices=("auto", "same_session", "next_speaker"))
    p.add_argument("--seed", type=int, default=123456, help="shuffle seed of the random protocol")
    p.add_argument("--extra_train", default=None, help="data dir added to every fold's training set")
    p.add_argument("--extra_label_map", default=None,
                   help="'source target' lines mapping the extra data's labels ('-' drops a label)")
    args = p.parse_args()
    setup_logging()
    data = DataDir.load(args.data_dir)
    folds = make_folds(data, args.protocol, valid_rule=args.valid_rule, seed=args.seed)
    extra = None
    if args.extra_train:
        extra = DataDir.load(args.extra_train)
        if args.extra_label_map:
            extra = map_labels(extra, read_label_map(args.extra_label_map), Path(args.out_dir) / "extra_train",
                               source=args.extra_label_map)
        logging.info("adding %d utterances of %s to every training set", len(extra.utts), args.extra_train)
    write_folds(data, folds, args.out_dir, args.protocol, extra_train=extra)
    if args.protocol in SPEAKER_DEPENDENT:
        logging.warning("protocol '%s' is SPEAKER-DEPENDENT: test speakers are seen in training", args.protocol)
    for f in folds:
        logging.info("%s: train %d valid %d test %d; test speakers %s", f.name, len(f.train),
                     len(f.valid), len(f.test), ",".join(f.test_speakers) or "(mixed)")


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
