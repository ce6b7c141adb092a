"""serkit-fuse: posterior averaging, weights chosen on valid, checks; serkit-score over seeds."""
import subprocess
import sys

import numpy as np
import pytest
import yaml

from serkit.errors import SerkitError
from serkit.fusion import choose_weights, fuse, weight_grid
from serkit.predictions import dimension_columns, read_dimensions, read_posteriors, write_predictions

CLASSES = ["ang", "neu", "sad"]


def write_system(root, fold, split, table, classes=CLASSES):
    """table: {utt: (gold, [p...])} in the order of ``classes``."""
    rows = [(u, g, classes[int(np.argmax(p))], *(f"{v:.5f}" for v in p)) for u, (g, p) in table.items()]
    write_predictions(root / fold / "predictions" / f"{split}.tsv", classes, rows)


@pytest.fixture
def two_systems(tmp_path):
    # A is right on valid and test; B is confidently wrong on valid and unsure on test
    a_valid = {"v1": ("ang", [0.6, 0.3, 0.1]), "v2": ("sad", [0.2, 0.2, 0.6])}
    b_valid = {"v1": ("ang", [0.0, 1.0, 0.0]), "v2": ("sad", [0.0, 1.0, 0.0])}
    a_test = {"t1": ("neu", [0.2, 0.5, 0.3]), "t2": ("ang", [0.4, 0.3, 0.3])}
    b_test = {"t1": ("neu", [0.1, 0.1, 0.8]), "t2": ("ang", [0.9, 0.05, 0.05])}
    for root, va, te in ((tmp_path / "A", a_valid, a_test), (tmp_path / "B", b_valid, b_test)):
        write_system(root, "fold1", "valid", va)
        write_system(root, "fold1", "test", te)
    folds = tmp_path / "folds"
    folds.mkdir()
    (folds / "protocol.yaml").write_text(yaml.safe_dump({"protocol": "loso", "folds": [{"name": "fold1"}]}))
    for split, utts in (("valid", a_valid), ("test", a_test)):   # the fold's data dirs: what is scored
        (folds / "fold1" / split).mkdir(parents=True)
        (folds / "fold1" / split / "utt2spk").write_text("".join(f"{u} {u[0]}\n" for u in utts))
    return tmp_path


def test_equal_and_given_weights_average_the_posteriors(two_systems):
    out = two_systems / "fused"
    rec = fuse([two_systems / "A", two_systems / "B"], ["fold1"], out)
    assert rec["folds"]["fold1"] == [0.5, 0.5]
    classes, utts, gold, probs = read_posteriors(out / "fold1" / "predictions" / "test.tsv")
    assert classes == CLASSES and utts == ["t1", "t2"] and gold == ["neu", "ang"]
    assert np.allclose(probs, [[0.15, 0.3, 0.55], [0.65, 0.175, 0.175]], atol=1e-5)
    fuse([two_systems / "A", two_systems / "B"], ["fold1"], out, weights=[3, 1])
    _, _, _, probs = read_posteriors(out / "fold1" / "predictions" / "test.tsv")
    assert np.allclose(probs[0], [0.175, 0.4, 0.425], atol=1e-5)
    assert yaml.safe_load((out / "fusion.yaml").read_text())["folds"]["fold1"] == [0.75, 0.25]


def test_weights_chosen_on_valid_only(two_systems):
    rec = fuse([two_systems / "A", two_systems / "B"], ["fold1"], two_systems / "fused", choose_on_valid=True)
    w = rec["folds"]["fold1"]
    # v1 fused: ang 0.6 wA, neu 0.3 wA + 1 - wA: right only from wA = 0.8 (0.48 > 0.44)
    assert w == [0.8, 0.2]
    assert weight_grid(2, 10)[0].tolist() == [0.5, 0.5] and len(weight_grid(3, 10)) == 66
    probs = np.array([[[0.6, 0.4]], [[0.0, 1.0]]])
    assert choose_weights(probs, [0], steps=10).tolist() == [0.9, 0.1]   # 0.54 > 0.36 + 0.1


