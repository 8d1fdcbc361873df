"""Streaming batches from sharded HDF5 datasets, in a reproducible shuffled order.

The split is cut into contiguous *chunks* of ``chunk_rows`` rows (one large read each). Every epoch
permutes the chunks (seeded by ``(seed, epoch)``) and groups them into *blocks* of
``chunks_per_block`` chunks; a worker process reads a whole block and shuffles its rows (seeded by
``(seed, epoch, block)``). Batches are consecutive rows of that order; an epoch's incomplete last
batch is dropped. The order is a pure function of ``(seed, step)``, so a resumed run sees exactly the
batches an uninterrupted one would, and only ``workers * prefetch`` blocks are ever in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data import Dataset as TorchDataset

from a2d.contracts.errors import A2DError, DatasetError
from a2d.storage.dataset import open_dataset


@dataclass(frozen=True)
class BlockPlan:
    """Which rows each block of each epoch holds, for ``num_rows`` rows."""

    num_rows: int
    chunk_rows: int
    chunks_per_block: int
    seed: int

    @property
    def num_chunks(self) -> int:
        return math.ceil(self.num_rows / self.chunk_rows)

    @property
    def num_blocks(self) -> int:
        return math.ceil(self.num_chunks / self.chunks_per_block)

    def chunks(self, epoch: int, block: int) -> list[tuple[int, int]]:
        """Row ranges ``[start, stop)`` of ``block`` in ``epoch``."""
        order = np.random.default_rng([self.seed, epoch]).permutation(self.num_chunks)
        ids = order[block * self.chunks_per_block : (block + 1) * self.chunks_per_block]
        return [
            (int(c) * self.chunk_rows, min(self.num_rows, (int(c) + 1) * self.chunk_rows))
            for c in ids
        ]

    def block_sizes(self, epoch: int) -> list[int]:
        return [sum(b - a for a, b in self.chunks(epoch, k)) for k in range(self.num_blocks)]

    def row_permutation(self, epoch: int, block: int, n: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch, block]).permutation(n)


class _BlockReader(TorchDataset):
    """Map-style dataset whose item ``(epoch, block)`` is that block's shuffled rows."""

    def __init__(self, root: Path, split: str, plan: BlockPlan, fields: Sequence[str]) -> None:
        self.root, self.split, self.plan, self.fields = root, split, plan, tuple(fields)
        self._ds: Any = None

    def __len__(self) -> int:  # required by the base class; the sampler is infinite
        return self.plan.num_blocks

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, block = key
        try:
            if self._ds is None:
                self._ds = open_dataset(self.root, self.split)
            chunks = list(self.plan.chunks(epoch, block))
            parts = [self._ds.read(a, b, fields=self.fields) for a, b in chunks]
        except A2DError as exc:
            return {"error": str(exc)}
        except (OSError, KeyError) as exc:  # h5py raises these for damaged files
            return {"error": f"cannot read dataset {str(self.root)!r} ({exc}); regenerate it"}
        try:
            for (a, _), part in zip(chunks, parts, strict=True):
                self._ds.check_finite(part, a)
        except A2DError as exc:
            return {"error": str(exc)}
        n = sum(len(p[self.fields[0]]) for p in parts)
        perm = self.plan.row_permutation(epoch, block, n)
        out: dict[str, Any] = {"epoch": epoch, "block": block}
        for name in self.fields:
            arr = np.concatenate([p[name] for p in parts])[perm]
            out[name] = torch.from_numpy(np.ascontiguousarray(arr))
        return out


class _BlockSampler(Sampler):
    """Yields ``(epoch, block)`` forever, from a start position."""

    def __init__(self, plan: BlockPlan, epoch: int, block: int) -> None:
        self.plan, self.epoch, self.block = plan, epoch, block

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, block = self.epoch, self.block
        while True:
            yield epoch, block
            block += 1
            if block == self.plan.num_blocks:
                epoch, block = epoch + 1, 0


class BatchStream:
    """Infinite iterator of batches ``{"mel": (B, C, M, T), "params": (B, W)}`` (CPU tensors).

    :param batch_size: rows per yielded batch (the global batch; DDP ranks slice it).
    :param start_step: skip the first ``start_step`` batches (resume) without reading them.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        *,
        batch_size: int,
        seed: int = 0,
        start_step: int = 0,
        workers: int = 2,
        chunk_rows: int = 64,
        chunks_per_block: int = 4,
        prefetch: int = 2,
        fields: Sequence[str] = ("mel", "params"),
    ) -> None:
        self.root = Path(root)
        num_rows = len(open_dataset(self.root, split))
        if num_rows < batch_size:
            raise DatasetError(
                f"the {split!r} split of {str(self.root)!r} has {num_rows} rows, fewer than one "
                f"batch of {batch_size}; generate more rows or lower --train.batch_size"
            )
        self.plan = BlockPlan(num_rows, chunk_rows, chunks_per_block, seed)
        self.batch_size = batch_size
        self.steps_per_epoch = num_rows // batch_size
        epoch, within = divmod(start_step, self.steps_per_epoch)
        skip = within * batch_size
        block = 0
        for size in self.plan.block_sizes(epoch):
            if skip < size:
                break
            skip -= size
            block += 1
        self._skip = skip
        self._loader = DataLoader(
            _BlockReader(self.root, split, self.plan, fields),
            batch_size=None,
            sampler=_BlockSampler(self.plan, epoch, block),
            num_workers=workers,
            prefetch_factor=prefetch if workers else None,
            generator=torch.Generator().manual_seed(seed),
        )
        self._epoch, self._used = epoch, within * batch_size

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        pending: list[dict[str, torch.Tensor]] = []
        have = 0
        for item in self._loader:
            if "error" in item:
                raise DatasetError(item["error"])
            if item["epoch"] != self._epoch:  # drop the incomplete last batch of an epoch
                pending, have, self._epoch, self._used = [], 0, item["epoch"], 0
            fields = {k: v for k, v in item.items() if isinstance(v, torch.Tensor)}
            if self._skip:
                fields = {k: v[self._skip :] for k, v in fields.items()}
                self._skip = 0
            pending.append(fields)
            have += len(next(iter(fields.values())))
            room = self.steps_per_epoch * self.batch_size - self._used
            while have >= self.batch_size and room >= self.batch_size:
                joined = {k: torch.cat([p[k] for p in pending]) for k in pending[0]}
                batch = {k: v[: self.batch_size] for k, v in joined.items()}
                rest = {k: v[self.batch_size :] for k, v in joined.items()}
                pending, have = [rest], have - self.batch_size
                self._used += self.batch_size
                room -= self.batch_size
                yield batch
