"""Sweeps: every swept key gets its own experiment dirs."""
import subprocess

from serkit.sweep import value_dir


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
