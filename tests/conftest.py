"""Shared fixtures: a small synthesized corpus, prepared and dumped once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_CORPORA = REPO.parent / "shared" / "corpora"


@pytest.fixture(scope="session")
def mini_corpus(tmp_path_factory):
    """mini_emo with 3 sessions (6 speakers), prepared into a data dir, MFCCs dumped.

    Returns a dict with root, data (data/all), feats (feats.scp), folds (loso dir: train 4 speakers, valid 1, test 1).
    """
    from serkit.corpora.iemocap import prepare_iemocap
    from serkit.corpora.mini_emo import synthesize
    from serkit.data.folds import make_folds, write_folds
    from serkit.features.dump import dump_features
    from serkit.features.extract import FeatureConfig

    base = tmp_path_factory.mktemp("mini")
    root = base / "db"
    synthesize(root, seed=3, num_sessions=3)
    data = prepare_iemocap(root, base / "data" / "all")
    dump_features(base / "data" / "all", base / "dump", FeatureConfig(type="mfcc", n_mels=40), nj=1)
    folds = base / "data" / "folds" / "loso"
    write_folds(data, make_folds(data, "loso"), folds, "loso")
    return {"root": root, "data": base / "data" / "all", "feats": base / "dump" / "feats.scp",
            "folds": folds, "base": base}
