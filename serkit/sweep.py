"""Tabulate a sweep of one config key over a grid of values, across folds and seeds: WA/UA per value.

Each (value, seed, fold) is an ordinary run of stage 3 (``egs/TEMPLATE/ser.sh --sweep_key``) in
``<exp_dir>/<key>_<value>[_seed<S>]/<fold>/``, trained and decoded like any other. The table holds,
per value, the pooled test WA/UA (mean ± std over seeds where several ran), the UA over folds and
the pooled UA of the valid speakers, and marks the value the valid speakers choose: the setting to
report is chosen there, never on the test folds. A PNG plots the metrics against the value
(symmetric-log axis, so 0 and 5e3 fit on one plot).
"""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from serkit.errors import ConfigError, SerkitError
from serkit.fileio import atomic_write, write_text_atomic
from serkit.metrics import mean_std
from serkit.scoring import METRICS, find_fold_predictions, score_folds

Expected = Dict[str, Tuple[str, Sequence[str]]]   # fold -> (data dir, its utterances)


def parse_values(text: str) -> List[str]:
    """``"0,1e-3,0.1"`` -> ``["0", "1e-3", "0.1"]`` (kept as written: they name the exp dirs)."""
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise ConfigError("--values is empty")
    for v in values:
        yaml.safe_load(v)
    return values


def value_dir(exp_dir: str | os.PathLike, key: str, value: str, seed: Optional[int] = None) -> Path:
    """``<exp_dir>/<full key>_<value>[_seed<S>]``: the whole key, so that sweeps of two keys ending
    alike (``model.heads.gender.weight``, ``model.heads.emotion.weight``) never share a dir."""
    return Path(exp_dir) / (f"{key}_{value}" if seed is None else f"{key}_{value}_seed{seed}")


def parse_seeds(text: Optional[str]) -> List[Optional[int]]:
    """``"1,2,3"`` -> ``[1, 2, 3]``; none given -> ``[None]`` (one run per value, the config's seed)."""
    if not text:
        return [None]
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers, got '{text}'") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds must name distinct seeds, got '{text}'")
    return seeds


def _as_number(value: str) -> Optional[float]:
    try:
        return float(value)
    except ValueError:
        return None


def score_sweep(key: str, values: Sequence[str], folds: Sequence[str], exp_dir: str,
                seeds: Sequence[Optional[int]] = (None,), expected: Optional[Expected] = None,
                expected_valid: Optional[Expected] = None) -> Dict:
    """Score every (value, seed) run on test and, where every fold decoded them, on valid.

    A row per value: ``pooled`` = the mean over seeds of the pooled test WA / UA / F1,
    ``pooled_std`` their population std, ``mean_std`` = UA/WA mean ± std over the folds of every
    seed, ``valid_ua`` = the mean over seeds of the pooled valid UA (None where a run lacks valid
    predictions). ``chosen``: the value of the highest valid UA (the first of a tie), None where
    any value lacks it.
    """
    rows = []
    for value in values:
        runs = []
        fold_scores = {"wa": [], "ua": []}   # of every (seed, fold)
        for seed in seeds:
            run_dir = value_dir(exp_dir, key, value, seed)
            try:
                test = find_fold_predictions(run_dir, "test", folds)
            except SerkitError as e:   # which run of the sweep lacks them
                raise SerkitError(f"{key}={value}{'' if seed is None else f' seed {seed}'}: {e}") from None
            r = score_folds(test, expected)
            try:
                valid = find_fold_predictions(run_dir, "valid", folds)
            except SerkitError:   # a run without valid decodes: no choice can be made on it
                valid = None
            # a valid file that is there but wrong still fails, as a test file does
            valid_ua = None if valid is None else score_folds(valid, expected_valid)["pooled"]["ua"]
            runs.append({"seed": seed, "pooled": {m: r["pooled"][m] for m in METRICS}, "valid_ua": valid_ua})
            for m in fold_scores:
                fold_scores[m] += [r["folds"][f][m] for f in folds]
        pooled, pooled_std = {}, {}
        for m in METRICS:
            pooled[m], pooled_std[m] = mean_std([run["pooled"][m] for run in runs])
        fold_ms = {m: dict(zip(("mean", "std"), mean_std(x))) for m, x in fold_scores.items()}
        valid_uas = [run["valid_ua"] for run in runs]
        rows.append({"value": value, "pooled": pooled, "pooled_std": pooled_std, "mean_std": fold_ms,
                     "valid_ua": None if None in valid_uas else mean_std(valid_uas)[0], "runs": runs})
    chosen = None
    if all(r["valid_ua"] is not None for r in rows):
        chosen = max(rows, key=lambda r: r["valid_ua"])["value"]   # max keeps the first of a tie
    return {"key": key, "folds": list(folds), "seeds": list(seeds), "rows": rows, "chosen": chosen}


