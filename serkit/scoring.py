"""Score cross-validation predictions: per fold, pooled and mean ± std.

Pooled = all folds' test predictions together (sum correct / N_total for WA).
Mean ± std = over the per-fold values (population std).
"""
from __future__ import annotations

import fcntl
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from serkit.data.datadir import read_kv
from serkit.errors import SerkitError
from serkit.fileio import write_text_atomic
from serkit.metrics import (confusion_matrix, error_rate, mean_std, normalise_rows, regression_scores,
                            scores_from_confusion)
from serkit.predictions import read_dimensions, read_predictions

METRICS = ("wa", "ua", "macro_f1")


def check_coverage(path: str | os.PathLike, utts: Sequence[str], expected: Sequence[str], where: str) -> None:
    """Every utterance of ``expected`` (the fold's data dir ``where``) has exactly one prediction."""
    seen, dups = set(), []
    for u in utts:
        if u in seen:
            dups.append(u)
        seen.add(u)
    if dups:
        raise SerkitError(f"{path}: {len(dups)} utterance(s) predicted more than once, e.g. {dups[0]}")
    want = set(expected)
    missing = [u for u in expected if u not in seen]
    extra = sorted(seen - want)
    if missing:
        raise SerkitError(f"{path}: {len(missing)} of the {len(want)} utterances of {where} have no prediction, "
                          f"e.g. {', '.join(missing[:3])} (rerun the decode)")
    if extra:
        raise SerkitError(f"{path}: {len(extra)} predicted utterance(s) are not in {where}, e.g. {', '.join(extra[:3])}")


def expected_utterances(folds_dir: str | os.PathLike, folds: Sequence[str],
                        split: str = "test") -> Dict[str, Tuple[str, List[str]]]:
    """``{fold: (<folds_dir>/<fold>/<split>, its utterances)}``: what each fold's predictions of
    that split must cover, for :func:`score_folds`."""
    out = {}
    for fold in folds:
        where = Path(folds_dir) / fold / split
        out[fold] = (str(where), list(read_kv(where / "utt2spk")))
    return out


def score_folds(pred_files: Dict[str, str | os.PathLike],
                expected: Optional[Dict[str, Tuple[str, Sequence[str]]]] = None) -> dict:
    """``{fold: predictions.tsv}`` -> dict with per-fold, pooled and mean/std scores.

    ``expected``: ``{fold: (data dir, its utterances)}``; each fold's predictions must cover them
    exactly (a half-written or stale file is an error, not a score of part of the test set).
    """
    classes: Optional[List[str]] = None
    per_fold = {}
    pooled_cm = None
    texts = []      # (fold, ref, hyp) where the model has a CTC head
    ratings = {}    # fold -> (dimensions, gold (N, K), pred (N, K)) where the model has a regression head
    for fold, path in pred_files.items():
        dims, _, g, pr = read_dimensions(path)
        if dims:
            ratings[fold] = (dims, g, pr)
        cls, rows = read_predictions(path, with_text=True)
        if expected is not None:
            check_coverage(path, [r[0] for r in rows], expected[fold][1], expected[fold][0])
        texts += [(fold, r[3], r[4]) for r in rows if r[3] is not None]
        rows = [r[:3] for r in rows]
        if classes is None:
            classes = cls
        elif cls != classes:
            raise SerkitError(f"{path}: classes {cls} differ from the other folds' {classes}")
        index = {c: i for i, c in enumerate(classes)}
        try:
            gold = [index[g] for _, g, _ in rows]
            pred = [index[p] for _, _, p in rows]
        except KeyError as e:
            raise SerkitError(f"{path}: label {e} is not one of {classes} (no gold labels?)") from None
        cm = confusion_matrix(gold, pred, len(classes))
        pooled_cm = cm if pooled_cm is None else pooled_cm + cm
        per_fold[fold] = scores_from_confusion(cm) | {"confusion": cm.tolist()}
    if classes is None:
        raise SerkitError("no predictions to score")
    pooled = scores_from_confusion(pooled_cm) | {"confusion": pooled_cm.tolist()}
    metrics = METRICS
    if texts:   # CER on characters (spaces included), WER on words; per fold and pooled
        metrics = METRICS + ("cer", "wer")
        for fold in per_fold:
            per_fold[fold].update(_text_errors([(r, h) for f, r, h in texts if f == fold]))
        pooled.update(_text_errors([(r, h) for _, r, h in texts]))
    mean = {}
    for m in metrics:
        mu, sd = mean_std([per_fold[f][m] for f in per_fold])
        mean[m] = {"mean": mu, "std": sd}
    result = {"classes": classes, "folds": per_fold, "pooled": pooled, "mean_std": mean}
    if ratings:
        result["dimensions"] = score_dimensions(ratings)
    return result


