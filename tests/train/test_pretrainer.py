"""serkit-pretrain on mini_emo MFCCs: the loss falls, no label is read, corpora combine, runs resume."""
import json

import pytest
import torch

from serkit.models.registry import load_train_config
from serkit.data.datadir import DataDir
from serkit.errors import ConfigError
from serkit.train.pretrainer import PretrainPaths, PretrainTrainer, split_heldout

TINY = ["--model.encoder_conf", "{d_model: 32, heads: 4, ffn: 64, layers: 2, dropout: 0.0}",
        "--data.cmvn", "global", "--data.batch_size", "16", "--data.crop_frames", "150",
        "--optim.lr", "0.002", "--train.select_metric", "loss"]


@pytest.fixture(scope="module")
def stats(mini_corpus, tmp_path_factory):
    from serkit.features.cmvn import compute_cmvn
    from serkit.features.storage import FeatReader

    out = tmp_path_factory.mktemp("cmvn") / "cmvn.npz"
    compute_cmvn(FeatReader(mini_corpus["feats"]), DataDir.load(mini_corpus["data"]).utts, out)
    return str(out)


def run(cfg, paths):
    t = PretrainTrainer(cfg, paths)
    try:
        return t, t.run()
    finally:
        t.close()


@pytest.mark.parametrize("objective,encoder", [("fop", "fop_transformer"), ("mpc", "mpc_transformer")])
def test_pretraining_loss_falls_without_labels(mini_corpus, stats, tmp_path, objective, encoder):
    # a copy of the data dir without any label file: pretraining must not need one
    data = DataDir.load(mini_corpus["data"])
    unlabelled = DataDir(tmp_path / "unlabelled", {"utt2spk": data.get("utt2spk"), "wav.scp": data.get("wav.scp")})
    unlabelled.write()
    cfg = load_train_config(None, ["--model.encoder", encoder, "--pretrain.objective", objective,
                             "--train.max_epochs", "3", *TINY])
    trainer, state = run(cfg, PretrainPaths([str(unlabelled.path)], [str(mini_corpus["feats"])], [stats],
                                            str(tmp_path / "exp")))
    hist = state["history"]
    train_losses = [h["train"]["loss"] for h in hist]
    assert max(train_losses[1:]) < 0.95 * train_losses[0]
    assert hist[-1]["valid"]["loss"] < hist[0]["valid"]["loss"]
    assert len(trainer.valid_set) == len(data.utts) // 20
    ck = torch.load(tmp_path / "exp" / "checkpoints" / "best.pt", weights_only=False)
    assert ck["config"]["pretrain"]["objective"] == objective and ck["input_dim"] == 40
    assert any(k.startswith("encoder.layers.1.") for k in ck["model"])
    assert (tmp_path / "exp" / "tensorboard").is_dir()


def test_ctc_pretraining_on_transcripts(mini_corpus, stats, tmp_path):
    """The ctc objective reads only ``text``: the CTC loss falls, the held-out CER is reported, the
    vocabulary is kept, and the encoder transfers like a FOP one."""
    import yaml

    from serkit.models.encoders.pretrained import load_pretrained_stack

    data = DataDir.load(mini_corpus["data"])
    transcribed = DataDir(tmp_path / "transcribed", {k: data.get(k) for k in ("utt2spk", "wav.scp", "text")})
    transcribed.write()
    common = ["--model.encoder", "mpc_transformer", "--pretrain.objective", "ctc", *TINY, "--data.crop_frames", "0",
              "--optim.lr", "0.003"]
    cfg = load_train_config(None, [*common, "--train.max_epochs", "4"])
    exp = tmp_path / "exp"
    trainer, state = run(cfg, PretrainPaths([str(transcribed.path)], [str(mini_corpus["feats"])], [stats], str(exp)))
    hist = state["history"]
    train_losses = [h["train"]["loss"] for h in hist]
    assert train_losses[-1] < 0.7 * train_losses[0], train_losses
    assert hist[-1]["valid"]["loss"] < hist[0]["valid"]["loss"]
    assert all(0.0 <= h["valid"]["cer"] <= 1.5 for h in hist) and hist[-1]["valid"]["utts"] == len(data.utts) // 20
    symbols = yaml.safe_load((exp / "classes.yaml").read_text())["ctc"]
    assert symbols[:3] == ["<blank>", "<unk>", "\u2581"] and len(symbols) <= 40
    assert (exp / "ctc_vocab.model").stat().st_size > 0
    assert json.loads((exp / "history.json").read_text())[-1]["valid"]["cer"] == hist[-1]["valid"]["cer"]
    stack, arch = load_pretrained_stack(str(exp / "checkpoints" / "best.pt"), input_dim=40)
    assert arch["encoder"] == "mpc_transformer" and stack.num_layers == 2
    # whole utterances only, and transcripts required
    with pytest.raises(ConfigError, match="crop_frames is 150: the ctc objective needs whole utterances"):
        PretrainTrainer(load_train_config(None, [*common[:-4], "--data.crop_frames", "150"]),
                        PretrainPaths([str(transcribed.path)], [str(mini_corpus["feats"])], [stats], str(tmp_path / "x")))
    bare = DataDir(tmp_path / "bare", {k: data.get(k) for k in ("utt2spk", "wav.scp")})
    bare.write()
    with pytest.raises(ConfigError, match=r"bare: no 'text' file: the ctc objective needs a transcript"):
        PretrainTrainer(cfg, PretrainPaths([str(bare.path)], [str(mini_corpus["feats"])], [stats], str(tmp_path / "y")))