def format_sweep_markdown(result: Dict, title: str, protocol: str, notes: Dict[str, str]) -> str:
    seeds = [s for s in result.get("seeds", [None]) if s is not None]
    lines = [f"## {title}", "", f"- protocol: {protocol}", f"- swept: `{result['key']}` over "
             f"{len(result['rows'])} values, {len(result['folds'])} folds each"
             + (f", training seeds {', '.join(map(str, seeds))}" if seeds else "")]
    if result.get("chosen") is not None:
        lines.append(f"- chosen on the valid speakers: {result['key']} = {result['chosen']} (in bold)")
    lines += [f"- {k}: {v}" for k, v in notes.items()]
    over = f" (mean ± std over {len(seeds)} seeds, population std)" if len(seeds) > 1 else ""
    lines += ["", f"WA = overall accuracy, UA = mean per-class recall; in %. Pooled over the test folds{over}; "
              "UA over folds: mean ± std over the folds" + (" of every seed" if len(seeds) > 1 else "")
              + "; valid UA: pooled over the valid speakers" + (", mean over seeds" if len(seeds) > 1 else "") + ".", "",
              f"| {result['key']} | pooled WA | pooled UA | UA over folds | valid UA |",
              "|---:|---:|---:|---:|---:|"]
    def cell(r, m):
        text = f"{100 * r['pooled'][m]:.2f}"
        return text + (f" ± {100 * r['pooled_std'][m]:.2f}" if len(seeds) > 1 else "")

    for r in result["rows"]:
        ua = r["mean_std"]["ua"]
        valid = "-" if r.get("valid_ua") is None else f"{100 * r['valid_ua']:.2f}"
        value = f"**{r['value']}**" if r["value"] == result.get("chosen") else r["value"]
        lines.append(f"| {value} | {cell(r, 'wa')} | {cell(r, 'ua')} | {100 * ua['mean']:.2f} ± {100 * ua['std']:.2f} | "
                     f"{valid} |")
    if len(seeds) > 1:   # the seeds behind each mean, to judge a gap against the seed spread
        lines += ["", "Per seed, pooled test UA / valid UA:", ""]
        for r in result["rows"]:
            cells = [f"seed {run['seed']} {100 * run['pooled']['ua']:.2f} / "
                     + ("-" if run["valid_ua"] is None else f"{100 * run['valid_ua']:.2f}") for run in r["runs"]]
            lines.append(f"- {result['key']} = {r['value']}: " + "; ".join(cells))
    return "\n".join(lines) + "\n"


def plot_sweep(result: Dict, out_png: str | os.PathLike, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    xs = [_as_number(r["value"]) for r in rows]
    numeric = all(x is not None for x in xs)
    pos = xs if numeric else list(range(len(rows)))
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for metric, label in (("ua", "UA"), ("wa", "WA")):
        mean = [100 * r["mean_std"][metric]["mean"] for r in rows]
        std = [100 * r["mean_std"][metric]["std"] for r in rows]
        pooled = [100 * r["pooled"][metric] for r in rows]
        spread = [100 * r.get("pooled_std", {}).get(metric, 0.0) for r in rows]
        line = ax.errorbar(pos, pooled, yerr=spread if any(spread) else None, marker="o", capsize=3,
                           label=f"{label} pooled" + (" (± std over seeds)" if any(spread) else ""))[0]
        ax.errorbar(pos, mean, yerr=std, fmt="--", capsize=3, color=line.get_color(), alpha=0.6,
                    label=f"{label} mean ± std over folds")
    if all(r.get("valid_ua") is not None for r in rows):
        ax.plot(pos, [100 * r["valid_ua"] for r in rows], marker="s", linestyle=":", color="black",
                label="UA valid speakers (chooses the value)")
    if numeric:
        nonzero = [abs(x) for x in xs if x]
        ax.set_xscale("symlog", linthresh=min(nonzero) if nonzero else 1.0)
    ax.set_xticks(pos)
    ax.set_xticklabels([r["value"] for r in rows], rotation=45)
    ax.set_xlabel(result["key"])
    ax.set_ylabel("%")
    ax.set_title("\n".join(textwrap.wrap(title, 80)), fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        with atomic_write(out_png, "wb") as f:
            fig.savefig(f, format="png")
    finally:
        plt.close(fig)


def write_sweep(result: Dict, exp_dir: str | os.PathLike, markdown: str, title: str) -> None:
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(exp_dir / "sweep.json", "w") as f:
        json.dump(result, f, indent=1)
    write_text_atomic(exp_dir / "sweep.md", markdown)
    plot_sweep(result, exp_dir / "sweep.png", title)
