import numpy as np
import pytest

from serkit.errors import ConfigError
from serkit.features.cmvn import CMVN, compute_cmvn, compute_speaker_cmvn
from serkit.features.storage import FeatReader, write_shard


@pytest.fixture
def reader(tmp_path):
    rng = np.random.RandomState(0)
    mats = {"a-1": rng.randn(10, 3) * 2 + 5, "a-2": rng.randn(6, 3) * 2 + 5, "b-1": rng.randn(8, 3) - 1}
    lines = write_shard(tmp_path, "0000", mats.items())
    (tmp_path / "feats.scp").write_text("\n".join(lines) + "\n")
    return FeatReader(tmp_path / "feats.scp"), mats


def test_global_stats_from_given_utts_only(reader, tmp_path):
    r, mats = reader
    compute_cmvn(r, ["a-1", "a-2"], tmp_path / "g.npz")
    c = CMVN(tmp_path / "g.npz", "global")
    ref = np.concatenate([mats["a-1"], mats["a-2"]])
    out = c(r["a-1"])
    expected = (mats["a-1"] - ref.mean(0)) / ref.std(0)
    assert np.allclose(out, expected, atol=1e-4)
    with pytest.raises(ConfigError, match="holds 'global'"):
        CMVN(tmp_path / "g.npz", "speaker")


def test_speaker_stats(reader, tmp_path):
    r, mats = reader
    compute_speaker_cmvn(r, {"a-1": "a", "a-2": "a", "b-1": "b"}, tmp_path / "s.npz")
    c = CMVN(tmp_path / "s.npz", "speaker")
    out = c(r["b-1"], "b")
    assert np.allclose(out.mean(0), 0, atol=1e-5) and np.allclose(out.std(0), 1, atol=1e-4)
    assert CMVN(None, "none")(r["b-1"]) is not None
