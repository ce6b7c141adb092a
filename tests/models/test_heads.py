"""Head types own their targets: a new head type is a class and a registry entry, nothing else."""
import shutil
from functools import partial

import numpy as np
import pytest
import torch
import yaml

from serkit.config import HeadConf
from serkit.data.datadir import DataDir
from serkit.errors import ConfigError, DataDirError
from serkit.features.cmvn import compute_cmvn
from serkit.features.storage import FeatReader
from serkit.models import registry
from serkit.models.heads import ClassifierType, CTCTargets, CTCType
from serkit.models.registry import load_train_config
from serkit.predict import predict
from serkit.predictions import read_predictions
from serkit.train.trainer import RunPaths, Trainer


class LangType(ClassifierType):
    """A head type defined outside serkit: the language of the utterance (``utt2lang``), which
    also writes its decision into the predictions file."""

    prediction_columns = ("lang",)

    def __init__(self, name, conf):
        super().__init__(name, conf, target_file="utt2lang")

    def predict(self, logits, enc_lengths, classes, data, utts):
        return [(classes[int(i)],) for i in logits.argmax(-1)]


@pytest.fixture
def lang_fold(mini_corpus, tmp_path):
    """fold1 of mini_emo with a utt2lang in each split: 'de' for the female speakers, 'en' otherwise."""
    out = tmp_path / "fold1"
    for split in ("train", "valid", "test"):
        shutil.copytree(mini_corpus["folds"] / "fold1" / split, out / split)
        data = DataDir.load(out / split)
        gender = data.get("utt2gender")
        (out / split / "utt2lang").write_text("".join(f"{u} {'de' if gender[u] == 'f' else 'en'}\n"
                                                      for u in data.utts))
    stats = tmp_path / "cmvn.npz"
    compute_cmvn(FeatReader(mini_corpus["feats"]), DataDir.load(out / "train").utts, stats)
    return out, stats


def test_a_new_head_type_needs_only_a_registry_entry(mini_corpus, lang_fold, tmp_path, monkeypatch):
    fold, stats = lang_fold
    monkeypatch.setitem(registry.HEADS, "lang", LangType)
    cfg = load_train_config(None, ["--model.encoder_conf.hidden", "16", "--model.pooling", "mean",
                                   "--model.heads", "{emotion: {weight: 1.0}, lang: {weight: 0.5}}",
                                   "--train.max_epochs", "4", "--optim.lr", "0.005"])
    exp = tmp_path / "exp"
    state = Trainer(cfg, RunPaths(str(fold / "train"), str(fold / "valid"), str(mini_corpus["feats"]), str(stats),
                                  str(exp))).run()
    first, last = state["history"][0]["train"], state["history"][-1]["train"]
    assert last["loss_lang"] < first["loss_lang"] and last["acc_lang"] > 0.8   # gender is easy to hear
    assert yaml.safe_load((exp / "classes.yaml").read_text())["lang"] == ["de", "en"]
    n = predict(exp, fold / "test", str(mini_corpus["feats"]), str(stats), exp / "predictions" / "test.tsv")
    header = (exp / "predictions" / "test.tsv").read_text().splitlines()[0].split("\t")
    assert header[-1] == "lang" and n == len(DataDir.load(fold / "test").utts)
    rows = [line.split("\t") for line in (exp / "predictions" / "test.tsv").read_text().splitlines()[1:]]
    truth = DataDir.load(fold / "test").get("utt2lang")
    assert np.mean([r[-1] == truth[r[0]] for r in rows]) > 0.8
    classes, parsed = read_predictions(exp / "predictions" / "test.tsv")   # the scorer still reads it
    assert classes == ["ang", "hap", "neu", "sad"] and len(parsed) == n


def test_unknown_head_and_head_conf_checks():
    with pytest.raises(ConfigError, match="unknown head 'lang'"):
        load_train_config(None, ["--model.heads", "{lang: {weight: 1.0}}"])
    with pytest.raises(ConfigError, match="heads.ctc.*do not apply to a ctc head"):
        load_train_config(None, ["--model.heads", "{ctc: {weight: 0.1, label_smoothing: 0.1}}"])
    with pytest.raises(ConfigError, match="head 'ctc' cannot be mixed"):
        load_train_config(None, ["--model.heads", "{ctc: {weight: 0.1}}", "--data.augment.mixup", "0.2"])
    # a weight-0 ctc head is not built, so mixup is allowed
    load_train_config(None, ["--model.heads", "{ctc: {weight: 0.0}}", "--data.augment.mixup", "0.2"])


def test_classifier_type_targets_and_balanced_weights(mini_corpus):
    data = DataDir.load(mini_corpus["folds"] / "fold1" / "train")
    t = ClassifierType("gender", HeadConf(class_weights="balanced"), target_file="utt2gender")
    classes = t.fit(data)
    assert classes == ["f", "m"]
    enc = t.targets(classes).encode(data, data.utts)
    assert enc == [classes.index(data.get("utt2gender")[u]) for u in data.utts]
    w = t.class_weights([0, 0, 0, 1], classes)
    assert torch.allclose(w, torch.tensor([4 / 6, 4 / 2]))   # N / (C * N_c)
    assert ClassifierType("gender", HeadConf(), "utt2gender").class_weights([0, 1], classes) is None
    with pytest.raises(DataDirError, match="utt2gender: utterance .* has label 'm' unseen"):
        t.targets(["f"]).encode(data, data.utts)


