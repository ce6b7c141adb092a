"""Prepare EMO-DB or SAVEE (release layouts) as a Kaldi-style data dir.

Usage:
    serkit-prep-corpus --corpus emodb|savee --root DIR --out DATA_DIR

Example:
    serkit-prep-corpus --corpus emodb --root /data/emodb --out data/emodb
"""
from __future__ import annotations

import argparse
import logging
from collections import Counter

from serkit.bin.common import run_main, setup_logging
from serkit.corpora.emodb import prepare_emodb, prepare_savee

PREPARERS = {"emodb": prepare_emodb, "savee": prepare_savee}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, choices=sorted(PREPARERS))
    p.add_argument("--root", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    setup_logging()
    d = PREPARERS[args.corpus](args.root, args.out)
    emo = Counter(d.get("utt2emo").values())
    logging.info("%s: %d utterances, %d speakers; %s", args.out, len(d.utts), len(set(d.get("utt2spk").values())),
                 ", ".join(f"{k} {v}" for k, v in sorted(emo.items())))


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
