"""Feature extraction: librosa parity, resampling, sharded dump and resume."""
import os

import librosa
import numpy as np
import pytest
import soundfile

from serkit.data.datadir import write_datadir
from serkit.errors import DataDirError
from serkit.features.dump import dump_features, dump_shard, plan_dump
from serkit.features.extract import FeatureConfig, FeatureExtractor, read_audio, read_scp_audio
from serkit.features.storage import FeatReader


def tone(sr=16000, sec=1.0, f0=220.0, seed=0, noise=0.05):
    t = np.arange(int(sr * sec)) / sr
    rng = np.random.RandomState(seed)
    return (0.3 * np.sin(2 * np.pi * f0 * t) + noise * rng.randn(len(t))).astype(np.float32)


def test_mfcc_matches_librosa():
    x = tone()
    cfg = FeatureConfig(type="mfcc", n_mfcc=40, n_mels=40)
    ours = FeatureExtractor(cfg)(x)
    ref = librosa.feature.mfcc(y=x, sr=16000, n_mfcc=40, n_fft=cfg.fft_size, hop_length=cfg.hop_length,
                               win_length=cfg.win_length, n_mels=40, center=True, pad_mode="constant").T
    assert ours.shape == ref.shape == (101, 40)
    assert np.abs(ours - ref).max() / np.abs(ref).max() < 1e-3


def test_logmel_matches_librosa_power_to_db():
    x = tone(f0=440)
    cfg = FeatureConfig(type="logmel", n_mels=80)
    ours = FeatureExtractor(cfg)(x)
    mel = librosa.feature.melspectrogram(y=x, sr=16000, n_fft=cfg.fft_size, hop_length=cfg.hop_length,
                                         win_length=cfg.win_length, n_mels=80, pad_mode="constant")
    ref = librosa.power_to_db(mel, top_db=80).T
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-2


@pytest.mark.parametrize("kind,extra", [("mfcc", {}), ("logmel", {}), ("logmel", {"fmin": 60.0, "fmax": 7000.0}),
                                         ("logmel", {"top_db": None}), ("mfcc", {"n_mfcc": 13, "n_mels": 23})])
def test_mel_features_match_torchaudio_transforms(kind, extra):
    """The inline mel pipeline (|X|^2 as X conj(X), frames first) gives torchaudio's transforms."""
    import torch
    import torchaudio

    cfg = FeatureConfig(type=kind, **{"n_mels": 40, **extra})
    mel = dict(n_fft=cfg.fft_size, win_length=cfg.win_length, hop_length=cfg.hop_length, f_min=cfg.fmin,
               f_max=cfg.fmax, n_mels=cfg.n_mels, mel_scale="slaney", norm="slaney", pad_mode="constant", power=2.0)
    if kind == "mfcc":
        ref_fn = torchaudio.transforms.MFCC(sample_rate=16000, n_mfcc=cfg.n_mfcc, norm="ortho", log_mels=False,
                                            melkwargs=mel)
        ref_fn.amplitude_to_DB.top_db = cfg.top_db
    else:
        ref_fn = torch.nn.Sequential(torchaudio.transforms.MelSpectrogram(sample_rate=16000, **mel),
                                     torchaudio.transforms.AmplitudeToDB("power", top_db=cfg.top_db))
    x = np.concatenate([tone(sec=0.7, f0=180, seed=3), 1e-4 * tone(sec=0.5, f0=90, seed=4)])   # quiet tail: top_db
    ours = FeatureExtractor(cfg)(x)
    ref = ref_fn(torch.from_numpy(x)).T.numpy()
    assert ours.shape == ref.shape == (121, cfg.n_mfcc if kind == "mfcc" else cfg.n_mels)
    assert np.abs(ours - ref).max() < 1e-4 * max(1.0, np.abs(ref).max())


def test_fbank_and_dims():
    x = tone()
    f = FeatureExtractor(FeatureConfig(type="fbank", n_mels=80))(x)
    assert f.shape == (98, 80)  # Kaldi: snip edges
    assert FeatureExtractor(FeatureConfig(type="wave"))(x).shape == (16000, 1)


