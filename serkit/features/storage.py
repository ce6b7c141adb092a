"""Sharded feature storage.

A dump dir holds float32 shards ``feats.<k>.npy`` of shape ``(sum of frames, D)`` and an index
``feats.scp`` with lines ``utt feats.<k>.npy:<offset>:<frames>`` (paths relative to the dump dir),
plus ``utt2num_frames`` and ``feat_dim``. Reading memory-maps each shard once, so a corpus of
any size is read without one file per utterance and without loading it whole.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import numpy as np

from serkit.errors import DataDirError
from serkit.fileio import atomic_write, write_text_atomic


def write_shard(dump_dir: str | os.PathLike, shard: str, items: Iterable[Tuple[str, np.ndarray]]) -> List[str]:
    """Write one shard and its index part atomically; return the index lines."""
    dump_dir = Path(dump_dir)
    utts, mats = [], []
    for utt, mat in items:
        utts.append(utt)
        mats.append(np.asarray(mat, dtype=np.float32))
    if not mats:
        raise DataDirError(f"{dump_dir}: shard {shard} is empty")
    dims = {m.shape[1] for m in mats}
    if len(dims) != 1:
        raise DataDirError(f"{dump_dir}: shard {shard} mixes feature dims {sorted(dims)}")
    name = f"feats.{shard}.npy"
    lines, offset = [], 0
    for utt, m in zip(utts, mats):
        lines.append(f"{utt} {name}:{offset}:{m.shape[0]}")
        offset += m.shape[0]
    with atomic_write(dump_dir / name, "wb") as f:
        np.save(f, np.concatenate(mats, axis=0))
    # written last: marks the shard complete
    write_text_atomic(dump_dir / f"feats.{shard}.scp", "\n".join(lines) + "\n")
    return lines


class FeatReader:
    """Random access to a dump by utt id: ``reader[utt] -> (T, D) float32``."""

    def __init__(self, feats_scp: str | os.PathLike):
        self.scp = Path(feats_scp)
        if not self.scp.exists():
            raise DataDirError(f"{self.scp}: feature index not found (run the feature dump, stage 1)")
        self.root = self.scp.parent
        self.index: Dict[str, Tuple[str, int, int]] = {}
        with open(self.scp) as f:
            for lineno, line in enumerate(f, 1):
                try:
                    utt, loc = line.split()
                    shard, off, n = loc.rsplit(":", 2)
                    self.index[utt] = (shard, int(off), int(n))
                except ValueError:
                    raise DataDirError(f"{self.scp}:{lineno}: malformed line {line.strip()!r}") from None
        self._maps: Dict[str, np.ndarray] = {}

    def __contains__(self, utt: str) -> bool:
        return utt in self.index

    def __len__(self) -> int:
        return len(self.index)

    def num_frames(self, utt: str) -> int:
        return self.index[utt][2]

    def _feats_conf(self) -> dict:
        import yaml

        path = self.root / "feats.yaml"
        if not path.exists():
            return {}
        with open(path) as f:
            return yaml.safe_load(f) or {}

    @property
    def feature_type(self) -> str:
        """The dump's feature type from its ``feats.yaml`` ("unknown" without one)."""
        return str(self._feats_conf().get("type", "unknown"))

    @property
    def sample_rate(self) -> int:
        return int(self._feats_conf().get("sample_rate", 16000))

    @property
    def dim(self) -> int:
        utt = next(iter(self.index))
        return self[utt].shape[1]

    def _shard(self, name: str) -> np.ndarray:
        m = self._maps.get(name)
        if m is None:
            m = np.load(self.root / name, mmap_mode="r")
            self._maps[name] = m
        return m

    def __getitem__(self, utt: str) -> np.ndarray:
        try:
            shard, off, n = self.index[utt]
        except KeyError:
            raise DataDirError(f"{self.scp}: no features for utterance '{utt}'") from None
        return np.array(self._shard(shard)[off:off + n])

    def __getstate__(self):
        # memmaps are reopened lazily in DataLoader workers
        state = self.__dict__.copy()
        state["_maps"] = {}
        return state
