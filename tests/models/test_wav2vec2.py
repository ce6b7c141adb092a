"""wav2vec2 encoder: sizes, local weights (torchaudio state dict, Hugging Face dir), freezing, the
forms of the positional convolution."""
import json
import struct

import numpy as np
import pytest
import torch

from serkit.errors import ConfigError
from serkit.models.encoders.wav2vec2 import (SIZES, PositionalConv, Wav2Vec2Encoder, attention_inputs, conv1d_fft,
                                             conv1d_unfold, fft_size, read_safetensors)


def tiny():
    torch.manual_seed(0)
    return Wav2Vec2Encoder(1, size="tiny", freeze_feature_encoder=False).eval()


def hf_names(state):
    """torchaudio Wav2Vec2Model keys -> the keys of Hugging Face's Wav2Vec2ForCTC, written out by hand."""
    out = {}
    for k, v in state.items():
        if k.startswith("feature_extractor."):
            out["wav2vec2." + k] = v
        elif k.startswith("encoder.feature_projection."):
            out["wav2vec2.feature_projection." + k[len("encoder.feature_projection."):]] = v
        elif k.endswith("pos_conv_embed.conv.parametrizations.weight.original0"):
            out["wav2vec2.encoder.pos_conv_embed.conv.weight_g"] = v
        elif k.endswith("pos_conv_embed.conv.parametrizations.weight.original1"):
            out["wav2vec2.encoder.pos_conv_embed.conv.weight_v"] = v
        else:
            assert k.startswith("encoder.transformer."), k
            out["wav2vec2.encoder." + k[len("encoder.transformer."):]] = v
    c = SIZES["tiny"]["encoder_embed_dim"]
    out["wav2vec2.masked_spec_embed"] = torch.randn(c)     # HF-only tensors, skipped
    out["lm_head.weight"] = torch.randn(30, c)
    out["lm_head.bias"] = torch.randn(30)
    return out


def hf_config():
    s = SIZES["tiny"]
    conv = s["extractor_conv_layer_config"]
    return {"model_type": "wav2vec2", "feat_extract_norm": "group", "conv_dim": [c[0] for c in conv],
            "conv_kernel": [c[1] for c in conv], "conv_stride": [c[2] for c in conv], "conv_bias": False,
            "hidden_size": s["encoder_embed_dim"], "feat_proj_dropout": 0.0, "num_conv_pos_embeddings": 16,
            "num_conv_pos_embedding_groups": 4, "num_hidden_layers": 2, "num_attention_heads": 2,
            "attention_dropout": 0.0, "intermediate_size": 64, "activation_dropout": 0.0, "hidden_dropout": 0.0,
            "do_stable_layer_norm": False, "layerdrop": 0.0, "vocab_size": 30}


def write_safetensors(path, state):
    """The safetensors layout, written from its specification."""
    header, blobs, offset = {}, [], 0
    for k, v in state.items():
        b = v.contiguous().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def test_base_size_and_shapes():
    assert sum(p.numel() for p in Wav2Vec2Encoder(1, size="base").parameters()) == pytest.approx(94.4e6, rel=0.01)
    enc = tiny()
    x = torch.randn(3, 16000, 1)
    lengths = torch.tensor([16000, 8000, 3200])
    h, out = enc(x, lengths)
    assert h.shape == (3, 99, 32) and out.tolist() == [99, 49, 19]   # 10 ms frames
    assert h[2, 19:].abs().sum() == 0
    with pytest.raises(ConfigError, match="raw waves"):
        Wav2Vec2Encoder(40, size="tiny")


