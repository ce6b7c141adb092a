"""Trainer: learning, exp-dir contents, resume after a kill, DDP equivalence."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from serkit.models.registry import load_train_config
from serkit.features.cmvn import compute_cmvn
from serkit.features.storage import FeatReader
from serkit.data.datadir import DataDir
from serkit.train.trainer import RunPaths, Trainer

SMALL = ["--model.encoder_conf.hidden", "32", "--model.pooling", "mean", "--data.batch_size", "16", "--optim.lr", "0.003",
         "--model.heads.gender.weight", "0.3"]


@pytest.fixture(scope="module")
def fold(mini_corpus):
    f = mini_corpus["folds"] / "fold1"
    stats = mini_corpus["base"] / "cmvn_fold1.npz"
    if not stats.exists():
        compute_cmvn(FeatReader(mini_corpus["feats"]), DataDir.load(f / "train").utts, stats)
    return {"train": str(f / "train"), "valid": str(f / "valid"), "feats": str(mini_corpus["feats"]),
            "cmvn": str(stats)}


def train_args(fold, exp_dir, *extra):
    return ["--train_data", fold["train"], "--valid_data", fold["valid"], "--feats", fold["feats"],
            "--cmvn_stats", fold["cmvn"], "--exp_dir", str(exp_dir), *SMALL, *extra]


def final_weights(exp_dir):
    return torch.load(Path(exp_dir) / "checkpoints" / "last.pt", weights_only=False)["model"]


def assert_same_weights(a, b, atol):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=atol), (k, (a[k] - b[k]).abs().max())


def test_training_learns_and_writes_exp_dir(fold, tmp_path):
    cfg = load_train_config(None, SMALL + ["--train.max_epochs", "6"])
    exp = tmp_path / "exp"
    state = Trainer(cfg, RunPaths(fold["train"], fold["valid"], fold["feats"], fold["cmvn"], str(exp))).run()
    losses = [h["train"]["loss"] for h in state["history"]]
    assert losses[-1] < losses[0] * 0.8
    assert {"loss_emotion", "loss_gender", "acc_emotion"} <= set(state["history"][0]["train"])
    n_train = len(DataDir.load(fold["train"]).utts)
    assert all(h["train"]["units"] == n_train and h["train"]["seconds"] > 0 for h in state["history"])
    for name in ("config.yaml", "run.yaml", "classes.yaml", "train.log", "history.json", "loss.png",
                 "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (exp / name).exists(), name
    assert list((exp / "tensorboard").glob("events.out.tfevents.*"))
    resolved = yaml.safe_load((exp / "config.yaml").read_text())
    assert resolved["model"]["encoder_conf"]["num_layers"] == 2  # defaults written out
    assert yaml.safe_load((exp / "classes.yaml").read_text()) == {
        "emotion": ["ang", "hap", "neu", "sad"], "gender": ["f", "m"]}
    best = torch.load(exp / "checkpoints" / "best.pt", weights_only=False)
    assert best["epoch"] == state["best_epoch"]
    assert best["valid"]["ua"] == pytest.approx(max(h["valid"]["ua"] for h in state["history"]))
    # a finished run is a no-op
    mtime = os.path.getmtime(exp / "checkpoints" / "last.pt")
    Trainer(cfg, RunPaths(fold["train"], fold["valid"], fold["feats"], fold["cmvn"], str(exp))).run()
    assert os.path.getmtime(exp / "checkpoints" / "last.pt") == mtime
    # the same exp dir with another config is refused
    other = load_train_config(None, SMALL + ["--train.max_epochs", "6", "--optim.lr", "0.01"])
    with pytest.raises(Exception, match="another config"):
        Trainer(other, RunPaths(fold["train"], fold["valid"], fold["feats"], fold["cmvn"], str(exp))).run()


def _python_train(args):
    return [sys.executable, "-m", "serkit.bin.train", *args]


def test_resume_after_kill_gives_same_weights(fold, tmp_path):
    # augmentation and averaging too: a resumed run draws the same masks and mixing pairs
    extra = ["--train.max_epochs", "6", "--model.encoder_conf.dropout", "0.3", "--data.crop_frames", "150",
             "--model.encoder_conf.hidden", "48", "--data.augment.mixup", "0.4",
             "--data.augment.spec_augment.freq_masks", "2", "--data.augment.spec_augment.freq_width", "8",
             "--data.augment.spec_augment.time_masks", "2", "--data.augment.spec_augment.time_width", "20",
             "--train.average_best", "3"]
    ref = tmp_path / "ref"
    subprocess.run(_python_train(train_args(fold, ref, *extra)), check=True, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_python_train(train_args(fold, killed, *extra)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    log = killed / "train.log"
    deadline = time.time() + 300
    while time.time() < deadline:
        if log.exists() and "epoch 2:" in log.read_text():
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epoch_at_kill = torch.load(killed / "checkpoints" / "last.pt", weights_only=False)["state"]["epoch"]
    assert 2 <= epoch_at_kill < 6, "the kill should land mid-training"
    subprocess.run(_python_train(train_args(fold, killed, *extra)), check=True, capture_output=True)
    assert "resumed from" in log.read_text()
    assert_same_weights(final_weights(ref), final_weights(killed), atol=0)
    best = lambda d: torch.load(d / "checkpoints" / "best.pt", weights_only=False)   # noqa: E731
    assert best(ref)["averaged_epochs"] == best(killed)["averaged_epochs"]
    assert_same_weights(best(ref)["model"], best(killed)["model"], atol=0)


def test_ddp_two_processes_match_one(fold, tmp_path):
    extra = ["--train.max_epochs", "2", "--model.encoder_conf.dropout", "0.0"]
    one = tmp_path / "one"
    subprocess.run(_python_train(train_args(fold, one, *extra)), check=True, capture_output=True)
    two = tmp_path / "two"
    torchrun = Path(sys.executable).with_name("torchrun")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "serkit.bin.train",
                        *train_args(fold, two, *extra)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "world size 2" in (two / "train.log").read_text()
    assert_same_weights(final_weights(one), final_weights(two), atol=2e-4)
    h1 = yaml.safe_load((one / "history.json").read_text())
    h2 = yaml.safe_load((two / "history.json").read_text())
    assert h1[-1]["valid"]["ua"] == pytest.approx(h2[-1]["valid"]["ua"], abs=0.02)
    assert h1[-1]["train"]["loss"] == pytest.approx(h2[-1]["train"]["loss"], rel=1e-3)


def test_loss_with_label_smoothing_class_weights_and_soft_targets():
    import numpy as np

    from serkit.models.model import MultiTaskModel

    cfg = load_train_config(None, ["--model.encoder_conf.hidden", "4", "--model.pooling", "mean",
                             "--model.heads.emotion.label_smoothing", "0.1"])
    torch.manual_seed(0)
    model = MultiTaskModel(5, cfg.model, {"emotion": ["a", "b", "c"]}).eval()
    w = torch.tensor([0.5, 2.0, 1.0])
    model.set_class_weights("emotion", w)
    feats, lengths, gold = torch.randn(4, 7, 5), torch.tensor([7, 7, 5, 3]), torch.tensor([0, 1, 1, 2])
    loss, stats, weight, out = model(feats, lengths, {"emotion": gold})
    logp = out["emotion"].log_softmax(-1).detach().numpy()
    target = 0.9 * np.eye(3)[gold.numpy()] + 0.1 / 3                       # smoothed one-hot
    per_utt = -(target * logp * w.numpy()[None, :]).sum(1)                # torch weighs each class term
    expected = per_utt.sum() / w.numpy()[gold.numpy()].sum()
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 1.0, 0.0], [0.2, 0.8, 0.0], [0.0, 0.5, 0.5]])
    loss_soft, stats, _, _ = model(feats, lengths, {"emotion": soft})
    target = 0.9 * soft.numpy() + 0.1 / 3
    assert float(loss_soft.detach()) == pytest.approx(-(target * logp * w.numpy()).sum(1).mean(), rel=1e-5)
    assert float(stats["acc_emotion"]) == pytest.approx(
        float((out["emotion"].argmax(-1) == torch.tensor([0, 1, 1, 1])).float().mean()))


def test_warmup_cosine_schedule():
    from serkit.train.trainer import build_scheduler

    cfg = load_train_config(None, ["--scheduler.name", "warmup_cosine", "--scheduler.warmup_ratio", "0.2"])
    optim = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(cfg, optim, 10)
    lrs = []
    for _ in range(10):
        lrs.append(optim.param_groups[0]["lr"])
        optim.step()
        sched.step()
    import math
    expected = [0.5, 1.0] + [0.5 * (1 + math.cos(math.pi * k / 8)) for k in range(8)]
    assert lrs == pytest.approx(expected)


def test_balanced_class_weights_and_average_of_best_epochs(fold, tmp_path):
    import numpy as np

    cfg = load_train_config(None, SMALL + ["--train.max_epochs", "4", "--train.average_best", "2",
                                     "--model.heads.emotion.class_weights", "balanced"])
    exp = tmp_path / "exp"
    trainer = Trainer(cfg, RunPaths(fold["train"], fold["valid"], fold["feats"], fold["cmvn"], str(exp)))
    counts = np.bincount(trainer.train_set.targets["emotion"], minlength=4)
    assert torch.allclose(trainer.model.heads.emotion.class_weight,
                          torch.tensor(counts.sum() / (4 * counts), dtype=torch.float32))
    state = trainer.run()
    kept = sorted(e for _, e in state["top"])
    assert len(kept) == 2 and sorted(p.name for p in (exp / "checkpoints").glob("epoch*.pt")) == \
        [f"epoch{e}.pt" for e in kept]
    uas = {h["epoch"]: h["valid"]["ua"] for h in state["history"]}
    assert min(uas[e] for e in kept) >= max(u for e, u in uas.items() if e not in kept)
    best = torch.load(exp / "checkpoints" / "best.pt", weights_only=False)
    snaps = [torch.load(exp / "checkpoints" / f"epoch{e}.pt", weights_only=False)["model"] for e in kept]
    assert best["averaged_epochs"] == kept
    for k, v in best["model"].items():
        if v.is_floating_point():
            assert torch.allclose(v, (snaps[0][k] + snaps[1][k]) / 2, atol=1e-6), k
    assert 0 <= best["valid"]["ua"] <= 1                     # the averaged model was scored on valid
    # the best valid epoch alone, decoded as a system of its own
    from serkit.errors import ConfigError
    from serkit.predict import load_model

    top = state["top"][0][1]
    assert uas[top] == max(uas.values())
    model, _, _ = load_model(exp, "top1")
    assert all(torch.equal(v, snaps[kept.index(top)][k]) for k, v in model.state_dict().items())
    with pytest.raises(ConfigError, match="give best, last, top1 or epoch<N>"):
        load_model(exp, "epoch")
    r = subprocess.run([sys.executable, "-m", "serkit.bin.decode", "--exp_dir", str(exp), "--checkpoint", "top1",
                        "--out_dir", str(tmp_path / "top1"), "--feats", fold["feats"], "--cmvn_stats", fold["cmvn"],
                        "--data", fold["valid"], "--name", "valid"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = (tmp_path / "top1" / "predictions" / "valid.tsv").read_text().splitlines()[1:]
    assert len(rows) == len(DataDir.load(fold["valid"]).utts) and not (exp / "predictions").exists()
    gold_pred = [r.split("\t")[1:3] for r in rows]
    assert abs(sum(g == p for g, p in gold_pred) / len(rows) - state["history"][top - 1]["valid"]["wa"]) < 1e-6


def test_input_pipeline_figures(fold, tmp_path):
    """data_wait: the time spent fetching batches only; padding: padded / all frames of the batches."""
    from serkit.train.trainer import WaitTimer

    def slow():
        for i in range(3):
            time.sleep(0.05)
            yield i

    timer = WaitTimer(slow())
    for _ in timer:
        time.sleep(0.1)      # the consumer's time is not waiting
    assert 0.15 <= timer.seconds < 0.25

    cfg = load_train_config(None, SMALL + ["--train.max_epochs", "1", "--data.batch_size", "4"])
    trainer = Trainer(cfg, RunPaths(fold["train"], fold["valid"], fold["feats"], fold["cmvn"], str(tmp_path / "e")))
    state = trainer.run()
    trainer.train_sampler.set_epoch(1)   # the batches of epoch 1 again: what the figure must count
    lengths = trainer.train_set.lengths
    all_frames = padded = 0
    for batch in trainer.train_sampler:
        n = [lengths[i] for i in batch]
        all_frames += len(n) * max(n)
        padded += len(n) * max(n) - sum(n)
    tr = state["history"][0]["train"]
    assert tr["padding"] == pytest.approx(padded / all_frames) and 0 < tr["padding"] < 0.5
    assert 0.0 <= tr["data_wait"] < 1.0
    assert "padding" in (tmp_path / "e" / "history.json").read_text()


def test_compiled_forward_trains_like_the_plain_one(fold, tmp_path):
    """train.compile runs torch.compile on the training forward (inductor's generated code, dynamic
    lengths): the same losses and weights as without it, and checkpoints keep the plain keys."""
    from torch._dynamo.utils import counters

    def run(compile_backend, name):
        cfg = load_train_config(None, SMALL + ["--train.max_epochs", "2", "--train.compile", compile_backend])
        trainer = Trainer(cfg, RunPaths(fold["train"], fold["valid"], fold["feats"], fold["cmvn"],
                                        str(tmp_path / name)))
        return trainer, trainer.run()

    plain, ref = run("none", "plain")
    counters.clear()
    compiled, state = run("inductor", "compiled")
    lengths = set()
    for batch in compiled.train_sampler:
        lengths.add(max(compiled.train_set.lengths[i] for i in batch))
    # graph breaks give a few graphs, but not one per batch length
    assert 0 < counters["stats"]["unique_graphs"] < len(lengths)
    assert plain.train_forward is plain.ddp_model
    assert isinstance(compiled.train_forward, torch._dynamo.eval_frame.OptimizedModule)
    for a, b in zip(ref["history"], state["history"]):
        assert b["train"]["loss"] == pytest.approx(a["train"]["loss"], rel=1e-4)
        assert b["valid"]["ua"] == pytest.approx(a["valid"]["ua"])
    assert not any("_orig_mod" in k for k in final_weights(tmp_path / "compiled"))
    assert_same_weights(final_weights(tmp_path / "plain"), final_weights(tmp_path / "compiled"), atol=1e-4)


def test_compile_backend_is_checked():
    with pytest.raises(Exception, match="train.compile"):
        load_train_config(None, SMALL + ["--train.compile", "tensorrt"])


def test_loader_workers_draw_each_epochs_augmentation(fold, tmp_path):
    """With worker processes, every epoch's batches carry that epoch's SpecAugment draws (the ones
    the training set gives in this process), not those of the epoch the workers started in."""
    cfg = load_train_config(None, SMALL + ["--data.num_workers", "1", "--data.augment.spec_augment.time_masks", "2",
                                           "--data.augment.spec_augment.time_width", "20"])
    trainer = Trainer(cfg, RunPaths(fold["train"], fold["valid"], fold["feats"], fold["cmvn"], str(tmp_path / "e")))
    first = {}
    for epoch in (1, 2):
        trainer.start_epoch(epoch)
        batch = next(iter(trainer.train_loader))
        i = trainer.train_set.utts.index(batch["utts"][0])
        expected = trainer.train_set[i]["feats"]
        assert torch.equal(batch["feats"][0, :expected.shape[0]], expected)
        first[epoch] = trainer.train_set[0]["feats"]
    assert not torch.equal(first[1], first[2])
