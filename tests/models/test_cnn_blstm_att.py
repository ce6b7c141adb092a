"""CNN-BLSTM with self-attention and local attention pooling (seed 4)."""
import pytest
import torch

from serkit.errors import ConfigError

from serkit.models.registry import load_train_config
from serkit.models.encoders.cnn_blstm_att import CNNBLSTMAttEncoder
from serkit.models.model import MultiTaskModel
from serkit.models.pooling import LocalAttentionPooling


def small_encoder():
    return CNNBLSTMAttEncoder(6, filters=(8, 12, 16), kernels=(3, 1, 3), bottleneck=10, lstm_hidden=4, heads=2,
                              dropout=0.0)


def test_shapes_and_padding_is_masked():
    torch.manual_seed(0)
    enc = small_encoder().eval()
    x = torch.randn(3, 20, 6)
    lengths = torch.tensor([20, 7, 12])
    h, out_len = enc(x, lengths)
    assert h.shape == (3, 20, 8) and out_len.tolist() == [20, 7, 12]
    assert h[1, 7:].abs().sum() == 0 and h[2, 12:].abs().sum() == 0
    # whatever is in the padding (the seed pads with -1) and however long it is: same valid outputs
    x2 = x.clone()
    x2[1, 7:] = -1.0
    h2, _ = enc(x2, lengths)
    h3, _ = enc(x[:, :12], torch.tensor([12, 7, 12]))
    assert torch.allclose(h2[1, :7], h[1, :7], atol=1e-5)
    assert torch.allclose(h3[1, :7], h[1, :7], atol=1e-5)


def test_paper_dimensions():
    enc = CNNBLSTMAttEncoder(128)
    assert [c.out_channels for c in enc.convs] == [512, 1024, 2048]
    assert [c.kernel_size[0] for c in enc.convs] == [3, 1, 3]
    assert enc.bottleneck.out_features == 512 and enc.output_dim == 256
    assert enc.attention.num_heads == 16 and enc.dropout.p == 0.35


def test_attn_dropout_acts_on_the_attention_weights_only():
    torch.manual_seed(0)
    x, lengths = torch.randn(2, 10, 6), torch.tensor([10, 6])
    kw = dict(filters=(8, 12, 16), kernels=(3, 1, 3), bottleneck=10, lstm_hidden=4, heads=2)
    assert CNNBLSTMAttEncoder(6, dropout=0.3, **kw).attention.dropout == 0.3   # unset: the paper's one dropout
    quiet = CNNBLSTMAttEncoder(6, dropout=0.0, attn_dropout=0.0, **kw).train()
    assert torch.equal(quiet(x, lengths)[0], quiet(x, lengths)[0])
    noisy = CNNBLSTMAttEncoder(6, dropout=0.0, attn_dropout=0.5, **kw).train()
    noisy.load_state_dict(quiet.state_dict())
    assert not torch.allclose(noisy(x, lengths)[0], quiet(x, lengths)[0])
    assert torch.allclose(noisy.eval()(x, lengths)[0], quiet.eval()(x, lengths)[0])
    with pytest.raises(ConfigError, match="attn_dropout is 1.0"):
        CNNBLSTMAttEncoder(6, attn_dropout=1.0, **kw)


@pytest.mark.parametrize("attn_dropout", [0.0, 0.4])
def test_written_out_attention_is_the_modules_own(attn_dropout):
    """Same numbers as nn.MultiheadAttention with its weights, its dropout draws included: trained
    models keep their outputs."""
    torch.manual_seed(0)
    enc = CNNBLSTMAttEncoder(6, filters=(8, 12, 16), kernels=(3, 1, 3), bottleneck=10, lstm_hidden=4, heads=2,
                             attn_dropout=attn_dropout)
    h, mask = torch.randn(3, 15, 8), torch.arange(15)[None, :] < torch.tensor([15, 6, 11])[:, None]
    for training in (False, True):
        enc.train(training)
        torch.manual_seed(1)
        ours = enc._self_attention(h, mask)
        torch.manual_seed(1)
        ref, _ = enc.attention(h, h, h, key_padding_mask=~mask, need_weights=False)
        assert torch.allclose(ours[mask], ref[mask], atol=1e-6)


def test_local_attention_weights_sum_to_one_over_valid_frames():
    torch.manual_seed(0)
    pool = LocalAttentionPooling(5)
    h = torch.randn(2, 6, 5)
    lengths = torch.tensor([6, 3])
    w = pool.weights(h, lengths)
    assert torch.allclose(w.sum(-1), torch.ones(2))
    assert (w[1, 3:] == 0).all() and (w[1, :3] > 0).all()
    o = pool(h, lengths)
    assert torch.allclose(o[1], (w[1, :3, None] * h[1, :3]).sum(0), atol=1e-6)


def test_multitask_with_speaker_head():
    cfg = load_train_config(None, ["--model.encoder", "cnn_blstm_att", "--model.pooling", "local_attention",
                             "--model.encoder_conf", "{filters: [8, 8, 8], bottleneck: 8, lstm_hidden: 4, heads: 2}",
                             "--model.heads.speaker.weight", "0.5"])
    m = MultiTaskModel(6, cfg.model, {"emotion": ["a", "b"], "speaker": ["s1", "s2", "s3"]})
    loss, stats, _, logits = m(torch.randn(4, 9, 6), torch.tensor([9, 8, 5, 2]),
                               {"emotion": torch.tensor([0, 1, 0, 1]), "speaker": torch.tensor([0, 1, 2, 0])})
    assert logits["speaker"].shape == (4, 3)
    assert torch.isclose(loss, stats["loss_emotion"] + 0.5 * stats["loss_speaker"])
    loss.backward()
