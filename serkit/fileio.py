"""Atomic file writes.

Every file serkit writes that another stage, job or run may read (feature shards, indexes,
CMVN statistics, checkpoints, predictions, RESULTS.md) is written to a temporary file beside it
and then renamed over it in one step: a reader sees the old file or the new one, never a torn
one, and an interrupted write leaves the old file as it was. The temporary name is unique to the
writing process and call, so two jobs or runs writing the same file at once (two recipe runs
dumping into one dump dir) each complete, and the last rename wins, instead of one writing into
the other's half-written file or failing to rename a file the other has already moved.
"""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


def temp_path(path: str | os.PathLike) -> Path:
    """A hidden name beside ``path`` that no other process or call uses; keeps the suffix
    (``.npz``, ``.png``) for writers that choose a format by it."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", fsync: bool = False,
                 encoding: str | None = None) -> Iterator[IO]:
    """``with atomic_write(path, "wb") as f: ...``: ``path`` is replaced when the block ends
    without an error; on an error it is left as it was and the temporary file removed.
    ``fsync`` flushes the data to disk before the rename (checkpoints: survives a power cut)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode {mode!r}; give 'w' or 'wb'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, mode, encoding=encoding if mode == "w" else None) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)
