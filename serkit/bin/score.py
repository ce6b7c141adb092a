"""Score the test predictions of every fold of an experiment: WA, UA, macro-F1, confusion.

Usage:
    serkit-score --exp_dir exp/TAG [--exp_dir exp/TAG2 ...] --folds_dir data/folds/PROTOCOL
        [--results_md RESULTS.md] [--title TITLE] [--note "key: value" ...]

Writes exp/TAG/scores/{scores.json,scores.md}; with --results_md, replaces (or appends) the
section of that title in the recipe's RESULTS.md. The protocol is read from the folds dir.
With several --exp_dir (e.g. the seeds of one system) each is scored into its own scores/ and
the section is one row per run plus the mean ± std over runs of the pooled WA / UA / F1.
--split valid scores the valid predictions instead (into scores_valid/): the figures to choose
settings on.

Example:
    serkit-score --exp_dir exp/blstm_mfcc --folds_dir data/folds/loso_session --results_md RESULTS.md
"""
from __future__ import annotations

import argparse
from pathlib import Path

from serkit.bin.common import run_main, setup_logging
from serkit.data.folds import read_protocol, select_folds
from serkit.scoring import environment_info, expected_utterances, find_fold_predictions, format_markdown, \
    format_seeds_markdown, publish, score_folds, write_scores


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp_dir", action="append", required=True, help="repeatable: several runs (seeds)")
    p.add_argument("--folds_dir", required=True)
    p.add_argument("--results_md", default=None)
    p.add_argument("--title", default=None, help="section title (default: the exp dir name)")
    p.add_argument("--note", action="append", default=[], help="'key: value' line for the section")
    p.add_argument("--folds", default=None, help="folds to score, e.g. 'fold1,fold2' (default: all)")
    p.add_argument("--split", default="test", choices=("test", "valid"),
                   help="valid: score the valid speakers, to choose settings without looking at test")
    args = p.parse_args()
    setup_logging()
    info = read_protocol(args.folds_dir)
    folds = select_folds(info, args.folds, args.folds_dir)
    if len(folds) < len(info["folds"]):
        args.note.append(f"folds scored: {len(folds)} of {len(info['folds'])} ({' '.join(folds)})")
    extra = dict(n.split(": ", 1) if ": " in n else (n, "") for n in args.note)
    extra.update(environment_info())
    dependent = info.get("speaker_dependent", False)
    expected = expected_utterances(args.folds_dir, folds, args.split)
    results = {}
    for exp_dir in args.exp_dir:
        result = score_folds(find_fold_predictions(exp_dir, args.split, folds), expected)
        title = args.title if args.title and len(args.exp_dir) == 1 else Path(exp_dir).name
        md = format_markdown(result, title, info["protocol"], dependent, extra)
        write_scores(result, Path(exp_dir) / ("scores" if args.split == "test" else "scores_valid"), md)
        results[Path(exp_dir).name] = result
    if len(args.exp_dir) > 1:
        title = args.title or " + ".join(results)
        md = format_seeds_markdown(results, title, info["protocol"], dependent, extra)
    publish(md, title, args.results_md)


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
