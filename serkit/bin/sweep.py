"""Score a sweep of one config key over a grid of values across folds: one table and one plot.

Usage:
    serkit-sweep --key model.heads.gender.weight --values 0,1e-3,0.1,1 --folds_dir data/folds/loso
        --exp_dir exp/<tag> [--seeds 1,2,3] [--config conf/x.yaml] [--folds fold1,fold2]
        [--results_md RESULTS.md] [--title T] [-- --train.max_epochs 5]

The runs themselves are stage 3 of a recipe (``./run.sh --sweep_key K --sweep_values V [--seeds
1,2,3]``), which trains and decodes ``<exp_dir>/<key>_<value>[_seed<S>]/<fold>/`` like any other
run. The table gives, per value, the pooled test WA / UA (mean ± std over seeds with --seeds),
the UA over folds and the pooled valid UA, and marks the value the valid speakers choose.
Options after ``--`` (the runs' overrides) are recorded in the notes. Writes
<exp_dir>/sweep.{md,json,png}; with --results_md also a section of RESULTS.md.

Example (from a recipe dir, after stage 3 of the sweep):
    serkit-sweep --config conf/tuning/train_blstm2l_gender.yaml --key model.heads.gender.weight \
        --values 0,1e-3,1e-2,1e-1,1,10,100,1000,5000 --folds_dir data/folds/loso \
        --exp_dir exp/train_blstm2l_gender_mfcc_loso_sweep_model.heads.gender.weight --results_md RESULTS.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from serkit.bin.common import run_main, setup_logging
from serkit.data.folds import read_protocol, select_folds
from serkit.scoring import environment_info, expected_utterances, publish
from serkit.sweep import format_sweep_markdown, parse_seeds, parse_values, score_sweep, write_sweep


def main() -> None:
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None, help="the swept config (for the notes)")
    p.add_argument("--key", required=True, help="dotted config key, e.g. model.heads.gender.weight")
    p.add_argument("--values", required=True, help="comma-separated values")
    p.add_argument("--folds_dir", required=True)
    p.add_argument("--exp_dir", required=True)
    p.add_argument("--folds", default=None, help="comma list (default: every fold of the protocol)")
    p.add_argument("--seeds", default=None, help="comma list of training seeds: runs <key>_<value>_seed<S>")
    p.add_argument("--results_md", default=None)
    p.add_argument("--title", default=None)
    args = p.parse_args(argv)
    setup_logging()
    values = parse_values(args.values)
    info = read_protocol(args.folds_dir)
    folds = select_folds(info, args.folds, args.folds_dir)
    seeds = parse_seeds(args.seeds)
    result = score_sweep(args.key, values, folds, args.exp_dir, seeds,
                         expected_utterances(args.folds_dir, folds, "test"),
                         expected_utterances(args.folds_dir, folds, "valid"))
    title = args.title or Path(args.exp_dir).name
    protocol = info["protocol"] + (" (SPEAKER-DEPENDENT)" if info.get("speaker_dependent") else "")
    notes = {"config": args.config or "(not given)", "extra options": " ".join(extra) or "none",
             "plot": f"{args.exp_dir}/sweep.png"} | environment_info()
    md = format_sweep_markdown(result, title, protocol, notes)
    write_sweep(result, args.exp_dir, md, f"{title} ({info['protocol']})")
    publish(md, title, args.results_md)


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
