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


def fop_checkpoint(path):
    """A random-init FOP stack of 2 layers of 16 dims over 40-dim input, saved as stage 2 saves one."""
    import torch

    from serkit.checkpoint import save_atomic
    from serkit.config import to_dict
    from serkit.models.pretrain import PretrainModel
    from serkit.models.registry import load_train_config

    pcfg = load_train_config(None, ["--model.encoder", "fop_transformer", "--pretrain.objective", "fop",
                                    "--model.encoder_conf", "{d_model: 16, heads: 2, ffn: 32, layers: 2}"])
    torch.manual_seed(0)
    save_atomic({"model": PretrainModel(40, pcfg.model, pcfg.pretrain).state_dict(), "config": to_dict(pcfg),
                 "classes": {}, "input_dim": 40}, path)


IEMOCAP_META = SHARED_CORPORA / "iemocap_meta"
CATEGORY = {"ang": "Anger", "hap": "Happiness", "exc": "Excited", "neu": "Neutral state", "sad": "Sadness",
            "fru": "Frustration", "sur": "Surprise", "fea": "Fear", "dis": "Disgust", "oth": "Other", "xxx": "Other"}


@pytest.fixture(scope="session")
def layout_corpora(tmp_path_factory):
    """Small generated corpora in the SAVEE (4 speakers x 7 emotions x 2) and EMO-DB (10 speakers
    x 7 emotions x 1) release layouts, under ``<base>/savee`` and ``<base>/emodb``."""
    from serkit.corpora.mini_emo import synthesize_layout

    base = tmp_path_factory.mktemp("layouts")
    synthesize_layout("savee", base / "savee", seed=1, per_emotion=2, nj=2)
    synthesize_layout("emodb", base / "emodb", seed=1, per_emotion=1, nj=2)
    return base


def build_fake_iemocap(root: Path, seconds: float = 0.1) -> dict:
    """An IEMOCAP release tree from the real metadata in ../shared/corpora/iemocap_meta.

    Real ids, labels, times and transcripts; EmoEvaluation files with annotator lines as in
    FORMATS.md; tiny synthetic audio (16 kHz noise whose loudness follows the label). Returns
    the reference table {utt: row} of the 5,531 utterances of the 4-class set.
    """
    import csv
    import re

    import numpy as np
    import soundfile

    ref = {r["utt_id"]: r for r in csv.DictReader(open(IEMOCAP_META / "reference_4class_5531.csv"))}
    dialogs: dict = {}
    for line in open(IEMOCAP_META / "emo_evaluation_summary_lines.txt", encoding="utf-8"):
        line = line.rstrip("\n")
        utt = line.split("\t")[1]
        dialogs.setdefault(utt.rsplit("_", 1)[0], []).append(line)
    gain = {"ang": 0.3, "hap": 0.2, "exc": 0.2, "neu": 0.05, "sad": 0.02}
    rng = np.random.RandomState(0)
    for dialog, lines in dialogs.items():
        session = root / f"Session{int(dialog[3:5])}"
        emo_dir = session / "dialog" / "EmoEvaluation"
        tr_dir = session / "dialog" / "transcriptions"
        wav_dir = session / "sentences" / "wav" / dialog
        for d in (emo_dir, tr_dir, wav_dir):
            d.mkdir(parents=True, exist_ok=True)
        blocks, transcripts = [], []
        for line in lines:
            _, utt, label, _ = line.split("\t")
            times = re.match(r"\[([\d.]+) - ([\d.]+)\]", line).groups()
            cat = CATEGORY.get(label, "Other")
            blocks.append("\n".join([line, f"C-E2:\t{cat};\t()", f"C-E3:\t{cat};\t()",
                                     "A-E3:\tval 3; act 2; dom  2;\t()"]))
            words = ref[utt]["transcript"] if utt in ref else "Okay."
            transcripts.append(f"{utt} [{float(times[0]):08.4f}-{float(times[1]):08.4f}]: {words}")
            x = rng.randn(int(16000 * seconds)).astype(np.float32) * gain.get(label, 0.1)
            soundfile.write(str(wav_dir / f"{utt}.wav"), x, 16000, subtype="PCM_16")
        transcripts.append(f"{dialog}_MXX0 [000.0000-000.5000]: [BREATHING]")
        (emo_dir / f"{dialog}.txt").write_text(
            "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n" + "\n\n".join(blocks) + "\n")
        (tr_dir / f"{dialog}.txt").write_text("\n".join(transcripts) + "\n")
    return ref


@pytest.fixture(scope="session")
def fake_iemocap(tmp_path_factory):
    if not (IEMOCAP_META / "emo_evaluation_summary_lines.txt").exists():
        pytest.skip(f"IEMOCAP metadata not found at {IEMOCAP_META} (../shared/corpora is absent)")
    root = tmp_path_factory.mktemp("iemocap") / "IEMOCAP_full_release"
    ref = build_fake_iemocap(root)
    return {"root": root, "ref": ref}


def copy_recipe(name: str, top: Path) -> Path:
    """A copy of egs/<name> beside links to the shared stages and tools, as laid out in the repo."""
    import shutil

    (top / "egs").mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "egs" / name, top / "egs" / name,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "db", "RESULTS.md"))
    if not (top / "egs" / "TEMPLATE").exists():
        (top / "egs" / "TEMPLATE").symlink_to(REPO / "egs" / "TEMPLATE")
        (top / "tools").symlink_to(REPO / "tools")
    return top / "egs" / name


def run_recipe(recipe: Path, *args: str) -> str:
    """Run ./run.sh in a recipe dir; fail with the end of its log if it fails."""
    import subprocess

    r = subprocess.run(["./run.sh", *args], cwd=recipe, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    return r.stderr + r.stdout


@pytest.fixture(scope="module")
def recipe_copy(tmp_path_factory):
    return lambda name: copy_recipe(name, tmp_path_factory.mktemp("repo"))
