"""Prepare any corpus from a manifest table (CSV or TSV) as a validated Kaldi-style data dir.

Usage:
    serkit-prep-manifest --manifest FILE --emotions L1,L2,... --out DATA_DIR [--root DIR] [--corpus NAME]
    serkit-prep-manifest --manifest FILE --unlabelled --out DATA_DIR ...   (speech for pretraining)

Columns (header line): path, speaker, emotion; optional gender, text, session, lang, start, end,
and the dimensional ratings valence, arousal, dominance (numbers; one utt2<dim> file each).
Paths are relative to --root (default: the manifest's folder). --emotions declares the corpus's
label set (written to DATA_DIR/emotions): a label outside it is an error naming the line.
--unlabelled: no emotion column (speech for stage 2 pretraining). --ignore_columns names columns
of the table that no data-dir file holds (other unknown columns are errors).

Example:
    serkit-prep-manifest --manifest /data/mycorpus/labels.csv --emotions angry,happy,neutral,sad --out data/all
"""
from __future__ import annotations

import argparse
import logging
from collections import Counter

from serkit.bin.common import run_main, setup_logging
from serkit.corpora.manifest import prepare_manifest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", required=True)
    p.add_argument("--emotions", default="", help="comma list: the corpus's emotion labels")
    p.add_argument("--unlabelled", action="store_true", help="speech without emotion labels (pretraining data)")
    p.add_argument("--ignore_columns", default="", help="comma list of the table's columns to skip")
    p.add_argument("--out", required=True)
    p.add_argument("--root", default=None, help="folder the manifest's paths are relative to")
    p.add_argument("--corpus", default=None, help="written to utt2corpus (for corpora combined later)")
    args = p.parse_args()
    setup_logging()
    emotions = [e.strip() for e in args.emotions.split(",") if e.strip()]
    ignore = [c.strip() for c in args.ignore_columns.split(",") if c.strip()]
    d = prepare_manifest(args.manifest, args.out, emotions, root=args.root, corpus=args.corpus,
                         unlabelled=args.unlabelled, ignore=ignore)
    hours = sum(float(v) for v in d.get("utt2dur").values()) / 3600
    emo = Counter(d.get("utt2emo").values()) if d.has("utt2emo") else {}
    logging.info("%s: %d utterances, %d speakers, %.2f h%s", args.out, len(d.utts), len(set(d.get("utt2spk").values())),
                 hours, "; " + ", ".join(f"{k} {emo.get(k, 0)}" for k in emotions) if emotions else " (unlabelled)")


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
