"""Multi-process training through ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous
address; :func:`setup` joins the process group (NCCL on CUDA, gloo on CPU). Without those variables
training runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: torch.device) -> DistInfo:
    """Join the process group if launched by ``torchrun`` (idempotent)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return info


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def param_checksum(model: torch.nn.Module) -> float:
    """Sum of all parameters (float64): equal on every rank when DDP keeps them in sync."""
    return float(sum(p.detach().double().sum() for p in model.parameters()))


def gather_floats(info: DistInfo, value: float) -> list[float]:
    """``value`` from every rank, in rank order (``[value]`` without DDP)."""
    if not info.enabled:
        return [value]
    out = [torch.zeros(1, dtype=torch.float64) for _ in range(info.world_size)]
    dist.all_gather(out, torch.tensor([value], dtype=torch.float64))
    return [float(t) for t in out]