def test_two_corpora_and_a_changed_config_needs_a_new_exp_dir(mini_corpus, stats, tmp_path):
    data = str(mini_corpus["data"])
    feats = str(mini_corpus["feats"])
    paths = PretrainPaths([data, data], [feats, feats], [stats, stats], str(tmp_path / "exp"))
    cfg = load_train_config(None, ["--model.encoder", "fop_transformer", "--pretrain.objective", "fop",
                             "--train.max_epochs", "1", *TINY])
    trainer, _ = run(cfg, paths)
    n = len(DataDir.load(data).utts)
    assert len(trainer.train_set) + len(trainer.valid_set) == 2 * n
    cfg2 = load_train_config(None, ["--model.encoder", "fop_transformer", "--pretrain.objective", "fop",
                              "--train.max_epochs", "1", *TINY])
    cfg2.train.max_epochs = 3
    with pytest.raises(ConfigError, match="another config"):
        run(cfg2, paths)   # the resolved config is part of the run: a change needs a new exp dir
    hist = json.loads((tmp_path / "exp" / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1]


def test_objective_and_one_feats_per_dir(mini_corpus, tmp_path):
    cfg = load_train_config(None, ["--model.encoder", "fop_transformer", *TINY])
    with pytest.raises(ConfigError, match="objective is 'none'"):
        PretrainTrainer(cfg, PretrainPaths([str(mini_corpus["data"])], [str(mini_corpus["feats"])], [None],
                                           str(tmp_path / "e")))
    cfg = load_train_config(None, ["--model.encoder", "fop_transformer", "--pretrain.objective", "fop", *TINY])
    with pytest.raises(ConfigError, match="one of each per data dir"):
        PretrainTrainer(cfg, PretrainPaths([str(mini_corpus["data"])], [], [None], str(tmp_path / "e")))


def test_split_heldout_is_deterministic():
    utts = [f"u{i:03d}" for i in range(45)]
    train, valid = split_heldout(list(reversed(utts)), 20)
    assert valid == ["u019", "u039"] and len(train) == 43 and train == sorted(train)


def test_ddp_two_processes_match_one(mini_corpus, stats, tmp_path):
    """FOP (no random masks, dropout 0) under torchrun with 2 processes equals 1 process; SGD, whose
    update is proportional to the gradient, so a wrong scaling of the gradients across ranks shows."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    args = ["--data", str(mini_corpus["data"]), "--feats", str(mini_corpus["feats"]), "--cmvn_stats", stats,
            "--model.encoder", "fop_transformer", "--pretrain.objective", "fop", "--train.max_epochs", "2", *TINY,
            "--optim.name", "sgd", "--optim.lr", "0.05"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    one, two = tmp_path / "one", tmp_path / "two"
    r = subprocess.run([sys.executable, "-m", "serkit.bin.pretrain", *args, "--exp_dir", str(one)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    torchrun = Path(sys.executable).with_name("torchrun")
    r = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "serkit.bin.pretrain", *args,
                        "--exp_dir", str(two)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "world size 2" in (two / "train.log").read_text()
    w1 = torch.load(one / "checkpoints" / "last.pt", weights_only=False)["model"]
    w2 = torch.load(two / "checkpoints" / "last.pt", weights_only=False)["model"]
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=1e-5), k
    h1 = json.loads((one / "history.json").read_text())
    h2 = json.loads((two / "history.json").read_text())
    assert h1[-1]["valid"]["loss"] == pytest.approx(h2[-1]["valid"]["loss"], rel=1e-4)


def test_pretraining_augmentation_speed_copies_and_specaugment(mini_corpus, stats, tmp_path):
    """Speed copies are drawn per epoch for the training utterances only (any objective);
    SpecAugment masks the input only (fop / mpc: the clean frames are the targets); mixup never."""
    from serkit.data.augment import speed_utt
    from serkit.errors import DataDirError
    from serkit.features.dump import dump_features
    from serkit.features.extract import FeatureConfig
    from serkit.features.storage import FeatReader

    sub = DataDir.load(mini_corpus["data"])
    sub = sub.subset(sub.utts[:40], tmp_path / "data")
    sub.write()
    dump_features(sub.path, tmp_path / "dump", FeatureConfig(type="mfcc", n_mels=40, speed_perturb=[0.9, 1.1]))
    feats = str(tmp_path / "dump" / "feats.scp")
    reader = FeatReader(feats)
    fop = ["--model.encoder", "fop_transformer", "--pretrain.objective", "fop", *TINY, "--data.crop_frames", "0",
           "--pretrain.valid_every", "4", "--train.max_epochs", "1"]
    cfg = load_train_config(None, [*fop, "--data.augment.speed", "[0.9, 1.0, 1.1]"])
    t = PretrainTrainer(cfg, PretrainPaths([str(sub.path)], [feats], [stats], str(tmp_path / "exp")))
    try:
        ds = t.train_set
        utts = [u for part in ds.datasets for u in part.utts]
        drawn = set()
        for epoch in (1, 2, 3):
            ds.epoch_seed = epoch
            for i, u in enumerate(utts):
                n = ds[i]["feats"].shape[0]
                match = [f for f in (0.9, 1.0, 1.1) if reader.num_frames(u if f == 1.0 else speed_utt(u, f)) == n]
                assert match, (u, n)
                drawn.update(match)
            assert ds.epoch_lengths() == [ds[i]["feats"].shape[0] for i in range(len(utts))]
        assert drawn == {0.9, 1.0, 1.1}
        valid = t.valid_set
        for i, u in enumerate(u for part in valid.datasets for u in part.utts):
            assert valid[i]["feats"].shape[0] == reader.num_frames(u)          # held-out: originals only
        hist = t.run()["history"]
        assert len(hist) == 1 and hist[0]["train"]["loss"] > 0
        # epoch 1's batches were cut by its drawn lengths: the padding logged is theirs
        n = ds.epoch_lengths()
        frames = [len(b) * max(n[i] for i in b) for b in t.train_sampler]
        real = [sum(n[i] for i in b) for b in t.train_sampler]
        assert hist[0]["train"]["padding"] == pytest.approx(1 - sum(real) / sum(frames))
        spans = sorted((min(n[i] for i in b), max(n[i] for i in b)) for b in t.train_sampler)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))    # no two batches' lengths interleave
    finally:
        t.close()
    with pytest.raises(DataDirError, match="no speed-perturbed copy"):
        PretrainTrainer(cfg, PretrainPaths([str(mini_corpus["data"])], [str(mini_corpus["feats"])], [stats],
                                           str(tmp_path / "e1")))
    masks = ["--data.augment.spec_augment", "{freq_masks: 2, freq_width: 5}"]
    # fop: denoising, the masked frames in, the clean ones as targets; held-out utterances untouched
    warp = ["--data.augment.spec_augment", "{freq_masks: 2, freq_width: 5, time_masks: 1, time_width: 10, "
            "time_warp: 4}"]
    t = PretrainTrainer(load_train_config(None, [*fop, *warp]),
                        PretrainPaths([str(sub.path)], [feats], [stats], str(tmp_path / "e2")))
    try:
        t.train_set.epoch_seed = 1
        items = [t.train_set[i] for i in range(4)]
        for it in items:
            x, clean = it["feats"], it["targets"]["frames"]
            assert x.shape == clean.shape
            hidden = (x == 0) & (clean != 0)
            assert hidden.all(0).sum() >= 1                                  # a band masked in the input ...
            assert not (clean == 0).all(0).any()                              # ... not in the target
            assert torch.equal(x[~hidden], clean[~hidden])                    # warped alike: equal elsewhere
        batch = t.train_set.collate_fn(items)
        n = max(it["feats"].shape[0] for it in items)
        assert batch["targets"]["frames"].shape == (4, n, 40)
        assert "frames" not in t.valid_set[0]["targets"]
        assert not (t.valid_set[0]["feats"] == 0).all(0).any()
        hist = t.run()["history"]
        assert len(hist) == 1 and hist[0]["train"]["loss"] > 0
    finally:
        t.close()
    with pytest.raises(ConfigError, match="mixup mixes emotion targets"):
        PretrainTrainer(load_train_config(None, [*fop, "--data.augment.mixup", "0.4"]),
                        PretrainPaths([str(sub.path)], [feats], [stats], str(tmp_path / "e3")))
    # ctc: the masks reach the training features (masked to 0, the normalised mean)
    ctc = load_train_config(None, [*fop[:2], "--pretrain.objective", "ctc", *fop[4:], *masks])
    t = PretrainTrainer(ctc, PretrainPaths([str(sub.path)], [feats], [stats], str(tmp_path / "e4")))
    try:
        x = t.train_set[0]["feats"]
        assert (x == 0).all(0).sum() >= 1                                     # a whole band masked
        assert not (t.valid_set[0]["feats"] == 0).all(0).any()                 # held-out: untouched
    finally:
        t.close()
