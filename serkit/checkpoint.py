"""Checkpoint I/O: atomic writes, and reads that never run code.

Checkpoints hold tensors and plain Python values only (dicts, lists, tuples, str, int, float,
bool, None), so they load with ``torch.load(weights_only=True)``: a crafted ``.pt`` file whose
pickle would import and call something is refused, not executed. Random-number states are stored
in that form too (``rng_state`` / ``set_rng_state``).
"""
from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any, Dict

import numpy as np
import torch

from serkit.errors import SerkitError
from serkit.fileio import atomic_write


def save_atomic(obj: Dict[str, Any], path: str | os.PathLike) -> None:
    """Write to a temp file in the same dir, fsync, then rename: a crash never leaves a torn file."""
    with atomic_write(path, "wb", fsync=True) as f:
        torch.save(obj, f)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> Dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise SerkitError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:   # what weights_only refuses: objects that would run code
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SerkitError(f"refusing checkpoint {path}: it holds objects other than tensors and plain values "
                          f"(a crafted file, one from another program, or an older serkit's last.pt: resume in a "
                          f"new exp dir): {first}") from None
    except Exception as e:  # a truncated file from an old crash: say which
        raise SerkitError(f"cannot read checkpoint {path}: {e}") from None


def rng_state() -> Dict[str, Any]:
    """The torch, numpy, Python (and CUDA) generator states as tensors and plain values."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    version, words, gauss_next = random.getstate()
    return {"torch": torch.get_rng_state(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
            "python": [int(version), list(words), gauss_next],
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, words, gauss_next = state["python"]
    random.setstate((version, tuple(words), gauss_next))
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
