"""serkit-train-classical: utterance vectors, config checks, an SVM and a forest on mini_emo."""
import subprocess
import sys

import numpy as np
import pytest
import torch

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
