"""Transfer of a pretrained transformer (``serkit-pretrain`` checkpoint) into a supervised model.

Modes (``model.encoder: pretrained``, ``encoder_conf.mode``):
- ``finetune``: the pretrained stack, trained further with the rest of the model; its last layer
  feeds the pooling (Lian et al. 2019: GAP + projection).
- ``frozen``: the stack is fixed (eval mode, no gradient); ``layer`` picks what feeds the
  ``downstream`` encoder: 0 = the input features F, l = layer l's output (1..L, -1 = last), or
  ``weighted`` = a learned softmax-weighted sum of layers 1..L.
- ``hypercolumns``: fixed stack, ``combine: add`` -> E(F) + sum_l h_l (E = the pretrained input
  projection, so every term has d_model dims) or ``combine: concat`` -> [F, h_1, ..., h_L].
The checkpoint is self-describing (config and input dim inside), so only its path is given.

A fixed stack gives an utterance the same representation every epoch, so ``cache_mb`` keeps
each utterance's (keyed by a hash of its input frames) up to that many MB: from the second epoch
on, a batch whose utterances are all cached skips the stack. Inputs that change every epoch
(augmented features) never hit and only fill the cache up to its size. Only a model built from
the pretraining checkpoint (training) caches; one rebuilt from its own checkpoint (decoding, the
Recognizer) does not.
"""
from __future__ import annotations

import hashlib
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import nn

from serkit.checkpoint import load_checkpoint
from serkit.config import config_from_dict, fill_kwargs
from serkit.errors import ConfigError
from serkit.models.encoders import BASE_ENCODERS
from serkit.models.pooling import valid_mask

MODES = ("finetune", "frozen", "hypercolumns")


def load_pretrained_stack(checkpoint: str, input_dim: Optional[int] = None) -> Tuple[nn.Module, Dict[str, Any]]:
    """The encoder of a pretraining checkpoint with its trained weights, and its architecture
    (``{"encoder", "encoder_conf", "input_dim"}``, what ``build_stack`` needs to rebuild it)."""

    ck = load_checkpoint(checkpoint)
    if "pretrain" not in ck.get("config", {}) or ck["config"]["pretrain"]["objective"] == "none":
        raise ConfigError(f"{checkpoint}: not a serkit-pretrain checkpoint (no pretraining objective in its config)")
    if input_dim is not None and ck["input_dim"] != input_dim:
        raise ConfigError(f"{checkpoint}: pretrained on {ck['input_dim']}-dim features, but these are "
                          f"{input_dim}-dim: use the features the pretraining used")
    cfg = config_from_dict(ck["config"])
    arch = {"encoder": cfg.model.encoder, "encoder_conf": dict(cfg.model.encoder_conf), "input_dim": ck["input_dim"]}
    stack = build_stack(arch)
    weights = {k[len("encoder."):]: v for k, v in ck["model"].items() if k.startswith("encoder.")}
    stack.load_state_dict(weights)
    return stack, arch


def build_stack(arch: Dict[str, Any]) -> nn.Module:
    """A pretrained stack's architecture, untrained (its weights come with the model's checkpoint)."""
    return BASE_ENCODERS[arch["encoder"]](arch["input_dim"], **arch["encoder_conf"])


