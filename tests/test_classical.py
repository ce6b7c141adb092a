"""serkit-train-classical: utterance vectors, config checks, an SVM and a forest on mini_emo."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import fop_checkpoint
from serkit.classical import (build_representation, functionals, load_classical_config, speaker_normalise,
                              train_classical, utterance_vectors)
from serkit.data.datadir import DataDir
from serkit.errors import ConfigError
from serkit.metrics import classification_scores
from serkit.predictions import read_predictions


class _Frames:
    """A stand-in dataset of fixed frames: exactly what utterance_vectors reads."""

    def __init__(self, feats):
        self.feats = feats
        self.utts = [f"u{i}" for i in range(len(feats))]
        self.lengths = [len(f) for f in feats]

    def __getitem__(self, i):
        return {"utt": f"u{i}", "feats": torch.tensor(self.feats[i], dtype=torch.float32), "targets": {}}


def test_utterance_vectors_are_mean_and_std_over_valid_frames():
    a = np.array([[1.0, 2.0], [3.0, 6.0]])
    b = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0], [6.0, 1.0]])
    utts, X = utterance_vectors(_Frames([a, b]))
    got = dict(zip(utts, X))
    assert np.allclose(got["u0"], [2.0, 4.0, 1.0, 2.0])                     # padding of a not counted
    assert np.allclose(got["u1"], [3.0, 1.0, np.sqrt(5.0), 0.0])


def test_full_functionals_by_hand():
    # one column, 5 valid frames [3, 1, 4, 1, 5] and padding; a second utterance of 2 frames
    x = torch.tensor([[[3.0], [1.0], [4.0], [1.0], [5.0]], [[2.0], [6.0], [99.0], [99.0], [99.0]]])
    out = functionals(x, torch.tensor([5, 2]), "full").numpy()
    assert out.shape == (2, 7)
    t = np.linspace(0, 1, 5)
    slope = np.polyfit(t, [3, 1, 4, 1, 5], 1)[0]
    # mean, std, p10 (rank round(0.4) = 0), p50 (rank 2), p90 (rank round(3.6) = 4), range, slope
    assert np.allclose(out[0], [2.8, np.std([3, 1, 4, 1, 5]), 1, 3, 5, 4, slope])
    assert np.allclose(out[1], [4.0, 2.0, 2, 2, 6, 4, 4.0])        # p50: rank round(0.5) = 0 (half to even)
    assert np.allclose(functionals(x, torch.tensor([5, 2])).numpy(), out[:, :2])


def test_speaker_normalise():
    X = np.array([[1.0, 10.0], [3.0, 30.0], [100.0, 0.0], [300.0, 0.0]])
    Z = speaker_normalise(X, ["a", "a", "b", "b"])
    assert np.allclose(Z, [[-1, -1], [1, 1], [-1, 0], [1, 0]])


def test_config_is_checked(tmp_path):
    cfg = load_classical_config(None, ["--classifier", "rf", "--representation.layer", "2"])
    assert cfg.classifier == "rf" and cfg.representation.layer == 2
    with pytest.raises(ConfigError, match="'classifier' is 'knn'"):
        load_classical_config(None, ["--classifier", "knn"])
    with pytest.raises(ConfigError, match="unknown config key 'svm_c'"):
        load_classical_config(None, ["--svm_c", "[1]"])
    with pytest.raises(ConfigError, match="needs representation.checkpoint"):
        build_representation(load_classical_config(None, ["--representation.layer", "1"]), 40)
    assert build_representation(load_classical_config(None, []), 40) is None   # F itself


@pytest.mark.parametrize("classifier,extra,dim", [("svm", [], 80), ("rf", [], 80),
                                                   ("logreg", ["--functionals", "full", "--vector_norm", "speaker"], 280)])
def test_classifier_learns_mini_emo_and_writes_predictions(mini_corpus, tmp_path, classifier, extra, dim):
    fold = mini_corpus["folds"] / "fold1"
    cfg = load_classical_config(None, ["--classifier", classifier, "--data.cmvn", "none", "--rf_trees", "100", *extra])
    out = train_classical(cfg, str(fold / "train"), str(fold / "valid"), str(mini_corpus["feats"]), None,
                          str(tmp_path / "exp"), [("test", str(fold / "test"))])
    grid = {"svm": cfg.svm_C, "logreg": cfg.logreg_C, "rf": [None]}[classifier]
    assert out["dim"] == dim and out["C"] in grid
    classes, rows = read_predictions(tmp_path / "exp" / "predictions" / "test.tsv")
    assert classes == ["ang", "hap", "neu", "sad"]
    assert sorted(r[0] for r in rows) == sorted(DataDir.load(fold / "test").utts)
    gold = [classes.index(r[1]) for r in rows]
    pred = [classes.index(r[2]) for r in rows]
    assert classification_scores(gold, pred, 4)["ua"] > 0.4                  # chance is 0.25
    assert (tmp_path / "exp" / "model.pkl").exists()


def test_cli_needs_one_name_per_data(tmp_path):
    r = subprocess.run([sys.executable, "-m", "serkit.bin.train_classical", "--train_data", "a", "--valid_data", "b",
                        "--feats", "f", "--exp_dir", "e", "--data", "x"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip() == "error: 1 --data but 0 --name: give one name per data dir"


class _CountingEncoder(torch.nn.Module):
    """A fixed frame map (x -> [2x, x^2]) that counts the utterances it encodes."""

    def __init__(self):
        super().__init__()
        self.seen = 0

    def forward(self, x, lengths):
        self.seen += len(lengths)
        return torch.cat([2 * x, x * x], -1), lengths


def test_vector_cache_computes_each_utterance_once(tmp_path, caplog):
    from serkit.classical import VectorCache

    rng = np.random.RandomState(0)
    feats = [rng.randn(n, 3) for n in (5, 9, 2, 7)]
    cfg = load_classical_config(None, ["--functionals", "full"])
    enc = _CountingEncoder()
    plain_utts, plain = utterance_vectors(_Frames(feats), enc, kind="full")
    assert enc.seen == 4 and plain.shape == (4, 7 * 6)
    assert plain_utts == ["u1", "u3", "u0", "u2"]                 # longest first: the classifier's order

    cache = VectorCache(tmp_path / "vc", cfg)
    enc.seen = 0
    utts, X = utterance_vectors(_Frames(feats[:3]), enc, kind="full", cache=cache)   # a first fold: 3 utts
    assert enc.seen == 3 and cache.path.is_file()
    assert utts == ["u1", "u0", "u2"] and np.allclose(X, plain[[0, 2, 3]], atol=1e-6)
    # a second job (another fold, a fresh process): 2 utterances cached, 1 new; the rows and
    # their order are those computed without the cache
    cache = VectorCache(tmp_path / "vc", cfg)
    assert len(cache.rows) == 3
    enc.seen = 0
    utts, X = utterance_vectors(_Frames([feats[0], feats[3], feats[2]]), enc, kind="full", cache=cache)
    assert enc.seen == 1 and utts == ["u1", "u0", "u2"]           # u1 here is feats[3], 7 frames
    assert np.allclose(X, plain[[1, 2, 3]], atol=1e-6)
    assert len(VectorCache(tmp_path / "vc", cfg).rows) == 4
    # other input frames (another fold's global CMVN) are other keys: computed, not looked up
    enc.seen = 0
    utterance_vectors(_Frames([f + 0.5 for f in feats[:2]]), enc, kind="full", cache=cache)
    assert enc.seen == 2
    # another representation (here: other functionals) gets a file of its own
    other = VectorCache(tmp_path / "vc", load_classical_config(None, ["--functionals", "meanstd"]))
    assert other.path != cache.path and other.rows == {}
    # a damaged cache file is recomputed with a warning, never an error
    cache.path.write_bytes(b"not a zip")
    enc.seen = 0
    utts, X = utterance_vectors(_Frames(feats), enc, kind="full", cache=VectorCache(tmp_path / "vc", cfg))
    assert enc.seen == 4 and np.allclose(X, plain, atol=1e-6)
    assert "unreadable vector cache" in caplog.text
    assert len(VectorCache(tmp_path / "vc", cfg).rows) == 4


def test_vector_cache_serves_the_next_fold_of_a_frozen_stack(mini_corpus, tmp_path, caplog):
    """Two folds of an SVM on a FOP stack's hypercolumns share one cache: the second computes no
    vector, and its predictions are those of a run without the cache."""
    import logging

    fop_checkpoint(tmp_path / "fop.pt")
    cfg = load_classical_config(None, ["--data.cmvn", "none", "--svm_C", "[1.0]", "--representation.mode",
                                       "hypercolumns", "--representation.checkpoint", str(tmp_path / "fop.pt")])
    folds = mini_corpus["folds"]

    def fold(k, exp, cache):
        d = folds / f"fold{k}"
        train_classical(cfg, str(d / "train"), str(d / "valid"), str(mini_corpus["feats"]), None, str(exp),
                        [("test", str(d / "test"))], vector_cache=cache)
        return read_predictions(exp / "predictions" / "test.tsv")[1]

    caplog.set_level(logging.INFO, logger="serkit.classical")
    fold(1, tmp_path / "f1", str(tmp_path / "vc"))
    n_all = len(DataDir.load(mini_corpus["data"]).utts)
    (npz,) = (tmp_path / "vc").glob("*.npz")
    with np.load(npz) as z:
        assert z["X"].shape == (n_all, 2 * (40 + 2 * 16))            # every utterance of the corpus, once
    caplog.clear()
    cached = fold(2, tmp_path / "f2", str(tmp_path / "vc"))
    hits = [r.getMessage() for r in caplog.records if "from the cache" in r.getMessage()]
    assert len(hits) == 3 and all(m.split(" of ")[0] == m.split(" of ")[1].split()[0] for m in hits)   # all hits
    plain = fold(2, tmp_path / "f2_plain", None)
    assert [r[:3] for r in cached] == [r[:3] for r in plain]
    assert np.allclose(np.array([r[3:] for r in cached], float), np.array([r[3:] for r in plain], float), atol=1e-4)


def test_grouped_splits_keep_an_utterance_and_its_copies_on_one_side():
    from serkit.classical import grouped_splits

    utts = [f"u{i}" for i in range(40)]
    groups = utts + [f"u{i}" for i in range(40)] + [f"u{i}" for i in range(40)]   # 3 speeds
    y = np.array([i % 4 for i in range(40)] * 3)
    splits = grouped_splits(groups, y)
    assert len(splits) == 5
    held = np.concatenate([h for _, h in splits])
    assert sorted(held.tolist()) == list(range(120))                  # every row held out once
    for train, held_out in splits:
        assert not {groups[i] for i in train} & {groups[i] for i in held_out}
        assert len(held_out) == 24 and sorted(np.bincount(y[held_out]).tolist()) == [6, 6, 6, 6]


def test_speed_factors_are_checked():
    assert load_classical_config(None, ["--data.augment.speed", "[0.9, 1.0, 1.1]"]).data.augment.speed == [0.9, 1.0, 1.1]
    for bad in ("[0.9, 0.9]", "[0, 1.0]"):
        with pytest.raises(ConfigError, match="data.augment.speed"):
            load_classical_config(None, ["--data.augment.speed", bad])
    with pytest.raises(ConfigError, match="unknown config key 'data.augment.mixup'"):
        load_classical_config(None, ["--data.augment.mixup", "0.2"])


def test_speed_copies_join_the_training_set_only(mini_corpus, tmp_path):
    """data.augment.speed: each copy of a training utterance is a training vector of its own;
    valid and test are predicted from the originals; every copy is read (the cache holds them)."""
    from serkit.features.dump import dump_features
    from serkit.features.extract import FeatureConfig
    from serkit.errors import DataDirError

    dump_features(mini_corpus["data"], tmp_path / "dump", FeatureConfig(type="mfcc", n_mels=40, speed_perturb=[0.9, 1.1]),
                  nj=1)
    fold = mini_corpus["folds"] / "fold1"
    n_train = len(DataDir.load(fold / "train").utts)
    n_eval = len(DataDir.load(fold / "valid").utts) + len(DataDir.load(fold / "test").utts)
    cfg = load_classical_config(None, ["--data.cmvn", "none", "--functionals", "full", "--vector_norm", "speaker",
                                       "--svm_C", "[1.0]", "--data.augment.speed", "[0.9, 1.0, 1.1]"])
    out = train_classical(cfg, str(fold / "train"), str(fold / "valid"), str(tmp_path / "dump" / "feats.scp"), None,
                          str(tmp_path / "exp"), [("test", str(fold / "test"))], vector_cache=str(tmp_path / "vc"))
    assert out["train_vectors"] == 3 * n_train and out["dim"] == 280
    (npz,) = (tmp_path / "vc").glob("*.npz")
    with np.load(npz) as z:
        assert len(z["keys"]) == 3 * n_train + n_eval                    # the copies' frames are other frames
    classes, rows = read_predictions(tmp_path / "exp" / "predictions" / "test.tsv")
    assert sorted(r[0] for r in rows) == sorted(DataDir.load(fold / "test").utts)
    assert classification_scores([classes.index(r[1]) for r in rows], [classes.index(r[2]) for r in rows], 4)["ua"] > 0.4
    # features dumped without copies: one line naming the feats file and the missing copy
    with pytest.raises(DataDirError, match=r"feats.scp: no speed-perturbed copy 'sp0.9-.*' \(factor 0.9\)"):
        train_classical(cfg, str(fold / "train"), str(fold / "valid"), str(mini_corpus["feats"]), None,
                        str(tmp_path / "exp2"))


def test_speed_copies_go_through_a_frozen_stack(mini_corpus, tmp_path):
    """A frozen FOP stack's layer 1 with data.augment.speed (conf/classical_logreg_pt_sp.yaml):
    every copy of a training utterance passes through the stack and becomes a training vector,
    the cache holds the copies' vectors beside the originals', and a second fold reads them all."""
    from serkit.features.dump import dump_features
    from serkit.features.extract import FeatureConfig

    dump_features(mini_corpus["data"], tmp_path / "dump", FeatureConfig(type="mfcc", n_mels=40, speed_perturb=[0.9, 1.1]),
                  nj=1)
    fop_checkpoint(tmp_path / "fop.pt")
    cfg = load_classical_config(None, ["--classifier", "logreg", "--data.cmvn", "none", "--functionals", "full",
                                       "--vector_norm", "speaker", "--logreg_C", "[0.1]",
                                       "--data.augment.speed", "[0.9, 1.0, 1.1]",
                                       "--representation.layer", "1", "--representation.checkpoint",
                                       str(tmp_path / "fop.pt")])
    feats = str(tmp_path / "dump" / "feats.scp")
    folds = mini_corpus["folds"]
    for k in (1, 2):
        d = folds / f"fold{k}"
        out = train_classical(cfg, str(d / "train"), str(d / "valid"), feats, None, str(tmp_path / f"exp{k}"),
                              [("test", str(d / "test"))], vector_cache=str(tmp_path / "vc"))
        assert out["train_vectors"] == 3 * len(DataDir.load(d / "train").utts)
        assert out["dim"] == 7 * 16 and out["C"] == 0.1                   # 7 full functionals of 16 dims
    n_all = len(DataDir.load(mini_corpus["data"]).utts)
    trained = set(DataDir.load(folds / "fold1" / "train").utts) | set(DataDir.load(folds / "fold2" / "train").utts)
    assert 0 < len(trained) < n_all
    (npz,) = (tmp_path / "vc").glob("*.npz")
    with np.load(npz) as z:                                               # every original, and both copies
        assert len(z["keys"]) == n_all + 2 * len(trained)                 # of each utterance trained on
    classes, rows = read_predictions(tmp_path / "exp2" / "predictions" / "test.tsv")
    assert sorted(r[0] for r in rows) == sorted(DataDir.load(folds / "fold2" / "test").utts)
