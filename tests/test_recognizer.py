"""Model packages, the Python API and serkit-infer on whole files, directories, wav.scp and long
recordings (fixed windows and energy segments)."""
import csv
import io
import json
import subprocess
import sys
from itertools import zip_longest
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml

from serkit.data.datadir import DataDir
from serkit.errors import SerkitError
from serkit.features.cmvn import compute_cmvn
from serkit.features.storage import FeatReader
from serkit.models.registry import load_train_config
from serkit.predict import predict
from serkit.predictions import read_posteriors
from serkit.recognition import PRIOR_FRAMES, energy_segments, silero_segments, window_segments
from serkit.train.trainer import RunPaths, Trainer


def train_fold(mini_corpus, exp, stats, opts, splits=("test",), export=None):
    """A BLSTM (mean pooling) trained on mini_emo's fold1 into ``exp`` with CMVN ``stats`` (unless
    ``--data.cmvn none``), decoded on ``splits``, and packed into ``export`` by serkit-export."""
    fold = mini_corpus["folds"] / "fold1"
    cfg = load_train_config(None, ["--model.pooling", "mean", *opts])
    stats = str(stats) if cfg.data.cmvn != "none" else None
    Trainer(cfg, RunPaths(str(fold / "train"), str(fold / "valid"), str(mini_corpus["feats"]), stats,
                          str(exp))).run()
    for split in splits:
        predict(exp, fold / split, str(mini_corpus["feats"]), stats, Path(exp) / "predictions" / f"{split}.tsv")
    if export:
        r = subprocess.run([sys.executable, "-m", "serkit.bin.export", "--exp_dir", str(exp), "--out", str(export)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def package(mini_corpus, tmp_path_factory):
    """A BLSTM with global CMVN trained 2 epochs on fold1, its test decode, and its package."""
    base = tmp_path_factory.mktemp("pkg")
    fold = mini_corpus["folds"] / "fold1"
    stats = base / "cmvn.npz"
    compute_cmvn(FeatReader(mini_corpus["feats"]), DataDir.load(fold / "train").utts, stats)
    # serkit-infer finds the features' config beside feats.scp, as stage 1 writes it
    assert (mini_corpus["feats"].parent / "feats.yaml").exists()
    train_fold(mini_corpus, base / "exp", stats, ["--model.encoder_conf.hidden", "16", "--data.cmvn", "global",
                                                  "--train.max_epochs", "2"], export=base / "model.pt")
    return {"exp": base / "exp", "pkg": base / "model.pt", "test": DataDir.load(fold / "test"), "base": base}


def infer(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "serkit.bin.infer", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def test_package_is_plain_data_and_gives_the_decode_posteriors(package, tmp_path):
    pkg = torch.load(package["pkg"], weights_only=True)      # tensors and plain values only
    assert pkg["format"] == "serkit-model/1" and pkg["cmvn"]["mode"] == "global"
    assert pkg["features"]["type"] == "mfcc" and pkg["classes"]["emotion"] == ["ang", "hap", "neu", "sad"]
    from serkit import Recognizer

    r = Recognizer.load(package["pkg"])
    classes, utts, _, decoded = read_posteriors(package["exp"] / "predictions" / "test.tsv")
    wav = package["test"].get("wav.scp")
    for i, utt in enumerate(utts[:8]):
        rec = r.predict_file(wav[utt])
        got = np.array([rec["probs"][c] for c in classes])
        assert np.abs(got - decoded[i]).max() <= 2e-5, utt      # both rounded to 5 decimals
        assert rec["scores"][0]["label"] == rec["emotion"] == classes[int(decoded[i].argmax())]
        assert [s["score"] for s in rec["scores"]] == sorted((s["score"] for s in rec["scores"]), reverse=True)
    # the exp dir loads through the same API and agrees
    same = Recognizer.load(package["exp"]).predict_file(wav[utts[0]])
    assert same["probs"] == r.predict_file(wav[utts[0]])["probs"]


def test_device_without_cuda_is_a_clear_error(package, tmp_path):
    from serkit import Recognizer
    from serkit.errors import ConfigError

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    with pytest.raises(ConfigError, match="device 'cuda': torch sees no CUDA device"):
        Recognizer.load(package["pkg"], device="cuda")
    r = infer("--model", package["pkg"], "--device", "cuda", package["test"].get("wav.scp")[package["test"].utts[0]])
    assert r.returncode != 0 and r.stderr.strip().splitlines()[-1].startswith("error:")
    assert "torch sees no CUDA device" in r.stderr


def test_recognizer_on_cuda_gives_the_cpu_posteriors(package):
    from serkit import Recognizer

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the GPU comparison runs where one is")
    wav = package["test"].get("wav.scp")
    cpu, gpu = Recognizer.load(package["pkg"]), Recognizer.load(package["pkg"], device="cuda")
    for utt in package["test"].utts[:4]:
        a, b = cpu.predict_file(wav[utt])["probs"], gpu.predict_file(wav[utt])["probs"]
        assert max(abs(a[c] - b[c]) for c in a) < 1e-3


def test_infer_from_anywhere_on_files_directories_and_wav_scp(package, tmp_path):
    wav = package["test"].get("wav.scp")
    utts = package["test"].utts[:3]
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    for k, u in enumerate(utts):
        x, sr = soundfile.read(wav[u])
        soundfile.write(str(tmp_path / "dir" / ("sub" if k else "") / f"{u}.flac"), x, sr)
    (tmp_path / "dir" / "notes.txt").write_text("not audio")
    scp = tmp_path / "wav.scp"
    scp.write_text(f"{utts[0]} {wav[utts[0]]}\n")
    r = infer("--model", package["pkg"], "--top_k", "2", wav[utts[0]], "dir", "--wav_scp", scp, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in JSON")) for line in r.stdout.splitlines()]
    assert len(recs) == 5 and [len(x["scores"]) for x in recs] == [2] * 5
    assert recs[1]["wav"] == f"dir/{utts[0]}.flac" and recs[2]["wav"].startswith("dir/sub/")
    assert recs[4]["wav"] == utts[0] and recs[4]["probs"] == recs[0]["probs"]   # the wav.scp entry
    r = infer("--model", package["pkg"], "--format", "csv", wav[utts[0]], tmp_path / "missing.wav", cwd=tmp_path)
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["wav", "start", "end", "emotion", "p_ang", "p_hap", "p_neu", "p_sad", "error"]
    assert rows[1][3] in ("ang", "hap", "neu", "sad") and "no such file" in rows[2][-1]
    assert r.returncode == 1 and "1 of 2 files could not be recognised" in r.stderr


def long_recording(rec, test):
    """Four test utterances with 1 s of silence around each: the wave and the utterances' spans."""
    wav = test.get("wav.scp")
    sr = rec.sample_rate
    parts, spans, t = [], [], 1.0
    silence = np.zeros(sr, np.float32)
    parts.append(silence)
    for u in test.utts[:4]:
        x = rec.read(wav[u])
        parts += [x, silence]
        spans.append((t, t + len(x) / sr))
        t += len(x) / sr + 1.0
    return np.concatenate(parts), spans


def test_long_recording_windows_and_energy_segments(package, tmp_path):
    from serkit import Recognizer

    rec = Recognizer.load(package["pkg"])
    sr = rec.sample_rate
    long, spans = long_recording(rec, package["test"])
    soundfile.write(str(tmp_path / "long.wav"), long, sr)
    duration = len(long) / sr
    # energy segments: one per utterance, each inside its utterance (padded by 0.1 s)
    found = energy_segments(long, sr)
    assert len(found) == 4
    for (s, e), (s0, e0) in zip(found, spans):
        assert s0 - 0.15 <= s < s0 + 0.3 and e0 - 0.3 < e <= e0 + 0.15   # frames of 25 ms, pad 0.1 s
    r = infer("--model", package["pkg"], tmp_path / "long.wav", "--window", "2", "--hop", "1")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    segs, whole = recs[:-1], recs[-1]
    last = np.floor(duration * 1000) / 1000
    assert [(x["start"], x["end"]) for x in segs] == [(round(s, 3), min(round(e, 3), last)) for s, e in
                                                       window_segments(duration, 2.0, 1.0)]
    assert segs[-1]["end"] == last and all(0 <= x["start"] < x["end"] <= duration for x in segs)
    assert whole["segments"] == len(segs) and "start" not in whole
    mean = np.mean([[x["probs"][c] for c in rec.names] for x in segs], axis=0)   # equal windows: plain mean
    assert np.allclose([whole["probs"][c] for c in rec.names], mean, atol=1e-4)
    r = infer("--model", package["pkg"], tmp_path / "long.wav", "--vad", "energy")
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 5 and recs[-1]["segments"] == 4


def test_silero_vad_finds_speech_in_noise_and_ignores_tones(package, tmp_path):
    """Silero VAD (the neural model inside the silero-vad wheel) finds the four utterances under
    white noise at about 14 dB SNR, where the energy rule loses some, and no speech in beeps, where
    the energy rule finds some."""
    from serkit import Recognizer

    rec = Recognizer.load(package["pkg"])
    sr = rec.sample_rate
    long, spans = long_recording(rec, package["test"])
    rng = np.random.default_rng(0)
    speech_rms = np.sqrt(np.mean(np.concatenate([long[int(s * sr):int(e * sr)] for s, e in spans]) ** 2))
    noisy = (long + rng.normal(0, speech_rms / 5, len(long))).astype(np.float32)   # 14 dB SNR
    threads = torch.get_num_threads()
    found = silero_segments(noisy, sr)
    assert torch.get_num_threads() == threads          # importing silero_vad sets 1 thread: undone
    assert len(found) == 4
    for (s, e), (s0, e0) in zip(found, spans):
        assert abs(s - s0) < 0.3 and abs(e - e0) < 0.3, (found, spans)
    assert len(energy_segments(noisy, sr)) != 4
    t = np.arange(6 * sr) / sr   # 440 Hz beeps, 1 s on, 1 s off
    beeps = (0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)).astype(np.float32)
    assert silero_segments(beeps, sr) == [] and len(energy_segments(beeps, sr)) == 3
    soundfile.write(str(tmp_path / "noisy.wav"), noisy, sr)
    r = infer("--model", package["pkg"], tmp_path / "noisy.wav", "--vad", "silero", "--top_k", "1")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 5 and recs[-1]["segments"] == 4 and len(recs[0]["scores"]) == 1
    assert [(x["start"], x["end"]) for x in recs[:4]] == [(round(s, 3), round(e, 3)) for s, e in found]


def test_windows_cover_the_file():
    assert window_segments(1.5, 3.0, 1.0) == [(0.0, 1.5)]
    assert window_segments(5.5, 2.0, 1.0) == [(0.0, 2.0), (1.0, 3.0), (2.0, 4.0), (3.0, 5.0), (3.5, 5.5)]
    assert energy_segments(np.zeros(16000, np.float32), 16000) == []


def test_a_file_that_is_not_a_package_is_refused(tmp_path):
    from serkit import Recognizer

    torch.save({"model": {}}, tmp_path / "x.pt")
    with pytest.raises(SerkitError, match="not a serkit model file"):
        Recognizer.load(tmp_path / "x.pt")
    # damaged files: one line naming the file (and the member of a fused one), no traceback
    torch.save({"format": "serkit-model/1", "cmvn": {"mode": "none"}}, tmp_path / "y.pt")
    torch.save({"format": "serkit-ensemble/1", "members": [{"format": "serkit-model/1"}], "weights": [1.0]},
               tmp_path / "z.pt")
    torch.save({"format": "serkit-ensemble/1", "members": [{"format": "serkit-model/1"}], "weights": []},
               tmp_path / "w.pt")
    for name, line in (("y", f"{tmp_path / 'y.pt'}: a damaged serkit model file (KeyError: 'config')"),
                       ("z", f"{tmp_path / 'z.pt'} (member 1): a damaged serkit model file (KeyError: 'config')"),
                       ("w", f"{tmp_path / 'w.pt'}: a fused model file without as many weights as members")):
        with pytest.raises(SerkitError) as e:
            Recognizer.load(tmp_path / f"{name}.pt")
        assert str(e.value).startswith(line), name


@pytest.mark.parametrize("encoder, pooling", [("blstm", "mean"), ("resnet", "attentive_stats"),
                                               ("cnn_blstm_att", "local_attention"),
                                               ("pretrained", "mean"), ("mpc_transformer", "mean")])
def test_onnx_export_matches_pytorch(encoder, pooling, tmp_path):
    """'pretrained': a FOP transformer's hypercolumns (its pretraining checkpoint made here)."""
    pytest.importorskip("onnxruntime")
    from serkit import Recognizer
    from serkit.checkpoint import save_atomic
    from serkit.config import to_dict
    from serkit.models.model import MultiTaskModel
    from serkit.models.pretrain import PretrainModel

    opts = ["--model.encoder", encoder, "--model.pooling", pooling]
    if encoder == "pretrained":
        pcfg = load_train_config(None, ["--model.encoder", "fop_transformer", "--pretrain.objective", "fop"])
        save_atomic({"model": PretrainModel(40, pcfg.model, pcfg.pretrain).state_dict(), "config": to_dict(pcfg),
                     "classes": {}, "input_dim": 40}, tmp_path / "fop.pt")
        opts += ["--model.encoder_conf", f"{{checkpoint: {tmp_path / 'fop.pt'}, mode: hypercolumns}}"]
    if encoder == "cnn_blstm_att":   # small widths; the attention's head reshapes must follow the length
        opts += ["--model.encoder_conf", "{filters: [16, 32, 64], bottleneck: 32, lstm_hidden: 16, heads: 4}"]
    cfg = load_train_config(None, opts)
    torch.manual_seed(0)
    model = MultiTaskModel(40, cfg.model, {"emotion": ["a", "b", "c"]}).eval()
    stats = (np.random.RandomState(0).randn(40).astype(np.float32), np.full(40, 0.5, np.float32))
    r = Recognizer(model, cfg, {"emotion": ["a", "b", "c"]}, {"type": "mfcc", "n_mels": 40}, "global", stats)
    r.export_onnx(tmp_path / "m.onnx")          # raises where ONNX and PyTorch differ by more than 1e-4
    o = Recognizer.load(tmp_path / "m.onnx")
    assert o.onnx and o.names == ["a", "b", "c"] and o.cmvn_mode == "global"
    feats = [np.random.RandomState(k).randn(n, 40).astype(np.float32) for k, n in enumerate((33, 250, 90))]
    for a, b in zip(r.predict_features(feats), o.predict_features(feats)):
        assert max(abs(a["probs"][c] - b["probs"][c]) for c in "abc") <= 1e-4


def test_onnx_export_of_wav2vec2_with_a_ctc_head(tmp_path):
    """A tiny wav2vec2 on raw waves (the CTC head stays out of the graph): dynamic batch and
    sample axes, the same emotion posteriors as PyTorch."""
    pytest.importorskip("onnxruntime")
    from serkit import Recognizer
    from serkit.models.model import MultiTaskModel

    cfg = load_train_config(None, ["--model.encoder", "wav2vec2", "--model.encoder_conf.size", "tiny",
                                   "--model.pooling", "mean", "--model.heads",
                                   "{emotion: {weight: 1.0}, ctc: {weight: 0.1}}", "--data.cmvn", "none"])
    classes = {"emotion": ["a", "b", "c"], "ctc": ["<blank>", "<unk>", "x", "y"]}
    torch.manual_seed(0)
    r = Recognizer(MultiTaskModel(1, cfg.model, classes).eval(), cfg, classes, {"type": "wave"}, "none")
    r.export_onnx(tmp_path / "w2v2.onnx")
    o = Recognizer.load(tmp_path / "w2v2.onnx")
    waves = [np.random.RandomState(k).randn(n).astype(np.float32) * 0.1 for k, n in enumerate((4000, 24000, 9000))]
    feats = [r.features(w) for w in waves]
    assert feats[1].shape == (24000, 1)
    for a, b in zip(r.predict_features(feats), o.predict_features(feats)):
        assert max(abs(a["probs"][c] - b["probs"][c]) for c in "abc") <= 1e-4


def test_onnx_model_runs_in_serkit_infer(package, tmp_path):
    pytest.importorskip("onnxruntime")
    r = subprocess.run([sys.executable, "-m", "serkit.bin.export", "--exp_dir", str(package["exp"]), "--out",
                        str(tmp_path / "m.pt"), "--onnx", str(tmp_path / "m.onnx")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    wav = next(iter(package["test"].get("wav.scp").values()))
    a = json.loads(infer("--model", tmp_path / "m.pt", wav, cwd=tmp_path).stdout)
    b = json.loads(infer("--model", tmp_path / "m.onnx", wav, cwd=tmp_path).stdout)
    assert max(abs(a["probs"][c] - b["probs"][c]) for c in a["probs"]) <= 1e-4 and a["emotion"] == b["emotion"]
    from serkit import Recognizer
    from serkit.errors import ConfigError

    with pytest.raises(ConfigError, match="an ONNX model runs on the CPU here"):
        Recognizer.load(tmp_path / "m.onnx", device="meta")


def test_infer_never_runs_a_file_name_that_looks_like_a_wav_scp_pipe(package, tmp_path):
    marker = tmp_path / "ran"
    r = infer("--model", package["pkg"], f"scp:touch {marker} |", cwd=tmp_path)
    assert not marker.exists() and r.returncode == 1 and "no such file" in json.loads(r.stdout)["error"]


def test_fused_system_exports_as_one_file_and_gives_the_fused_posteriors(package, mini_corpus, tmp_path,
                                                                         monkeypatch):
    """Members: the fixture's BLSTM (a), another seed (b), one without CMVN (c); fusion f1 = (a, b)
    at 1:3, f2 = (f1, a, c) at 2:1:1, i.e. a 3/8, b 3/8, c 1/4 once flattened."""
    import shutil

    from serkit import Recognizer
    from serkit.errors import ConfigError
    from serkit.fusion import fuse
    from serkit.recognizer import Ensemble

    monkeypatch.chdir(tmp_path)   # a recipe dir: serkit-fuse records members relative to it
    fold = mini_corpus["folds"] / "fold1"
    stats = package["base"] / "cmvn.npz"
    shutil.copytree(package["exp"], "exp/a/fold1")
    predict("exp/a/fold1", fold / "valid", str(mini_corpus["feats"]), str(stats), "exp/a/fold1/predictions/valid.tsv")
    tiny = ["--model.encoder_conf.hidden", "8", "--train.max_epochs", "1"]
    train_fold(mini_corpus, tmp_path / "exp/b/fold1", stats, [*tiny, "--seed", "2", "--data.cmvn", "global"],
               ("valid", "test"))
    train_fold(mini_corpus, tmp_path / "exp/c/fold1", stats, [*tiny, "--data.cmvn", "none"], ("valid", "test"))
    fuse(["exp/a", "exp/b"], ["fold1"], "exp/f1", weights=[1, 3])
    fuse(["exp/f1", "exp/a", "exp/c"], ["fold1"], "exp/f2", weights=[2, 1, 1])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = subprocess.run([sys.executable, "-m", "serkit.bin.export", "--exp_dir", str(tmp_path / "exp/f2/fold1"),
                        "--out", "f2.pt"], capture_output=True, text=True, cwd=elsewhere)   # members found above
    assert r.returncode == 0, r.stderr
    pkg = torch.load(elsewhere / "f2.pt", weights_only=True)                # tensors and plain values only
    assert pkg["format"] == "serkit-ensemble/1"
    assert [m["source"].split("/")[-2] for m in pkg["members"]] == ["a", "b", "c"]
    assert np.allclose(pkg["weights"], [3 / 8, 3 / 8, 1 / 4])

    ens = Recognizer.load(elsewhere / "f2.pt")
    assert isinstance(ens, Ensemble) and ens._extractor == [0, 0, 0]   # one extraction for all three
    assert ens._normaliser == [0, 0, 2]                                  # a and b share one normalisation
    classes, utts, _, fused = read_posteriors("exp/f2/fold1/predictions/test.tsv")
    assert ens.names == classes
    wav = package["test"].get("wav.scp")
    for i, utt in enumerate(utts[:6]):
        rec = ens.predict_file(wav[utt])
        got = np.array([rec["probs"][c] for c in classes])
        assert np.abs(got - fused[i]).max() <= 3e-5, utt   # serkit-fuse averages 5-decimal posteriors
        assert rec["emotion"] == classes[int(fused[i].argmax())]
    # the fusion's fold dir loads through the same API; serkit-infer runs the file from anywhere
    same = Recognizer.load("exp/f2/fold1").predict_file(wav[utts[0]])
    assert same["probs"] == ens.predict_file(wav[utts[0]])["probs"]
    r = infer("--model", "f2.pt", wav[utts[0]], cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["probs"] == same["probs"]
    x, sr = soundfile.read(wav[utts[0]], dtype="float32")
    segs, whole = ens.segments(np.tile(x, 3), window=1.0, hop=0.5)
    assert whole["segments"] == len(segs) > 2 and abs(sum(whole["probs"].values()) - 1) < 1e-4

    # what cannot be packed is refused with one clear line, and nothing is written
    r = subprocess.run([sys.executable, "-m", "serkit.bin.export", "--exp_dir", "exp/f2/fold1", "--out", "x.pt",
                        "--onnx", "x.onnx"], capture_output=True, text=True)
    assert r.returncode == 1 and "no single ONNX graph" in r.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(ConfigError, match="several networks"):
        ens.export_onnx(tmp_path / "x.onnx")
    fuse(["exp/a", "exp/b"], ["fold1"], "exp/f3")   # fusion.yaml damaged in turn below
    (tmp_path / "exp/f3/fusion.yaml").write_text("members: [exp/a\n")
    with pytest.raises(ConfigError, match=r"exp/f3/fusion.yaml: not YAML"):
        Recognizer.load("exp/f3/fold1")
    (tmp_path / "exp/f3/fusion.yaml").write_text("members: [exp/a]\nfolds: {fold2: [1.0]}\n")
    with pytest.raises(ConfigError, match=r"exp/f3/fusion.yaml: no members and weights for fold 'fold1'"):
        Recognizer.load("exp/f3/fold1")


@pytest.fixture(scope="module")
def speaker_package(mini_corpus, tmp_path_factory):
    """A BLSTM trained 1 epoch on fold1 with speaker CMVN, its valid and test decodes, its package."""
    from serkit.features.cmvn import compute_speaker_cmvn

    base = tmp_path_factory.mktemp("spk_pkg")
    stats = base / "cmvn_spk.npz"
    data = DataDir.load(mini_corpus["data"])
    compute_speaker_cmvn(FeatReader(mini_corpus["feats"]), data.get("utt2spk"), stats)   # as stage 1: every speaker
    train_fold(mini_corpus, base / "exp", stats, ["--model.encoder_conf.hidden", "8", "--data.cmvn", "speaker",
                                                  "--train.max_epochs", "1"], splits=("valid", "test"),
               export=base / "m.pt")
    return {"exp": base / "exp", "pkg": base / "m.pt"}


def test_speaker_cmvn_model_takes_the_speakers_statistics(mini_corpus, speaker_package, tmp_path):
    """A model trained with speaker CMVN: given the test speaker's files (--utt2spk, predict_speaker)
    without smoothing it gives the decode's posteriors (--one_speaker: their windows pooled); a
    lone file's own statistics are smoothed with the training speakers' pooled ones, computed here
    by hand."""
    import shutil

    from serkit import Recognizer
    from serkit.errors import ConfigError

    fold = mini_corpus["folds"] / "fold1"
    reader = FeatReader(mini_corpus["feats"])
    exp = tmp_path / "exp"
    shutil.copytree(speaker_package["exp"], exp)   # its run.yaml is changed at the end
    shutil.copy(speaker_package["pkg"], tmp_path / "m.pt")
    test = DataDir.load(fold / "test")
    assert len(set(test.get("utt2spk").values())) == 1
    classes, utts, _, decoded = read_posteriors(exp / "predictions" / "test.tsv")

    def probs(stdout):
        recs = {x["wav"]: x["probs"] for x in map(json.loads, stdout.splitlines())}
        return np.array([[recs[u][c] for c in classes] for u in utts])

    r = infer("--model", tmp_path / "m.pt", "--wav_scp", fold / "test" / "wav.scp", "--prior_frames", "0",
              "--utt2spk", fold / "test" / "utt2spk")
    assert r.returncode == 0, r.stderr
    assert np.abs(probs(r.stdout) - decoded).max() <= 2e-5
    # two speakers in one run: each keeps its own statistics (the valid speaker's files come first)
    both = tmp_path / "both"
    both.mkdir()
    for name in ("wav.scp", "utt2spk"):
        (both / name).write_text((fold / "valid" / name).read_text() + (fold / "test" / name).read_text())
    two = infer("--model", tmp_path / "m.pt", "--wav_scp", both / "wav.scp", "--utt2spk", both / "utt2spk",
                "--prior_frames", "0")
    assert two.returncode == 0, two.stderr
    assert np.abs(probs(two.stdout) - decoded).max() <= 2e-5
    rec = Recognizer.load(tmp_path / "m.pt")
    wav = test.get("wav.scp")
    assert np.allclose(rec.speaker_stats([])[0], rec.cmvn_stats[0], atol=1e-5)   # no frames: the prior
    rec.prior_frames = 0
    assert rec.speaker_stats([]) is None                                          # nothing: each its own
    together = rec.predict_speaker([rec.read(wav[u]) for u in utts])
    assert np.abs(np.array([[x["probs"][c] for c in classes] for x in together]) - decoded).max() <= 2e-5

    # each file alone: its own frames and tau frames of the training speakers' pooled statistics
    def posteriors(x):
        with torch.no_grad():
            t = torch.tensor(x[None], dtype=torch.float32)
            return rec.model.logits(t, torch.tensor([len(x)]))["emotion"].softmax(-1)[0].numpy()

    train_frames = np.concatenate([reader[u] for u in DataDir.load(fold / "train").utts]).astype(np.float64)
    mean0, var0 = train_frames.mean(0), train_frames.var(0)
    x = reader[utts[0]].astype(np.float64)
    seen = []
    for tau in ("inf", "300", "0"):
        if tau == "inf":
            mean, var = mean0, var0
        else:
            n, t = len(x), float(tau)
            mean = (x.sum(0) + t * mean0) / (n + t)
            var = ((x * x).sum(0) + t * (var0 + mean0 ** 2)) / (n + t) - mean ** 2
        rec.prior_frames = float(tau)
        got = np.array([rec.predict_file(wav[utts[0]])["probs"][c] for c in classes])
        assert np.abs(got - posteriors((x - mean) / np.sqrt(var))).max() <= 2e-5, tau
        assert all(np.abs(got - other).max() > 1e-4 for other in seen), tau   # the smoothing tells
        seen.append(got)
    alone = infer("--model", tmp_path / "m.pt", wav[utts[0]], "--prior_frames", "300")
    assert np.array_equal([json.loads(alone.stdout)["probs"][c] for c in classes], seen[1])
    rec.prior_frames = PRIOR_FRAMES
    # windows of one speaker's files: the first pass pools the windows' frames of all of them
    r = infer("--model", tmp_path / "m.pt", "--wav_scp", fold / "test" / "wav.scp", "--one_speaker", "--window", "1")
    assert r.returncode == 0, r.stderr
    waves = [rec.read(wav[u]) for u in test.utts]
    stats = rec.speaker_stats(iter(waves), window=1.0)
    segs, whole = rec.segments(waves[1], window=1.0, stats=stats)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    mine = [x for x in lines if x["wav"] == test.utts[1]]
    assert [x["probs"] for x in mine] == [x["probs"] for x in segs] + [whole["probs"]]
    assert mine[-1]["segments"] == len(segs) >= 2
    alone_segs, _ = rec.segments(waves[1], window=1.0)      # its own windows only: other statistics
    assert alone_segs[0]["probs"] != segs[0]["probs"]
    assert Recognizer.load(exp).predict_file(wav[utts[0]])["probs"] == rec.predict_file(wav[utts[0]])["probs"]
    # the ONNX file carries the training speakers' statistics: lone and grouped files as the .pt
    pytest.importorskip("onnxruntime")
    onnx_rec = Recognizer.load(rec.export_onnx(tmp_path / "m.onnx"))
    assert onnx_rec.speaker_normalised and np.allclose(onnx_rec.cmvn_stats[1], rec.cmvn_stats[1])
    for got, ref in ((onnx_rec.predict_file(wav[utts[0]]), rec.predict_file(wav[utts[0]])),
                     (onnx_rec.predict_speaker(waves)[1], rec.predict_speaker(waves)[1])):
        assert max(abs(got["probs"][c] - ref["probs"][c]) for c in classes) <= 1e-4

    bad = tmp_path / "utt2spk"
    bad.write_text(f"{utts[0]} s1\n")
    r = infer("--model", tmp_path / "m.pt", "--wav_scp", fold / "test" / "wav.scp", "--utt2spk", bad)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (f"error: {bad}: no speaker for input '{utts[1]}' (and "
                                                 f"{len(utts) - 2} more); list every input by its name (a wav.scp's "
                                                 f"utterance id, or the file path as found)")
    # without its training data dir, a speaker-CMVN fold cannot give the training speakers' statistics
    run = yaml.safe_load((exp / "run.yaml").read_text())
    (exp / "run.yaml").write_text(yaml.safe_dump({k: v for k, v in run.items() if k != "train_data"}))
    with pytest.raises(ConfigError, match="training data dir"):
        Recognizer.load(exp)


def conversation(rec, fold, gap=0.3):
    """fold1's valid and test speakers' utterances (all of them) taking turns, ``gap`` s of silence between: the
    wave and the turns (utterance, start, end, speaker), sample-exact."""
    sr = rec.sample_rate
    parts, turns, n = [], [], int(gap * sr)
    dirs = [DataDir.load(fold / split) for split in ("valid", "test")]
    utts = [(u, d) for pair in zip_longest(*(d.utts for d in dirs)) for u, d in zip(pair, dirs) if u]
    for u, d in utts:
        x = rec.read(d.get("wav.scp")[u])
        parts += [np.zeros(n, np.float32), x]
        turns.append((u, (n + sum(map(len, parts[:-2]))) / sr, sum(map(len, parts)) / sr, d.get("utt2spk")[u]))
    parts.append(np.zeros(n, np.float32))
    return np.concatenate(parts), turns


def test_conversation_turns_from_rttm_and_segments(mini_corpus, speaker_package, tmp_path):
    """Two speakers taking turns in one recording: with the turns' speakers (an RTTM, or Kaldi
    segments + utt2spk across two recordings) each speaker's turns are normalised together and
    give the decode's posteriors of their utterances; as one speaker they do not. Turns past the
    end or too short get error records naming their line; the others are still recognised."""
    from serkit import Recognizer
    from serkit.data.turns import read_rttm, read_segments

    fold = mini_corpus["folds"] / "fold1"
    pkg = speaker_package["pkg"]
    rec = Recognizer.load(pkg)
    wave, turns = conversation(rec, fold)
    assert len({t[3] for t in turns}) == 2
    soundfile.write(str(tmp_path / "talk.wav"), wave, rec.sample_rate, subtype="FLOAT")
    decoded = {}
    for split in ("valid", "test"):
        classes, utts, _, post = read_posteriors(speaker_package["exp"] / "predictions" / f"{split}.tsv")
        decoded |= dict(zip(utts, post))
    rttm = tmp_path / "talk.rttm"
    rttm.write_text(";; diarization of talk.wav\nSPKR-INFO talk 1 <NA> <NA> <NA> unknown A <NA> <NA>\n" + "".join(
        f"SPEAKER talk 1 {s:.6f} {e - s:.6f} <NA> <NA> {'AB'[spk == turns[1][3]]} <NA> <NA>\n"
        for _, s, e, spk in turns))
    assert [(t.speaker, t.where) for t in read_rttm(rttm)][:2] == [("A", f"{rttm}:3"), ("B", f"{rttm}:4")]
    r = infer("--model", pkg, tmp_path / "talk.wav", "--rttm", rttm, "--prior_frames", "0")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    recs, per_speaker = recs[:-2], recs[-2:]
    assert [(x["wav"], x["speaker"], x["start"], x["end"]) for x in recs] == [
        (str(tmp_path / "talk.wav"), "AB"[spk == turns[1][3]], round(s, 3), round(e, 3)) for _, s, e, spk in turns]
    got = np.array([[x["probs"][c] for c in classes] for x in recs])
    assert np.abs(got - np.array([decoded[u] for u, *_ in turns])).max() <= 2e-5
    # then each speaker: their turns' posteriors averaged, weighted by duration
    for x in per_speaker:
        mine = [k for k, t in enumerate(recs) if t["speaker"] == x["speaker"]]
        dur = np.array([turns[k][2] - turns[k][1] for k in mine])
        assert x["turns"] == len(mine) and "start" not in x
        assert np.abs(np.array([x["probs"][c] for c in classes]) - dur @ got[mine] / dur.sum()).max() <= 2e-5
    assert [x["speaker"] for x in per_speaker] == ["A", "B"]
    # the recording as one speaker (Kaldi segments without utt2spk): both speakers' frames pooled
    segments = tmp_path / "segments"
    segments.write_text("".join(f"{u} talk {s:.6f} {e:.6f}\n" for u, s, e, _ in turns))
    r = infer("--model", pkg, tmp_path / "talk.wav", "--segments", segments, "--prior_frames", "0", "--format", "csv")
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["wav", "seg", "speaker", "start", "end", "emotion", *(f"p_{c}" for c in classes), "error"]
    one = np.array([[float(v) for v in row[6:-1]] for row in rows[1:-1]])
    assert [row[1:3] for row in rows[1:]] == [[u, "talk"] for u, *_ in turns] + [["", "talk"]]
    assert np.abs(one - got).max() > 1e-3
    rec.prior_frames = 0
    same, whole = rec.turns(wave, [(s, e, "x") for _, s, e, _ in turns])
    assert np.abs(np.array([[x["probs"][c] for c in classes] for x in same]) - one).max() <= 1e-5
    assert list(whole) == ["x"] and whole["x"]["turns"] == len(turns)
    # Kaldi segments over two recordings, utt2spk over the segment ids: a speaker's turns in both pooled
    cut = int(round(turns[4][1] * rec.sample_rate)) - 100
    soundfile.write(str(tmp_path / "a.wav"), wave[:cut], rec.sample_rate, subtype="FLOAT")
    soundfile.write(str(tmp_path / "b.wav"), wave[cut:], rec.sample_rate, subtype="FLOAT")
    shift = cut / rec.sample_rate
    segments.write_text("".join(f"{u} {'ab'[k >= 4]} {s - shift * (k >= 4):.6f} {e - shift * (k >= 4):.6f}\n"
                                for k, (u, s, e, _) in enumerate(turns)))
    (tmp_path / "utt2spk").write_text("".join(f"{u} {spk}\n" for u, _, _, spk in turns))
    r = infer("--model", pkg, tmp_path / "a.wav", tmp_path / "b.wav", "--segments", segments, "--utt2spk",
              tmp_path / "utt2spk", "--prior_frames", "0")
    assert r.returncode == 0, r.stderr
    recs = [x for x in map(json.loads, r.stdout.splitlines()) if "turns" not in x]
    assert [x["seg"] for x in recs] == [u for u, *_ in turns]
    assert np.abs(np.array([[x["probs"][c] for c in classes] for x in recs]) - got).max() <= 2e-5
    # a turn too short and one past the end: error records naming their lines, the others recognised
    lines = rttm.read_text().splitlines()
    rttm.write_text("\n".join(lines + ["SPEAKER talk 1 1.000 0.010 <NA> <NA> A <NA> <NA>",
                                       "SPEAKER talk 1 999 1 <NA> <NA> B <NA> <NA>"]) + "\n")
    r = infer("--model", pkg, tmp_path / "talk.wav", "--rttm", rttm)
    recs = [x for x in map(json.loads, r.stdout.splitlines()) if "turns" not in x]
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1] == (
        f"error: 2 of {len(turns) + 2} turns could not be recognised (see their 'error' records)")
    assert all("error" not in x for x in recs[:-2])
    assert recs[-2]["error"].startswith(f"{rttm}:{len(lines) + 1}: ") and "shorter than the 25 ms" in recs[-2]["error"]
    assert recs[-1] == {"wav": str(tmp_path / "talk.wav"), "speaker": "B", "start": 999.0, "end": 1000.0,
                        "error": f"{rttm}:{len(lines) + 2}: starts at 999.0 s, after the end of "
                                 f"{tmp_path / 'talk.wav'} ({len(wave) / rec.sample_rate:.3f} s)"}
    # a recording that is none of the inputs, a bad number, a speaker missing: one line each
    r = infer("--model", pkg, tmp_path / "a.wav", "--rttm", rttm)
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1] == (
        f"error: {rttm}:3: recording 'talk' is none of the inputs (an input's path, its file name without "
        f"extension, or a wav.scp id)")
    rttm.write_text("SPEAKER talk 1 1,5 2 <NA> <NA> A <NA> <NA>\n")
    with pytest.raises(SerkitError, match=rf"^{rttm}:1: start '1,5' is not a number of seconds$"):
        read_rttm(rttm)
    segments.write_text("s1 talk 0.5 -1\ns2 talk 2 1\n")
    with pytest.raises(SerkitError, match=rf"^{segments}:2: segment 's2': start 2 must be >= 0 and end 1 after"):
        read_segments(segments)
    segments.write_text("s1 talk 0.5 -1\n")
    assert read_segments(segments)[0].end == float("inf")
    with pytest.raises(SerkitError, match=r"utt2spk: no speaker for segment 's1'"):
        read_segments(segments, {"s0": "x"})
    r = infer("--model", pkg, tmp_path / "talk.wav", "--rttm", rttm, "--utt2spk", tmp_path / "utt2spk")
    assert r.returncode == 1 and "no --utt2spk / --one_speaker with it" in r.stderr
    from serkit.inference.inputs import turns_by_input
    from serkit.data.turns import Turn
    from serkit.errors import ConfigError

    turn = Turn("a", 0.0, 1.0, "A", None, "r:1")
    with pytest.raises(ConfigError, match="'a' is the stem of several inputs"):
        turns_by_input([("x/a.wav", "x/a.wav", False), ("y/a.flac", "y/a.flac", False)], [turn], "r")
    assert turns_by_input([("x/a.wav", "x/a.wav", False), ("a", "y/a.flac", True)], [turn], "r") == {"a": [turn]}


def test_emodb_conversations_script_scores_each_way(mini_corpus, speaker_package, tmp_path):
    """egs/emodb/local/conversations.py on mini_emo's fold1: with the turns' speakers known, each
    speaker's turns are recognised as predict_speaker recognises their utterances."""
    from serkit import Recognizer
    from serkit.metrics import classification_scores

    models = tmp_path / "models"
    models.mkdir()
    (models / "fold1.pt").symlink_to(speaker_package["pkg"])
    script = Path(__file__).resolve().parents[1] / "egs" / "emodb" / "local" / "conversations.py"
    r = subprocess.run([sys.executable, str(script), "--models", str(models), "--folds", str(mini_corpus["folds"]),
                        "--fold", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = {line.split("|")[1].strip(): [x.strip() for x in line.split("|")[2:-1]]
            for line in r.stdout.splitlines() if line.startswith("| ") and "UA" not in line}
    assert list(rows) == ["speakers", "confused", "one speaker", "alone"]
    rec = Recognizer.load(speaker_package["pkg"])
    test = DataDir.load(mini_corpus["folds"] / "fold1" / "test")
    records = rec.predict_speaker([rec.read(w) for w in test.get("wav.scp").values()])
    emo = test.get("utt2emo")
    ua = classification_scores([rec.names.index(emo[u]) for u in test.utts],
                               [rec.names.index(x["emotion"]) for x in records], len(rec.names))["ua"]
    assert rows["speakers"][0] == f"{100 * ua:.2f}"
    assert all(0 <= float(v[0]) <= 100 for v in rows.values())


def test_jobs_give_the_records_of_one_process_in_input_order(mini_corpus, speaker_package, tmp_path):
    """--jobs 2: two processes, each with the model, give the records --jobs 1 gives, in the same
    order: files grouped by speaker (the first pass too), conversation turns, and a file that
    cannot be read among the others."""
    fold = mini_corpus["folds"] / "fold1"
    both = tmp_path / "both"
    both.mkdir()
    for name in ("wav.scp", "utt2spk"):
        (both / name).write_text((fold / "valid" / name).read_text() + (fold / "test" / name).read_text())
    with open(both / "wav.scp", "a") as f:
        f.write(f"zz-missing {tmp_path / 'missing.wav'}\n")
    with open(both / "utt2spk", "a") as f:
        f.write("zz-missing zz\n")
    from serkit import Recognizer

    rec = Recognizer.load(speaker_package["pkg"])
    wave, turns = conversation(rec, fold)
    soundfile.write(str(tmp_path / "talk.wav"), wave, rec.sample_rate, subtype="FLOAT")
    (tmp_path / "talk.rttm").write_text("".join(f"SPEAKER talk 1 {s:.6f} {e - s:.6f} <NA> <NA> {spk} <NA> <NA>\n"
                                                for _, s, e, spk in turns))
    runs = {"utt2spk": ["--wav_scp", both / "wav.scp", "--utt2spk", both / "utt2spk"],
            "rttm": [tmp_path / "talk.wav", "--rttm", tmp_path / "talk.rttm"]}
    for what, opts in runs.items():
        out = [infer("--model", speaker_package["pkg"], *opts, "--jobs", jobs) for jobs in (1, 2)]
        assert [r.returncode for r in out] == ([1, 1] if what == "utt2spk" else [0, 0]), out[1].stderr
        one, two = ([json.loads(line) for line in r.stdout.splitlines()] for r in out)
        assert len(one) == len(two) > 10, what
        for a, b in zip(one, two):
            assert {k: v for k, v in a.items() if k not in ("probs", "scores")} == \
                   {k: v for k, v in b.items() if k not in ("probs", "scores")}, what
            assert a.keys() == b.keys() and all(abs(a["probs"][c] - b["probs"][c]) <= 1e-4 for c in a.get("probs", {}))
    assert one[-1]["speaker"] and "turns" in one[-1]


def test_recognise_from_python_gives_the_clis_records(mini_corpus, speaker_package, capsys):
    """serkit-infer is argument parsing around serkit.inference: the library, called with the same
    options, writes the same records, and refuses what the command line refuses."""
    from serkit.errors import ConfigError
    from serkit.inference.options import InferOptions
    from serkit.inference.records import recognise

    test = mini_corpus["folds"] / "fold1" / "test"
    pkg = str(speaker_package["pkg"])
    cli = infer("--model", pkg, "--wav_scp", test / "wav.scp", "--utt2spk", test / "utt2spk", "--top_k", 2)
    assert cli.returncode == 0, cli.stderr
    recognise(InferOptions(model=pkg, wav_scp=str(test / "wav.scp"), utt2spk=str(test / "utt2spk"), top_k=2))
    ours = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    theirs = [json.loads(line) for line in cli.stdout.splitlines()]
    assert len(ours) == len(theirs) == len((test / "wav.scp").read_text().splitlines())
    for a, b in zip(ours, theirs):
        assert (a["wav"], a["emotion"], [s["label"] for s in a["scores"]]) == \
               (b["wav"], b["emotion"], [s["label"] for s in b["scores"]])
        assert all(abs(a["probs"][c] - b["probs"][c]) <= 1e-5 for c in b["probs"])
    model = {"model": pkg}
    for bad, message in [({}, "one of them"), ({**model, "exp_dir": "e"}, "one of them"),
                         ({**model, "window": 3.0, "vad": "energy"}, "not both"),
                         ({**model, "jobs": 0}, "--jobs must be >= 1"),
                         ({**model, "prior_frames": float("nan")}, "--prior_frames nan"),
                         ({**model, "rttm": "r", "utt2spk": "u"}, "no --utt2spk / --one_speaker"),
                         ({**model, "segments": "s", "window": 2.0}, "--segments gives the segments")]:
        with pytest.raises(ConfigError, match=message):
            InferOptions(**bad)
