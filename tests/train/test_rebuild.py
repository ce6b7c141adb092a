"""A trained model rebuilds from its own checkpoint alone: decoding and inference work after the
pretraining checkpoint its encoder started from is deleted."""
import json
import shutil
import subprocess
import sys

import torch

from serkit.config import to_dict
from serkit.models.registry import load_train_config
from serkit.data.datadir import DataDir
from serkit.features.cmvn import compute_cmvn
from serkit.features.storage import FeatReader
from serkit.models.pretrain import PretrainModel
from serkit.predict import load_model
from serkit.checkpoint import save_atomic
from serkit.train.trainer import RunPaths, Trainer


def test_finetuned_pretrained_encoder_needs_no_pretraining_file(mini_corpus, tmp_path):
    reader = FeatReader(mini_corpus["feats"])
    pcfg = load_train_config(None, ["--model.encoder", "fop_transformer", "--pretrain.objective", "fop",
                              "--model.encoder_conf", "{d_model: 16, heads: 2, ffn: 24, layers: 2, dropout: 0.0}"])
    pre = tmp_path / "pretrain" / "best.pt"
    save_atomic({"model": PretrainModel(reader.dim, pcfg.model, pcfg.pretrain).state_dict(), "config": to_dict(pcfg),
                 "classes": {}, "input_dim": reader.dim}, pre)
    fold = mini_corpus["folds"] / "fold1"
    stats = tmp_path / "cmvn.npz"
    compute_cmvn(reader, DataDir.load(fold / "train").utts, stats)
    cfg = load_train_config(None, ["--model.encoder", "pretrained", "--model.encoder_conf", f"{{checkpoint: {pre}}}",
                             "--model.pooling", "mean", "--train.max_epochs", "1"])
    exp = tmp_path / "exp"
    Trainer(cfg, RunPaths(str(fold / "train"), str(fold / "valid"), str(mini_corpus["feats"]), str(stats),
                          str(exp))).run()
    trained, _, _ = load_model(exp)
    shutil.rmtree(tmp_path / "pretrain")
    again, _, _ = load_model(exp)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in trained.state_dict().items())
    r = subprocess.run([sys.executable, "-m", "serkit.bin.decode", "--exp_dir", str(exp), "--feats",
                        str(mini_corpus["feats"]), "--cmvn_stats", str(stats), "--data", str(fold / "test"),
                        "--name", "test"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len((exp / "predictions" / "test.tsv").read_text().splitlines()) == len(DataDir.load(fold / "test").utts) + 1
    wav = DataDir.load(fold / "test").get("wav.scp")
    first = next(iter(wav.values()))
    r = subprocess.run([sys.executable, "-m", "serkit.bin.infer", "--exp_dir", str(exp), first],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["emotion"] in ("ang", "hap", "neu", "sad")
