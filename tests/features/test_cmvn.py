import numpy as np
import pytest

from serkit.errors import ConfigError, DataDirError
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


def test_stats_file_comes_from_the_mode_and_the_dir(tmp_path):
    from serkit.errors import ConfigError, DataDirError
    from serkit.features.cmvn import stats_file

    (tmp_path / "cmvn.npz").write_bytes(b"x")
    assert stats_file(tmp_path, "global") == str(tmp_path / "cmvn.npz")
    assert stats_file(tmp_path, "none") is None and stats_file(None, "none") is None
    assert stats_file(None, "speaker", "given.npz") == "given.npz"   # an explicit file wins
    with pytest.raises(DataDirError, match="cmvn_spk.npz .stage 1 writes them"):
        stats_file(tmp_path, "speaker")
    with pytest.raises(ConfigError, match="data.cmvn is 'global': give --cmvn_dir"):
        stats_file(None, "global")


def test_speaker_mode_without_a_speaker_uses_the_utterance_itself():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 4)).astype(np.float32)
    y = CMVN(None, "speaker")(x)   # inference: the speaker is unknown
    assert np.allclose(y.mean(0), 0, atol=1e-5) and np.allclose(y.std(0), 1, atol=1e-4)
    with pytest.raises(DataDirError, match="no statistics for speaker 's1'"):
        CMVN(None, "speaker")(x, "s1")
