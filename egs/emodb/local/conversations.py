#!/usr/bin/env python3
"""What knowing who speaks is worth in a conversation: each LOSO fold's test and valid speakers
(both unseen in training) made into one two-speaker recording, run through that fold's exported
model, and scored per turn.

Usage (from egs/emodb, with each fold exported as MODELS/fold<k>.pt by serkit-export):
    python local/conversations.py --models MODELS [--folds data/folds/loso] [--fold 1,2] [--seed 0]

All of the two speakers' utterances are shuffled into turns with --gap s of silence between them.
The turns are recognised four ways (Recognizer.turns): with their true speakers (as serkit-infer
--rttm with a perfect diarization), with --confuse of them given to the other speaker, with the
recording as one speaker, and each turn alone. Printed: pooled UA / WA over the test speakers'
turns and over the valid speakers', and the per-fold mean ± std of the test UA.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from serkit import Recognizer
from serkit.data.datadir import DataDir
from serkit.metrics import classification_scores, mean_std

MODES = ("speakers", "confused", "one speaker", "alone")


def conversation(rec, fold: Path, gap: float, rng):
    """The fold's valid and test speakers' utterances shuffled into one wave: (wave, turns as
    (start, end, speaker, split, emotion))."""
    sr = rec.sample_rate
    items = []
    for split in ("test", "valid"):
        d = DataDir.load(fold / split)
        wav, emo, spk = d.get("wav.scp"), d.get("utt2emo"), d.get("utt2spk")
        items += [(rec.read(wav[u]), spk[u], split, emo[u]) for u in d.utts]
    silence = np.zeros(int(round(gap * sr)), np.float32)
    parts, turns, t = [silence], [], len(silence)
    for i in rng.permutation(len(items)):
        x, spk, split, emo = items[i]
        parts += [x, silence]
        turns.append((t / sr, (t + len(x)) / sr, spk, split, emo))
        t += len(x) + len(silence)
    return np.concatenate(parts), turns


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", required=True, help="dir of fold<k>.pt files (serkit-export)")
    p.add_argument("--folds", default="data/folds/loso")
    p.add_argument("--fold", default="", help="comma list of folds (default: every fold<k> of --folds)")
    p.add_argument("--gap", type=float, default=0.3, help="seconds of silence between turns")
    p.add_argument("--confuse", type=float, default=0.1, help="share of turns given to the wrong speaker")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    folds = Path(args.folds)
    ks = ([int(k) for k in args.fold.split(",")] if args.fold else
          sorted(int(f.name[4:]) for f in folds.glob("fold*") if f.name[4:].isdigit()))
    gold = {m: {"test": [], "valid": []} for m in MODES}
    pred = {m: {"test": [], "valid": []} for m in MODES}
    fold_ua = {m: [] for m in MODES}
    names = None
    for k in ks:
        rec = Recognizer.load(Path(args.models) / f"fold{k}.pt")
        names = names or rec.names
        rng = np.random.default_rng([args.seed, k])
        wave, turns = conversation(rec, folds / f"fold{k}", args.gap, rng)
        speakers = sorted({t[2] for t in turns})
        if len(speakers) != 2:
            raise SystemExit(f"fold{k}: its test and valid sets hold {len(speakers)} speakers, not 2")
        wrong = rng.random(len(turns)) < args.confuse
        labels = {"speakers": [t[2] for t in turns],
                  "confused": [speakers[1 - speakers.index(t[2])] if w else t[2] for t, w in zip(turns, wrong)],
                  "one speaker": ["all"] * len(turns),
                  "alone": [f"turn{j}" for j in range(len(turns))]}
        for mode in MODES:
            records, _ = rec.turns(wave, [(a, b, s) for (a, b, *_), s in zip(turns, labels[mode])])
            g = [names.index(t[4]) for t in turns]
            q = [names.index(r["emotion"]) for r in records]
            for split in ("test", "valid"):
                gold[mode][split] += [x for x, t in zip(g, turns) if t[3] == split]
                pred[mode][split] += [x for x, t in zip(q, turns) if t[3] == split]
            test = [j for j, t in enumerate(turns) if t[3] == "test"]
            fold_ua[mode].append(classification_scores([g[j] for j in test], [q[j] for j in test], len(names))["ua"])
        print(f"fold{k}: {len(turns)} turns, {len(wave) / rec.sample_rate:.0f} s, speakers {' '.join(speakers)}",
              flush=True)
    print(f"\n| the turns' speakers | test UA | test WA | valid UA | test UA per fold (mean ± std, {len(ks)} folds) |")
    print("|---|---:|---:|---:|---|")
    for mode in MODES:
        t = classification_scores(gold[mode]["test"], pred[mode]["test"], len(names))
        v = classification_scores(gold[mode]["valid"], pred[mode]["valid"], len(names))
        m, s = mean_std(fold_ua[mode])
        print(f"| {mode} | {100 * t['ua']:.2f} | {100 * t['wa']:.2f} | {100 * v['ua']:.2f} | "
              f"{100 * m:.2f} ± {100 * s:.2f} |")


if __name__ == "__main__":
    main()
