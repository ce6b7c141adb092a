"""Report what a data dir holds and warn about what makes its scores hard to compare.

Usage:
    serkit-data-report DATA_DIR [--folds FOLDS_DIR] [--out DIR]

Writes DIR (default DATA_DIR/report) with report.md (counts per label, speaker, gender, session
and corpus; durations; label x speaker; per-fold label counts), report.json, warnings.txt and
two PNGs (label x speaker heat map, duration histogram). Warnings (labels confounded with
speakers, a fold missing a class, class imbalance, very short or long utterances, duplicate
audio) are also printed; the exit status is 0 either way.

Example:
    serkit-data-report data/all --folds data/folds/loso
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from serkit.bin.common import run_main, setup_logging
from serkit.data.report import data_report, write_report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir")
    p.add_argument("--folds", default=None, help="folds dir of a protocol: per-fold label counts")
    p.add_argument("--out", default=None, help="report dir (default: DATA_DIR/report)")
    args = p.parse_args()
    setup_logging()
    rep = data_report(args.data_dir, args.folds)
    out = Path(args.out or Path(args.data_dir) / "report")
    write_report(rep, out)
    logging.info("%s: %d utterances, %d speakers; report in %s", args.data_dir, rep["utterances"], rep["speakers"], out)
    for w in rep["warnings"]:
        logging.warning("%s: %s", args.data_dir, w)


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
