"""wav2vec 2.0 encoder (Cai et al. 2021) on raw 16 kHz waves, built with torchaudio's model factory.

Weights come from local files (nothing is downloaded unless a torchaudio bundle name is given on
a machine that is online):
- a torchaudio state-dict file (``*.pt`` / ``*.pth``, the keys of ``Wav2Vec2Model``),
- a Hugging Face checkpoint directory (``config.json`` + ``pytorch_model.bin`` or
  ``model.safetensors``), converted to torchaudio's names here without ``transformers``,
- ``bundle:WAV2VEC2_BASE`` (any ``torchaudio.pipelines`` name), fetched by torchaudio.
The CNN feature encoder can be frozen, the transformer frozen for the first N training steps,
layers dropped (LayerDrop) and time / channel spans masked (SpecAugment-style, torchaudio's
``MaskGenerator``) during training. The positional convolution (kernel 128, 16 groups in the base
model) can run as cuDNN / oneDNN's grouped convolution, by FFT or as one matrix product over
unfolded frames: the same values, at speeds that differ by device (``pos_conv``).
"""
from __future__ import annotations

import functools
import json
import re
import struct
from pathlib import Path
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from serkit.errors import ConfigError
from serkit.models.pooling import valid_mask

_BASE_CONV = [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2
SIZES: Dict[str, dict] = {
    # wav2vec2-base (LibriSpeech 960 h pretraining): 12 layers, 768 dims, 95M parameters
    "base": dict(extractor_mode="group_norm", extractor_conv_layer_config=_BASE_CONV, extractor_conv_bias=False,
                 encoder_embed_dim=768, encoder_projection_dropout=0.1, encoder_pos_conv_kernel=128,
                 encoder_pos_conv_groups=16, encoder_num_layers=12, encoder_num_heads=12,
                 encoder_attention_dropout=0.1, encoder_ff_interm_features=3072, encoder_ff_interm_dropout=0.0,
                 encoder_dropout=0.1, encoder_layer_norm_first=False, encoder_layer_drop=0.05),
    # wav2vec2-large (LV-60k): 24 layers, 1024 dims, layer norm first
    "large": dict(extractor_mode="layer_norm", extractor_conv_layer_config=_BASE_CONV, extractor_conv_bias=True,
                  encoder_embed_dim=1024, encoder_projection_dropout=0.1, encoder_pos_conv_kernel=128,
                  encoder_pos_conv_groups=16, encoder_num_layers=24, encoder_num_heads=16,
                  encoder_attention_dropout=0.1, encoder_ff_interm_features=4096, encoder_ff_interm_dropout=0.0,
                  encoder_dropout=0.1, encoder_layer_norm_first=True, encoder_layer_drop=0.05),
    # 37k parameters, same structure: for tests and CPU smoke runs (10 ms frames)
    "tiny": dict(extractor_mode="group_norm", extractor_conv_layer_config=[(32, 10, 5), (32, 8, 4), (32, 4, 4),
                                                                            (32, 2, 2)],
                 extractor_conv_bias=False, encoder_embed_dim=32, encoder_projection_dropout=0.0,
                 encoder_pos_conv_kernel=16, encoder_pos_conv_groups=4, encoder_num_layers=2, encoder_num_heads=2,
                 encoder_attention_dropout=0.0, encoder_ff_interm_features=64, encoder_ff_interm_dropout=0.0,
                 encoder_dropout=0.0, encoder_layer_norm_first=False, encoder_layer_drop=0.0),
}


def hf_config_to_torchaudio(cfg: dict) -> dict:
    """A Hugging Face ``config.json`` (Wav2Vec2Config) -> ``torchaudio.models.wav2vec2_model`` kwargs."""
    try:
        return dict(
            extractor_mode=f"{cfg['feat_extract_norm']}_norm",
            extractor_conv_layer_config=[list(t) for t in zip(cfg["conv_dim"], cfg["conv_kernel"], cfg["conv_stride"])],
            extractor_conv_bias=cfg.get("conv_bias", False),
            encoder_embed_dim=cfg["hidden_size"], encoder_projection_dropout=cfg.get("feat_proj_dropout", 0.0),
            encoder_pos_conv_kernel=cfg["num_conv_pos_embeddings"],
            encoder_pos_conv_groups=cfg["num_conv_pos_embedding_groups"],
            encoder_num_layers=cfg["num_hidden_layers"], encoder_num_heads=cfg["num_attention_heads"],
            encoder_attention_dropout=cfg.get("attention_dropout", 0.0),
            encoder_ff_interm_features=cfg["intermediate_size"],
            encoder_ff_interm_dropout=cfg.get("activation_dropout", 0.0), encoder_dropout=cfg.get("hidden_dropout", 0.0),
            encoder_layer_norm_first=cfg.get("do_stable_layer_norm", False), encoder_layer_drop=cfg.get("layerdrop", 0.0))
    except KeyError as e:
        raise ConfigError(f"config.json: missing Wav2Vec2Config field {e}") from None


_HF_RULES = [
    (r"^(wav2vec2\.)?feature_extractor\.", "feature_extractor."),
    (r"^(wav2vec2\.)?feature_projection\.", "encoder.feature_projection."),
    (r"^(wav2vec2\.)?encoder\.pos_conv_embed\.conv\.weight_g$", "encoder.transformer.pos_conv_embed.conv.parametrizations.weight.original0"),
    (r"^(wav2vec2\.)?encoder\.pos_conv_embed\.conv\.weight_v$", "encoder.transformer.pos_conv_embed.conv.parametrizations.weight.original1"),
    (r"^(wav2vec2\.)?encoder\.", "encoder.transformer."),
]
# not part of torchaudio's Wav2Vec2Model: HF's mask embedding, CTC head and pretraining heads
_HF_SKIP = re.compile(r"^(wav2vec2\.)?masked_spec_embed$|^lm_head\.|^quantizer\.|^project_(q|hid)\.|^dropout_features")


def convert_hf_state_dict(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Hugging Face Wav2Vec2Model / Wav2Vec2ForCTC keys -> torchaudio Wav2Vec2Model keys."""
    out = {}
    for key, value in state.items():
        if _HF_SKIP.search(key):
            continue
        for pattern, repl in _HF_RULES:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = value
                break
        else:
            out[key] = value    # left as is: load_state_dict names it as unexpected
    return out


_SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                       "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                       "U8": torch.uint8, "BOOL": torch.bool}


def read_safetensors(path: Path) -> Dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file (8-byte little-endian header size, JSON header, raw
    little-endian data), read without the safetensors package."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _SAFETENSORS_DTYPES:
            raise ConfigError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[start:end]), dtype=_SAFETENSORS_DTYPES[info["dtype"]]) if end > start \
            else torch.empty(0, dtype=_SAFETENSORS_DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out


def _load_hf_dir(path: Path, weights: bool = True):
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise ConfigError(f"{path}: not a Hugging Face checkpoint dir (no config.json)")
    kwargs = hf_config_to_torchaudio(json.loads(cfg_file.read_text()))
    if not weights:
        return kwargs, None
    if (path / "model.safetensors").exists():
        state = read_safetensors(path / "model.safetensors")
    elif (path / "pytorch_model.bin").exists():
        state = torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise ConfigError(f"{path}: neither model.safetensors nor pytorch_model.bin")
    return kwargs, convert_hf_state_dict(state)


def load_weights(model: nn.Module, state: Dict[str, torch.Tensor], source: str) -> None:
    """``load_state_dict`` that names missing and unexpected keys in one clear error."""
    own = model.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("aux.")}   # a CTC layer of an ASR bundle
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shape:
        parts = []
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shape)):
            if keys:
                parts.append(f"{len(keys)} {what} key(s): {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}")
        raise ConfigError(f"{source}: does not fit the wav2vec2 model: " + "; ".join(parts))
    model.load_state_dict(state)


def attention_inputs(encoder: nn.Module, features: torch.Tensor, lengths: torch.Tensor):
    """What torchaudio's ``Encoder._preprocess`` gives (the projected frames, padded ones zeroed,
    and the additive attention mask), without its boolean-index write: that write waits for the GPU
    on every batch and breaks a torch.compile graph. The same values."""
    x = encoder.feature_projection(features)
    valid = valid_mask(lengths, x.size(1))
    x = x.masked_fill(~valid[..., None], 0.0)
    batch, frames = valid.shape
    mask = (-10000.0 * (~valid)[:, None, None, :].to(features.dtype)).expand(batch, 1, frames, frames)
    return x, mask


def fft_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: the lengths cuFFT and pocketfft transform fastest."""
    best = 1 << max(n - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def outside_compiled_graphs(fn):
    """``torch.compiler.disable(fn)``, made at the first call: importing torch._dynamo takes about
    1.4 s, which every process that imports serkit's models would otherwise pay."""
    disabled = None

    @functools.wraps(fn)
    def call(*args, **kwargs):
        nonlocal disabled
        if disabled is None:
            disabled = torch.compiler.disable(fn)
        return disabled(*args, **kwargs)
    return call


# run as it is under torch.compile: inductor generates no code for complex ops, and the FFT length,
# a function of the frame count, would otherwise cost a recompilation per batch length
@outside_compiled_graphs
def conv1d_fft(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], padding: int,
               groups: int) -> torch.Tensor:
    """``F.conv1d(x, weight, bias, padding=padding, groups=groups)`` (stride 1, no dilation) by FFT:
    per group and frequency bin a (C_out/G, C_in/G) x (C_in/G, B) complex product. In float32 at
    least, under autocast too (half-precision FFTs take powers of 2 only); the result has x's dtype.
    Its cost does not grow with the kernel: a win for long kernels such as wav2vec2's 128 taps."""
    batch, _, frames = x.shape
    c_out, c_group, kernel = weight.shape
    if not 0 <= padding < kernel:
        raise ValueError(f"conv1d_fft: padding {padding} must lie in [0, kernel size {kernel})")
    out_len = frames + 2 * padding - kernel + 1
    # y[t] = sum_k w[k] x[t + k - padding] is sample t + kernel - 1 - padding of the full linear
    # convolution with the flipped kernel; n >= frames + padding keeps the wrap-around of the
    # circular one off the samples kept
    n = fft_size(frames + padding)
    first = kernel - 1 - padding
    dtype = torch.promote_types(x.dtype, torch.float32)
    with torch.autocast(x.device.type, enabled=False):
        xf = torch.fft.rfft(x.to(dtype), n=n)                        # (B, C_in, F)
        wf = torch.fft.rfft(weight.to(dtype).flip(-1), n=n)          # (C_out, C_in/G, F)
        bins = xf.size(-1)
        xf = xf.view(batch, groups, c_group, bins).permute(1, 3, 2, 0)           # (G, F, C_in/G, B)
        wf = wf.view(groups, c_out // groups, c_group, bins).permute(0, 3, 1, 2)  # (G, F, C_out/G, C_in/G)
        yf = torch.matmul(wf, xf).permute(3, 0, 2, 1).reshape(batch, c_out, bins)
        y = torch.fft.irfft(yf, n=n)[..., first:first + out_len]
        if bias is not None:
            y = y + bias.to(dtype)[:, None]
    return y.to(x.dtype)


def conv1d_unfold(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], padding: int,
                  groups: int) -> torch.Tensor:
    """``F.conv1d(x, weight, bias, padding=padding, groups=groups)`` (stride 1, no dilation) as one
    batched matrix product per group: (B, T', C_in/G * K) unfolded frames x (C_in/G * K, C_out/G).
    Memory: the unfolded frames are K times the input."""
    batch, _, frames = x.shape
    c_out, c_group, kernel = weight.shape
    out_len = frames + 2 * padding - kernel + 1
    cols = F.pad(x, (padding, padding)).view(batch, groups, c_group, frames + 2 * padding).unfold(-1, kernel, 1)
    cols = cols.permute(0, 1, 3, 2, 4).reshape(batch, groups, out_len, c_group * kernel)
    w = weight.view(groups, c_out // groups, c_group * kernel).transpose(1, 2)    # (G, C_in/G * K, C_out/G)
    y = torch.matmul(cols, w)
    y = y.permute(0, 1, 3, 2).reshape(batch, c_out, out_len)
    return y if bias is None else y + bias.to(y.dtype)[:, None]


POS_CONV = ("auto", "conv", "fft", "unfold")
# what "auto" runs on each device type: the fastest measured there for wav2vec2-base's training
# step (README, "Measured on one NVIDIA H200"). On an H200, bf16, 8 s waves, batch 16 / 64, audio
# s/s: cuDNN 2,555 / 4,514 (its grouped kernel-128 convolution falls back to implicit GEMM),
# unfold 3,765 / 4,849, FFT 4,276 / 5,881. On a CPU (2 threads, batch 2 x 4 s) oneDNN's direct
# convolution wins: 3.5 audio s/s against FFT 2.4 and unfold 3.2.
POS_CONV_AUTO = {"cpu": "conv", "cuda": "fft"}


class PositionalConv(nn.Module):
    """torchaudio's ``ConvolutionalPositionalEmbedding`` (the same parameters under the same names,
    so checkpoints load either way) whose grouped convolution runs as ``impl``: ``conv``
    (cuDNN / oneDNN), ``fft`` (:func:`conv1d_fft`), ``unfold`` (:func:`conv1d_unfold`) or ``auto``
    (by device type, ``POS_CONV_AUTO``)."""

    def __init__(self, embed: nn.Module, impl: str = "auto"):
        super().__init__()
        if impl not in POS_CONV:
            raise ConfigError(f"model.encoder_conf.pos_conv is '{impl}'; choose from {list(POS_CONV)}")
        self.conv = embed.conv
        self.num_remove = embed.num_remove
        self.impl = impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(-2, -1)
        impl = POS_CONV_AUTO.get(x.device.type, "conv") if self.impl == "auto" else self.impl
        if impl == "conv" or torch.onnx.is_in_onnx_export():   # ONNX has a grouped convolution
            x = self.conv(x)
        else:
            conv = conv1d_fft if impl == "fft" else conv1d_unfold
            x = conv(x, self.conv.weight, self.conv.bias, self.conv.padding[0], self.conv.groups)
        if self.num_remove > 0:
            x = x[..., :-self.num_remove]
        return F.gelu(x).transpose(-2, -1)


class Wav2Vec2Encoder(nn.Module):
    """feats (B, T, 1) 16 kHz samples, lengths (B,) in samples -> hidden (B, T', D), lengths (B,) in frames."""

    def __init__(self, input_dim: int, size: str = "base", pretrained: str = "",
                 freeze_feature_encoder: bool = True, freeze_transformer_steps: int = 0,
                 layer_drop: Optional[float] = None, mask_time_prob: float = 0.0, mask_time_length: int = 10,
                 mask_channel_prob: float = 0.0, mask_channel_length: int = 64, pos_conv: str = "auto",
                 architecture: Optional[Dict[str, Any]] = None):
        """``architecture``: the torchaudio model kwargs, as ``self.architecture()`` returns them;
        given, the model is built from them alone and no pretrained file is read (rebuilding a
        trained model from its own checkpoint). ``pos_conv``: how the positional convolution runs
        (:class:`PositionalConv`); it changes the speed, not the values."""
        super().__init__()
        from torchaudio.models import wav2vec2_model

        if input_dim != 1:
            raise ConfigError(f"wav2vec2 reads raw waves (features of type 'wave', 1 dim), got {input_dim}-dim features")
        state = None
        weights = architecture is None
        if architecture is not None:
            kwargs = dict(architecture)
            kwargs["extractor_conv_layer_config"] = [tuple(c) for c in kwargs["extractor_conv_layer_config"]]
        elif pretrained.startswith("bundle:"):
            import torchaudio

            name = pretrained[len("bundle:"):]
            bundle = getattr(torchaudio.pipelines, name, None)
            if bundle is None:
                raise ConfigError(f"unknown torchaudio bundle '{name}'")
            kwargs = dict(bundle._params)
            kwargs.pop("aux_num_out", None)
            if weights:
                state = bundle.get_model().state_dict()   # downloads on first use: needs internet
        elif pretrained and Path(pretrained).is_dir():
            kwargs, state = _load_hf_dir(Path(pretrained), weights)
        else:
            if size not in SIZES:
                raise ConfigError(f"model.encoder_conf.size is '{size}'; choose from {sorted(SIZES)}")
            kwargs = dict(SIZES[size])
            if pretrained and weights:
                if not Path(pretrained).exists():
                    raise ConfigError(f"{pretrained}: pretrained wav2vec2 weights not found")
                state = torch.load(pretrained, map_location="cpu", weights_only=True)
                state = state.get("model", state) if isinstance(state, dict) else state
        if layer_drop is not None:
            kwargs["encoder_layer_drop"] = layer_drop
        self._architecture = {k: [list(c) for c in v] if k == "extractor_conv_layer_config" else v
                              for k, v in kwargs.items()}
        self.model = wav2vec2_model(**kwargs, aux_num_out=None)
        transformer = self.model.encoder.transformer
        transformer.pos_conv_embed = PositionalConv(transformer.pos_conv_embed, pos_conv)
        if state is not None:
            load_weights(self.model, state, pretrained)
        self.freeze_feature_encoder = freeze_feature_encoder
        if freeze_feature_encoder:
            for p in self.model.feature_extractor.parameters():
                p.requires_grad_(False)
        self.freeze_transformer_steps = freeze_transformer_steps
        self.register_buffer("train_steps", torch.zeros((), dtype=torch.long))
        self.masker = None
        if mask_time_prob > 0 or mask_channel_prob > 0:
            from torchaudio.models.wav2vec2.components import MaskGenerator

            self.masker = MaskGenerator(kwargs["encoder_embed_dim"], mask_time_prob, "static", 0.0, mask_time_length,
                                        False, 1, mask_channel_prob, "static", 0.0, mask_channel_length, False, 1)
        self.output_dim = kwargs["encoder_embed_dim"]
        self.num_layers = kwargs["encoder_num_layers"]
        self.bidirectional = False

    def architecture(self) -> Dict[str, Any]:
        """Constructor options that rebuild this encoder's architecture without any file."""
        return {"architecture": self._architecture}

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor):
        waves = feats[..., 0]
        lengths = lengths.to(waves.device)
        if self.freeze_feature_encoder:
            with torch.no_grad():
                x, out_len = self.model.feature_extractor(waves, lengths)
        else:
            x, out_len = self.model.feature_extractor(waves, lengths)
        # the step count is read only while it matters: reading it syncs with the GPU and breaks
        # a torch.compile graph
        frozen = (self.training and self.freeze_transformer_steps > 0
                  and int(self.train_steps) < self.freeze_transformer_steps)
        if self.training:
            self.train_steps += 1   # counts training forward passes (micro-batches)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            x, mask = attention_inputs(self.model.encoder, x, out_len)
            if self.masker is not None and self.training:
                x, _ = self.masker(x, ~valid_mask(out_len, x.size(1)))
            x = self.model.encoder.transformer(x, attention_mask=mask)
        return x * valid_mask(out_len, x.size(1))[..., None].to(x.dtype), out_len
