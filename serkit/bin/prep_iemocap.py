"""Prepare an IEMOCAP-layout corpus as a Kaldi-style data dir.

Usage:
    serkit-prep-iemocap --root /path/IEMOCAP_full_release --out data/all [--label_set 4class]
        [--dialog_types impro,script] [--vad_scale raw|unit]

The summary lines' [V, A, D] ratings become utt2valence, utt2arousal and utt2dominance, as
released (1-5; --vad_scale unit: rescaled to [0, 1]).

Example:
    serkit-prep-iemocap --root db/mini_emo --out data/all
"""
from __future__ import annotations

import argparse
import logging
from collections import Counter

from serkit.bin.common import run_main, setup_logging
from serkit.corpora.iemocap import LABEL_SETS, prepare_iemocap


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="corpus root holding Session1..5")
    p.add_argument("--out", required=True, help="output data dir")
    p.add_argument("--label_set", default="4class", choices=sorted(LABEL_SETS))
    p.add_argument("--dialog_types", default="impro,script", help="comma list of impro, script")
    p.add_argument("--corpus", default="iemocap", help="value written to utt2corpus")
    p.add_argument("--vad_scale", default="raw", choices=("raw", "unit"),
                   help="valence / arousal / dominance as released (1-5) or rescaled to [0, 1]")
    return p


def main() -> None:
    args = get_parser().parse_args()
    setup_logging()
    d = prepare_iemocap(args.root, args.out, label_set=args.label_set,
                        dialog_types=tuple(args.dialog_types.split(",")), corpus=args.corpus,
                        vad_scale=args.vad_scale)
    emo = Counter(d.get("utt2emo").values())
    logging.info("%s: %d utterances, %d speakers; %s", args.out, len(d.utts),
                 len(set(d.get("utt2spk").values())), ", ".join(f"{k} {v}" for k, v in sorted(emo.items())))


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
