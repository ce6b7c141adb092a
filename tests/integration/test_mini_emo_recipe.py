"""egs/mini_emo end to end: synthesis, prep, folds, features, training, scoring (small settings:
two folds, a narrow BLSTM, few epochs; the full recipe is ./run.sh)."""
import json
import subprocess

import pytest
from conftest import run_recipe


@pytest.fixture(scope="module")
def recipe(recipe_copy):
    return recipe_copy("mini_emo")


def test_recipe_end_to_end(recipe):
    small = ["--nj", "2", "--folds", "1,2", "--fold_nj", "2",
             "--train_opts", "--train.max_epochs 6 --train.patience 0 --model.encoder_conf.hidden 64"]
    out = run_recipe(recipe, *small)
    assert "stage 4: scoring" in out
    # overrides go into the name
    tag = "train_blstm_gender_mfcc_loso_session_train.max_epochs6_train.patience0_model.encoder_conf.hidden64"
    exp = recipe / "exp" / tag
    scores = json.loads((exp / "scores" / "scores.json").read_text())
    assert list(scores["folds"]) == ["fold1", "fold2"]
    assert scores["pooled"]["num_utts"] == 172
    assert scores["classes"] == ["ang", "hap", "neu", "sad"]
    # chance UA is 25%; the task must be learnable but not trivial
    assert 0.38 < scores["pooled"]["ua"] < 0.99, scores["pooled"]
    results = (recipe / "RESULTS.md").read_text()
    assert f"## {tag}" in results and "- protocol: loso_session" in results
    assert "| **pooled** | 172 |" in results and "| ang |" in results
    for k in range(1, 3):
        pred = (exp / f"fold{k}" / "predictions" / "test.tsv").read_text().splitlines()
        assert pred[0].split("\t") == ["utt", "gold", "pred", "p_ang", "p_hap", "p_neu", "p_sad"]
        assert len(pred) == 87
        assert abs(sum(float(p) for p in pred[1].split("\t")[3:]) - 1) < 1e-3
    # re-running finished stages is a no-op; stage 4 rewrites the same section
    out = run_recipe(recipe, "--stage", "1", *small)
    assert out.count("done, skipped") == 2
    assert (recipe / "RESULTS.md").read_text().count(f"## {tag}") == 1


def test_categorical_and_dimensional_multi_task(recipe):
    run_recipe(recipe, "--stage", "3", "--folds", "1,2", "--train_config", "conf/train_blstm_dims.yaml",
               "--train_opts", "--train.max_epochs 5 --model.encoder_conf.hidden 32")
    tag = "train_blstm_dims_mfcc_loso_session_train.max_epochs5_model.encoder_conf.hidden32"
    scores = json.loads((recipe / "exp" / tag / "scores" / "scores.json").read_text())
    dims = scores["dimensions"]
    assert dims["names"] == ["arousal", "valence"] and dims["pooled"]["arousal"]["num_utts"] == 172
    assert dims["pooled"]["arousal"]["ccc"] > 0.2, dims["pooled"]      # clearly above chance (0)
    pred = (recipe / "exp" / tag / "fold1" / "predictions" / "test.tsv").read_text().splitlines()[0].split("\t")
    assert pred[-4:] == ["gold_arousal", "pred_arousal", "gold_valence", "pred_valence"]
    assert "Dimensional ratings" in (recipe / "RESULTS.md").read_text()


def test_seeds_are_trained_scored_and_fused(recipe):
    out = run_recipe(recipe, "--stage", "3", "--folds", "1,2", "--train_config", "conf/classical_rf.yaml",
                     "--seeds", "1,2", "--train_opts", "--rf_trees 50")
    base = recipe / "exp" / "classical_rf_mfcc_loso_session_rf_trees50"
    for seed in (1, 2):
        cfg = (base.parent / f"{base.name}_seed{seed}" / "fold1" / "config.yaml").read_text()
        assert f"seed: {seed}" in cfg
    runs = {s: json.loads((base.parent / f"{base.name}_seed{s}" / "scores" / "scores.json").read_text())
            for s in (1, 2)}
    fused = json.loads((base.parent / f"{base.name}_seeds_fused" / "scores" / "scores.json").read_text())
    assert fused["pooled"]["num_utts"] == runs[1]["pooled"]["num_utts"] == 172
    results = (recipe / "RESULTS.md").read_text()
    assert f"## {base.name} (seeds 1,2)" in results and f"## {base.name}_seeds_fused" in results
    mean = (runs[1]["pooled"]["ua"] + runs[2]["pooled"]["ua"]) / 2
    assert f"| **mean ± std over 2 runs** | " in results and f"{100 * mean:.2f} ± " in results
    assert "weights [0.5, 0.5]" in out