def test_grid_1_chooses_one_member_per_fold():
    """steps=1: the member whose own valid UA is highest; the first one on ties."""
    assert weight_grid(3, 1).tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    # 3 utterances of classes 0, 1, 0: member A gets 1 of 3 right, B 3 of 3, C 2 of 3
    a = [[0.4, 0.6], [0.6, 0.4], [0.9, 0.1]]
    b = [[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]]
    c = [[0.8, 0.2], [0.1, 0.9], [0.3, 0.7]]
    assert choose_weights(np.array([a, b, c]), [0, 1, 0], steps=1).tolist() == [0, 1, 0]
    assert choose_weights(np.array([c, a, c]), [0, 1, 0], steps=1).tolist() == [1, 0, 0]   # a tie: the first


def test_members_must_agree(two_systems):
    write_system(two_systems / "C", "fold1", "valid", {"v1": ("ang", [1, 0, 0]), "v9": ("sad", [0, 0, 1])})
    with pytest.raises(SerkitError, match="C/fold1/predictions/valid.tsv: utterance 'v2' is missing"):
        fuse([two_systems / "A", two_systems / "C"], ["fold1"], two_systems / "x")
    with pytest.raises(SerkitError, match="at least two"):
        fuse([two_systems / "A"], ["fold1"], two_systems / "x")
    # the same classes in another column order are reordered, not refused
    b = {"v1": ("ang", [1.0, 0.0, 0.0]), "v2": ("sad", [0.0, 1.0, 0.0])}   # columns sad, ang, neu
    write_system(two_systems / "D", "fold1", "valid", {u: (g, [p[2], p[0], p[1]]) for u, (g, p) in b.items()},
                 classes=["sad", "ang", "neu"])
    write_system(two_systems / "D", "fold1", "test", {"t1": ("neu", [0, 0, 1]), "t2": ("ang", [0, 1, 0])},
                 classes=["sad", "ang", "neu"])
    fuse([two_systems / "A", two_systems / "D"], ["fold1"], two_systems / "y", weights=[0, 1])
    _, _, _, probs = read_posteriors(two_systems / "y" / "fold1" / "predictions" / "valid.tsv")
    assert np.allclose(probs, [[1, 0, 0], [0, 1, 0]])            # back in A's column order


