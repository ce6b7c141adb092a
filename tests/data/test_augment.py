"""Augmentation: mask counts and widths, SNR, speed factors, gain, mixup, determinism."""
import numpy as np
import pytest
import torch

from serkit.config import AugmentConf, SpecAugmentConf
from serkit.data import augment as aug
from serkit.data.datadir import DataDir
from serkit.data.dataset import FeatDataset, emotion_targets, label_set
from serkit.errors import ConfigError
from serkit.features.cmvn import CMVN
from serkit.features.dump import dump_features
from serkit.features.extract import FeatureConfig
from serkit.features.storage import FeatReader


def test_spec_augment_counts_and_widths():
    conf = SpecAugmentConf(freq_masks=2, freq_width=5, time_masks=3, time_width=20, time_ratio=0.1)
    feats = np.ones((150, 40), dtype=np.float32)
    rng = np.random.default_rng(0)
    widths = {"freq": [], "time": []}
    for _ in range(200):
        x, masks = aug.spec_augment(feats, conf, rng)
        assert [m[0] for m in masks] == ["freq", "freq", "time", "time", "time"]
        for axis, start, w in masks:
            widths[axis].append(w)
            zone = x[:, start:start + w] if axis == "freq" else x[start:start + w]
            assert (zone == 0).all()
        zeroed_cols = {c for a, s, w in masks if a == "freq" for c in range(s, s + w)}
        zeroed_rows = {r for a, s, w in masks if a == "time" for r in range(s, s + w)}
        assert (x == 0).sum() == len(zeroed_rows) * 40 + len(zeroed_cols) * (150 - len(zeroed_rows))
    assert max(widths["freq"]) == 5 and min(widths["freq"]) == 0
    assert max(widths["time"]) == 15                              # time_ratio caps 20 at 0.1 * 150
    assert feats.min() == 1                                       # the input is not touched


def test_time_warp_moves_the_centre_frame_and_keeps_the_ends():
    ramp = np.repeat(np.arange(100, dtype=np.float32)[:, None], 3, axis=1)   # feats[t] = t
    assert np.array_equal(aug.time_warp(ramp, 40, 0), ramp)                 # no shift: identity
    for shift in (-7, 5):
        x = aug.time_warp(ramp, 40, shift)
        assert x.shape == ramp.shape
        assert x[40 + shift, 0] == 40 and x[0, 0] == 0 and x[-1, 0] == 99    # the centre lands at 40 + shift
        assert (np.diff(x[:, 0]) > 0).all()                                  # order kept
        # before the centre: 40 frames squeezed into 40 + shift (slope 40 / (40 + shift))
        assert np.isclose(x[10, 0], 10 * 40 / (40 + shift))


def test_spec_augment_time_warp_draws_and_short_utterances():
    conf = SpecAugmentConf(time_warp=5)
    ramp = np.repeat(np.arange(60, dtype=np.float32)[:, None], 2, axis=1)
    seen = set()
    rng = np.random.default_rng(3)
    for _ in range(300):
        x, masks = aug.spec_augment(ramp, conf, rng)
        (kind, centre, shift), = masks
        assert kind == "warp" and 6 <= centre <= 54 and -5 <= shift <= 5
        assert x[centre + shift, 0] == centre
        seen.add(shift)
    assert seen == set(range(-5, 6))
    x, masks = aug.spec_augment(ramp[:11], conf, np.random.default_rng(0))   # 11 <= 2 * 5 + 1 frames
    assert masks == [] and np.array_equal(x, ramp[:11])
    a = aug.spec_augment(ramp, SpecAugmentConf(time_masks=1, time_width=5), np.random.default_rng(9))[1]
    b = aug.spec_augment(ramp, SpecAugmentConf(time_masks=1, time_width=5, time_warp=0), np.random.default_rng(9))[1]
    assert a == b                                                            # off: the same draws as before


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
@pytest.mark.parametrize("snr", [0.0, 7.5, 20.0])
def test_noise_is_mixed_at_the_asked_snr(kind, snr):
    rng = np.random.default_rng(1)
    t = np.arange(16000) / 16000
    wave = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    pool = [rng.standard_normal(8000).astype(np.float32) * k for k in (0.1, 0.5, 1.0, 2.0, 3.0, 4.0)]
    noise = aug.make_noise(kind, len(wave), rng, pool)
    mixed = aug.mix_at_snr(wave, noise, snr)
    added = mixed.astype(np.float64) - wave
    measured = 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) / np.mean(added ** 2))
    assert abs(measured - snr) < 0.5


def test_pink_noise_falls_3_db_per_octave():
    x = aug.pink_noise(2 ** 16, np.random.default_rng(0))
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.arange(len(power))
    band = lambda lo: power[(f >= lo) & (f < 2 * lo)].mean()   # noqa: E731
    assert 10 * np.log10(band(1000) / band(2000)) == pytest.approx(3.0, abs=0.5)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_changes_length_by_the_factor(factor):
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    out = aug.speed_perturb(wave, 16000, factor)
    assert abs(len(out) - 16000 / factor) <= 1
    assert aug.speed_utt("spk-u1", factor) == f"sp{factor:g}-spk-u1" and aug.speed_utt("u", 1.0) == "u"


def test_speed_raises_the_pitch():
    t = np.arange(16000) / 16000
    out = aug.speed_perturb(np.sin(2 * np.pi * 200 * t).astype(np.float32), 16000, 1.1)
    peak = np.argmax(np.abs(np.fft.rfft(out))) * 16000 / len(out)
    assert peak == pytest.approx(220, abs=2)


