"""Atomic writes: a failed write keeps the old file, and two processes writing one file at once
(two runs dumping into one dump dir) both finish with an intact file."""
import multiprocessing as mp

import numpy as np
import pytest

from serkit.features.storage import FeatReader, write_shard
from serkit.fileio import atomic_write, temp_path


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "utt2emo"
    with atomic_write(path) as f:
        f.write("u1 ang\n")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write("u1 hap\nu2 ")
            raise RuntimeError("interrupted")
    assert path.read_text() == "u1 ang\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["utt2emo"]


def test_temp_names_are_hidden_unique_and_keep_the_suffix(tmp_path):
    names = {temp_path(tmp_path / "cmvn.npz").name for _ in range(100)}
    assert len(names) == 100
    assert all(n.startswith(".cmvn.") and n.endswith(".tmp.npz") for n in names)
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "x", "a"):
            pass


def _write_same_shard(dump_dir, start, n_writes):
    rng = np.random.default_rng(0)   # both writers write the same features, as two runs would
    items = [(f"utt{i}", rng.standard_normal((50 + i, 8)).astype(np.float32)) for i in range(20)]
    start.wait()
    for _ in range(n_writes):
        write_shard(dump_dir, "0000", items)


def test_two_processes_writing_one_shard_both_finish_with_an_intact_shard(tmp_path):
    ctx = mp.get_context("fork")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_write_same_shard, args=(str(tmp_path), start, 60)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    (tmp_path / "feats.scp").write_text((tmp_path / "feats.0000.scp").read_text())
    reader = FeatReader(tmp_path / "feats.scp")
    rng = np.random.default_rng(0)
    for i in range(20):
        np.testing.assert_array_equal(reader[f"utt{i}"], rng.standard_normal((50 + i, 8)).astype(np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feats.0000.npy", "feats.0000.scp", "feats.scp"]