class PretrainedEncoder(nn.Module):
    """feats (B, T, D), lengths (B,) -> hidden (B, T, output_dim), lengths (B,)."""

    def __init__(self, input_dim: int, checkpoint: str = "", mode: str = "finetune",
                 layer: Union[int, str] = -1, combine: str = "concat", downstream: str = "none",
                 downstream_conf: Optional[Dict[str, Any]] = None, architecture: Optional[Dict[str, Any]] = None,
                 cache_mb: float = 0.0):
        """``architecture``: the stack's, as ``self.architecture()`` returns it; given, the stack is
        built from it and ``checkpoint`` is not read (rebuilding a fine-tuned model from its own
        checkpoint, which holds every weight). ``cache_mb``: see the module's doc (fixed modes)."""
        super().__init__()
        if not checkpoint and architecture is None:
            raise ConfigError("model.encoder_conf.checkpoint: give the serkit-pretrain checkpoint "
                              "(e.g. exp/pretrain/<name>/checkpoints/best.pt)")
        if mode not in MODES:
            raise ConfigError(f"model.encoder_conf.mode is '{mode}'; choose from {list(MODES)}")
        if combine not in ("add", "concat"):
            raise ConfigError(f"model.encoder_conf.combine is '{combine}'; choose from ['add', 'concat']")
        if architecture is not None:
            self.stack, self._architecture = build_stack(architecture), dict(architecture)
        else:
            self.stack, self._architecture = load_pretrained_stack(checkpoint, input_dim)
        self.mode, self.layer, self.combine = mode, layer, combine
        L, d = self.stack.num_layers, self.stack.output_dim
        if mode == "finetune":
            rep_dim = d
        elif mode == "frozen":
            if layer == "weighted":
                self.layer_logits = nn.Parameter(torch.zeros(L))
                rep_dim = d
            elif isinstance(layer, int) and -L <= layer <= L:
                rep_dim = input_dim if layer == 0 else d
            else:
                raise ConfigError(f"model.encoder_conf.layer is {layer!r}: 0 (input), 1..{L}, -1 (last) or 'weighted'")
        else:
            rep_dim = d if combine == "add" else input_dim + L * d
        if mode != "finetune":
            for p in self.stack.parameters():
                p.requires_grad_(False)
            self.stack.eval()
        self.representation_dim = rep_dim
        if cache_mb < 0:
            raise ConfigError(f"model.encoder_conf.cache_mb is {cache_mb}; give a size in MB (0: no cache)")
        # a model rebuilt from its own checkpoint decodes new audio (the Recognizer): no cache there
        self.cache_bytes = int(cache_mb * 2 ** 20) if mode != "finetune" and architecture is None else 0
        self._cache: Dict[bytes, torch.Tensor] = {}   # plain attribute: never in the state dict
        self._cached_bytes = 0
        if downstream == "none":
            self.downstream = None
            self.output_dim = rep_dim
            self.bidirectional = False
        else:
            if downstream not in BASE_ENCODERS:
                raise ConfigError(f"model.encoder_conf.downstream is '{downstream}'; choose from "
                                  f"{sorted(BASE_ENCODERS) + ['none']}")
            kw = fill_kwargs(BASE_ENCODERS[downstream], downstream_conf or {}, "model.encoder_conf.downstream_conf",
                             skip=("input_dim",))
            self.downstream = BASE_ENCODERS[downstream](rep_dim, **kw)
            self.output_dim = self.downstream.output_dim
            self.bidirectional = getattr(self.downstream, "bidirectional", False)

    def architecture(self) -> Dict[str, Any]:
        """Constructor options that rebuild this encoder without reading the pretraining checkpoint."""
        return {"architecture": self._architecture}

    def train(self, mode: bool = True):
        super().train(mode)
        if self.mode != "finetune":  # a fixed feature extractor: no dropout in it, ever
            self.stack.eval()
        return self

    def representation(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """What the pretrained stack hands on: (B, T, representation_dim)."""
        if self.mode == "frozen" and self.layer == 0:
            return feats
        fixed = self._cached_fixed(feats, lengths) if self.cache_bytes else self._fixed(feats, lengths)
        if self.mode == "frozen" and self.layer == "weighted":   # the learned part, after the cache
            w = self.layer_logits.softmax(0).to(fixed.dtype)
            L = self.stack.num_layers
            return torch.einsum("l,btld->btd", w, fixed.view(*fixed.shape[:2], L, -1))
        return fixed

    def _fixed(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The part of the representation no training changes: (B, T, dim); for ``weighted`` every
        layer's output side by side (B, T, L * d)."""
        with torch.set_grad_enabled(self.mode == "finetune" and torch.is_grad_enabled()):
            # a frozen lower layer needs only the layers up to it
            upto = self.layer if self.mode == "frozen" and isinstance(self.layer, int) and self.layer > 0 else None
            outs: List[torch.Tensor] = self.stack.layer_outputs(feats, lengths, upto)
            add = self.mode == "hypercolumns" and self.combine == "add"
            embedded = self.stack.embed(feats) if add else None
        if self.mode == "finetune":
            return outs[-1]
        if self.mode == "hypercolumns":
            if self.combine == "concat":
                return torch.cat([feats, *outs], dim=-1)
            keep = valid_mask(lengths.to(feats.device), feats.size(1))[..., None].to(feats.dtype)
            return embedded * keep + torch.stack(outs).sum(0)
        if self.layer == "weighted":
            return torch.cat(outs, dim=-1)
        return outs[-1] if self.layer > 0 else outs[self.layer]

    @torch.no_grad()
    def _cached_fixed(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        host = feats.detach().float().cpu().numpy()
        lens = [int(n) for n in lengths]
        keys = [hashlib.blake2b(host[b, :n].tobytes(), digest_size=16).digest() for b, n in enumerate(lens)]
        if all(k in self._cache for k in keys):
            first = self._cache[keys[0]]
            out = torch.zeros(feats.size(0), feats.size(1), first.size(-1), dtype=first.dtype)
            for b, k in enumerate(keys):
                out[b, : lens[b]] = self._cache[k]
            return out.to(feats.device)
        fixed = self._fixed(feats, lengths)
        for b, k in enumerate(keys):
            rep = fixed[b, : lens[b]]
            size = rep.numel() * rep.element_size()
            if k not in self._cache and self._cached_bytes + size <= self.cache_bytes:
                self._cache[k] = rep.cpu().clone()
                self._cached_bytes += size
        return fixed

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor):
        rep = self.representation(feats, lengths)
        if self.downstream is None:
            return rep, lengths
        return self.downstream(rep, lengths)
