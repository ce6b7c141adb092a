"""Synthesize the mini_emo corpus (eSpeak NG) in the IEMOCAP release layout.

Usage:
    serkit-synth-mini-emo --out db/mini_emo [--seed 0] [--num_sessions 5] [--scale 1] [--nj 1]
        [--layout iemocap|savee|emodb] [--per_emotion 15]

Example:
    serkit-synth-mini-emo --out db/mini_emo --seed 0
"""
from __future__ import annotations

import argparse
import logging

from serkit.bin.common import run_main, setup_logging
from serkit.corpora.mini_emo import synthesize, synthesize_layout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num_sessions", type=int, default=5)
    p.add_argument("--scale", type=int, default=1, help="multiply the utterances per speaker")
    p.add_argument("--nj", type=int, default=1, help="sessions (speakers) synthesized in parallel")
    p.add_argument("--layout", default="iemocap", choices=("iemocap", "savee", "emodb"),
                   help="release layout to write (savee/emodb: small fixtures of those corpora)")
    p.add_argument("--per_emotion", type=int, default=15, help="savee/emodb: utterances per emotion and speaker")
    args = p.parse_args()
    setup_logging()
    if args.layout != "iemocap":
        n = synthesize_layout(args.layout, args.out, seed=args.seed, per_emotion=args.per_emotion, nj=args.nj)
        logging.info("%s: %d files in the %s layout", args.out, n, args.layout)
        return
    counts = synthesize(args.out, seed=args.seed, num_sessions=args.num_sessions,
                        utts_per_speaker_scale=args.scale, nj=args.nj)
    logging.info("%s: %d utterances; %s", args.out, sum(counts.values()),
                 ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