def test_ctc_type_encodes_pads_and_scores_the_loss(mini_corpus):
    data = DataDir.load(mini_corpus["folds"] / "fold1" / "train")
    t = CTCType("ctc", HeadConf(weight=0.1))
    with pytest.raises(ValueError, match="fit"):
        t.targets([])
    symbols = t.fit(data)
    assert symbols[:3] == ["<blank>", "<unk>", "\u2581"] and set(t.artifacts()) == {"ctc_vocab.model"}
    enc = t.targets(symbols).encode(data, data.utts[:3])
    batch = CTCTargets.collate("ctc", enc)
    assert batch["ctc"].shape == (3, max(len(e) for e in enc)) and batch["ctc_lengths"].tolist() == [len(e) for e in enc]
    assert all(batch["ctc"][b, len(e):].eq(0).all() for b, e in enumerate(enc))
    # a frame head's loss: perfectly peaked logits on the target path cost about nothing
    target = torch.tensor([[3, 4]])
    logits = torch.full((1, 4, len(symbols)), -30.0)
    for frame, c in enumerate([3, 0, 4, 0]):
        logits[0, frame, c] = 30.0
    loss, stats = t.loss(t.build(8, symbols), logits, {"ctc": target, "ctc_lengths": torch.tensor([2])},
                         torch.tensor([4]))
    assert float(loss) < 1e-3 and set(stats) == {"loss_ctc"}
    described = t.describe(logits, torch.tensor([4]), symbols)
    assert described == [{"transcript": symbols[3] + symbols[4]}]


def test_ccc_loss_value_and_gradient_sign():
    from serkit.models.heads import ccc_loss

    gold = torch.tensor([[1.0], [2.0], [3.0]])
    assert float(ccc_loss(gold.clone(), gold)) == pytest.approx(0.0, abs=1e-6)
    assert float(ccc_loss(gold + 1, gold)) == pytest.approx(1 - 4 / 7, abs=1e-6)
    pred = (gold + 1).requires_grad_()
    ccc_loss(pred, gold).backward()
    assert (pred.grad > 0).all()          # predictions above the gold ratings are pushed down


def test_regression_head_learns_arousal_and_valence(mini_corpus, tmp_path):
    fold = mini_corpus["folds"] / "fold1"
    train = DataDir.load(fold / "train")
    assert train.has("utt2arousal") and train.has("utt2valence")
    stats = tmp_path / "cmvn.npz"
    compute_cmvn(FeatReader(mini_corpus["feats"]), train.utts, stats)
    cfg = load_train_config(None, [
        "--model.encoder_conf.hidden", "32", "--model.pooling", "mean", "--train.max_epochs", "8",
        "--optim.lr", "0.003", "--train.select_metric", "ccc",
        "--model.heads", "{emotion: {weight: 1.0}, regression: {weight: 1.0, dimensions: [arousal, valence]}}"])
    exp = tmp_path / "exp"
    state = Trainer(cfg, RunPaths(str(fold / "train"), str(fold / "valid"), str(mini_corpus["feats"]), str(stats),
                                  str(exp))).run()
    hist = state["history"]
    assert hist[-1]["train"]["loss_regression"] < hist[0]["train"]["loss_regression"]
    assert {"ccc", "ccc_arousal", "ccc_valence"} <= set(hist[-1]["valid"])
    assert state["best"] == max(h["valid"]["ccc"] for h in hist)
    predict(exp, fold / "test", str(mini_corpus["feats"]), str(stats), exp / "predictions" / "test.tsv")
    from serkit.predictions import read_dimensions
    from serkit.scoring import score_folds

    dims, utts, gold, pred = read_dimensions(exp / "predictions" / "test.tsv")
    test = DataDir.load(fold / "test")
    assert dims == ["arousal", "valence"] and gold[:, 0].tolist() == [float(test.get("utt2arousal")[u]) for u in utts]
    result = score_folds({"fold1": exp / "predictions" / "test.tsv"})
    assert result["dimensions"]["pooled"]["arousal"]["ccc"] > 0.3   # arousal is heard in loudness and rate
    # the model rebuilds with its target statistics
    from serkit.predict import load_model

    model, _, classes = load_model(exp)
    assert classes["regression"] == ["arousal", "valence"]
    assert float(model.heads["regression"].target_mean[0]) == pytest.approx(
        np.mean([float(v) for v in train.get("utt2arousal").values()]), rel=1e-5)
    # inference records carry the ratings
    import json
    import subprocess
    import sys

    wav = next(iter(test.get("wav.scp").values()))
    r = subprocess.run([sys.executable, "-m", "serkit.bin.infer", "--exp_dir", str(exp), wav],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)
    assert set(record) >= {"emotion", "probs", "arousal", "valence"} and 1.0 <= record["arousal"] <= 5.0


def test_regression_head_config_errors():
    with pytest.raises(ConfigError, match="name the dimensions"):
        load_train_config(None, ["--model.heads", "{regression: {weight: 1.0}}"])
    with pytest.raises(ConfigError, match="distinct names"):
        load_train_config(None, ["--model.heads", "{regression: {weight: 1.0, dimensions: [joy]}}"])
    with pytest.raises(ConfigError, match="regression_loss"):
        load_train_config(None, ["--model.heads", "{regression: {dimensions: [arousal], regression_loss: l1}}"])
    with pytest.raises(ConfigError, match="belongs to a regression head"):
        load_train_config(None, ["--model.heads", "{emotion: {dimensions: [arousal]}}"])
