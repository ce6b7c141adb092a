"""torchrun / DDP helpers: one code path for plain ``python`` and ``torchrun`` launches."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, List

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(use_cuda: bool) -> DistInfo:
    """Read torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE); NCCL on GPU, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world)
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return info


def all_reduce_sum(value: float, info: DistInfo, device: torch.device) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item())


def all_reduce_sums(values: List[float], info: DistInfo, device: torch.device) -> List[float]:
    """Several sums over ranks in one collective."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_gather_list(items: List[Any], info: DistInfo) -> List[Any]:
    if not info.enabled:
        return items
    out: List[List[Any]] = [None] * info.world_size  # type: ignore[list-item]
    dist.all_gather_object(out, items)
    return [x for part in out for x in part]


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        # every rank arrives before any tears down: a rank that destroys its gloo group while a
        # peer still finishes its last step can abort at exit
        dist.barrier()
        dist.destroy_process_group()