def test_read_audio_resamples_and_downmixes(tmp_path):
    x = tone(sr=22050, noise=0.0)  # resamplers differ near Nyquist; compare on a pure tone
    stereo = np.stack([x, x], axis=1)
    soundfile.write(str(tmp_path / "a.wav"), stereo, 22050)
    y = read_audio(str(tmp_path / "a.wav"), 16000)
    assert abs(len(y) - 16000) <= 1
    ref = librosa.resample(x, orig_sr=22050, target_sr=16000)
    n = min(len(y), len(ref))
    assert np.abs(y[1000:n - 1000] - ref[1000:n - 1000]).max() < 1e-3
    piped = read_scp_audio(f"cat {tmp_path / 'a.wav'} |", 16000)   # Kaldi's wav.scp pipe
    assert np.allclose(piped, y)
    assert np.allclose(read_scp_audio(str(tmp_path / "a.wav"), 16000), y)
    with pytest.raises(DataDirError, match="cannot read audio"):
        read_audio(str(tmp_path / "missing.wav"), 16000)


def test_wav_scp_pipes_run_without_a_shell(tmp_path):
    x = tone(noise=0.0)
    spaced = tmp_path / "a b.wav"
    soundfile.write(str(spaced), x, 16000, format="WAV", subtype="FLOAT")
    two = read_scp_audio(f"cat '{spaced}' | cat |", 16000)   # a two-stage pipeline, a quoted path
    assert np.allclose(two, x)
    marker = tmp_path / "ran"
    for evil in (f"cat '{spaced}'; touch {marker} |", f"cat '{spaced}' && touch {marker} |",
                 f"cat '{spaced}' > {marker} |"):
        with pytest.raises(DataDirError, match="is shell syntax"):
            read_scp_audio(evil, 16000)
    with pytest.raises(DataDirError, match="cannot read audio"):
        read_scp_audio(f"cat '$(touch {marker})' |", 16000)   # no shell: a literal (missing) file name
    assert not marker.exists()
    with pytest.raises(DataDirError, match="no-such-program"):
        read_scp_audio("no-such-program x |", 16000)
    with pytest.raises(DataDirError, match="cat exited with 1"):
        read_scp_audio(f"cat {tmp_path / 'missing.wav'} |", 16000)


def test_read_audio_never_runs_a_command(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(DataDirError, match="cannot read audio"):
        read_audio(f"touch {marker} |", 16000)
    assert not marker.exists()
    x = tone(noise=0.0)
    odd = tmp_path / "x |"   # a file literally named like a pipe is read as a file
    soundfile.write(str(odd), x, 16000, format="WAV")
    assert np.allclose(read_audio(str(odd), 16000), x, atol=1e-4)


def test_read_audio_refuses_truncated_empty_and_nonfinite(tmp_path):
    x = tone(noise=0.0)
    soundfile.write(str(tmp_path / "full.wav"), x, 16000, subtype="PCM_16")
    raw = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "half.wav").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataDirError, match=r"half.wav' is truncated: its header promises 32000 bytes.*holds 15978"):
        read_audio(str(tmp_path / "half.wav"), 16000)
    soundfile.write(str(tmp_path / "empty.wav"), np.zeros(0, np.float32), 16000)
    with pytest.raises(DataDirError, match="empty.wav' holds no samples"):
        read_audio(str(tmp_path / "empty.wav"), 16000)
    bad = x.copy()
    bad[[10, 20, 30]] = [np.nan, np.inf, -np.inf]
    soundfile.write(str(tmp_path / "nan.wav"), bad, 16000, subtype="FLOAT")
    with pytest.raises(DataDirError, match="nan.wav' has 3 non-finite"):
        read_audio(str(tmp_path / "nan.wav"), 16000)


def test_extractor_refuses_a_wave_shorter_than_one_window():
    x = tone(noise=0.0)
    assert FeatureExtractor(FeatureConfig(type="logmel"))(x[:400]).shape[0] == 3
    with pytest.raises(DataDirError, match="399 samples is shorter than one analysis window .400 samples, 25 ms"):
        FeatureExtractor(FeatureConfig(type="logmel"))(x[:399])


def make_data(tmp_path, n=7):
    wav = {}
    for i in range(n):
        p = tmp_path / f"u{i}.wav"
        soundfile.write(str(p), tone(sec=0.3 + 0.1 * i, seed=i), 16000)
        wav[f"spk-u{i}"] = str(p)
    return write_datadir(tmp_path / "data", {"wav.scp": wav, "utt2spk": {u: "spk" for u in wav}})


