"""Sweeps: every swept key gets its own experiment dirs."""
import subprocess

import numpy as np
import pytest

from serkit.errors import ConfigError, SerkitError
from serkit.predictions import write_predictions
from serkit.sweep import format_sweep_markdown, parse_seeds, score_sweep, value_dir


def test_keys_that_end_alike_get_their_own_dirs(tmp_path):
    a = value_dir(tmp_path, "model.heads.gender.weight", "0.1")
    b = value_dir(tmp_path, "model.heads.emotion.weight", "0.1")
    assert a != b and a.name == "model.heads.gender.weight_0.1"


def test_recipe_names_the_sweep_by_the_full_key(recipe_copy):
    recipe = recipe_copy("mini_emo")
    dirs = []
    for key in ("model.heads.gender.weight", "model.heads.emotion.weight"):
        r = subprocess.run(["./run.sh", "--stage", "5", "--sweep_key", key, "--sweep_values", "0,1"], cwd=recipe,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        dirs += [line.split("experiment dir: ")[1] for line in r.stderr.splitlines() if "experiment dir: " in line]
    assert dirs == ["exp/train_blstm_gender_mfcc_loso_session_sweep_model.heads.gender.weight",
                    "exp/train_blstm_gender_mfcc_loso_session_sweep_model.heads.emotion.weight"]


def _write_run(run_dir, split, per_fold):
    """per_fold: {fold: (ang correct of 2, neu correct of 2)}; the wrong ones are predicted as the other class."""
    for fold, (ang_ok, neu_ok) in per_fold.items():
        rows = []
        for i in range(2):
            pred = "ang" if i < ang_ok else "neu"
            rows.append((f"{fold}_ang{i}", "ang", pred, "0.5", "0.5"))
            pred = "neu" if i < neu_ok else "ang"
            rows.append((f"{fold}_neu{i}", "neu", pred, "0.5", "0.5"))
        write_predictions(run_dir / fold / "predictions" / f"{split}.tsv", ["ang", "neu"], rows)


@pytest.fixture
def seeded_sweep(tmp_path):
    """Two values x two seeds x two folds. Value 0 is better on test, value 1 on the valid speakers."""
    key = "model.heads.gender.weight"
    test = {("0", 1): {"fold1": (2, 2), "fold2": (2, 2)},    # UA 1.0
            ("0", 2): {"fold1": (1, 2), "fold2": (2, 2)},    # folds 0.75, 1.0; pooled ang 3/4 -> UA 0.875
            ("1", 1): {"fold1": (2, 0), "fold2": (2, 0)},    # everything ang: UA 0.5
            ("1", 2): {"fold1": (2, 0), "fold2": (2, 0)}}
    valid = {("0", 1): (2, 0), ("0", 2): (0, 2), ("1", 1): (2, 2), ("1", 2): (2, 1)}
    for (value, seed), per_fold in test.items():
        run = value_dir(tmp_path, key, value, seed)
        _write_run(run, "test", per_fold)
        _write_run(run, "valid", {f: valid[value, seed] for f in per_fold})
    return tmp_path, key


def test_seeded_sweep_gives_mean_and_std_over_seeds_and_chooses_on_valid(seeded_sweep):
    exp, key = seeded_sweep
    result = score_sweep(key, ["0", "1"], ["fold1", "fold2"], str(exp), [1, 2])
    zero, one = result["rows"]
    assert zero["pooled"]["ua"] == pytest.approx(0.9375) and zero["pooled_std"]["ua"] == pytest.approx(0.0625)
    assert zero["pooled"]["wa"] == pytest.approx((1.0 + 7 / 8) / 2)
    # UA over the folds of both seeds: 1, 1, 0.75, 1
    assert zero["mean_std"]["ua"]["mean"] == pytest.approx(0.9375)
    assert zero["mean_std"]["ua"]["std"] == pytest.approx(np.std([1, 1, 0.75, 1]))
    assert [r["valid_ua"] for r in zero["runs"]] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert one["pooled"]["ua"] == pytest.approx(0.5) and one["pooled_std"]["ua"] == 0
    # valid UA of value 1: seed 1 all right (1.0), seed 2 neu 1 of 2 (0.75)
    assert one["valid_ua"] == pytest.approx(0.875)
    assert result["chosen"] == "1"   # the valid speakers choose, even where test disagrees
    md = format_sweep_markdown(result, "t", "loso", {})
    assert "| **1** | 50.00 ± 0.00 | 50.00 ± 0.00 | 50.00 ± 0.00 | 87.50 |" in md
    assert "| 0 | 93.75 ± 6.25 | 93.75 ± 6.25 | 93.75 ± 10.83 | 50.00 |" in md
    assert "- model.heads.gender.weight = 0: seed 1 100.00 / 50.00; seed 2 87.50 / 50.00" in md


def test_sweep_without_valid_predictions_chooses_nothing(seeded_sweep):
    exp, key = seeded_sweep
    (value_dir(exp, key, "1", 2) / "fold2" / "predictions" / "valid.tsv").unlink()
    result = score_sweep(key, ["0", "1"], ["fold1", "fold2"], str(exp), [1, 2])
    assert result["chosen"] is None and result["rows"][1]["valid_ua"] is None
    assert "| 1 | 50.00 ± 0.00 | 50.00 ± 0.00 | 50.00 ± 0.00 | - |" in format_sweep_markdown(result, "t", "loso", {})


def test_sweep_fails_on_valid_predictions_that_miss_utterances(seeded_sweep):
    """Only absent valid decodes mean "no choice"; a valid file that lacks utterances is an error."""
    exp, key = seeded_sweep
    utts = [f"{c}{i}" for c in ("ang", "neu") for i in range(2)]
    expected_valid = {f: (f"folds/{f}/valid", [f"{f}_{u}" for u in utts] + [f"{f}_sad0"]) for f in ("fold1", "fold2")}
    with pytest.raises(SerkitError, match="sad0"):
        score_sweep(key, ["0", "1"], ["fold1", "fold2"], str(exp), [1, 2], expected_valid=expected_valid)


def test_sweep_names_the_seed_whose_predictions_are_missing(seeded_sweep):
    exp, key = seeded_sweep
    (value_dir(exp, key, "0", 2) / "fold1" / "predictions" / "test.tsv").unlink()
    with pytest.raises(SerkitError, match=r"model.heads.gender.weight=0 seed 2: missing predictions .*fold1"):
        score_sweep(key, ["0", "1"], ["fold1", "fold2"], str(exp), [1, 2])


def test_seeds_must_be_distinct_integers():
    assert parse_seeds("1,2,3") == [1, 2, 3] and parse_seeds(None) == [None]
    for bad in ("1,x", "2,2"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)