@pytest.mark.parametrize("layout", ["bin", "safetensors"])
def test_hugging_face_dir_lands_every_tensor(tmp_path, layout):
    ref = tiny()
    state = ref.model.state_dict()
    hf = hf_names(state)
    (tmp_path / "config.json").write_text(json.dumps(hf_config()))
    if layout == "bin":
        torch.save(hf, tmp_path / "pytorch_model.bin")
    else:
        write_safetensors(tmp_path / "model.safetensors", hf)
        assert torch.equal(read_safetensors(tmp_path / "model.safetensors")["lm_head.bias"], hf["lm_head.bias"])
    enc = Wav2Vec2Encoder(1, pretrained=str(tmp_path), freeze_feature_encoder=False).eval()
    for k, v in enc.model.state_dict().items():
        assert torch.equal(v, state[k]), k
    x = torch.randn(2, 8000, 1)
    lengths = torch.tensor([8000, 5000])
    assert torch.equal(enc(x, lengths)[0], ref(x, lengths)[0])


def test_torchaudio_state_dict_and_clear_errors(tmp_path):
    ref = tiny()
    path = tmp_path / "w2v.pt"
    torch.save(ref.model.state_dict(), path)
    enc = Wav2Vec2Encoder(1, size="tiny", pretrained=str(path)).eval()
    x = torch.randn(1, 4000, 1)
    assert torch.equal(enc(x, torch.tensor([4000]))[0], ref(x, torch.tensor([4000]))[0])
    bad = dict(ref.model.state_dict())
    bad.pop("encoder.transformer.layer_norm.weight")
    bad["encoder.transformer.extra.weight"] = torch.zeros(1)
    torch.save(bad, path)
    with pytest.raises(ConfigError, match=r"1 missing key\(s\): encoder.transformer.layer_norm.weight; "
                                          r"1 unexpected key\(s\): encoder.transformer.extra.weight"):
        Wav2Vec2Encoder(1, size="tiny", pretrained=str(path))
    with pytest.raises(ConfigError, match="wrong shape"):
        Wav2Vec2Encoder(1, size="base", pretrained=str(path))   # tiny weights into the base model
    with pytest.raises(ConfigError, match="not found"):
        Wav2Vec2Encoder(1, size="tiny", pretrained=str(tmp_path / "nope.pt"))
    with pytest.raises(ConfigError, match="no config.json"):
        Wav2Vec2Encoder(1, pretrained=str(tmp_path))


def test_freezing_feature_encoder_and_transformer_steps():
    torch.manual_seed(0)
    enc = Wav2Vec2Encoder(1, size="tiny", freeze_feature_encoder=True, freeze_transformer_steps=2).train()
    x, lengths = torch.randn(2, 4000, 1), torch.tensor([4000, 3000])
    head = torch.ones(1, requires_grad=True)      # stands for the heads, trained from step 0
    for step in range(3):
        enc.zero_grad()
        h, _ = enc(x, lengths)
        (h * head).sum().backward()
        grads = [p.grad for p in enc.model.encoder.parameters()]
        assert all(p.grad is None for p in enc.model.feature_extractor.parameters())
        if step < 2:
            assert all(g is None for g in grads)           # transformer frozen for the first 2 steps
        else:
            assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_time_masking_only_in_training():
    torch.manual_seed(0)
    enc = Wav2Vec2Encoder(1, size="tiny", mask_time_prob=0.5, mask_time_length=2)
    x, lengths = torch.randn(1, 8000, 1), torch.tensor([8000])
    enc.eval()
    a, b = enc(x, lengths)[0], enc(x, lengths)[0]
    assert torch.equal(a, b)
    enc.train()
    assert not torch.allclose(enc(x, lengths)[0], a)
    assert np.isfinite(enc(x, lengths)[0].detach().numpy()).all()


