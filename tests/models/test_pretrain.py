"""FOP / MPC transformers, their objectives, and every transfer mode of a pretrained checkpoint."""
import pytest
import torch

from serkit.config import ConfigError, ModelConf, PretrainConf, config_from_dict, to_dict
from serkit.models.registry import load_train_config
from serkit.models.encoders.pretrained import PretrainedEncoder
from serkit.models.encoders.transformer import FOPTransformer, MPCTransformer, sinusoidal_positions
from serkit.models.model import MultiTaskModel
from serkit.models.pretrain import PretrainModel, frame_loss, span_mask
from serkit.checkpoint import save_atomic

D = 6


def fop_model(objective="fop", encoder="fop_transformer"):
    torch.manual_seed(0)
    conf = ModelConf(encoder=encoder, encoder_conf={"d_model": 16, "heads": 2, "ffn": 24, "layers": 2,
                                                    "dropout": 0.0})
    return PretrainModel(D, conf, PretrainConf(objective=objective))


def test_fop_paper_defaults_and_sinusoids():
    enc = FOPTransformer(80)
    layer = enc.layers[0]
    assert enc.num_layers == 2 and enc.d_model == 256 and layer.self_attn.num_heads == 4
    assert layer.linear1.out_features == 513 and layer.dropout.p == 0.2 and enc.causal
    mpc = MPCTransformer(160)
    assert not mpc.causal and mpc.num_layers == 3 and mpc.d_model == 768
    pe = sinusoidal_positions(50, 8)
    assert torch.allclose(pe[:, 0], torch.sin(torch.arange(50.0)))
    assert torch.allclose(pe[:, 1], torch.cos(torch.arange(50.0)))


def test_fop_is_causal_at_every_layer():
    enc = fop_model().encoder.eval()
    x = torch.randn(2, 30, D)
    lengths = torch.tensor([30, 22])
    before = enc.layer_outputs(x, lengths)
    for t in (0, 9, 20):
        x2 = x.clone()
        x2[:, t + 1:] = torch.randn_like(x2[:, t + 1:]) * 5     # change every frame after t
        after = enc.layer_outputs(x2, lengths)
        for h, h2 in zip(before, after):
            assert torch.allclose(h[:, : t + 1], h2[:, : t + 1], atol=1e-5)
            assert not torch.allclose(h[0, t + 1:], h2[0, t + 1:], atol=1e-3)   # and later ones do change
    # the bidirectional stack is not causal
    mpc = MPCTransformer(D, d_model=16, heads=2, ffn=24, layers=1, dropout=0.0).eval()
    x2 = x.clone()
    x2[:, 10:] += 3
    assert not torch.allclose(mpc(x, lengths)[0][:, :10], mpc(x2, lengths)[0][:, :10], atol=1e-3)


def test_padding_is_zeroed_and_does_not_leak():
    enc = MPCTransformer(D, d_model=16, heads=2, ffn=24, layers=2, dropout=0.0).eval()
    x = torch.randn(2, 15, D)
    lengths = torch.tensor([15, 9])
    h, _ = enc(x, lengths)
    assert h[1, 9:].abs().sum() == 0
    x2 = x.clone()
    x2[1, 9:] = 7.0
    assert torch.allclose(enc(x2, lengths)[0][1, :9], h[1, :9], atol=1e-5)
    assert torch.allclose(enc(x[1:, :9], lengths[1:])[0][0], h[1, :9], atol=1e-5)


def test_attention_dropout_is_its_own_setting():
    x = torch.randn(3, 40, D)
    lengths = torch.tensor([40, 25, 7])
    torch.manual_seed(0)
    enc = FOPTransformer(D, d_model=16, heads=2, ffn=24, layers=2, dropout=0.0, attn_dropout=0.0)
    assert [l.self_attn.dropout for l in enc.layers] == [0.0, 0.0]
    # no dropout anywhere: the training forward (fused attention, causal + padding masks) is the eval one
    h_train = enc.train()(x, lengths)[0]
    assert torch.allclose(h_train, enc.eval()(x, lengths)[0], atol=1e-5)
    assert h_train[2, 7:].abs().sum() == 0
    # dropout on the attention weights alone makes training forwards differ
    noisy = FOPTransformer(D, d_model=16, heads=2, ffn=24, layers=2, dropout=0.0, attn_dropout=0.5).train()
    assert not torch.allclose(noisy(x, lengths)[0], noisy(x, lengths)[0])
    # unset, it follows dropout (the behaviour of checkpoints made before the setting existed)
    assert FOPTransformer(D, d_model=16, heads=2, ffn=24, dropout=0.3).layers[0].self_attn.dropout == 0.3
    with pytest.raises(ConfigError, match="attn_dropout is 1.5"):
        MPCTransformer(D, d_model=16, heads=2, ffn=24, attn_dropout=1.5)