def test_cli_fuses_and_score_reports_seeds(two_systems):
    r = subprocess.run([sys.executable, "-m", "serkit.bin.fuse", "--exp_dir", str(two_systems / "A"), "--exp_dir",
                        str(two_systems / "B"), "--folds_dir", str(two_systems / "folds"), "--out_dir",
                        str(two_systems / "F"), "--weights", "valid"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "serkit.bin.score", "--exp_dir", str(two_systems / "A"), "--exp_dir",
                        str(two_systems / "B"), "--folds_dir", str(two_systems / "folds"), "--title", "two seeds"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # A gets t1 and t2 right (100); B only t2 (WA 50, UA (1 + 0) / 2 = 50): 75 +- 25 over the two
    assert "| A | 100.00 | 100.00 |" in r.stdout and "| B | 50.00 | 50.00 |" in r.stdout
    assert "| **mean ± std over 2 runs** | 75.00 ± 25.00 | 75.00 ± 25.00 |" in r.stdout
    assert (two_systems / "A" / "scores" / "scores.json").exists()
    r = subprocess.run([sys.executable, "-m", "serkit.bin.fuse", "--exp_dir", str(two_systems / "A"), "--exp_dir",
                        str(two_systems / "B"), "--folds_dir", str(two_systems / "folds"), "--out_dir",
                        str(two_systems / "F"), "--weights", "1,x"], capture_output=True, text=True)
    assert r.returncode == 1 and "--weights takes numbers" in r.stderr


def write_rated_system(root, fold, split, table):
    """table: {utt: (gold, [p...], gold arousal or None, predicted arousal)}."""
    rows = [(u, g, CLASSES[int(np.argmax(p))], *(f"{v:.5f}" for v in p), "-" if ga is None else f"{ga:.4f}",
             f"{pa:.4f}") for u, (g, p, ga, pa) in table.items()]
    write_predictions(root / fold / "predictions" / f"{split}.tsv", CLASSES, rows, dimension_columns(["arousal"]))


@pytest.fixture
def rated(two_systems):
    """Systems with an arousal head beside the categorical one: R1 rates test perfectly, R2 says 3 always."""
    p = [0.6, 0.3, 0.1]
    for name, valid_pred, test_pred in (("R1", (1.5, 3.0), (2.0, 4.0)), ("R2", (2.5, 1.0), (3.0, 3.0))):
        write_rated_system(two_systems / name, "fold1", "valid", {"v1": ("ang", p, 1.0, valid_pred[0]),
                                                                  "v2": ("sad", p, None, valid_pred[1])})
        write_rated_system(two_systems / name, "fold1", "test", {"t1": ("neu", p, 2.0, test_pred[0]),
                                                                 "t2": ("ang", p, 4.0, test_pred[1])})
    return two_systems


def test_ratings_are_fused_with_the_same_weights(rated):
    out = rated / "fused"
    rec = fuse([rated / "R1", rated / "R2"], ["fold1"], out)
    assert rec["dimensions"] == {"arousal": [str(rated / "R1"), str(rated / "R2")]}
    dims, utts, gold, pred = read_dimensions(out / "fold1" / "predictions" / "test.tsv")
    assert dims == ["arousal"] and utts == ["t1", "t2"]
    assert np.allclose(gold[:, 0], [2.0, 4.0]) and np.allclose(pred[:, 0], [2.5, 3.5])
    _, _, gold, pred = read_dimensions(out / "fold1" / "predictions" / "valid.tsv")
    assert np.isnan(gold[1, 0]) and gold[0, 0] == 1.0 and np.allclose(pred[:, 0], [2.0, 2.0])   # unknown gold stays '-'
    fuse([rated / "R1", rated / "R2"], ["fold1"], out, weights=[3, 1])
    _, _, _, pred = read_dimensions(out / "fold1" / "predictions" / "test.tsv")
    assert np.allclose(pred[:, 0], [2.25, 3.75])
    # a member without a regression head: the ratings are the rated member's own, its weight renormalised
    fuse([rated / "A", rated / "R2"], ["fold1"], out, weights=[3, 1])
    _, _, _, pred = read_dimensions(out / "fold1" / "predictions" / "test.tsv")
    assert np.allclose(pred[:, 0], [3.0, 3.0])
    _, _, _, probs = read_posteriors(out / "fold1" / "predictions" / "test.tsv")
    assert np.allclose(probs[0], [0.75 * 0.2 + 0.25 * 0.6, 0.75 * 0.5 + 0.25 * 0.3, 0.75 * 0.3 + 0.25 * 0.1])
    # members scored on other gold ratings are refused, naming the file and the utterance
    write_rated_system(rated / "R3", "fold1", "valid", {"v1": ("ang", [1, 0, 0], 1.0, 1.0),
                                                        "v2": ("sad", [0, 0, 1], 5.0, 1.0)})
    with pytest.raises(SerkitError, match=r"R3/fold1/predictions/valid.tsv: gold arousal of utterance 'v2' differs"):
        fuse([rated / "R1", rated / "R3"], ["fold1"], out)


def test_seeds_table_reports_ratings(rated):
    r = subprocess.run([sys.executable, "-m", "serkit.bin.score", "--exp_dir", str(rated / "R1"), "--exp_dir",
                        str(rated / "R2"), "--folds_dir", str(rated / "folds"), "--title", "rated seeds"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "| run | arousal CCC | arousal r |" in r.stdout
    # R1 is exact (CCC 1, r 1); R2 is constant (CCC 0, r 0 by definition)
    assert "| R1 | 1.000 | 1.000 |" in r.stdout and "| R2 | 0.000 | 0.000 |" in r.stdout
    assert "| **mean ± std over 2 runs** | 0.500 ± 0.500 | 0.500 ± 0.500 |" in r.stdout
