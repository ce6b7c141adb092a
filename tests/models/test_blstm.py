"""BLSTM encoder, pooling and the multi-task model."""
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from serkit.models.registry import load_train_config
from serkit.models.encoders.blstm import BLSTMEncoder, reverse_padded
from serkit.models.model import MultiTaskModel
from serkit.models.pooling import LastPooling, MeanPooling, SumPooling


def test_reverse_padded():
    x = torch.arange(8.0).view(2, 4, 1)
    out = reverse_padded(x, torch.tensor([4, 2]))
    assert out[:, :, 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]


def test_blstm_equals_packed_bidirectional_lstm():
    torch.manual_seed(0)
    enc = BLSTMEncoder(5, hidden=7, num_layers=2, dropout=0.0)
    ref = torch.nn.LSTM(5, 7, 2, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for k in range(2):
            for suffix, mods in (("", enc.fwd), ("_reverse", enc.bwd)):
                for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(mods[k], f"{n}_l0").copy_(getattr(ref, f"{n}_l{k}{suffix}"))
    x = torch.randn(3, 9, 5)
    lengths = torch.tensor([9, 4, 6])
    out, _ = enc(x, lengths)
    packed, _ = ref(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    want, _ = pad_packed_sequence(packed, batch_first=True)
    for b, n in enumerate(lengths.tolist()):
        assert torch.allclose(out[b, :n], want[b, :n], atol=1e-6)
    # padding does not leak into valid frames
    x2 = x.clone()
    x2[1, 4:] = 100.0
    out2, _ = enc(x2, lengths)
    assert torch.allclose(out2[1, :4], out[1, :4], atol=1e-6)


def test_pooling_uses_valid_frames_only():
    h = torch.tensor([[[1.0, 10.0], [3.0, 30.0], [99.0, 99.0]]])
    n = torch.tensor([2])
    assert MeanPooling(2)(h, n).tolist() == [[2.0, 20.0]]
    assert SumPooling(2)(h, n).tolist() == [[4.0, 40.0]]
    # bidirectional last: forward half at the last valid frame, backward half at frame 0
    assert LastPooling(2, bidirectional=True)(h, n).tolist() == [[3.0, 10.0]]
    assert LastPooling(2)(h, n).tolist() == [[3.0, 30.0]]


def test_multitask_loss_is_weighted_sum_and_zero_weight_removes_head():
    torch.manual_seed(0)
    classes = {"emotion": ["a", "b", "c"], "gender": ["f", "m"]}
    cfg = load_train_config(None, ["--model.heads.gender.weight", "0.5", "--model.encoder_conf.hidden", "8"])
    m = MultiTaskModel(4, cfg.model, classes)
    x, n = torch.randn(5, 6, 4), torch.tensor([6, 5, 4, 3, 2])
    t = {"emotion": torch.tensor([0, 1, 2, 0, 1]), "gender": torch.tensor([0, 1, 0, 1, 0])}
    loss, stats, weight, logits = m(x, n, t)
    assert logits["emotion"].shape == (5, 3) and logits["gender"].shape == (5, 2)
    assert weight.item() == 5
    assert loss.item() == pytest.approx(stats["loss_emotion"].item() + 0.5 * stats["loss_gender"].item(), rel=1e-6)
    cfg0 = load_train_config(None, ["--model.heads.gender.weight", "0", "--model.encoder_conf.hidden", "8"])
    m0 = MultiTaskModel(4, cfg0.model, classes)
    assert list(m0.heads) == ["emotion"]
    loss0, stats0, _, _ = m0(x, n, t)
    assert "loss_gender" not in stats0
