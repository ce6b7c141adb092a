"""Length-bucketed batch sampler that is identical on every DDP rank.

Utterances are sorted by length and cut into batches (by count, or by padded frames), so a
batch holds similar lengths and little padding. Each epoch shuffles the batch order with
``seed + epoch``. Under DDP every rank builds the same global batches and takes its slice
``batch[rank::world_size]``, so the global batch, and thus the update, matches one process.
"""
from __future__ import annotations

from typing import Iterator, List, Sequence

import numpy as np
from torch.utils.data import Sampler


class BucketBatchSampler(Sampler[List[int]]):
    def __init__(self, lengths: Sequence[int], batch_size: int, max_frames: int = 0, shuffle: bool = True,
                 seed: int = 0, rank: int = 0, world_size: int = 1):
        self.lengths = np.asarray(lengths)
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        order = np.argsort(-self.lengths, kind="stable")  # longest first: memory peaks early
        batches: List[List[int]] = []
        cur: List[int] = []
        for i in order:
            n = len(cur) + 1
            too_many = (n > batch_size) if max_frames <= 0 else (n * self.lengths[cur[0] if cur else i] > max_frames)
            if cur and too_many:
                batches.append(cur)
                cur = []
            cur.append(int(i))
        if cur:
            batches.append(cur)
        # every rank needs at least one utterance per batch
        if world_size > 1 and len(batches) > 1 and len(batches[-1]) < world_size:
            batches[-2].extend(batches.pop())
        if any(len(b) < world_size for b in batches):
            raise ValueError(f"a batch has fewer utterances than the {world_size} processes")
        self.batches = batches

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[List[int]]:
        idx = np.arange(len(self.batches))
        if self.shuffle:
            np.random.default_rng(self.seed + self.epoch).shuffle(idx)
        for k in idx:
            yield self.batches[k][self.rank::self.world_size]

    def __len__(self) -> int:
        return len(self.batches)