def test_fop_loss_targets_the_next_frame():
    m = fop_model()
    x = torch.randn(2, 12, D)
    lengths = torch.tensor([12, 5])
    loss, stats, frames, _ = m(x, lengths)
    assert int(frames) == 11 + 4           # frames t with t + 1 inside the utterance
    hidden, _ = m.encoder(x, lengths)
    pred = m.predictor(hidden)
    by_hand = torch.cat([(pred[0, :11] - x[0, 1:12]).abs().mean(-1), (pred[1, :4] - x[1, 1:5]).abs().mean(-1)]).mean()
    assert torch.allclose(loss, by_hand, atol=1e-6) and float(stats["fop_l1"]) == pytest.approx(float(loss.detach()))


def test_denoising_targets_are_the_clean_frames():
    """With targets 'frames' the model sees the masked input and is scored against the clean frames."""
    m = fop_model()
    clean = torch.randn(2, 12, D)
    lengths = torch.tensor([12, 5])
    masked = clean.clone()
    masked[:, 3:6] = 0.0
    masked[..., 1] = 0.0
    same, _, _, _ = m(clean, lengths, {"frames": clean})
    assert torch.equal(same, m(clean, lengths)[0])
    loss, _, frames, _ = m(masked, lengths, {"frames": clean})
    pred = m.predictor(m.encoder(masked, lengths)[0])
    by_hand = torch.cat([(pred[0, :11] - clean[0, 1:12]).abs().mean(-1),
                         (pred[1, :4] - clean[1, 1:5]).abs().mean(-1)]).mean()
    assert int(frames) == 15 and torch.allclose(loss, by_hand, atol=1e-6)
    assert not torch.allclose(loss, m(masked, lengths)[0])   # not the masked frames as targets
    mpc = fop_model("mpc", "mpc_transformer")
    torch.manual_seed(5)
    _, mask = mpc.corrupt(masked, lengths)
    torch.manual_seed(5)
    loss, _, frames, _ = mpc(masked, lengths, {"frames": clean})
    assert int(frames) == int(mask.sum())
    with pytest.raises(ValueError, match="differ in shape"):
        m(masked, lengths, {"frames": clean[:, :10]})


def test_fop_needs_a_causal_encoder():
    with pytest.raises(ValueError, match="causal"):
        fop_model(encoder="mpc_transformer")


def test_masked_loss_ignores_unmasked_frames():
    pred, target = torch.randn(2, 10, D), torch.randn(2, 10, D)
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[0, 2:5] = True
    mask[1, 7] = True
    loss = frame_loss(pred, target, mask)
    pred2 = pred.clone()
    pred2[~mask] = 100.0                     # any prediction on unmasked frames
    assert torch.equal(frame_loss(pred2, target, mask), loss)
    assert torch.allclose(loss, (pred[mask] - target[mask]).abs().mean(-1).mean())


def test_span_mask_ratio_spans_and_padding():
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([400, 250, 3])
    mask = span_mask(lengths, 400, 0.15, 7, generator=g)
    assert not mask[1, 250:].any() and not mask[2, 3:].any()
    assert mask.sum(-1).min() >= 1                        # every utterance has a target
    frac = mask[:2].sum() / lengths[:2].sum()
    assert 0.09 < float(frac) < 0.2                        # ~15%, less where spans overlap
    runs = torch.diff(mask[0].int(), prepend=torch.zeros(1, dtype=torch.int32))
    starts = (runs == 1).nonzero().flatten()
    ends = (runs == -1).nonzero().flatten()
    assert all(e - s >= 7 for s, e in zip(starts, ends))  # spans, not single frames


