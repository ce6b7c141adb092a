"""Tabulate a sweep of one config key over a grid of values, across folds: WA/UA per value.

Each (value, fold) is an ordinary run of stage 3 (``egs/TEMPLATE/ser.sh --sweep_key``) in
``<exp_dir>/<key>_<value>/<fold>/``, trained and decoded like any other; the table holds pooled
and mean ± std WA/UA per value, and a PNG plots the metrics against the value (symmetric-log
axis, so 0 and 5e3 fit on one plot).
"""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml

from serkit.errors import ConfigError, SerkitError
from serkit.fileio import atomic_write
from serkit.scoring import score_folds



def parse_values(text: str) -> List[str]:
    """``"0,1e-3,0.1"`` -> ``["0", "1e-3", "0.1"]`` (kept as written: they name the exp dirs)."""
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise ConfigError("--values is empty")
    for v in values:
        yaml.safe_load(v)
    return values


def value_dir(exp_dir: str | os.PathLike, key: str, value: str) -> Path:
    """``<exp_dir>/<full key>_<value>``: the whole key, so that sweeps of two keys ending alike
    (``model.heads.gender.weight``, ``model.heads.emotion.weight``) never share a dir."""
    return Path(exp_dir) / f"{key}_{value}"


def _as_number(value: str) -> Optional[float]:
    try:
        return float(value)
    except ValueError:
        return None


def score_sweep(key: str, values: Sequence[str], folds: Sequence[str], exp_dir: str) -> Dict:
    rows = []
    for value in values:
        preds = {f: value_dir(exp_dir, key, value) / f / "predictions" / "test.tsv" for f in folds}
        missing = [str(p) for p in preds.values() if not p.exists()]
        if missing:
            raise SerkitError(f"{key}={value}: missing predictions {', '.join(missing)}")
        r = score_folds(preds)
        rows.append({"value": value, "pooled": {m: r["pooled"][m] for m in ("wa", "ua", "macro_f1")},
                     "mean_std": r["mean_std"]})
    return {"key": key, "folds": list(folds), "rows": rows}


def format_sweep_markdown(result: Dict, title: str, protocol: str, notes: Dict[str, str]) -> str:
    lines = [f"## {title}", "", f"- protocol: {protocol}", f"- swept: `{result['key']}` over "
             f"{len(result['rows'])} values, {len(result['folds'])} folds each"]
    lines += [f"- {k}: {v}" for k, v in notes.items()]
    lines += ["", "WA = overall accuracy, UA = mean per-class recall; in %.", "",
              f"| {result['key']} | pooled WA | pooled UA | mean ± std WA | mean ± std UA |",
              "|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        ms = r["mean_std"]
        lines.append(f"| {r['value']} | {100 * r['pooled']['wa']:.2f} | {100 * r['pooled']['ua']:.2f} | "
                     f"{100 * ms['wa']['mean']:.2f} ± {100 * ms['wa']['std']:.2f} | "
                     f"{100 * ms['ua']['mean']:.2f} ± {100 * ms['ua']['std']:.2f} |")
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
        line = ax.plot(pos, pooled, marker="o", label=f"{label} pooled")[0]
        ax.errorbar(pos, mean, yerr=std, fmt="--", capsize=3, color=line.get_color(), alpha=0.6,
                    label=f"{label} mean ± std over folds")
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
    with open(exp_dir / "sweep.json", "w") as f:
        json.dump(result, f, indent=1)
    (exp_dir / "sweep.md").write_text(markdown)
    plot_sweep(result, exp_dir / "sweep.png", title)
