"""A classical system exported and run on recordings gives its decode's posteriors."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import fop_checkpoint
from serkit.classical import load_classical_config, train_classical
from serkit.data.datadir import DataDir
from serkit.features.cmvn import compute_speaker_cmvn
from serkit.features.storage import FeatReader
from serkit.predictions import read_posteriors


def infer(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "serkit.bin.infer", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


@pytest.fixture(scope="module")
def classical_fold(mini_corpus, tmp_path_factory):
    """Logistic regression on full functionals of a frozen FOP stack's hypercolumns, frames and
    vectors normalised per speaker, trained on fold1 and decoded on test."""
    base = tmp_path_factory.mktemp("classical")
    fold = mini_corpus["folds"] / "fold1"
    stats = base / "cmvn_spk.npz"
    data = DataDir.load(mini_corpus["data"])
    compute_speaker_cmvn(FeatReader(mini_corpus["feats"]), data.get("utt2spk"), stats)   # as stage 1
    fop_checkpoint(base / "fop.pt")
    cfg = load_classical_config(None, ["--classifier", "logreg", "--data.cmvn", "speaker", "--functionals", "full",
                                       "--vector_norm", "speaker", "--representation.mode", "hypercolumns",
                                       "--representation.checkpoint", str(base / "fop.pt")])
    train_classical(cfg, str(fold / "train"), str(fold / "valid"), str(mini_corpus["feats"]), str(stats),
                    str(base / "exp"), [("valid", str(fold / "valid")), ("test", str(fold / "test"))])
    return {"exp": base / "exp", "fold": fold, "base": base, "stats": stats}


def _probs(stdout, classes, utts):
    recs = {x["wav"]: x["probs"] for x in map(json.loads, stdout.splitlines())}
    return np.array([[recs[u][c] for c in classes] for u in utts])


def test_classical_system_exports_and_gives_its_decode(classical_fold, tmp_path):
    from serkit import Recognizer
    from serkit.classical_recognizer import ClassicalRecognizer
    from serkit.recognition import _FrameInput

    exp, fold = classical_fold["exp"], classical_fold["fold"]
    classes, utts, _, decoded = read_posteriors(exp / "predictions" / "test.tsv")
    r = subprocess.run([sys.executable, "-m", "serkit.bin.export", "--exp_dir", str(exp), "--out",
                        str(tmp_path / "c.pt")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    pkg = torch.load(tmp_path / "c.pt", weights_only=True)                 # no pickle inside
    assert pkg["format"] == "serkit-classical/1" and pkg["representation"]["mode"] == "hypercolumns"
    # the speaker's files together, no smoothing: the decode (frames and vectors normalised as in training)
    out = infer("--model", tmp_path / "c.pt", "--wav_scp", fold / "test" / "wav.scp", "--utt2spk",
                fold / "test" / "utt2spk", "--prior_frames", "0", "--prior_utts", "0", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert np.abs(_probs(out.stdout, classes, utts) - decoded).max() <= 1e-4
    # the exp dir itself, through the API
    rec = Recognizer.load(exp)
    assert isinstance(rec, ClassicalRecognizer) and rec.speaker_normalised
    rec.prior_frames, rec.prior_utts = 0, 0
    wav = DataDir.load(fold / "test").get("wav.scp")
    together = rec.predict_speaker([rec.read(wav[u]) for u in utts])
    assert np.abs(np.array([[x["probs"][c] for c in classes] for x in together]) - decoded).max() <= 1e-4

    # one file alone: its vector z-normalised with n0 utterances of the training vectors' statistics
    rec.prior_frames = 1000
    raw = rec._raw(rec.read(wav[utts[0]]))
    v = rec._vector(_FrameInput._normalise(rec, raw))   # its frames, CMVN as a network's
    mu0, var0 = rec.vector_prior
    for n0 in (1.0, 3.0, float("inf")):
        rec.prior_utts = n0
        if np.isinf(n0):
            mean, var = mu0, var0
        else:   # 1 vector and n0 pseudo-vectors, pooled
            mean = (v + n0 * mu0) / (1 + n0)
            var = (n0 * var0 + n0 / (1 + n0) * (v - mu0) ** 2) / (1 + n0)
        want = rec.classifier.probs(((v - mean) / np.sqrt(var))[None])[0]
        got = rec.predict(rec.read(wav[utts[0]]))["probs"]
        assert np.abs(np.array([got[c] for c in classes]) - want).max() <= 1e-5
    rec.prior_utts = 0   # its own statistics alone: one vector has no spread, every column is 0
    assert np.allclose(rec._normalise(raw), 0)
    # a long recording: its 1 s windows share the recording's frame and vector statistics
    rec.prior_utts = 3.0
    long = np.concatenate([rec.read(wav[u]) for u in utts[:4]])
    segs, whole = rec.segments(long, window=1.0)
    stats = rec.speaker_stats([long], window=1.0)
    assert whole["segments"] == len(segs) >= 4 and stats[1] is not None
    first = rec.predict(long[: rec.sample_rate], stats=stats)["probs"]
    assert segs[0]["probs"] == first and abs(sum(whole["probs"].values()) - 1) < 1e-4
    onnx = subprocess.run([sys.executable, "-m", "serkit.bin.export", "--exp_dir", str(exp), "--out",
                           str(tmp_path / "d.pt"), "--onnx", str(tmp_path / "d.onnx")], capture_output=True, text=True)
    assert onnx.returncode != 0 and "has no ONNX graph" in onnx.stderr and not (tmp_path / "d.onnx").exists()


def test_fusion_of_a_network_and_a_classical_system(classical_fold, mini_corpus, tmp_path, monkeypatch):
    """A BLSTM with speaker CMVN and the classical system, fused 1:3 by serkit-fuse and exported as
    one file: with the test speaker's files together, the fused decode's posteriors."""
    import shutil

    from test_recognizer import train_fold

    from serkit.fusion import fuse
    from serkit.recognizer import Recognizer

    monkeypatch.chdir(tmp_path)
    shutil.copytree(classical_fold["exp"], "exp/c/fold1")
    train_fold(mini_corpus, tmp_path / "exp/n/fold1", classical_fold["stats"],
               ["--model.encoder_conf.hidden", "8", "--train.max_epochs", "1", "--data.cmvn", "speaker"],
               ("valid", "test"))
    fuse(["exp/n", "exp/c"], ["fold1"], "exp/f", weights=[1, 3])
    classes, utts, _, fused = read_posteriors("exp/f/fold1/predictions/test.tsv")
    _, _, _, classical = read_posteriors("exp/c/fold1/predictions/test.tsv")
    assert np.abs(fused - classical).max() > 1e-3                       # the network counts
    r = subprocess.run([sys.executable, "-m", "serkit.bin.export", "--exp_dir", "exp/f/fold1", "--out", "f.pt"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ens = Recognizer.load("f.pt")
    assert ens._extractor == [0, 0] and ens._normaliser == [0, 1]        # one extraction, two inputs
    fold = classical_fold["fold"]
    out = infer("--model", "f.pt", "--wav_scp", fold / "test" / "wav.scp", "--utt2spk", fold / "test" / "utt2spk",
                "--prior_frames", "0", "--prior_utts", "0")
    assert out.returncode == 0, out.stderr
    assert np.abs(_probs(out.stdout, classes, utts) - fused).max() <= 1e-4


def test_a_classical_fold_without_its_arrays_is_refused(classical_fold, tmp_path):
    import shutil

    from serkit.errors import ConfigError, SerkitError
    from serkit.recognizer import Recognizer

    old = tmp_path / "old"
    shutil.copytree(classical_fold["exp"], old)
    (old / "classifier.pt").unlink()                                   # as trained before they were kept
    with pytest.raises(ConfigError, match="without classifier.pt .*run its stage 3 again"):
        Recognizer.load(old)
    torch.save({"format": "serkit-classifier/1"}, old / "classifier.pt")   # no config, no arrays
    with pytest.raises(SerkitError, match="classifier.pt: not a classifier file"):
        Recognizer.load(old)
    (old / "classifier.pt").write_bytes(b"not a model")
    r = subprocess.run([sys.executable, "-m", "serkit.bin.export", "--exp_dir", str(old), "--out",
                        str(tmp_path / "x.pt")], capture_output=True, text=True)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "classifier.pt" in r.stderr