def test_mpc_corruption_zeroes_or_replaces_masked_frames_only():
    torch.manual_seed(1)
    m = fop_model("mpc", "mpc_transformer")
    x = torch.randn(4, 60, D) + 3.0
    lengths = torch.tensor([60, 50, 40, 30])
    xc, mask = m.corrupt(x, lengths)
    assert torch.equal(xc[~mask], x[~mask])
    zeroed = (xc == 0).all(-1)
    assert zeroed.sum() > 0 and not (zeroed & ~mask).any()
    share = float(zeroed.sum() / mask.sum())
    assert 0.6 < share < 0.95                              # ~80% of the masked frames
    loss, stats, frames, _ = m(x, lengths)
    assert int(frames) > 0 and stats["mpc_l1"] > 0


def _pretrained_checkpoint(tmp_path, objective="fop"):
    cfg = load_train_config(None, ["--model.encoder", "fop_transformer" if objective == "fop" else "mpc_transformer",
                             "--model.encoder_conf", "{d_model: 16, heads: 2, ffn: 24, layers: 2, dropout: 0.0}",
                             "--pretrain.objective", objective])
    torch.manual_seed(3)
    model = PretrainModel(D, cfg.model, cfg.pretrain)
    path = tmp_path / "best.pt"
    save_atomic({"model": model.state_dict(), "config": to_dict(cfg), "classes": {}, "input_dim": D}, path)
    return model.encoder.eval(), str(path)


@pytest.mark.parametrize("objective", ["fop", "mpc"])
def test_every_transfer_mode_reproduces_the_pretrained_outputs(tmp_path, objective):
    ref, ckpt = _pretrained_checkpoint(tmp_path, objective)
    x = torch.randn(3, 25, D)
    lengths = torch.tensor([25, 18, 9])
    with torch.no_grad():
        h = ref.layer_outputs(x, lengths)
        fine = PretrainedEncoder(D, ckpt, mode="finetune").eval()
        assert torch.equal(fine(x, lengths)[0], h[-1])
        for layer, want in ((0, x), (1, h[0]), (2, h[1]), (-1, h[1])):
            enc = PretrainedEncoder(D, ckpt, mode="frozen", layer=layer).eval()
            assert torch.equal(enc(x, lengths)[0], want), layer
            calls = []   # a frozen lower layer runs only the layers up to it
            for i, block in enumerate(enc.stack.layers):
                block.register_forward_hook(lambda *_, i=i: calls.append(i))
            enc(x, lengths)
            assert calls == {0: [], 1: [0], 2: [0, 1], -1: [0, 1]}[layer], (layer, calls)
        weighted = PretrainedEncoder(D, ckpt, mode="frozen", layer="weighted")
        assert torch.allclose(weighted(x, lengths)[0], (h[0] + h[1]) / 2, atol=1e-6)   # uniform at init
        cat = PretrainedEncoder(D, ckpt, mode="hypercolumns", combine="concat")
        out = cat(x, lengths)[0]
        assert out.shape == (3, 25, D + 2 * 16) and cat.output_dim == D + 32
        assert torch.equal(out, torch.cat([x, h[0], h[1]], -1))
        add = PretrainedEncoder(D, ckpt, mode="hypercolumns", combine="add")
        out = add(x, lengths)[0]
        assert out.shape == (3, 25, 16)
        assert torch.allclose(out[0], ref.embed(x)[0] + h[0][0] + h[1][0], atol=1e-6)
        assert out[2, 9:].abs().sum() == 0


def test_frozen_stack_gets_no_gradient_and_stays_in_eval(tmp_path):
    _, ckpt = _pretrained_checkpoint(tmp_path)
    enc = PretrainedEncoder(D, ckpt, mode="hypercolumns", combine="concat", downstream="blstm",
                            downstream_conf={"hidden": 5, "num_layers": 1})
    enc.train()
    assert not enc.stack.training and enc.downstream.training
    h, _ = enc(torch.randn(2, 12, D), torch.tensor([12, 8]))
    assert h.shape == (2, 12, 10) and enc.output_dim == 10
    h.sum().backward()
    assert all(p.grad is None for p in enc.stack.parameters())
    assert all(p.grad is not None for p in enc.downstream.parameters())
    fine = PretrainedEncoder(D, ckpt, mode="finetune").train()
    fine(torch.randn(2, 12, D), torch.tensor([12, 8]))[0].sum().backward()
    assert all(p.grad is not None for p in fine.stack.parameters())


