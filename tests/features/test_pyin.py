"""serkit's pYIN gives librosa.pyin's outputs to the bit, on speech and on the Viterbi's hard cases."""
import numpy as np
import pytest

from serkit.features import pyin as fast
from serkit.features.prosody import pyin_settings

librosa = pytest.importorskip("librosa")

from conftest import SHARED_CORPORA  # noqa: E402

EMODB_WAV = SHARED_CORPORA / "emodb" / "wav"


def settings(sr):
    return pyin_settings(sr, sr // 100, 60.0, 500.0)       # those of the f0 columns


def assert_as_librosa(wave, **kw):
    want = librosa.pyin(wave, center=True, pad_mode="constant", **kw)
    got = fast.pyin(wave, **kw)
    for name, a, b in zip(("f0", "voiced", "voicing probability"), want, got):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_array_equal(b, a, err_msg=name)
    return got


def test_speech_and_signals_give_librosas_outputs(mini_corpus):
    import soundfile as sf

    wavs = sorted(mini_corpus["root"].rglob("*.wav"))[:12]
    assert len(wavs) == 12
    voiced = 0
    for path in wavs:
        wave, sr = sf.read(path, dtype="float32")
        _, flag, _ = assert_as_librosa(wave, **settings(sr))
        voiced += flag.sum()
    assert voiced > 500                 # espeak's speech: the voiced states are visited
    rng = np.random.default_rng(0)
    t = np.arange(24000) / 8000
    glide = np.sin(2 * np.pi * np.cumsum(np.linspace(90, 420, t.size)) / 8000)     # 90 -> 420 Hz
    for wave, sr in [(0.3 * glide.astype(np.float32), 8000),
                     ((0.3 * glide + rng.normal(0, 0.3, t.size)).astype(np.float32), 8000),
                     (rng.normal(0, 0.1, 44100).astype(np.float32), 44100),
                     (np.zeros(16000, np.float32), 16000),
                     (rng.normal(0, 0.1, 1024).astype(np.float32), 16000)]:     # one frame's worth
        assert_as_librosa(wave, **settings(sr))
    # librosa's own path, its warning and its error, where serkit's does not apply
    with pytest.warns(UserWarning, match="two periods"):
        assert_as_librosa(glide.astype(np.float32), **{**settings(8000), "fmin": 20.0})
    with pytest.raises(librosa.ParameterError, match="Nyquist"):
        fast.pyin(np.zeros(4000, np.float32), **{**settings(16000), "fmax": 9000.0})


def test_viterbi_takes_zero_probability_transitions_and_ties_as_librosa():
    """Frames whose mass sits far from every state's reach force the jumps librosa scores at
    log(tiny); uniform frames make exact ties, which go to the first state."""
    n_bins, width = 40, 5
    src, src_log, gaps, zero_log = fast._transitions(n_bins, width)
    assert src.shape == (2 * n_bins, 2 * width)      # each state reached from 2 x 5 states
    transition = np.kron(librosa.sequence.transition_loop(2, 1 - fast.SWITCH_PROB),
                         librosa.sequence.transition_local(n_bins, width, window="triangle", wrap=False))
    rng = np.random.default_rng(1)
    jumps = 0
    tiny = librosa.util.tiny(np.zeros(1))
    for trial in range(30):
        T = 60
        prob = np.zeros((2 * n_bins, T))
        for t in range(T):
            kind = rng.integers(3)
            if kind == 0:                                   # one far state holds all the mass
                prob[rng.integers(2 * n_bins), t] = 1.0
            elif kind == 1:                                 # a few states, some of them tied
                prob[rng.choice(2 * n_bins, 3, replace=False), t] = rng.choice([0.25, 0.5], 3)
            else:                                           # uniform: every state ties
                prob[:, t] = 1.0 / (2 * n_bins)
        p_init = np.ones(2 * n_bins) / (2 * n_bins)
        want = librosa.sequence.viterbi(prob, transition, p_init=p_init)
        got = fast._viterbi(np.ascontiguousarray(np.log(prob + tiny).T), np.log(p_init + tiny), src, src_log,
                            gaps, zero_log)
        np.testing.assert_array_equal(got, want, err_msg=f"trial {trial}")
        jumps += np.count_nonzero(np.abs(np.diff(got % n_bins)) > width // 2)
    assert jumps > 0            # paths through zero-probability transitions were taken


@pytest.mark.skipif(not EMODB_WAV.is_dir(), reason="EMO-DB not found in ../shared/corpora")
def test_real_speech_gives_librosas_outputs():
    import soundfile as sf

    for path in sorted(EMODB_WAV.glob("*.wav"))[::27]:       # 20 files, all 10 speakers
        wave, sr = sf.read(path, dtype="float32")
        assert_as_librosa(wave, **settings(sr))
