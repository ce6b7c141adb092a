"""What a data dir holds, and the properties that make its scores hard to compare.

``data_report(data_dir, folds_dir)`` counts utterances per label, speaker, gender, session and
corpus, sums durations, tabulates label x speaker and each fold's label counts, and warns about:

- **labels confounded with speakers**: the uncertainty coefficient U(label | speaker) =
  I(speaker; label) / H(label) (0: every speaker has the corpus's label mix, as in acted corpora;
  1: the speaker gives the label away) at or above ``CONFOUND_U``, or a share of at least
  ``SINGLE_LABEL_SHARE`` of the speakers having one label only. Per-speaker CMVN then removes
  much of the emotion with the speaker's mean, and speaker-independent scores are not comparable
  to those of acted corpora;
- a test (or valid) fold **missing a class**: its UA averages the recalls of the classes present
  (a class without test utterances is skipped), so folds' UAs differ in what they average;
- **class imbalance** (largest / smallest label count above ``IMBALANCE_RATIO``);
- **very short / very long** utterances (under ``SHORT_SEC`` / over ``LONG_SEC`` seconds);
- **duplicate audio**: the same file content (SHA-1) under two utterance ids.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from serkit.data.datadir import DataDir, audio_duration

CONFOUND_U = 0.2
SINGLE_LABEL_SHARE = 0.5
IMBALANCE_RATIO = 10.0
SHORT_SEC = 0.5
LONG_SEC = 30.0


def uncertainty_coefficient(pairs: List[tuple]) -> float:
    """U(label | speaker) = I(S; L) / H(L) from (speaker, label) pairs; 0 when H(L) = 0."""
    n = len(pairs)
    joint = Counter(pairs)
    spk = Counter(s for s, _ in pairs)
    lab = Counter(lbl for _, lbl in pairs)
    h_l = -sum(c / n * math.log(c / n) for c in lab.values())
    if h_l == 0:
        return 0.0
    mi = sum(c / n * math.log((c / n) / (spk[s] / n * lab[lbl] / n)) for (s, lbl), c in joint.items())
    return max(0.0, mi / h_l)


def _durations(data: DataDir) -> Dict[str, float]:
    if data.has("utt2dur"):
        return {u: float(v) for u, v in data.get("utt2dur").items()}
    wav = data.get("wav.scp")
    return {u: audio_duration(w, f"{data.path}/wav.scp") for u, w in wav.items() if not w.rstrip().endswith("|")}


def _hash(path: str) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_report(data_dir: str | os.PathLike, folds_dir: Optional[str | os.PathLike] = None) -> dict:
    data = DataDir.load(data_dir)
    utts = data.utts
    utt2spk = data.get("utt2spk")
    emo = data.get("utt2emo") if data.has("utt2emo") else {}
    labels = sorted(set(emo.values()))
    rep: dict = {"data_dir": str(data_dir), "utterances": len(utts), "speakers": len(set(utt2spk.values())),
                 "counts": {}, "warnings": []}
    for name, file in (("label", "utt2emo"), ("speaker", "utt2spk"), ("gender", "utt2gender"),
                       ("session", "utt2session"), ("corpus", "utt2corpus")):
        if data.has(file):
            rep["counts"][name] = dict(sorted(Counter(data.get(file).values()).items()))
    dur = _durations(data)
    if dur:
        d = np.array(list(dur.values()))
        rep["duration"] = {"total_h": float(d.sum() / 3600), "min": float(d.min()), "max": float(d.max()),
                           **{f"p{q}": float(np.percentile(d, q)) for q in (5, 50, 95)}}
        rep["duration_per_label_h"] = {lbl: sum(dur.get(u, 0.0) for u, e in emo.items() if e == lbl) / 3600
                                       for lbl in labels}
        rep["_durations"] = d.tolist()   # for the histogram; not written to report.json
    speakers = sorted(set(utt2spk.values()))
    table = {s: {lbl: 0 for lbl in labels} for s in speakers}
    for u, e in emo.items():
        table[utt2spk[u]][e] += 1
    rep["label_by_speaker"] = table
    warn = rep["warnings"]
    if emo:
        u_coef = uncertainty_coefficient([(utt2spk[u], e) for u, e in emo.items()])
        single = [s for s in speakers if sum(1 for c in table[s].values() if c) == 1]
        rep["confound"] = {"uncertainty_coefficient": u_coef, "single_label_speakers": len(single)}
        if u_coef >= CONFOUND_U or len(single) >= SINGLE_LABEL_SHARE * len(speakers):
            warn.append(f"labels are confounded with speakers: U(label|speaker) = {u_coef:.2f} (warning at "
                        f"{CONFOUND_U}), {len(single)} of {len(speakers)} speakers have a single label; "
                        "per-speaker CMVN removes emotion with each speaker's mean (compare with data.cmvn "
                        "global), and speaker-independent scores are not comparable to acted corpora")
        counts = rep["counts"]["label"]
        if max(counts.values()) > IMBALANCE_RATIO * min(counts.values()):
            small = min(counts, key=counts.get)
            big = max(counts, key=counts.get)
            warn.append(f"class imbalance: '{big}' has {counts[big]} utterances, '{small}' {counts[small]} "
                        f"(ratio over {IMBALANCE_RATIO:g}); UA weighs them equally, WA does not")
    if dur:
        short = sorted(u for u, t in dur.items() if t < SHORT_SEC)
        long = sorted(u for u, t in dur.items() if t > LONG_SEC)
        if short:
            warn.append(f"{len(short)} utterance(s) shorter than {SHORT_SEC:g} s, e.g. {short[0]}")
        if long:
            warn.append(f"{len(long)} utterance(s) longer than {LONG_SEC:g} s, e.g. {long[0]}")
    seen: Dict[str, str] = {}
    dups = []
    for u, w in data.get("wav.scp").items():
        if w.rstrip().endswith("|") or not Path(w).is_file():
            continue
        h = _hash(w)
        if h in seen:
            dups.append((seen[h], u))
        else:
            seen[h] = u
    if dups:
        warn.append(f"duplicate audio: {len(dups)} utterance(s) have the same content as another, e.g. "
                    f"{dups[0][1]} = {dups[0][0]}")
    if folds_dir is not None:
        rep["folds"] = _fold_counts(Path(folds_dir), labels, warn)
    return rep


def _fold_counts(folds_dir: Path, labels: List[str], warn: List[str]) -> dict:
    from serkit.data.folds import read_protocol

    out = {}
    for fold in read_protocol(folds_dir)["folds"]:
        name = fold["name"]
        out[name] = {}
        for split in ("train", "valid", "test"):
            d = DataDir.load(folds_dir / name / split)
            c = Counter(d.get("utt2emo").values()) if d.has("utt2emo") else Counter()
            out[name][split] = {lbl: c.get(lbl, 0) for lbl in labels}
            if split != "train":
                missing = [lbl for lbl in labels if not c.get(lbl)]
                if missing:
                    warn.append(f"{name} {split} has no utterance of {missing}: its UA is the mean recall of the "
                                f"{len(labels) - len(missing)} classes present")
    return out


def format_report(rep: dict) -> str:
    lines = [f"# Data report: {rep['data_dir']}", "",
             f"{rep['utterances']} utterances, {rep['speakers']} speakers"
             + (f", {rep['duration']['total_h']:.2f} h" if "duration" in rep else "") + ".", ""]
    lines += ["## Warnings", ""] + ([f"- {w}" for w in rep["warnings"]] or ["none"]) + [""]
    for name, counts in rep["counts"].items():
        lines += [f"## Utterances per {name}", "", "| " + name + " | utterances |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in counts.items()] + [""]
    if "duration" in rep:
        d = rep["duration"]
        lines += ["## Durations (s)", "", "| min | p5 | p50 | p95 | max |", "|---:|---:|---:|---:|---:|",
                  f"| {d['min']:.2f} | {d['p5']:.2f} | {d['p50']:.2f} | {d['p95']:.2f} | {d['max']:.2f} |", ""]
        lines += ["Hours per label: " + ", ".join(f"{k} {v:.3f}" for k, v in rep["duration_per_label_h"].items()), ""]
    table = rep["label_by_speaker"]
    labels = list(next(iter(table.values()), {}).keys())
    if labels:
        lines += ["## Label x speaker", "", "| speaker | " + " | ".join(labels) + " |",
                  "|---|" + "---:|" * len(labels)]
        lines += [f"| {s} | " + " | ".join(str(row[lbl]) for lbl in labels) + " |" for s, row in table.items()]
        if "confound" in rep:
            c = rep["confound"]
            lines += ["", f"U(label | speaker) = {c['uncertainty_coefficient']:.3f}; speakers with a single label: "
                          f"{c['single_label_speakers']}"]
        lines.append("")
    for fold, splits in rep.get("folds", {}).items():
        if fold == next(iter(rep["folds"])):
            lines += ["## Label counts per fold", "", "| fold | split | " + " | ".join(labels) + " |",
                      "|---|---|" + "---:|" * len(labels)]
        for split, counts in splits.items():
            lines.append(f"| {fold} | {split} | " + " | ".join(str(counts[lbl]) for lbl in labels) + " |")
    return "\n".join(lines).rstrip() + "\n"


def write_report(rep: dict, out_dir: str | os.PathLike) -> List[Path]:
    """report.md, report.json, warnings.txt and two PNGs (label x speaker heat map, durations)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(format_report(rep))
    (out / "report.json").write_text(json.dumps({k: v for k, v in rep.items() if not k.startswith("_")}, indent=1))
    (out / "warnings.txt").write_text("".join(f"{w}\n" for w in rep["warnings"]))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pngs = []
    table = rep["label_by_speaker"]
    speakers = list(table)
    labels = list(next(iter(table.values()), {}).keys())
    if labels:
        m = np.array([[table[s][lbl] for lbl in labels] for s in speakers])
        fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(labels), 1.0 + 0.3 * len(speakers)), dpi=110)
        im = ax.imshow(m, aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(speakers)), speakers, fontsize=7)
        for i in range(len(speakers)):
            for j in range(len(labels)):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=6, color="w")
        fig.colorbar(im, ax=ax)
        ax.set_title("utterances per speaker and label", fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "label_by_speaker.png")
        plt.close(fig)
        pngs.append(out / "label_by_speaker.png")
    if "duration" in rep:
        durs = rep.get("_durations", [])
        fig, ax = plt.subplots(figsize=(5, 3), dpi=110)
        ax.hist(durs, bins=30)
        ax.set_xlabel("duration (s)")
        ax.set_ylabel("utterances")
        fig.tight_layout()
        fig.savefig(out / "durations.png")
        plt.close(fig)
        pngs.append(out / "durations.png")
    return pngs
