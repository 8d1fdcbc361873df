"""Where :func:`a2d.pipelines.generate.generate` runs its shard jobs: local worker processes or Ray tasks.

Both report progress to a :class:`Tally` (rows, draws, rejections), which calls the user's
progress callback. Local workers send per-block counts through a queue; Ray reports per shard.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from a2d.contracts.errors import ConfigError, RenderError
from a2d.runtime import workers as _workers


@dataclass(frozen=True)
class Progress:
    """Counts so far: rows done (incl. rows found complete), draws, rejections."""

    rows_done: int
    rows_total: int
    attempts: int
    rejected: int


class Tally:
    def __init__(self, callback: Callable[[Progress], None] | None, done: int, total: int) -> None:
        self.callback, self.done, self.total = callback, done, total
        self.attempts = self.rejected = self.prechecked = 0

    def add_rows(self, rows: int, attempts: int, rejected: int) -> None:
        self.done += rows
        self.attempts += attempts
        self.rejected += rejected
        self.emit()

    def add_result(self, result: _workers.ShardResult) -> None:
        self.prechecked += result.prechecked

    def emit(self) -> None:
        if self.callback is not None:
            self.callback(Progress(self.done, self.total, self.attempts, self.rejected))


def run_local(jobs: list[_workers.ShardJob], config: Any, tally: Tally) -> None:
    ctx = mp.get_context(config.start_method)
    q = ctx.Queue()
    workers = min(config.workers, len(jobs))
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_workers.init_worker,
        initargs=(q, max(1, (os.cpu_count() or 1) // workers)),
    )

    def drain() -> None:
        with suppress(queue_mod.Empty):
            while True:
                tally.add_rows(*q.get_nowait())

    try:
        pending = {pool.submit(_workers.write_shard, job) for job in jobs}
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            drain()
            for fut in done:
                try:
                    tally.add_result(fut.result())
                except BrokenProcessPool as exc:
                    raise RenderError(
                        f"a generate worker process died ({exc}); finished shards are kept: re-run "
                        "the same command to resume (--workers 0 shows the synth's own error)"
                    ) from None
        pool.shutdown(wait=True)
        drain()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def run_ray(jobs: list[_workers.ShardJob], config: Any, tally: Tally) -> None:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray needs Ray: `pip install 'a2d[ray]'` (or use --executor local)"
        ) from None
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=config.ray_address,
            num_cpus=config.workers if config.ray_address is None else None,
            include_dashboard=False,
            log_to_driver=False,
        )
    task = ray.remote(num_cpus=1)(_workers.write_shard)
    try:
        refs = {task.remote(job): job for job in jobs}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in done:
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    raise (cause if isinstance(cause, Exception) else exc) from None
                tally.add_rows(result.rows, result.attempts, result.rejected)
                tally.add_result(result)
    finally:
        if started:
            ray.shutdown()
