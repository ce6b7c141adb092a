"""egs/savee_emodb on generated SAVEE- and EMO-DB-layout fixtures: multitask cross-language training."""
import json

import yaml
from conftest import run_recipe

from serkit.dispatch import log_status


TINY = ("--train.max_epochs 1 --model.encoder_conf.filters [16,16,16] --model.encoder_conf.bottleneck 16 "
        "--model.encoder_conf.lstm_hidden 8 --model.encoder_conf.heads 2 --data.batch_size 16")


def test_multitask_cross_language(recipe_copy, layout_corpora):
    recipe = recipe_copy("savee_emodb")
    run_recipe(recipe, "--savee_root", str(layout_corpora / "savee"), "--emodb_root", str(layout_corpora / "emodb"),
               "--cross_language", "true", "--train_config", "conf/train_cnn_blstm_att_spk.yaml",
               "--train_opts", TINY, "--tag", "tiny_xling", "--nj", "2", "--fold_nj", "2")
    folds = recipe / "data" / "folds" / "savee_loso_plus_emodb"
    info = yaml.safe_load((folds / "protocol.yaml").read_text())
    assert [f["test_speakers"] for f in info["folds"]] == [["saveeDC"], ["saveeJE"], ["saveeJK"], ["saveeKL"]]
    assert info["folds"][0]["num_utts"] == {"train": 2 * 16 + 60, "valid": 16, "test": 16}
    exp = recipe / "exp" / "tiny_xling"
    classes = yaml.safe_load((exp / "fold1" / "classes.yaml").read_text())
    assert len(classes["speaker"]) == 2 + 10          # SAVEE training speakers + all EMO-DB speakers
    assert classes["emotion"] == ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]
    cfg = yaml.safe_load((exp / "fold1" / "config.yaml").read_text())
    assert cfg["model"]["encoder"] == "cnn_blstm_att" and cfg["model"]["pooling"] == "local_attention"
    assert cfg["optim"]["name"] == "rmsprop" and cfg["model"]["heads"]["speaker"]["weight"] == 1.0
    scores = json.loads((exp / "scores" / "scores.json").read_text())
    assert scores["pooled"]["num_utts"] == 64
    assert "- command: ./run.sh --savee_root" in (recipe / "RESULTS.md").read_text()
    assert "--cross_language true" in (recipe / "RESULTS.md").read_text()
    for fold in ("fold1", "fold2", "fold3", "fold4"):     # fold jobs two at a time (serkit-run), one log each
        assert "best valid ua" in (exp / f"{fold}.log").read_text()
        assert (exp / fold / ".done").exists() and log_status(exp / f"{fold}.log") == 0
    dump_logs = sorted((recipe / "dump").glob("*/all/log/dump.*.log"))   # stage 1: one job per shard (--nj 2)
    assert [p.name for p in dump_logs] == ["dump.0000.log", "dump.0001.log"]
    assert all(log_status(p) == 0 for p in dump_logs)


def test_failed_folds_fail_the_stage(recipe_copy, layout_corpora):
    """With --fold_nj, a fold that fails in the background still fails stage 3, naming the logs."""
    import subprocess

    recipe = recipe_copy("savee_emodb")
    run_recipe(recipe, "--savee_root", str(layout_corpora / "savee"), "--emodb_root", str(layout_corpora / "emodb"),
               "--stop_stage", "1", "--nj", "2")
    r = subprocess.run(["./run.sh", "--stage", "3", "--train_config", "conf/train_cnn_blstm_att.yaml", "--fold_nj", "2",
                        "--tag", "broken", "--train_opts", TINY + " --model.encoder_conf.heads 3"],
                       cwd=recipe, capture_output=True, text=True)
    assert r.returncode != 0
    assert "4 fold(s) failed: see exp/broken/fold*.log" in r.stderr
    assert "error: 4 of 4 job(s) failed: see exp/broken/fold1.log" in r.stderr        # the dispatcher's line
    assert [log_status(recipe / "exp" / "broken" / f"fold{k}.log") for k in (1, 2, 3, 4)] == [1] * 4
    assert not (recipe / "exp" / "broken" / "scores").exists()          # stage 4 never ran