def score_dimensions(ratings: Dict[str, tuple]) -> dict:
    """CCC, Pearson r and MAE per dimension: per fold, pooled and mean ± std over folds.
    ``ratings``: fold -> (dimensions, gold (N, K), pred (N, K)); utterances without a gold rating
    (NaN) are left out."""
    dims = next(iter(ratings.values()))[0]
    for fold, (d, _, _) in ratings.items():
        if d != dims:
            raise SerkitError(f"{fold}: dimensions {d} differ from the other folds' {dims}")

    def scores(g, p):
        out = {}
        for k, d in enumerate(dims):
            keep = ~np.isnan(g[:, k])
            if keep.any():
                out[d] = regression_scores(g[keep, k], p[keep, k])
        return out

    per_fold = {f: scores(g, p) for f, (_, g, p) in ratings.items()}
    pooled = scores(np.concatenate([g for _, g, _ in ratings.values()]),
                    np.concatenate([p for _, _, p in ratings.values()]))
    mean = {d: {m: dict(zip(("mean", "std"), mean_std([per_fold[f][d][m] for f in per_fold if d in per_fold[f]])))
                for m in ("ccc", "r", "mae")} for d in pooled}
    return {"names": [d for d in dims if d in pooled], "folds": per_fold, "pooled": pooled, "mean_std": mean}


def _text_errors(pairs) -> Dict[str, float]:
    refs = [r for r, _ in pairs]
    hyps = [h for _, h in pairs]
    return {"cer": error_rate([list(r) for r in refs], [list(h) for h in hyps]),
            "wer": error_rate([r.split() for r in refs], [h.split() for h in hyps])}


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def format_markdown(result: dict, title: str, protocol: str, speaker_dependent: bool = False,
                    extra: Optional[Dict[str, str]] = None) -> str:
    classes = result["classes"]
    lines = [f"## {title}", ""]
    prot = f"{protocol} (SPEAKER-DEPENDENT)" if speaker_dependent else protocol
    lines.append(f"- protocol: {prot}")
    for k, v in (extra or {}).items():
        lines.append(f"- {k}: {v}")
    ms = result["mean_std"]
    metrics = [m for m in METRICS + ("cer", "wer") if m in ms]
    names = {"wa": "WA", "ua": "UA", "macro_f1": "F1", "cer": "CER", "wer": "WER"}
    legend = "WA = overall accuracy, UA = mean per-class recall, F1 = macro-F1"
    if "cer" in ms:
        legend += "; CER / WER = character / word error rate of the greedy CTC transcripts"
    lines += ["", legend + "; in %.", "",
              "| fold | #utts | " + " | ".join(names[m] for m in metrics) + " |", "|---|---:|" + "---:|" * len(metrics)]
    for fold, s in result["folds"].items():
        lines.append(f"| {fold} | {s['num_utts']} | " + " | ".join(_pct(s[m]) for m in metrics) + " |")
    p = result["pooled"]
    lines.append(f"| **pooled** | {p['num_utts']} | " + " | ".join(_pct(p[m]) for m in metrics) + " |")
    lines.append("| **mean ± std** | | " + " | ".join(
        f"{_pct(ms[m]['mean'])} ± {_pct(ms[m]['std'])}" for m in metrics) + " |")
    if "dimensions" in result:
        lines += ["", *dimension_lines(result["dimensions"])]
    cm = np.array(p["confusion"])
    norm = normalise_rows(cm)
    lines += ["", "Pooled confusion (rows = gold, columns = predicted; counts and row-normalised %):", "",
              "| gold \\ pred | " + " | ".join(classes) + " |", "|---|" + "---:|" * len(classes)]
    for i, c in enumerate(classes):
        cells = [f"{int(cm[i, j])} ({100 * norm[i, j]:.1f})" for j in range(len(classes))]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def dimension_lines(dim: dict) -> List[str]:
    """The dimensional scores as a markdown table: per fold and pooled CCC / r / MAE per dimension."""
    names = dim["names"]
    lines = ["Dimensional ratings (CCC = concordance correlation, r = Pearson, MAE on the data's scale):", "",
             "| fold | " + " | ".join(f"{d} {m}" for d in names for m in ("CCC", "r", "MAE")) + " |",
             "|---|" + "---:|" * (3 * len(names))]

    def cells(s):
        return " | ".join(f"{s[d][m]:.3f}" if d in s else "-" for d in names for m in ("ccc", "r", "mae"))

    for fold, s in dim["folds"].items():
        lines.append(f"| {fold} | {cells(s)} |")
    lines.append(f"| **pooled** | {cells(dim['pooled'])} |")
    ms = dim["mean_std"]
    lines.append("| **mean ± std** | " + " | ".join(f"{ms[d][m]['mean']:.3f} ± {ms[d][m]['std']:.3f}"
                                                  for d in names for m in ("ccc", "r", "mae")) + " |")
    return lines