def test_one_stage_3_sweeps_a_classical_config_folds_at_once(recipe):
    """Sweeps run through the same stage 3 as plain runs: classical configs, --fold_nj, --seeds,
    valid decodes; the table marks the value the valid speakers choose."""
    out = run_recipe(recipe, "--stage", "3", "--folds", "1,2", "--train_config", "conf/classical_rf.yaml",
                     "--sweep_key", "rf_trees", "--sweep_values", "10,30", "--seeds", "1,2", "--fold_nj", "2")
    base = recipe / "exp" / "classical_rf_mfcc_loso_session_sweep_rf_trees"
    for value in (10, 30):
        for seed in (1, 2):
            for fold in ("fold1", "fold2"):
                run = base / f"rf_trees_{value}_seed{seed}" / fold
                config = (run / "config.yaml").read_text()
                assert f"rf_trees: {value}" in config and f"seed: {seed}" in config
                assert (run / "predictions" / "valid.tsv").exists() and (run / ".done").exists()
    assert "8 fold job(s), 2 at once" in out
    result = json.loads((base / "sweep.json").read_text())
    assert [r["value"] for r in result["rows"]] == ["10", "30"] and result["seeds"] == [1, 2]
    for row in result["rows"]:
        uas = [run["pooled"]["ua"] for run in row["runs"]]
        assert [run["seed"] for run in row["runs"]] == [1, 2]
        assert row["pooled"]["ua"] == pytest.approx(sum(uas) / 2)
        assert row["pooled_std"]["ua"] == pytest.approx(abs(uas[0] - uas[1]) / 2)
        assert 0 < row["valid_ua"] <= 1
    assert result["chosen"] == max(result["rows"], key=lambda r: r["valid_ua"])["value"]
    results_md = (recipe / "RESULTS.md").read_text()
    assert "| rf_trees | pooled WA | pooled UA | UA over folds | valid UA |" in results_md
    assert f"- chosen on the valid speakers: rf_trees = {result['chosen']} (in bold)" in results_md
    # its own section, beside (not over) a sweep of the same tag without seeds
    assert "## classical_rf_mfcc_loso_session_sweep_rf_trees (seeds 1,2)\n" in results_md


def test_recipe_rejects_unknown_option(recipe):
    r = subprocess.run(["./run.sh", "--stgae", "3"], cwd=recipe, capture_output=True, text=True)
    assert r.returncode != 0 and "unknown option --stgae" in r.stderr


def test_stage2_fop_pretraining_then_transfer(recipe):
    """Stage 2 pretrains a tiny FOP stack on all utterances (1 s crops); stage 3 fine-tunes it and an SVM uses
    its hypercolumns, on one fold (the data of the end-to-end test above is reused)."""
    common = ["--stage", "1", "--nj", "2", "--folds", "1", "--feats_conf", "conf/feats/logmel80.yaml",
              "--pretrain_config", "conf/pretrain_fop.yaml",
              "--pretrain_opts", "--train.max_epochs 2 --data.crop_frames 100"]
    run_recipe(recipe, *common, "--train_config", "conf/train_fop_finetune.yaml",
               "--train_opts", "--train.max_epochs 2")
    pt_tag = "pretrain_fop_logmel80_train.max_epochs2_data.crop_frames100"
    pt = recipe / "exp" / "pretrain" / pt_tag
    hist = json.loads((pt / "history.json").read_text())
    assert len(hist) == 2 and hist[-1]["valid"]["loss"] < hist[0]["valid"]["loss"]
    assert hist[-1]["train"]["loss"] < hist[0]["train"]["loss"]
    tag = f"train_fop_finetune_logmel80_loso_session_train.max_epochs2_pt_{pt_tag}"
    exp = recipe / "exp" / tag
    cfg = (exp / "fold1" / "config.yaml").read_text()
    assert f"checkpoint: {pt.relative_to(recipe)}/checkpoints/best.pt" in cfg and "mode: finetune" in cfg
    ft = json.loads((exp / "fold1" / "history.json").read_text())
    assert ft[-1]["train"]["loss"] < ft[0]["train"]["loss"]
    scores = json.loads((exp / "scores" / "scores.json").read_text())
    assert list(scores["folds"]) == ["fold1"] and scores["pooled"]["num_utts"] == 86
    # stage 2 is done: a second config reuses the checkpoint (SVM on hypercolumns F-projection + h1 + h2)
    out = run_recipe(recipe, *common, "--train_config", "conf/classical_svm.yaml",
                     "--train_opts", "--representation.mode hypercolumns --representation.combine add")
    assert f"{pt.relative_to(recipe)}: done, skipped" in out
    svm = next((recipe / "exp").glob(f"classical_svm_logmel80_*_pt_{pt_tag}"))
    fold_log = (svm / "fold1.log").read_text()   # each fold job logs to <exp>/<fold>.log
    assert "serkit.classical: selected C=" in fold_log and "128-dim vectors" in fold_log   # mean + std of d_model 64
    assert "(launch.sh) + serkit-pretrain" in (pt / "pretrain.log").read_text()   # stage 2 is a job too
    scores = json.loads((svm / "scores" / "scores.json").read_text())
    assert scores["pooled"]["num_utts"] == 86 and scores["pooled"]["ua"] > 0.35    # chance is 0.25