@pytest.mark.parametrize("objective", ["fop", "mpc"])
def test_cached_representations_are_the_computed_ones_and_skip_the_stack(tmp_path, objective):
    _, ckpt = _pretrained_checkpoint(tmp_path, objective)
    lengths = torch.tensor([25, 18, 9, 14])
    x = torch.randn(4, 25, D) * (torch.arange(25)[None, :, None] < lengths[:, None, None])   # zero-padded, as batched
    for kw in ({"mode": "frozen", "layer": 2}, {"mode": "frozen", "layer": "weighted"},
               {"mode": "hypercolumns", "combine": "concat"}, {"mode": "hypercolumns", "combine": "add"}):
        plain = PretrainedEncoder(D, ckpt, **kw)
        cached = PretrainedEncoder(D, ckpt, cache_mb=1, **kw)
        want = plain.representation(x, lengths)
        assert torch.equal(cached.representation(x, lengths), want), kw   # first pass: computed, stored
        assert len(cached._cache) == 4 and "_cache" not in str(cached.state_dict().keys())
        calls = []
        cached.stack.layers[0].register_forward_hook(lambda *_: calls.append(1))
        # the same utterances in another batch (order, padding): read back, stack not run
        order = torch.tensor([2, 0, 3])
        again = cached.representation(x[order, :25], lengths[order])
        assert calls == [] and torch.allclose(again, want[order], atol=1e-6), kw
        assert again[0, 9:].abs().sum() == 0   # padded frames stay zero
        new = torch.randn(1, 25, D)   # an unseen utterance: computed
        assert torch.allclose(cached.representation(new, torch.tensor([25])),
                              plain.representation(new, torch.tensor([25])), atol=1e-6) and calls == [1]
    weighted = PretrainedEncoder(D, ckpt, mode="frozen", layer="weighted", cache_mb=1)
    for _ in range(2):   # the learned layer weights get their gradient from cached layers too
        weighted.layer_logits.grad = None
        weighted.representation(x, lengths).sum().backward()
        assert weighted.layer_logits.grad is not None and weighted.layer_logits.grad.abs().sum() > 0
    small = PretrainedEncoder(D, ckpt, mode="frozen", layer=1, cache_mb=0.0001)   # 104 bytes: room for nothing
    assert torch.allclose(small.representation(x, lengths), PretrainedEncoder(D, ckpt, mode="frozen", layer=1)
                          .representation(x, lengths), atol=1e-6) and small._cache == {}
    assert PretrainedEncoder(D, ckpt, mode="finetune", cache_mb=100).cache_bytes == 0   # a trained stack: never
    rebuilt = PretrainedEncoder(D, "", mode="frozen", layer=1, cache_mb=100, architecture=small.architecture()["architecture"])
    assert rebuilt.cache_bytes == 0   # rebuilt from a trained model's checkpoint: decoding new audio, no cache
    with pytest.raises(ConfigError, match="cache_mb"):
        PretrainedEncoder(D, ckpt, mode="frozen", layer=1, cache_mb=-1)


def test_finetune_model_from_config_and_bad_checkpoints(tmp_path):
    ref, ckpt = _pretrained_checkpoint(tmp_path)
    cfg = load_train_config(None, ["--model.encoder", "pretrained", "--model.encoder_conf", f"{{checkpoint: {ckpt}}}",
                             "--model.pooling", "mean"])
    model = MultiTaskModel(D, cfg.model, {"emotion": ["a", "b", "c"]})
    assert model.pooling.output_dim == 16
    assert config_from_dict(to_dict(cfg)).model.encoder_conf["mode"] == "finetune"
    with pytest.raises(ConfigError, match="pretrained on 6-dim features, but these are 7-dim"):
        PretrainedEncoder(7, ckpt)
    with pytest.raises(ConfigError, match="layer is 3"):
        PretrainedEncoder(D, ckpt, mode="frozen", layer=3)
    with pytest.raises(ConfigError, match="checkpoint"):
        PretrainedEncoder(D, "")
    sup = tmp_path / "sup.pt"
    save_atomic({"model": model.state_dict(), "config": to_dict(load_train_config(None, [])), "input_dim": D}, sup)
    with pytest.raises(ConfigError, match="not a serkit-pretrain checkpoint"):
        PretrainedEncoder(D, str(sup))
