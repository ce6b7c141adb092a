"""Cross-validation fold makers (the protocols table of README.md).

Every fold is three disjoint utterance lists ``train``/``valid``/``test``. Protocols that promise
speaker independence are checked: no speaker may appear in two of the three splits. Model
selection uses ``valid``; ``test`` is only scored.

Protocols:
  loso          one fold per speaker; test = that speaker; valid = the other speaker(s) of the same
                session (``valid_rule: same_session``) or the next speaker in sorted order
                (``valid_rule: next_speaker``, for corpora without sessions); train = the rest.
  loso_session  one fold per session; test = that session's speakers; valid = the speakers of the
                next session (cyclic, in sorted order); train = the remaining sessions.
  random        one fold, 70/20/10 shuffle of utterances with seed 123456. Speaker-DEPENDENT.
  first2spk     one fold, test = the first session's speakers, valid = the next session's
                speakers, train = the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import yaml

from serkit.data.datadir import DataDir
from serkit.errors import DataDirError

PROTOCOLS = ("loso", "loso_session", "random", "first2spk")
SPEAKER_DEPENDENT = {"random"}


class LeakError(DataDirError):
    """A fold mixes speakers (or utterances) between splits where the protocol forbids it."""


@dataclass
class Fold:
    name: str                      # fold1, fold2, ...
    train: List[str]
    valid: List[str]
    test: List[str]
    test_speakers: List[str] = field(default_factory=list)
    valid_speakers: List[str] = field(default_factory=list)


def _speaker_sessions(utt2spk: Mapping[str, str], utt2session: Optional[Mapping[str, str]]) -> Dict[str, str]:
    spk2sess: Dict[str, str] = {}
    for utt, spk in utt2spk.items():
        sess = utt2session[utt] if utt2session is not None else spk
        if spk2sess.setdefault(spk, sess) != sess:
            raise DataDirError(f"speaker '{spk}' appears in two sessions ({spk2sess[spk]}, {sess}); utt '{utt}'")
    return spk2sess


def _split_by_speakers(utt2spk: Mapping[str, str], test_spk, valid_spk) -> tuple:
    train, valid, test = [], [], []
    for utt, spk in utt2spk.items():
        (test if spk in test_spk else valid if spk in valid_spk else train).append(utt)
    return train, valid, test


def make_folds(
    data: DataDir,
    protocol: str,
    valid_rule: str = "auto",
    seed: int = 123456,
    ratios: Sequence[float] = (0.7, 0.2, 0.1),
) -> List[Fold]:
    if protocol not in PROTOCOLS:
        raise DataDirError(f"unknown protocol '{protocol}'; choose from {list(PROTOCOLS)}")
    utt2spk = data.get("utt2spk")
    utt2session = data.get("utt2session") if data.has("utt2session") else None
    spk2sess = _speaker_sessions(utt2spk, utt2session)
    speakers = sorted(spk2sess)
    sessions = sorted(set(spk2sess.values()))
    folds: List[Fold] = []
    if protocol == "loso":
        if valid_rule == "auto":
            valid_rule = "same_session" if utt2session is not None else "next_speaker"
        for k, spk in enumerate(speakers):
            if valid_rule == "same_session":
                valid_spk = [s for s in speakers if spk2sess[s] == spk2sess[spk] and s != spk]
                if not valid_spk:
                    raise DataDirError(f"loso: speaker '{spk}' has no other speaker in session {spk2sess[spk]}")
            elif valid_rule == "next_speaker":
                valid_spk = [speakers[(k + 1) % len(speakers)]]
            else:
                raise DataDirError(f"unknown valid_rule '{valid_rule}'; choose from auto, same_session, next_speaker")
            tr, va, te = _split_by_speakers(utt2spk, {spk}, set(valid_spk))
            folds.append(Fold(f"fold{k + 1}", tr, va, te, [spk], valid_spk))
    elif protocol in ("loso_session", "first2spk"):
        if len(sessions) < 3:
            raise DataDirError(f"{protocol}: needs at least 3 sessions, found {len(sessions)}")
        test_sessions = sessions if protocol == "loso_session" else sessions[:1]
        for k, sess in enumerate(test_sessions):
            nxt = sessions[(sessions.index(sess) + 1) % len(sessions)]
            test_spk = [s for s in speakers if spk2sess[s] == sess]
            valid_spk = [s for s in speakers if spk2sess[s] == nxt]
            tr, va, te = _split_by_speakers(utt2spk, set(test_spk), set(valid_spk))
            folds.append(Fold(f"fold{k + 1}", tr, va, te, test_spk, valid_spk))
    elif protocol == "random":
        utts = list(utt2spk)
        perm = np.random.RandomState(seed).permutation(len(utts))
        n_tr = int(round(ratios[0] * len(utts)))
        n_va = int(round(ratios[1] * len(utts)))
        pick = lambda idx: sorted(utts[i] for i in idx)  # noqa: E731
        folds.append(Fold("fold1", pick(perm[:n_tr]), pick(perm[n_tr:n_tr + n_va]), pick(perm[n_tr + n_va:])))
    for f in folds:
        check_fold(f, utt2spk, speaker_independent=protocol not in SPEAKER_DEPENDENT)
    return folds


def check_fold(fold: Fold, utt2spk: Mapping[str, str], speaker_independent: bool = True) -> None:
    """Raise LeakError if utterances, or (for speaker-independent protocols) speakers, are shared."""
    splits = {"train": fold.train, "valid": fold.valid, "test": fold.test}
    for name, utts in splits.items():
        if not utts:
            raise LeakError(f"{fold.name}: split '{name}' is empty")
    names = list(splits)
    for i in range(3):
        for j in range(i + 1, 3):
            a, b = names[i], names[j]
            shared = set(splits[a]) & set(splits[b])
            if shared:
                raise LeakError(f"{fold.name}: {len(shared)} utterance(s) in both {a} and {b}, e.g. {sorted(shared)[0]}")
            if speaker_independent:
                spk_shared = {utt2spk[u] for u in splits[a]} & {utt2spk[u] for u in splits[b]}
                if spk_shared:
                    raise LeakError(f"{fold.name}: speaker(s) {sorted(spk_shared)} in both {a} and {b}")


def merge_datadirs(a: DataDir, b: DataDir, path: str | Path) -> DataDir:
    """Union of two data dirs with disjoint utterances; keeps the fields both have."""
    shared = sorted(set(a.get("utt2spk")) & set(b.get("utt2spk")))
    if shared:
        raise DataDirError(f"{a.path} and {b.path} share utterance ids, e.g. {shared[0]}")
    names = [n for n in a.fields if n in b.fields]
    emotions = None
    if a.emotions is not None and b.emotions is not None:   # the union of both declared sets
        emotions = a.emotions + [e for e in b.emotions if e not in a.emotions]
    return DataDir(Path(path), {n: {**a.fields[n], **b.fields[n]} for n in names}, emotions)


def write_folds(data: DataDir, folds: Sequence[Fold], out_dir: str | Path, protocol: str,
                extra_train: Optional[DataDir] = None) -> None:
    """Write ``<out_dir>/fold<k>/{train,valid,test}/`` data dirs and ``protocol.yaml``.

    ``extra_train`` (another corpus, already relabelled) is added to every fold's training set;
    its speakers must not be any fold's valid or test speakers.
    """
    out_dir = Path(out_dir)
    info = {
        "protocol": protocol,
        "speaker_dependent": protocol in SPEAKER_DEPENDENT,
        "source": str(data.path),
        "extra_train": str(extra_train.path) if extra_train is not None else None,
        "folds": [],
    }
    utt2spk = data.get("utt2spk")
    extra_spk = set(extra_train.get("utt2spk").values()) if extra_train is not None else set()
    for f in folds:
        held_out = {utt2spk[u] for u in f.valid + f.test}
        if extra_spk & held_out:
            raise LeakError(f"{f.name}: extra training speakers {sorted(extra_spk & held_out)} are held out")
        for split in ("train", "valid", "test"):
            part = data.subset(getattr(f, split), out_dir / f.name / split)
            if split == "train" and extra_train is not None:
                part = merge_datadirs(part, extra_train, part.path)
            part.write()
        n_extra = len(extra_train.utts) if extra_train is not None else 0
        info["folds"].append({
            "name": f.name, "test_speakers": f.test_speakers, "valid_speakers": f.valid_speakers,
            "num_utts": {"train": len(f.train) + n_extra, "valid": len(f.valid), "test": len(f.test)},
        })
    with open(out_dir / "protocol.yaml", "w") as fh:
        yaml.safe_dump(info, fh, sort_keys=False)


def read_protocol(folds_dir: str | Path) -> dict:
    p = Path(folds_dir) / "protocol.yaml"
    if not p.exists():
        raise DataDirError(f"{p}: missing; run the fold maker (stage 0) first")
    with open(p) as fh:
        return yaml.safe_load(fh)


def select_folds(info: dict, wanted: Optional[str], folds_dir: str | Path = "") -> List[str]:
    """Fold names of a protocol (``read_protocol``), or the subset in ``wanted`` ("fold1,fold2")."""
    names = [f["name"] for f in info["folds"]]
    if not wanted:
        return names
    picked = wanted.replace(",", " ").split()
    unknown = sorted(set(picked) - set(names))
    if unknown:
        raise DataDirError(f"folds {unknown} are not in {folds_dir}/protocol.yaml ({names})")
    return picked