def test_dump_counts_the_cpu_time_of_wav_scp_pipes(tmp_path):
    """A wav.scp pipe's program runs in a process of its own: its CPU time is the dump's too."""
    import sys

    soundfile.write(str(tmp_path / "a.wav"), tone(sec=0.5), 16000)
    busy = ('import sys, time; t = time.process_time(); '
            '[0 for _ in iter(lambda: time.process_time() - t < 0.4, False)]; '
            'sys.stdout.buffer.write(open(sys.argv[1], "rb").read())')
    write_datadir(tmp_path / "data", {"wav.scp": {"s-a": f"{sys.executable} -c '{busy}' {tmp_path / 'a.wav'} |"},
                                      "utt2spk": {"s-a": "s"}})
    stats = dump_features(tmp_path / "data", tmp_path / "dump", FeatureConfig(type="mfcc", n_mels=40), nj=1)
    assert stats["cpu_sec"] >= 0.4


def test_dump_is_sharded_parallel_and_resumes(tmp_path):
    make_data(tmp_path)
    cfg = FeatureConfig(type="mfcc", n_mels=40)
    stats = dump_features(tmp_path / "data", tmp_path / "dump", cfg, nj=2, shard_size=3)
    assert sorted(p.name for p in (tmp_path / "dump").glob("feats.*.npy")) == [
        "feats.0000.npy", "feats.0001.npy", "feats.0002.npy"]
    assert stats["audio_sec"] == pytest.approx(sum(0.3 + 0.1 * i for i in range(7)), rel=1e-3)
    assert 0 < stats["cpu_sec"] <= 2 * stats["wall_sec"] + 0.05   # CPU time of the 2 workers
    r = FeatReader(tmp_path / "dump" / "feats.scp")
    assert len(r) == 7 and r.dim == 40
    assert r["spk-u3"].shape == (61, 40)
    ref = FeatureExtractor(cfg)(read_audio(str(tmp_path / "u3.wav"), 16000))
    assert np.allclose(r["spk-u3"], ref, atol=1e-5)
    before = {u: r[u].copy() for u in r.index}
    # an interrupted dump: shard 1 lost its index (and thus counts as unfinished); .done missing
    os.remove(tmp_path / "dump" / "feats.0001.scp")
    os.remove(tmp_path / "dump" / ".done")
    mtime0 = os.path.getmtime(tmp_path / "dump" / "feats.0000.npy")
    dump_features(tmp_path / "data", tmp_path / "dump", cfg, nj=1)
    assert os.path.getmtime(tmp_path / "dump" / "feats.0000.npy") == mtime0  # finished shards kept
    r2 = FeatReader(tmp_path / "dump" / "feats.scp")
    assert all(np.array_equal(before[u], r2[u]) for u in before)
    # re-running a finished dump does nothing; other settings are refused
    assert dump_features(tmp_path / "data", tmp_path / "dump", cfg).get("skipped") == 1.0
    with pytest.raises(DataDirError, match="other settings"):
        dump_features(tmp_path / "data", tmp_path / "dump", FeatureConfig(type="logmel"))


def test_dump_as_dispatched_jobs_plan_shards_then_merge(tmp_path):
    """Stage 1 through a dispatcher: plan, one job per shard (any order), then the merge; the
    result equals a dump in one go."""
    make_data(tmp_path)
    cfg = FeatureConfig(type="mfcc", n_mels=40)
    with pytest.raises(DataDirError, match="plan the dump first"):
        dump_shard(tmp_path / "data", tmp_path / "jobs", cfg, "0000")
    _, shards, todo = plan_dump(tmp_path / "data", tmp_path / "jobs", cfg, nj=2, shard_size=3)
    assert todo == ["0000", "0001", "0002"] and [len(shards[s]) for s in todo] == [3, 3, 1]
    assert dump_shard(tmp_path / "data", tmp_path / "jobs", cfg, "0002")["audio_sec"] == pytest.approx(0.9)
    assert plan_dump(tmp_path / "data", tmp_path / "jobs", cfg, nj=5)[2] == ["0000", "0001"]   # plan kept
    assert dump_shard(tmp_path / "data", tmp_path / "jobs", cfg, "0002")["audio_sec"] == 0   # done: skipped
    with pytest.raises(DataDirError, match="no shard '0007'"):
        dump_shard(tmp_path / "data", tmp_path / "jobs", cfg, "0007")
    for s in ("0001", "0000"):
        dump_shard(tmp_path / "data", tmp_path / "jobs", cfg, s)
    assert not (tmp_path / "jobs" / "feats.scp").exists()     # no merge before every shard is written
    assert dump_features(tmp_path / "data", tmp_path / "jobs", cfg)["audio_sec"] == 0   # the merge only
    dump_features(tmp_path / "data", tmp_path / "once", cfg, nj=1, shard_size=3)
    jobs, once = FeatReader(tmp_path / "jobs" / "feats.scp"), FeatReader(tmp_path / "once" / "feats.scp")
    assert list(jobs.index) == list(once.index) and all(np.array_equal(jobs[u], once[u]) for u in once.index)
    assert plan_dump(tmp_path / "data", tmp_path / "jobs", cfg)[2] == []


