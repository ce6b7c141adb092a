"""Prosodic frame features and deltas: values on signals whose answer is known."""
import numpy as np
import pytest

from serkit.errors import ConfigError
from serkit.features.extract import FeatureConfig, FeatureExtractor, append_deltas
from serkit.features.prosody import interpolate_unvoiced

SR = 16000


def harmonic(f0, sec=1.0, amp=0.3):
    t = np.arange(int(SR * sec)) / SR
    return (amp * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))).astype(np.float32)


def columns(cfg, wave):
    ex = FeatureExtractor(cfg)
    feats = ex(wave)
    return feats, {n: feats[:, i] for i, n in enumerate(ex.dim_names())}


def test_f0_of_a_harmonic_tone_and_voicing():
    cfg = FeatureConfig(type="logmel", n_mels=40, prosody=["f0"])
    feats, col = columns(cfg, harmonic(200.0))
    assert feats.shape == (101, 42)        # centred frames: 1 + 16000 // 160, 40 mels + 2
    mid = slice(10, 90)
    assert np.abs(np.exp(col["log_f0"][mid]) - 200.0).max() < 4.0     # within 2 %
    assert col["voicing"][mid].mean() > 0.5
    noise = np.random.default_rng(0).normal(0, 0.1, SR).astype(np.float32)
    _, col_noise = columns(cfg, noise)
    assert col_noise["voicing"].mean() < 0.1


def test_f0_follows_the_pitch():
    _, low = columns(FeatureConfig(type="mfcc", n_mels=40, prosody=["f0"]), harmonic(120.0))
    _, high = columns(FeatureConfig(type="mfcc", n_mels=40, prosody=["f0"]), harmonic(240.0))
    # one octave apart: log-F0 differs by log 2
    assert abs(np.median(high["log_f0"]) - np.median(low["log_f0"]) - np.log(2)) < 0.03


def test_unvoiced_frames_are_interpolated():
    log_f0 = np.array([0, 5.0, 0, 0, 6.0, 0], dtype=np.float32)
    voiced = np.array([0, 1, 0, 0, 1, 0], dtype=bool)
    assert np.allclose(interpolate_unvoiced(log_f0, voiced, 9.0), [5, 5, 5 + 1 / 3, 5 + 2 / 3, 6, 6])
    assert np.allclose(interpolate_unvoiced(log_f0, np.zeros(6, bool), 9.0), 9.0)


def test_energy_centroid_and_flux():
    cfg = FeatureConfig(type="logmel", n_mels=40, prosody=["energy", "flux", "centroid"])
    t = np.arange(SR) / SR
    sine = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    _, a = columns(cfg, sine)
    _, b = columns(cfg, 2 * sine)
    mid = slice(5, 95)
    assert np.allclose(b["log_energy"][mid] - a["log_energy"][mid], np.log(4), atol=1e-3)   # 6 dB
    assert np.abs(a["centroid"][mid] - 1.0).max() < 0.05       # kHz
    assert a["flux"][mid].max() < 1e-3                          # a stationary tone does not change
    assert a["flux"][0] == 0
    # a jump from 1 kHz to 3 kHz: flux peaks where the spectrum changes
    jump = np.concatenate([sine, (0.1 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)])
    _, c = columns(cfg, jump)
    assert 98 <= int(np.argmax(c["flux"])) <= 102
    assert c["flux"].max() > 0.5 and c["flux"][90:110].sum() > 1.4   # disjoint spectra: distance sqrt 2


def test_deltas_of_a_ramp_and_names():
    ramp = np.arange(20, dtype=np.float32)[:, None] * np.array([[1.0, -2.0]], dtype=np.float32)
    out = append_deltas(ramp, 2)
    assert out.shape == (20, 6)
    assert np.allclose(out[2:-2, 2:4], [1.0, -2.0], atol=1e-5)   # the slope, away from the edges
    assert np.allclose(out[4:-4, 4:6], 0.0, atol=1e-5)
    ex = FeatureExtractor(FeatureConfig(type="mfcc", n_mfcc=13, n_mels=40, prosody=["f0", "energy"], deltas=2))
    names = ex.dim_names()
    assert ex.dim == 48 and names[13:16] == ["log_f0", "voicing", "log_energy"] and names[16] == "d_mfcc0"
    assert names[-1] == "dd_log_energy"
    assert ex(harmonic(150.0, sec=0.5)).shape == (51, 48)


def test_short_wave_and_bad_options():
    cfg = FeatureConfig(type="mfcc", n_mels=40, prosody=["f0"])
    assert FeatureExtractor(cfg)(harmonic(200.0, sec=0.03)).shape == (4, 42)   # shorter than pYIN's frame
    with pytest.raises(ConfigError, match="prosody"):
        FeatureConfig(prosody=["pitch"])
    with pytest.raises(ConfigError, match="deltas"):
        FeatureConfig(deltas=3)
    with pytest.raises(ConfigError, match="wave"):
        FeatureConfig(type="wave", deltas=1)
