"""Compact residual CNN and attentive statistics pooling: shapes, sizes, masking of padding."""
import torch

from serkit.models.registry import load_train_config
from serkit.models.encoders.resnet import ResNetEncoder
from serkit.models.model import MultiTaskModel
from serkit.models.pooling import AttentiveStatsPooling


def test_shapes_and_parameter_counts():
    enc = ResNetEncoder(64)
    n = sum(p.numel() for p in enc.parameters())
    assert 0.1e6 <= n <= 1e6
    small = ResNetEncoder(64, channels=(8, 16, 32, 64), output_dim=64)
    assert 0.02e6 <= sum(p.numel() for p in small.parameters()) < n
    h, lengths = enc.eval()(torch.randn(3, 101, 64), torch.tensor([101, 50, 7]))
    assert h.shape == (3, 7, 128)                           # 101 -> 51 -> 26 -> 13 -> 7
    assert lengths.tolist() == [7, 4, 1]
    assert h[1, 4:].abs().sum() == 0 and h[2, 1:].abs().sum() == 0


def test_an_utterance_gives_the_same_outputs_alone_and_padded():
    torch.manual_seed(0)
    enc = ResNetEncoder(20, channels=(4, 8, 8), output_dim=16, dropout=0.0)
    for m in enc.modules():   # non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    enc.eval()
    x = torch.randn(2, 45, 20)
    x[1, 13:] = 7.0                                          # garbage in the padding
    h, lengths = enc(x, torch.tensor([45, 13]))
    alone, alone_len = enc(x[1:, :13], torch.tensor([13]))
    assert lengths[1] == alone_len[0] == 2
    assert torch.allclose(h[1, :2], alone[0], atol=1e-5)


def test_attentive_stats_pooling_ignores_padding():
    torch.manual_seed(0)
    pool = AttentiveStatsPooling(6, attention_dim=8)
    h = torch.randn(2, 10, 6)
    lengths = torch.tensor([10, 4])
    w = pool.weights(h, lengths)
    assert torch.allclose(w.sum(1), torch.ones(2)) and w[1, 4:].sum() == 0
    out = pool(h, lengths)
    assert out.shape == (2, 12)
    h2 = h.clone()
    h2[1, 4:] = 100.0
    assert torch.allclose(pool(h2, lengths), out)
    mean = (w[1, :, None] * h[1]).sum(0)
    std = ((w[1, :, None] * h[1] ** 2).sum(0) - mean ** 2).sqrt()
    assert torch.allclose(out[1], torch.cat([mean, std]), atol=1e-5)


def test_model_from_config():
    cfg = load_train_config(None, ["--model.encoder", "resnet", "--model.encoder_conf.channels", "[4, 8]",
                             "--model.pooling", "attentive_stats"])
    model = MultiTaskModel(40, cfg.model, {"emotion": ["a", "b", "c"]}).eval()
    logits = model.logits(torch.randn(2, 30, 40), torch.tensor([30, 20]))["emotion"]
    assert logits.shape == (2, 3)