def test_bad_audio_names_utterance(tmp_path):
    make_data(tmp_path, n=2)
    (tmp_path / "u1.wav").write_bytes(b"not audio")
    with pytest.raises(DataDirError, match="utterance 'spk-u1': cannot read audio"):
        dump_features(tmp_path / "data", tmp_path / "dump", FeatureConfig(), nj=1)


def test_mel_fu_settings_cut_to_256_frames():
    cfg = FeatureConfig(type="logmel", n_fft=800, win_ms=50.0, hop_ms=25.0, n_mels=128, max_frames=256)
    assert (cfg.fft_size, cfg.win_length, cfg.hop_length) == (800, 800, 400)
    long = FeatureExtractor(cfg)(tone(sec=8.0))
    short = FeatureExtractor(cfg)(tone(sec=2.0))
    assert long.shape == (256, 128)           # 8 s = 321 frames, cut
    assert short.shape == (81, 128)           # 2 s at a 25 ms hop, centred frames


def test_cached_resampler_gives_torchaudios_samples():
    import torch
    import torchaudio

    from serkit.data.augment import speed_perturb
    from serkit.features.extract import resample

    x = np.random.RandomState(0).randn(30000).astype(np.float32)
    pairs = ((22050, 16000), (44100, 16000), (48000, 16000), (8000, 16000), (32000, 16000), (24000, 16000),
             (16000, 44100))
    for orig, new in pairs:
        for _ in range(2):   # the second call uses the cached kernel
            ref = torchaudio.functional.resample(torch.from_numpy(x), orig, new).numpy()
            assert resample(x, orig, new).shape == ref.shape and np.abs(resample(x, orig, new) - ref).max() < 1e-6
    assert resample(x, 16000, 16000) is x
    sp = speed_perturb(x, 16000, 0.9)
    assert np.abs(sp - torchaudio.functional.resample(torch.from_numpy(x), 14400, 16000).numpy()).max() < 1e-6
    # lengths around the blocked matmul's rows (48 input samples a row at 48 -> 16 kHz, 441 at 44.1)
    for orig, n in ((48000, 1), (48000, 2), (48000, 47), (48000, 48), (48000, 49), (48000, 4801),
                    (44100, 440), (44100, 441), (44100, 442), (8000, 3)):
        y = np.random.RandomState(n).randn(n).astype(np.float32)
        ref = torchaudio.functional.resample(torch.from_numpy(y), orig, 16000).numpy()
        assert resample(y, orig, 16000).shape == ref.shape and np.abs(resample(y, orig, 16000) - ref).max() < 1e-6
    # integer samples with their scale: the same as scaling first
    ints = (np.random.RandomState(1).rand(9000) * 60000 - 30000).astype(np.int16)
    floats = ints.astype(np.float32) / 32768
    assert np.abs(resample(ints, 48000, 16000, scale=2.0 ** -15) - resample(floats, 48000, 16000)).max() < 1e-7
    assert np.array_equal(resample(ints, 16000, 16000, scale=2.0 ** -15), floats)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT"])
def test_read_audio_gives_libsndfiles_float_samples(tmp_path, subtype):
    """16- and 24-bit PCM are read as integers and scaled in serkit: the samples must be libsndfile's
    own float conversion, exactly at the file's rate and to 1e-6 after resampling."""
    import torch
    import torchaudio

    x = np.random.RandomState(2).rand(12000, 2).astype(np.float32) * 1.8 - 0.9
    for rate in (16000, 48000):
        for channels in (1, 2):
            path = str(tmp_path / f"a{rate}{channels}.wav")
            soundfile.write(path, x[:, :channels], rate, subtype=subtype)
            ref = soundfile.read(path, dtype="float32", always_2d=True)[0].mean(axis=1, dtype=np.float32)
            y = read_audio(path, rate)
            assert y.dtype == np.float32 and np.array_equal(y, ref)
            if rate != 16000:
                resampled = torchaudio.functional.resample(torch.from_numpy(ref), rate, 16000).numpy()
                assert np.abs(read_audio(path, 16000) - resampled).max() < 1e-6


