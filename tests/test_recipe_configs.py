"""Every config a recipe ships loads and passes the checks its binary makes (keys, choices,
component options), so a typo in a recipe fails here rather than hours into a run."""
from pathlib import Path

import pytest

from serkit.classical import load_classical_config
from serkit.config import is_classical_config
from serkit.models.registry import load_train_config

EGS = Path(__file__).resolve().parents[1] / "egs"
CONFIGS = sorted(p for p in EGS.glob("*/conf/**/*.yaml") if "feats" not in p.relative_to(EGS).parts[2:-1])


def test_every_recipe_has_configs():
    recipes = {p.relative_to(EGS).parts[0] for p in CONFIGS}
    assert {"emodb", "iemocap", "mini_emo", "savee_emodb"} <= recipes
    assert len(CONFIGS) >= 40


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(EGS)))
def test_recipe_config_loads(path):
    if is_classical_config(str(path)):
        cfg = load_classical_config(str(path))
        assert cfg.classifier
    else:
        cfg = load_train_config(str(path))
        assert cfg.model.encoder and cfg.train.max_epochs > 0
