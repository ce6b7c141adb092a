"""Atomic checkpoint I/O: write to a temp file in the same dir, fsync, then rename."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict

import torch

from serkit.errors import SerkitError


def save_atomic(obj: Dict[str, Any], path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> Dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise SerkitError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # a truncated file from an old crash: say which
        raise SerkitError(f"cannot read checkpoint {path}: {e}") from None
