"""egs/mini_emo end to end: synthesis, prep, folds, features, training on every fold, scoring."""
import json
import subprocess

import pytest
from conftest import run_recipe


@pytest.fixture(scope="module")
def recipe(recipe_copy):
    return recipe_copy("mini_emo")


def test_recipe_end_to_end(recipe):
    small = ["--nj", "2", "--train_opts", "--train.max_epochs 8 --train.patience 0"]
    out = run_recipe(recipe, *small)
    assert "stage 4: scoring" in out
    tag = "train_blstm_gender_mfcc_loso_session_train.max_epochs8_train.patience0"  # overrides in the name
    exp = recipe / "exp" / tag
    scores = json.loads((exp / "scores" / "scores.json").read_text())
    assert list(scores["folds"]) == [f"fold{k}" for k in range(1, 6)]
    assert scores["pooled"]["num_utts"] == 430
    assert scores["classes"] == ["ang", "hap", "neu", "sad"]
    # chance UA is 25%; the task must be learnable but not trivial
    assert 0.38 < scores["pooled"]["ua"] < 0.99, scores["pooled"]
    results = (recipe / "RESULTS.md").read_text()
    assert f"## {tag}" in results and "- protocol: loso_session" in results
    assert "| **pooled** | 430 |" in results and "| ang |" in results
    for k in range(1, 6):
        pred = (exp / f"fold{k}" / "predictions" / "test.tsv").read_text().splitlines()
        assert pred[0].split("\t") == ["utt", "gold", "pred", "p_ang", "p_hap", "p_neu", "p_sad"]
        assert len(pred) == 87
        assert abs(sum(float(p) for p in pred[1].split("\t")[3:]) - 1) < 1e-3
    # re-running finished stages is a no-op; stage 4 rewrites the same section
    out = run_recipe(recipe, "--stage", "1", *small)
    assert out.count("done, skipped") == 5
    assert (recipe / "RESULTS.md").read_text().count(f"## {tag}") == 1


def test_recipe_rejects_unknown_option(recipe):
    r = subprocess.run(["./run.sh", "--stgae", "3"], cwd=recipe, capture_output=True, text=True)
    assert r.returncode != 0 and "unknown option --stgae" in r.stderr