@pytest.mark.parametrize("frames", [1, 2, 4, 57])
def test_deltas_match_torchaudio_compute_deltas(frames):
    import torch
    import torchaudio

    from serkit.features.extract import append_deltas

    x = np.random.RandomState(frames).randn(frames, 6).astype(np.float32)
    ref = [torch.from_numpy(x).T]
    for _ in range(2):
        ref.append(torchaudio.functional.compute_deltas(ref[-1], win_length=5))
    ours = append_deltas(x, 2)
    assert ours.shape == (frames, 18) and np.abs(ours - torch.cat(ref, 0).T.numpy()).max() < 1e-6


@pytest.mark.parametrize("conf", [dict(type="mfcc", n_mels=40), dict(type="logmel", n_mels=64, deltas=2),
                                  dict(type="logmel", top_db=None, prosody=["energy", "centroid"]),
                                  dict(type="fbank", n_mels=23)])
def test_batch_gives_each_waves_own_features(conf):
    """One padded batch: each wave's frames and top_db floor are its own (a quiet short wave
    beside loud long ones), and a refused wave is named by its index."""
    waves = [tone(sec=1.3, seed=1), 1e-3 * tone(sec=0.4, f0=300, seed=2), tone(sec=0.9, f0=150, seed=3)]
    ext = FeatureExtractor(FeatureConfig(**conf))
    one = [ext(w) for w in waves]
    batch = ext.batch(waves)
    frames = [128, 38, 88] if conf["type"] == "fbank" else [131, 41, 91]   # Kaldi fbank snips edges
    assert [f.shape[0] for f in batch] == frames
    assert all(a.shape == b.shape and np.abs(a - b).max() < 1e-4 for a, b in zip(one, batch))
    with pytest.raises(DataDirError, match="wave 1 of the batch: 300 samples is shorter"):
        ext.batch([waves[0], waves[1][:300]])


def test_batched_dump_writes_what_the_one_at_a_time_dump_writes(tmp_path):
    make_data(tmp_path)
    cfg = FeatureConfig(type="logmel", n_mels=40, speed_perturb=[0.9])
    dump_features(tmp_path / "data", tmp_path / "one", cfg, nj=1)
    stats = dump_features(tmp_path / "data", tmp_path / "batched", cfg, nj=1, batch_seconds=1.0)
    assert stats["audio_sec"] == pytest.approx(sum(0.3 + 0.1 * i for i in range(7)), rel=1e-3)
    one, batched = FeatReader(tmp_path / "one" / "feats.scp"), FeatReader(tmp_path / "batched" / "feats.scp")
    assert list(one.index) == list(batched.index) and len(one) == 14   # 7 utterances + their sp0.9 copies
    assert all(np.abs(one[u] - batched[u]).max() < 1e-4 for u in one.index)
    soundfile.write(str(tmp_path / "short.wav"), tone(sec=0.02), 16000)   # 320 samples: under one window
    write_datadir(tmp_path / "data2", {"wav.scp": {"spk-short": str(tmp_path / "short.wav")},
                                       "utt2spk": {"spk-short": "spk"}})
    with pytest.raises(DataDirError, match=r"data2/wav.scp: utterance 'spk-short': 320 samples is shorter"):
        dump_features(tmp_path / "data2", tmp_path / "bad", cfg, nj=1, batch_seconds=1.0)


def test_features_on_cuda_without_one_is_a_clear_error():
    import torch

    from serkit.errors import ConfigError

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    with pytest.raises(ConfigError, match="features on device 'cuda': torch sees no CUDA device"):
        FeatureExtractor(FeatureConfig(type="mfcc"), "cuda")
    with pytest.raises(ConfigError, match="only mfcc and logmel run there, not 'fbank'"):
        FeatureExtractor(FeatureConfig(type="fbank"), "meta")


def test_features_on_cuda_match_the_cpu():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the GPU comparison runs where one is")
    waves = [tone(sec=1.3, seed=1), 1e-3 * tone(sec=0.4, seed=2)]
    longer = waves + [tone(sec=2.1, seed=3), 0.5 * tone(sec=0.0251, seed=4)]
    for kind in ("mfcc", "logmel"):
        cfg = FeatureConfig(type=kind, n_mels=40, deltas=1)
        cpu, gpu = FeatureExtractor(cfg), FeatureExtractor(cfg, "cuda")
        first = gpu.batch(waves)
        # batches of other sizes and orders, then the first again: earlier results stay, the same
        for batch, got in ((waves, first), (longer, gpu.batch(longer)), (waves[::-1], gpu.batch(waves[::-1]))):
            for a, b in zip([cpu(w) for w in batch], got):
                assert a.shape == b.shape and np.abs(a - b).max() < 1e-4 * max(1.0, np.abs(a).max())
        assert all(np.array_equal(a, b) for a, b in zip(first, gpu.batch(waves)))