def format_seeds_markdown(results: Dict[str, dict], title: str, protocol: str, speaker_dependent: bool = False,
                          extra: Optional[Dict[str, str]] = None) -> str:
    """One row per run (e.g. seed): pooled WA / UA / F1 and mean ± std UA over folds, then the
    mean ± std over runs of the pooled values; runs with dimensional ratings add a table of their
    pooled CCC and r per dimension."""
    lines = [f"## {title}", "", f"- protocol: {protocol} (SPEAKER-DEPENDENT)" if speaker_dependent
             else f"- protocol: {protocol}"]
    lines += [f"- {k}: {v}" for k, v in (extra or {}).items()]
    lines += ["", "Pooled over folds, in %; the last row is the mean ± std over the runs (population std).", "",
              "| run | pooled WA | pooled UA | pooled F1 | UA mean ± std over folds |", "|---|---:|---:|---:|---:|"]
    for name, r in results.items():
        p, ua = r["pooled"], r["mean_std"]["ua"]
        lines.append(f"| {name} | {_pct(p['wa'])} | {_pct(p['ua'])} | {_pct(p['macro_f1'])} | "
                     f"{_pct(ua['mean'])} ± {_pct(ua['std'])} |")
    cells = []
    for m in METRICS:
        mu, sd = mean_std([r["pooled"][m] for r in results.values()])
        cells.append(f"{_pct(mu)} ± {_pct(sd)}")
    lines.append(f"| **mean ± std over {len(results)} runs** | " + " | ".join(cells) + " | |")
    rated = {n: r["dimensions"] for n, r in results.items() if "dimensions" in r}
    if rated:   # runs with a regression head: their pooled CCC per dimension, and its mean ± std
        dims = list(dict.fromkeys(d for r in rated.values() for d in r["names"]))
        lines += ["", "Dimensional ratings, pooled over folds (CCC = concordance correlation, r = Pearson):", "",
                  "| run | " + " | ".join(f"{d} {m}" for d in dims for m in ("CCC", "r")) + " |",
                  "|---|" + "---:|" * (2 * len(dims))]
        for name, r in rated.items():
            lines.append(f"| {name} | " + " | ".join(
                f"{r['pooled'][d][m]:.3f}" if d in r["pooled"] else "-" for d in dims for m in ("ccc", "r")) + " |")
        cells = []
        for d in dims:
            for m in ("ccc", "r"):
                mu, sd = mean_std([r["pooled"][d][m] for r in rated.values() if d in r["pooled"]])
                cells.append(f"{mu:.3f} ± {sd:.3f}")
        lines.append(f"| **mean ± std over {len(rated)} runs** | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def torch_version() -> str:
    """torch's version, read from its ``version.py`` where torch is not imported yet: importing
    it costs seconds, and ``serkit-score`` needs nothing else of it."""
    if "torch" in sys.modules:
        return sys.modules["torch"].__version__
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        return "not installed"
    try:
        text = Path(spec.origin).with_name("version.py").read_text()
    except OSError:
        text = ""
    m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
    return m.group(1) if m else importlib.metadata.version("torch")


def environment_info() -> Dict[str, str]:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        # a recipe's RESULTS.md is what scoring itself writes: only other changes make the code "dirty"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
                                ":(top,exclude,glob)**/RESULTS.md"], capture_output=True, text=True).stdout.strip()
        commit += "-dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"git commit": commit, "python": platform.python_version(), "torch": torch_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores"}


def update_results_md(path: str | os.PathLike, section: str, title: str) -> None:
    """Replace the section starting with ``## <title>`` in RESULTS.md, or append it.

    Runs of one recipe score side by side (folds, seeds, several run_*.sh at once), so the
    read-modify-write holds an exclusive lock on a sidecar file (the RESULTS.md inode itself is
    replaced by the rename) and writes through a temp file of its own: no section is lost and
    no reader sees a torn file."""
    path = Path(path)
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # released when the file closes
        text = path.read_text() if path.exists() else "# RESULTS\n\n"
        if pattern.search(text):
            text = pattern.sub(lambda _: section + "\n", text)
        else:
            text = text.rstrip("\n") + "\n\n" + section
        write_text_atomic(path, text)


def publish(markdown: str, title: str, results_md: Optional[str]) -> None:
    """Replace the section ``title`` of RESULTS.md (when given) and print the markdown."""
    if results_md:
        update_results_md(results_md, markdown, title)
    sys.stdout.write(markdown)


def write_scores(result: dict, out_dir: str | os.PathLike, markdown: str) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "scores.json", "w") as f:
        json.dump(result, f, indent=1)
    (out_dir / "scores.md").write_text(markdown)


def find_fold_predictions(exp_dir: str | os.PathLike, split: str = "test",
                          folds: Optional[Sequence[str]] = None) -> Dict[str, Path]:
    exp_dir = Path(exp_dir)
    names = folds or sorted((p.name for p in exp_dir.glob("fold*") if p.is_dir()),
                            key=lambda n: int(n[4:]) if n[4:].isdigit() else n)
    out = {n: exp_dir / n / "predictions" / f"{split}.tsv" for n in names}
    if not out:
        raise SerkitError(f"{exp_dir}: no fold*/ directories with predictions")
    missing = [str(p) for p in out.values() if not p.exists()]
    if missing:
        raise SerkitError(f"missing predictions (did stage 3 finish?): {', '.join(missing)}")
    return out
