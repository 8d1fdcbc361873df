"""Multi-process training through ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous
address; :func:`setup` joins the process group (NCCL on CUDA, gloo on CPU). Without those variables
training runs in one process.

Teardown must free the process group while the interpreter is fully alive. A
``DistributedDataParallel`` wrapper sits in a reference cycle (its hooks refer back to it), so after
training it outlives its frame and keeps the group's C++ object alive until the cyclic collector
runs; when that happens during interpreter shutdown, gloo's threads are torn down with the
interpreter and the rank dies of SIGABRT ("terminate called without an active exception") after
training succeeded. Measured on 2 gloo ranks: 4 aborts in 30 runs without the collection below, none
in 40 with it. So :func:`teardown` collects right after destroying the group, and :func:`setup`
registers the same teardown with ``atexit`` for paths that leave early (an error mid-training).
"""

from __future__ import annotations

import atexit
import gc
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
    #: True when :func:`setup` created the process group (and so must destroy it); False when
    #: training runs in one process or inside a group the caller made.
    owns_group: bool = False

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
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_destroy)
    return DistInfo(
        int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")), owns_group=owns
    )


def teardown(info: DistInfo) -> None:
    """Destroy the process group :func:`setup` made, and free everything that still holds it."""
    if info.owns_group:
        _destroy()


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
    gc.collect()  # the DDP wrapper's cycle holds the group; free it now, not at interpreter exit


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
