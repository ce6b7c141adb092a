"""Length-bucketed batches and their DDP slices."""
import numpy as np
import pytest
import torch

from serkit.data.dataset import collate
from serkit.data.sampler import BucketBatchSampler


def test_buckets_group_similar_lengths_and_cover_everything():
    rng = np.random.RandomState(0)
    lengths = rng.randint(50, 500, size=103)
    s = BucketBatchSampler(lengths, batch_size=10, seed=1)
    batches = list(s)
    assert sorted(i for b in batches for i in b) == list(range(103))
    assert len(s) == 11
    padding = sum(len(b) * lengths[b].max() - lengths[b].sum() for b in batches)
    random_batches = np.array_split(rng.permutation(103), 11)
    random_padding = sum(len(b) * lengths[b].max() - lengths[b].sum() for b in random_batches)
    assert padding < 0.2 * random_padding


def test_epochs_shuffle_batch_order_deterministically():
    lengths = np.arange(40)
    s = BucketBatchSampler(lengths, batch_size=4, seed=5)
    s.set_epoch(1)
    e1 = list(s)
    s.set_epoch(2)
    e2 = list(s)
    s.set_epoch(1)
    assert list(s) == e1 and e1 != e2


def test_max_frames_batches():
    lengths = [100] * 10 + [10] * 10
    s = BucketBatchSampler(lengths, batch_size=1000, max_frames=200, shuffle=False)
    sizes = sorted(len(b) for b in s)
    assert sizes == [2] * 5 + [10]


def test_ddp_ranks_partition_each_global_batch():
    lengths = np.random.RandomState(1).randint(10, 100, size=37)
    full = BucketBatchSampler(lengths, batch_size=8, seed=3)
    ranks = [BucketBatchSampler(lengths, batch_size=8, seed=3, rank=r, world_size=2) for r in range(2)]
    for s in [full] + ranks:
        s.set_epoch(4)
    r0, r1 = list(ranks[0]), list(ranks[1])
    assert len(r0) == len(r1)
    for b0, b1 in zip(r0, r1):
        assert b0 and b1
    merged = [sorted(a + b) for a, b in zip(r0, r1)]
    assert sorted(i for b in merged for i in b) == list(range(37))


def test_collate_pads_and_keeps_lengths():
    items = [{"utt": "a", "feats": torch.ones(3, 2), "targets": {"emotion": 1}},
             {"utt": "b", "feats": torch.ones(5, 2), "targets": {"emotion": 0}}]
    b = collate(items)
    assert b["feats"].shape == (2, 5, 2)
    assert b["lengths"].tolist() == [3, 5]
    assert b["feats"][0, 3:].abs().sum() == 0
    assert b["targets"]["emotion"].tolist() == [1, 0]


def test_epoch_lengths_recut_the_batches():
    """Speed copies drawn per epoch change the lengths: batches cut from the drawn lengths pad
    less than the batches of the originals' lengths, and cover every utterance once."""
    rng = np.random.default_rng(0)
    original = rng.integers(100, 600, size=200)
    drawn = np.round(original / rng.choice([0.9, 1.0, 1.1], size=200)).astype(int)

    def padding(batches):
        return sum(len(b) * drawn[b].max() - drawn[b].sum() for b in batches) / sum(len(b) * drawn[b].max() for b in batches)

    s = BucketBatchSampler(original, batch_size=16, seed=2)
    s.set_epoch(3)
    stale = list(s)
    s.set_epoch(3, drawn)
    recut = list(s)
    assert sorted(i for b in recut for i in b) == list(range(200)) and len(recut) == len(stale)
    assert padding(recut) < 0.5 * padding(stale)
    # the batches are those of a sampler built on the drawn lengths
    assert sorted(map(sorted, recut)) == sorted(map(sorted, BucketBatchSampler(drawn, batch_size=16).batches))
    with pytest.raises(ValueError, match="199 lengths for a sampler of 200"):
        s.set_epoch(4, drawn[:199])