def test_gain():
    assert np.allclose(aug.apply_gain(np.ones(4, np.float32), 6.0206), 2.0, atol=1e-4)


def test_mixup_mixes_features_and_targets_alike():
    feats = torch.arange(4, dtype=torch.float32)[:, None, None].expand(4, 3, 2).clone()
    targets = {"emotion": torch.tensor([0, 1, 2, 3])}
    lengths = torch.tensor([3, 2, 3, 1])
    mixed, lens, soft, lam = aug.mixup(feats, lengths, targets, {"emotion": 4}, 0.4, np.random.default_rng(5))
    assert 0 < lam < 1 and soft["emotion"].shape == (4, 4)
    assert torch.allclose(soft["emotion"].sum(1), torch.ones(4))
    for i in range(4):
        # utterance i has class i: its soft target is lam on i and 1 - lam on its partner's class
        probs = soft["emotion"][i].clone()
        partner = i if probs[i] == 1 else int(torch.argmax(probs.index_fill(0, torch.tensor([i]), 0)))
        assert probs[i] == pytest.approx(1.0 if partner == i else lam)
        assert torch.allclose(mixed[i], lam * feats[i] + (1 - lam) * feats[partner])
        assert lens[i] == max(lengths[i], lengths[partner])
    again = aug.mixup(feats, lengths, targets, {"emotion": 4}, 0.4, np.random.default_rng(5))
    assert torch.equal(again[0], mixed)


@pytest.fixture(scope="module")
def sp_dump(mini_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("sp") / "dump"
    dump_features(mini_corpus["folds"] / "fold1" / "valid", out,
                  FeatureConfig(type="mfcc", n_mels=40, n_mfcc=13, speed_perturb=[0.9, 1.1]), nj=1)
    return out


def test_dump_writes_speed_copies_and_the_dataset_draws_them(mini_corpus, sp_dump):
    data = DataDir.load(mini_corpus["folds"] / "fold1" / "valid")
    reader = FeatReader(sp_dump / "feats.scp")
    assert len(reader) == 3 * len(data.utts)
    u = data.utts[0]
    n = reader.num_frames(u)
    assert abs(reader.num_frames(f"sp0.9-{u}") - n / 0.9) <= 2 and abs(reader.num_frames(f"sp1.1-{u}") - n / 1.1) <= 2
    classes = emotion_targets(label_set(data, "utt2emo"))
    a = AugmentConf(speed=[0.9, 1.0, 1.1])
    ds = FeatDataset(data, reader, CMVN(None, "none"), classes, augment=a)
    seen = set()
    for epoch in range(12):
        ds.epoch_seed = epoch
        seen.add(ds[0]["feats"].shape[0])
        again = FeatDataset(data, reader, CMVN(None, "none"), classes, augment=a)
        again.epoch_seed = epoch
        assert torch.equal(again[0]["feats"], ds[0]["feats"])        # the same draw in another run
    assert seen == {n, reader.num_frames(f"sp0.9-{u}"), reader.num_frames(f"sp1.1-{u}")}
    # the lengths the sampler cuts batches by: those of the copies drawn this epoch
    for epoch in (3, 4):
        ds.epoch_seed = epoch
        drawn = ds.epoch_lengths()
        assert drawn == [ds[i]["feats"].shape[0] for i in range(len(ds))] and drawn != ds.lengths
    assert FeatDataset(data, reader, CMVN(None, "none"), classes).epoch_lengths() is None
    cropped = FeatDataset(data, reader, CMVN(None, "none"), classes, augment=a, crop_frames=50)
    assert max(cropped.epoch_lengths()) == 50
    with pytest.raises(Exception, match="speed-perturbed copy"):
        FeatDataset(data, FeatReader(mini_corpus["feats"]), CMVN(None, "none"), classes, augment=a)
    with pytest.raises(ConfigError, match="work on waves"):
        FeatDataset(data, reader, CMVN(None, "none"), classes, augment=AugmentConf(gain_db=3.0))


def test_wave_dataset_gets_gain_and_noise(mini_corpus, tmp_path):
    data = DataDir.load(mini_corpus["folds"] / "fold1" / "valid")
    dump_features(data.path, tmp_path / "wave", FeatureConfig(type="wave"), nj=1)
    reader = FeatReader(tmp_path / "wave" / "feats.scp")
    classes = emotion_targets(label_set(data, "utt2emo"))
    clean = FeatDataset(data, reader, CMVN(None, "none"), classes)[3]["feats"][:, 0].numpy()
    a = AugmentConf(noise_prob=1.0, noise_snr=[10.0, 10.0], noise_type="babble")
    noisy = FeatDataset(data, reader, CMVN(None, "none"), classes, augment=a)[3]["feats"][:, 0].numpy()
    added = noisy.astype(np.float64) - clean
    assert 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(added ** 2)) == pytest.approx(10, abs=0.5)
    g = FeatDataset(data, reader, CMVN(None, "none"), classes, augment=AugmentConf(gain_db=6.0))[3]["feats"][:, 0]
    ratio = float(np.abs(g.numpy()).max() / np.abs(clean).max())
    assert 10 ** (-6 / 20) - 1e-4 <= ratio <= 10 ** (6 / 20) + 1e-4 and ratio != 1.0
