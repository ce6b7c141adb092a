"""egs/mini_emo end to end: synthesis, prep, folds, features, training on every fold, scoring."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """A copy of the recipe beside links to the shared stages and tools, as in the repo."""
    top = tmp_path_factory.mktemp("repo")
    (top / "egs").mkdir()
    shutil.copytree(REPO / "egs" / "mini_emo", top / "egs" / "mini_emo",
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "db", "RESULTS.md"))
    (top / "egs" / "TEMPLATE").symlink_to(REPO / "egs" / "TEMPLATE")
    (top / "tools").symlink_to(REPO / "tools")
    return top / "egs" / "mini_emo"


def run(recipe, *args):
    env = dict(os.environ)
    r = subprocess.run(["./run.sh", *args], cwd=recipe, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-4000:]
    return r.stderr + r.stdout


def test_recipe_end_to_end(recipe):
    small = ["--nj", "2", "--train_opts", "--train.max_epochs 8 --train.patience 0"]
    out = run(recipe, *small)
    assert "stage 4: scoring" in out
    tag = "train_blstm_gender_mfcc_loso_session"
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
    out = run(recipe, "--stage", "1", *small)
    assert out.count("done, skipped") == 5
    assert (recipe / "RESULTS.md").read_text().count(f"## {tag}") == 1


def test_recipe_rejects_unknown_option(recipe):
    r = subprocess.run(["./run.sh", "--stgae", "3"], cwd=recipe, capture_output=True, text=True)
    assert r.returncode != 0 and "unknown option --stgae" in r.stderr
