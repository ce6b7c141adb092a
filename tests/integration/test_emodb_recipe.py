"""egs/emodb on a generated EMO-DB-layout fixture: every system of run_fusion.sh and their fusion,
at small settings (one fold, two ResNet epochs, two seeds)."""
import json
import os
import subprocess

import pytest
import yaml
from conftest import SHARED_CORPORA

from serkit.metrics import classification_scores
from serkit.predictions import read_predictions

SPEECHOCEAN = SHARED_CORPORA / "speechocean762"


def valid_ua(path):
    classes, rows = read_predictions(path)
    return classification_scores([classes.index(r[1]) for r in rows], [classes.index(r[2]) for r in rows],
                                 len(classes))["ua"]


def test_run_fusion_small(recipe_copy, layout_corpora):
    recipe = recipe_copy("emodb")
    env = dict(os.environ, EMODB=str(layout_corpora / "emodb"))
    # --speed_copies choose: the plain and the speed-copy variant of each functionals system;
    # --frozen_stack true: a tiny FOP stack pretrained on the corpus itself, one epoch;
    # --blstm true: a tiny augmented BLSTM on mfcc_prosody, one epoch
    stack_opts = "--train.max_epochs 1 --model.encoder_conf.d_model 16 --model.encoder_conf.ffn 32"
    blstm_opts = "--train.max_epochs 1 --train.average_best 0 --model.encoder_conf.hidden 8"
    r = subprocess.run(["./run_fusion.sh", "--folds", "1", "--seeds", "1,2", "--fold_nj", "2", "--speed_copies", "choose",
                        "--resnet_opts",
                        "--train.max_epochs 2 --train.average_best 0 --model.encoder_conf.channels [4,8]",
                        "--frozen_stack", "true", "--pretrain_data", "data/all", "--pretrain_opts", stack_opts,
                        "--blstm", "true", "--blstm_opts", blstm_opts],
                       cwd=recipe, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    exp = recipe / "exp"
    feats = yaml.safe_load((recipe / "dump" / "mfcc_prosody_sp" / "all" / "feats.yaml").read_text())
    assert feats["prosody"] == ["f0", "energy", "flux", "centroid"] and feats["deltas"] == 2
    assert (recipe / "dump" / "mfcc_prosody_sp" / "all" / "feat_dim").read_text().strip() == "135"
    for dump in ("mfcc_prosody_sp", "logmel64_sp"):
        sp = (recipe / "dump" / dump / "all" / "feats.scp").read_text().split()
        assert sum(u.startswith("sp0.9-") for u in sp[::2]) == 70 and len(sp) // 2 == 3 * 70
    for name in ("classical_svm_mfcc_prosody_sp_loso", "classical_logreg_sp_logmel64_sp_loso"):
        scores = json.loads((exp / name / "scores" / "scores.json").read_text())
        assert list(scores["folds"]) == ["fold1"] and scores["pooled"]["num_utts"] == 7
    # the speed-copy variant trains on 3 vectors an utterance: 8 training speakers x 7 emotions
    assert "56 train vectors (speeds 1)" in (exp / "classical_svm_mfcc_prosody_sp_loso" / "fold1.log").read_text()
    assert "168 train vectors (speeds 0.9,1,1.1)" in (exp / "classical_svm_sp_mfcc_prosody_sp_loso" / "fold1.log").read_text()
    # each functionals member is, per fold, the variant with the higher valid UA (the first on ties)
    for clf, feats in (("svm", "mfcc_prosody_sp"), ("logreg", "logmel64_sp")):
        chosen = yaml.safe_load((exp / f"classical_{clf}_{feats}_loso_speed_chosen" / "fusion.yaml").read_text())
        variants = [exp / f"classical_{clf}_{feats}_loso", exp / f"classical_{clf}_sp_{feats}_loso"]
        assert chosen["members"] == [str(v.relative_to(recipe)) for v in variants]
        ua = [valid_ua(v / "fold1" / "predictions" / "valid.tsv") for v in variants]
        assert chosen["folds"]["fold1"] == ([1.0, 0.0] if ua[0] >= ua[1] else [0.0, 1.0])
    resnet = "train_resnet_noaug_logmel64_sp_loso_train.max_epochs2_train.average_best0_model.encoder_conf.channels[4,8]"
    cfg = yaml.safe_load((exp / f"{resnet}_seed2" / "fold1" / "config.yaml").read_text())
    assert cfg["seed"] == 2 and cfg["data"]["augment"]["speed"] == []   # the recipe's ResNet: no augmentation
    assert cfg["data"]["augment"]["mixup"] == 0 and cfg["data"]["augment"]["spec_augment"]["time_masks"] == 0
    # the sixth member: a logistic regression on h1 of the frozen stack, trained on the speed copies
    stack = ("classical_logreg_pt_sp_logmel64_sp_loso_representation.layer1_pt_pretrain_fop_sp_logmel64_sp"
             "_train.max_epochs1_model.encoder_conf.d_model16_model.encoder_conf.ffn32_seed1")
    pcfg = yaml.safe_load((exp / "pretrain" / stack.rsplit("_pt_", 1)[1][:-len("_seed1")] / "config.yaml").read_text())
    assert pcfg["model"]["encoder_conf"]["d_model"] == 16 and pcfg["data"]["augment"]["speed"] == [0.9, 1.0, 1.1]
    assert "168 train vectors (speeds 0.9,1,1.1), 112-dim vectors" in (exp / stack / "fold1.log").read_text()
    # the seventh member: the BLSTM's seeds fused, trained with the recipe's augmentation
    blstm = "train_blstm_mfcc_prosody_sp_loso" + blstm_opts.replace("--", "_").replace(" ", "")
    bcfg = yaml.safe_load((exp / f"{blstm}_seed2" / "fold1" / "config.yaml").read_text())
    assert bcfg["seed"] == 2 and bcfg["model"]["encoder_conf"]["hidden"] == 8
    assert bcfg["data"]["augment"]["speed"] == [0.9, 1.0, 1.1] and bcfg["data"]["augment"]["mixup"] == 0.2
    # the fusion's name tells the stack apart from the default one (speechocean762, the config's seed)
    fused = "seeds12_speed_choose_frozen_stack_on_all" + stack_opts.replace("--", "_").replace(" ", "") + "_blstm"
    fusion = yaml.safe_load((exp / f"fusion_valid_{fused}" / "fusion.yaml").read_text())
    assert len(fusion["members"]) == 7 and fusion["members"][4].endswith(f"{resnet}_seeds_fused")
    assert fusion["members"][0] == "exp/classical_svm_mfcc_prosody_sp_loso_speed_chosen"
    assert fusion["members"][5] == f"exp/{stack}" and fusion["members"][6] == f"exp/{blstm}_seeds_fused"
    assert all(abs(sum(w) - 1) < 1e-6 for w in fusion["folds"].values())
    equal = yaml.safe_load((exp / f"fusion_equal_{fused}" / "fusion.yaml").read_text())
    assert len(equal["folds"]["fold1"]) == 7 and all(abs(w - 1 / 7) < 1e-6 for w in equal["folds"]["fold1"])
    results = (recipe / "RESULTS.md").read_text()
    for title in (f"fusion_equal_{fused}", f"fusion_valid_{fused}",
                  f"{resnet} (seeds 1,2)", f"{blstm}_seeds_fused",
                  f"{resnet}_seeds_fused", "classical_logreg_logmel64_sp_loso_speed_chosen"):
        assert f"## {title}" in results, title
    assert "- command: ./run_fusion.sh --folds 1 --seeds 1\\,2 --fold_nj 2 --speed_copies choose" in results   # as typed


def test_frozen_stack_prepares_its_unlabelled_speech_first(recipe_copy):
    """--frozen_stack true with the default --pretrain_data: data/speechocean762 is prepared before any
    other work, from --speechocean_root (or SPEECHOCEAN762 in db.sh); without either, one error line."""
    recipe = recipe_copy("emodb")
    env = {k: v for k, v in os.environ.items() if k not in ("EMODB", "SPEECHOCEAN762")}
    r = subprocess.run(["./run_fusion.sh", "--frozen_stack", "true"], cwd=recipe, env=env, capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].endswith(
        "error: --frozen_stack true needs data/speechocean762: give --speechocean_root DIR or set SPEECHOCEAN762 in db.sh")
    assert not (recipe / "data").exists() and not (recipe / "exp").exists()   # failed before any work
    if not SPEECHOCEAN.exists():
        pytest.skip("real speechocean762 subset not available")
    # with the root given, the prep runs first; stage 0 of EMO-DB then stops the run (no EMODB here)
    r = subprocess.run(["./run_fusion.sh", "--frozen_stack", "true", "--speechocean_root", str(SPEECHOCEAN)],
                       cwd=recipe, env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "local/speechocean762.sh" in r.stderr
    so = recipe / "data" / "speechocean762"
    assert (so / ".done").exists() and len((so / "wav.scp").read_text().splitlines()) == 1750
    assert len((so / "spk2utt").read_text().splitlines()) == 250 and not (so / "utt2emo").exists()
    assert not (recipe / "exp").exists()