def test_rebuild_from_architecture_reads_no_file(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(tiny().model.state_dict(), path)
    enc = Wav2Vec2Encoder(1, size="tiny", pretrained=str(path))
    arch = enc.architecture()
    path.unlink()                      # a decoded model's pretraining file may be gone
    again = Wav2Vec2Encoder(1, size="tiny", pretrained=str(path), **arch)
    assert again.model.state_dict().keys() == enc.model.state_dict().keys()
    assert all(again.model.state_dict()[k].shape == v.shape for k, v in enc.model.state_dict().items())
    assert again.output_dim == 32 and again.architecture() == arch
    big = Wav2Vec2Encoder(1, pretrained="bundle:WAV2VEC2_BASE", architecture=Wav2Vec2Encoder(
        1, size="base").architecture()["architecture"])   # no download
    assert big.output_dim == 768 and big.num_layers == 12


def test_attention_inputs_are_torchaudios():
    """The frames and mask the transformer gets equal torchaudio's ``_preprocess``, to the bit."""
    enc = tiny().model.encoder
    torch.manual_seed(1)
    feats, lengths = torch.randn(3, 50, 32), torch.tensor([50, 31, 7])
    x, mask = attention_inputs(enc, feats, lengths)
    ref_x, ref_mask = enc._preprocess(feats, lengths)
    assert torch.equal(x, ref_x) and torch.equal(mask, ref_mask) and mask.shape == (3, 1, 50, 50)
    assert (x[1, 31:] == 0).all() and (x[1, :31] != 0).any() and mask[2, 0, 0, 7:].eq(-10000.0).all()


def test_encoder_on_cuda_never_waits_for_the_gpu():
    """A padded batch through the encoder (training, no LayerDrop) makes no call that syncs with the
    GPU, so the host runs ahead and queues the next kernels."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    torch.manual_seed(0)
    enc = Wav2Vec2Encoder(1, size="tiny", freeze_feature_encoder=True).cuda().train()
    x, lengths = torch.randn(3, 16000, 1, device="cuda"), torch.tensor([16000, 9000, 4000], device="cuda")
    enc(x, lengths)                          # first calls (cuDNN / cuBLAS set-up) may sync
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        h, n = enc(x, lengths)
        h.sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    # the tiny CNN's frames of 16000 / 9000 / 4000 samples (kernels 10, 8, 4, 2; strides 5, 4, 4, 2),
    # and the step's gradient reached the transformer
    assert n.tolist() == [99, 56, 24] and h.shape == (3, 99, 32)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.model.encoder.parameters())


def test_fft_size_is_the_next_5_smooth_length():
    assert [fft_size(n) for n in (1, 2, 7, 11, 463, 481, 1025)] == [1, 2, 8, 12, 480, 486, 1080]


@pytest.mark.parametrize("conv", [conv1d_fft, conv1d_unfold])
@pytest.mark.parametrize("batch,channels,frames,kernel,groups,padding", [
    (2, 48, 399, 128, 16, 64),    # wav2vec2-base's shapes, fewer channels
    (3, 32, 50, 16, 4, 8),
    (1, 8, 5, 7, 2, 3),           # odd kernel
    (2, 8, 3, 16, 4, 8),          # fewer frames than the kernel
    (1, 4, 20, 5, 1, 0),          # no padding, one group
])
def test_conv_forms_give_conv1d_values_and_gradients(conv, batch, channels, frames, kernel, groups, padding):
    torch.manual_seed(0)
    x = torch.randn(batch, channels, frames, dtype=torch.float64, requires_grad=True)
    w = torch.randn(channels, channels // groups, kernel, dtype=torch.float64, requires_grad=True)
    b = torch.randn(channels, dtype=torch.float64, requires_grad=True)
    ref = torch.nn.functional.conv1d(x, w, b, padding=padding, groups=groups)
    y = conv(x, w, b, padding, groups)
    assert y.shape == ref.shape == (batch, channels, frames + 2 * padding - kernel + 1) and y.dtype == x.dtype
    tol = 1e-5 if conv is conv1d_fft else 1e-12     # the FFT runs in float32
    assert (y - ref).abs().max() <= tol * ref.abs().max()
    g = torch.randn_like(ref)
    grads = [torch.autograd.grad((out * g).sum(), (x, w, b)) for out in (y, ref)]
    for got, want in zip(*grads):
        assert (got - want).abs().max() <= tol * want.abs().max()


def test_positional_conv_forms_change_speed_not_values_or_checkpoints():
    torch.manual_seed(0)
    x, lengths = torch.randn(2, 8000, 1), torch.tensor([8000, 5000])
    encs = {impl: Wav2Vec2Encoder(1, size="tiny", pos_conv=impl).eval() for impl in ("conv", "fft", "unfold", "auto")}
    state = encs["conv"].state_dict()
    for impl, enc in encs.items():
        assert isinstance(enc.model.encoder.transformer.pos_conv_embed, PositionalConv)
        assert enc.state_dict().keys() == state.keys()        # checkpoints load across forms
        enc.load_state_dict(state)
    ref = encs["conv"](x, lengths)[0]
    # torchaudio's own forward on the same module gives the direct form's values to the bit
    from torchaudio.models.wav2vec2.components import ConvolutionalPositionalEmbedding

    pos_conv, frames = encs["conv"].model.encoder.transformer.pos_conv_embed, torch.randn(2, 24, 32)
    assert torch.equal(pos_conv(frames), ConvolutionalPositionalEmbedding.forward(pos_conv, frames))
    for impl in ("fft", "unfold", "auto"):
        assert torch.allclose(encs[impl](x, lengths)[0], ref, atol=1e-5), impl
    with pytest.raises(ConfigError, match="pos_conv is 'cudnn'; choose from"):
        Wav2Vec2Encoder(1, size="tiny", pos_conv="cudnn")


def test_positional_conv_forms_agree_on_cuda_in_bf16():
    """Under bf16 autocast on a GPU the FFT and unfolded forms give cuDNN's values to bf16's precision."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    torch.manual_seed(0)
    pos_conv = Wav2Vec2Encoder(1, size="tiny", pos_conv="conv").cuda().train().model.encoder.transformer.pos_conv_embed
    frames = torch.randn(3, 99, 32, device="cuda")
    out = {}
    for impl in ("conv", "fft", "unfold"):
        pos_conv.impl = impl
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = pos_conv(frames)
            grad, = torch.autograd.grad(y.float().square().sum(), pos_conv.conv.parametrizations.weight.original1)
        out[impl] = (y.float(), grad)
    for impl in ("fft", "unfold"):
        assert out[impl][0].shape == out["conv"][0].shape == (3, 99, 32)
        assert (out[impl][0] - out["conv"][0]).abs().max() <= 0.02 * out["conv"][0].abs().max(), impl
        assert (out[impl][1] - out["conv"][1]).abs().max() <= 0.05 * out["conv"][1].abs().max(), impl


def test_compiled_encoder_with_the_fft_form_does_not_recompile_per_length():
    """train.compile with dynamic shapes: batches of new lengths reuse the graphs (the FFT, whose
    length depends on the frame count, runs outside them); traced with the eager backend."""
    from torch._dynamo.utils import counters

    from serkit.train.trainer import compile_forward

    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    enc = Wav2Vec2Encoder(1, size="tiny", pos_conv="fft").train()
    forward, graphs = compile_forward(enc, "eager"), []
    for n in (8000, 9000, 10000, 11000, 12000):
        forward(torch.randn(2, n, 1), torch.tensor([n, n - 1000]))[0].sum().backward()
        graphs.append(counters["stats"]["unique_graphs"])
    torch._dynamo.reset()
    assert graphs[0] > 0 and len(set(graphs)) == 1, graphs


def test_importing_the_models_leaves_torch_dynamo_unloaded():
    """Importing torch._dynamo takes over a second; every serkit process that imports the models
    (each fold's training, each decode) would pay it. The FFT form disables compilation lazily."""
    import subprocess
    import sys

    code = "import sys, serkit.models.registry; print('torch._dynamo' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr
