"""egs/iemocap stages 0-4 and a sweep on a fake release tree built from the real metadata."""
import json

import pytest
from conftest import run_recipe

TINY = "--train.max_epochs 1 --model.encoder_conf.hidden 16 --data.batch_size 64"


@pytest.fixture(scope="module")
def recipe(recipe_copy):
    return recipe_copy("iemocap")


def test_iemocap_recipe_first2spk_and_sweep(recipe, fake_iemocap):
    common = ["--protocol", "first2spk", "--nj", "2", "--train_config", "conf/tuning/train_blstm1l_gender.yaml",
              "--train_opts", TINY]
    out = run_recipe(recipe, "--iemocap_root", str(fake_iemocap["root"]), *common)
    assert "serkit-make-folds --protocol first2spk" in out
    emo = (recipe / "data" / "all" / "utt2emo").read_text().splitlines()
    assert len(emo) == 5531
    folds = recipe / "data" / "folds" / "first2spk" / "fold1"
    test_spk = set(line.split()[1] for line in (folds / "test" / "utt2spk").read_text().splitlines())
    assert test_spk == {"Ses01F", "Ses01M"}
    exp = next((recipe / "exp").glob("train_blstm1l_gender_mfcc_first2spk*"))
    scores = json.loads((exp / "scores" / "scores.json").read_text())
    assert scores["pooled"]["num_utts"] == 528 + 557
    assert "- protocol: first2spk" in (recipe / "RESULTS.md").read_text()

    # a sweep of the gender-loss weight over two values: one table and one plot
    out = run_recipe(recipe, "--stage", "3", *common, "--sweep_key", "model.heads.gender.weight",
                     "--sweep_values", "0,10")
    sweep_dir = next((recipe / "exp").glob("*_sweep_model.heads.gender.weight"))
    result = json.loads((sweep_dir / "sweep.json").read_text())
    assert [r["value"] for r in result["rows"]] == ["0", "10"]
    assert all(0 <= r["pooled"]["ua"] <= 1 for r in result["rows"])
    assert (sweep_dir / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cfg0 = (sweep_dir / "model.heads.gender.weight_0" / "fold1" / "config.yaml").read_text()
    cfg10 = (sweep_dir / "model.heads.gender.weight_10" / "fold1" / "config.yaml").read_text()
    assert "weight: 0.0" in cfg0 and "weight: 10.0" in cfg10
    md = (sweep_dir / "sweep.md").read_text()
    assert "| model.heads.gender.weight | pooled WA | pooled UA |" in md
    assert md in (recipe / "RESULTS.md").read_text()
