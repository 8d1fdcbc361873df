"""What one generation worker does: render, gate, featurise and write one shard.

Runs in worker processes (local pool or Ray tasks) and, with ``workers=0``, in the caller. Each
process creates its synth backend once (:func:`a2d.runtime.process.process_synth`) and reuses it for every row of every
shard it is given. A shard is written to ``shard-<index>.h5.tmp-<pid>`` and renamed to its final name
only when complete and flushed, so a killed run never leaves a partial shard under a final name, and
two processes never write one file (shards are deterministic, so the last rename wins harmlessly).

A local worker whose parent process died (the main process killed alone, e.g. ``kill -9 PID`` or
the OOM killer) stops after its current block of rows and removes its temp file, instead of
rendering on as an orphan beside the run that resumes the dataset.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import RenderError
from a2d.contracts.spec import ParamSpec
from a2d.contracts.synth import RenderSettings, SynthBackend
from a2d.kernels.features import MelSettings
from a2d.kernels.loudness import LoudnessGate
from a2d.runtime.process import adopt_synth, process_synth, start_worker
from a2d.storage.shards import ShardWriter, field_shapes, shard_name


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs to write one shard (picklable; the backend class is pickled by
    reference, so its plugin module must be importable in the worker)."""

    out: str
    index: int
    first_row: int
    rows: int
    seed: int
    spec: ParamSpec
    backend_cls: type[SynthBackend]
    backend_options: dict[str, Any]
    render: RenderSettings
    mel: MelSettings
    min_loudness: float | None
    max_attempts: int
    store_audio: bool
    block_rows: int
    chunk_rows: int
    compression: str


@dataclass
class ShardResult:
    index: int
    rows: int
    attempts: int
    rejected: int
    prechecked: int
    seconds: float
    backend_version: str = ""
    errors: list[str] = field(default_factory=list)


_PROGRESS: Any = None
_PARENT: int | None = None
_BUSY = False
_INTERRUPTED = False


def _note_interrupt(signum: int, frame: Any) -> None:
    global _INTERRUPTED
    _INTERRUPTED = True


class ParentGone(Exception):
    """The process that started this worker has died; the worker's shard is abandoned."""


def init_worker(progress_queue: Any = None, native_threads: int = 0) -> None:
    """Pool initializer: a worker process (:func:`a2d.runtime.process.start_worker`) that sends
    progress ``(rows, attempts, rejected)`` to ``progress_queue`` and caps its native kernels at
    ``native_threads`` (the worker processes share the cores; 0 leaves it alone)."""
    global _PROGRESS, _PARENT
    _PROGRESS = progress_queue
    # Ctrl-C in a terminal reaches the whole process group: the parent handles it (it stops the
    # pool, prints one line); a worker only notes it, drops its shard after the current block and
    # leaves quietly (a traceback of its own would bury the parent's line). Between shards the
    # parent watch ends an orphaned worker; inside one, write_shard checks after every block, so
    # that its temp file is removed first.
    _PARENT = start_worker(
        native_threads=native_threads, on_interrupt=_note_interrupt, busy=lambda: _BUSY
    )


def _key(job: ShardJob) -> tuple[Any, ...]:
    return (
        job.backend_cls,
        job.spec.fingerprint,
        job.render,
        tuple(sorted(job.backend_options.items())),
    )


def adopt_backend(job: ShardJob, backend: SynthBackend) -> None:
    """Use an already created ``backend`` for jobs like ``job`` in this process."""
    adopt_synth(_key(job), backend)


def _backend(job: ShardJob) -> SynthBackend:
    """The process's backend for ``job``; created once and reused while the job keys match."""
    return process_synth(
        _key(job), lambda: job.backend_cls(job.spec, job.render, **job.backend_options)
    )


def mel_batch(audio: np.ndarray, sample_rate: int, settings: MelSettings) -> np.ndarray:
    """Log-mel of a block of clips: ``(B, C, T)`` -> ``(B, C, n_mels, frames)`` float32."""
    from a2d.kernels.mel import mel_spectrogram

    return np.asarray(mel_spectrogram(audio, sample_rate, settings), dtype=np.float32)


def _note_array(patch: Any) -> np.ndarray:
    n = patch.note
    return np.array([n.pitch, n.velocity, n.start, n.end], dtype=np.float32)


def draw_row(spec: ParamSpec, seed: int, row: int, attempt: int) -> Any:
    """The patch of ``row`` at redraw ``attempt``: depends only on ``(seed, row, attempt)``."""
    return spec.sample(np.random.default_rng([seed, row, attempt]))


def write_shard(
    job: ShardJob, progress: Callable[[int, int, int], None] | None = None
) -> ShardResult:
    """Render rows ``[first_row, first_row + rows)`` into ``shard-<index>.h5`` (atomic rename).

    :raises OutputError: the disk is full or the folder unwritable (the temp file is removed).
    :raises RenderError: a row stayed below the loudness gate for ``max_attempts`` draws.
    """
    global _BUSY
    _BUSY = True
    try:
        return _write_shard(job, progress)
    finally:
        _BUSY = False


def _write_shard(job: ShardJob, progress: Callable[[int, int, int], None] | None) -> ShardResult:
    import time

    t0 = time.perf_counter()
    report = progress or _queue_progress
    backend = _backend(job)
    gate = LoudnessGate(job.min_loudness, job.render.sample_rate)
    shapes = field_shapes(
        channels=job.render.channels, num_samples=job.render.num_samples,
        n_mels=job.mel.n_mels, frames=job.mel.num_frames(job.render.num_samples),
        width=job.spec.width, store_audio=job.store_audio,
    )  # fmt: skip
    attempts = rejected = 0
    try:
        with (
            ShardWriter(
                Path(job.out) / shard_name(job.index), job.rows, shapes,
                chunk_rows=job.chunk_rows, compression=job.compression,
            ) as shard,
            ThreadPoolExecutor(1, thread_name_prefix="a2d-shard") as writer,
        ):  # fmt: skip
            # One block is featurised and written (mel, compression, HDF5) in the writer thread
            # while the next renders here: both synth engines, the mel and HDF5's filters work
            # outside the GIL. Leaving the `with` waits for the writer before the file closes.
            pending: Future[None] | None = None
            for b0 in range(0, job.rows, job.block_rows):
                b1 = min(b0 + job.block_rows, job.rows)
                block, block_att, block_rej = _render_block(job, backend, gate, b0, b1)
                if pending is not None:
                    pending.result()  # the previous block is stored (or its error raised)
                if shard.failed:
                    break
                pending = writer.submit(_store_block, job, shard, b0, block)
                attempts, rejected = attempts + block_att, rejected + block_rej
                if report is not None:
                    report(b1 - b0, block_att, block_rej)
                _check_parent(job)
            if pending is not None:
                pending.result()
            attrs = {
                "first_row": job.first_row, "rows": job.rows, "shard_index": job.index,
                "seed": job.seed, "spec_fingerprint": job.spec.fingerprint,
                "backend_version": backend.version,
            }  # fmt: skip
            shard.finish(attrs)
    except ParentGone:
        # Nobody waits for this worker: its result pipe has no reader and its task queue no
        # writer, so leave now (the shard's temp file is gone) rather than block holding a synth.
        os._exit(1)
    return ShardResult(
        index=job.index,
        rows=job.rows,
        attempts=attempts,
        rejected=rejected,
        prechecked=gate.prechecked,
        seconds=time.perf_counter() - t0,
        backend_version=backend.version,
    )


def _render_block(
    job: ShardJob, backend: SynthBackend, gate: LoudnessGate, b0: int, b1: int
) -> tuple[dict[str, np.ndarray], int, int]:
    """Rows ``[b0, b1)`` of the shard, each redrawn until it passes the loudness gate: the shard
    fields of the block but the mel (with the audio, always; see :func:`_store_block`), the draws
    made and the draws rejected."""
    n = b1 - b0
    audio = np.empty((n, job.render.channels, job.render.num_samples), np.float32)
    params = np.empty((n, job.spec.width), np.float32)
    notes = np.empty((n, 4), np.float32)
    tries = np.empty(n, np.int32)
    draws = rejected = 0
    for i in range(n):
        row = job.first_row + b0 + i
        for attempt in range(job.max_attempts):
            patch = draw_row(job.spec, job.seed, row, attempt)
            clip = backend.render(patch)
            draws += 1
            if gate.passes(clip):
                break
            rejected += 1
        else:
            raise RenderError(
                f"row {row} stayed below {job.min_loudness} LUFS for {job.max_attempts} "
                f"draws of spec {job.spec.name!r}; lower --min-loudness or fix the spec"
            )
        audio[i], params[i], notes[i], tries[i] = (
            clip,
            job.spec.encode(patch),
            _note_array(patch),
            attempt,
        )
    block = {
        "audio": audio,
        "params": params,
        "note": notes,
        "row": np.arange(job.first_row + b0, job.first_row + b1),
        "attempt": tries,
    }
    return block, draws, rejected


def _store_block(job: ShardJob, shard: ShardWriter, b0: int, block: dict[str, np.ndarray]) -> None:
    """Add the block's log-mel (and drop its audio unless stored), then write it at row ``b0``."""
    block["mel"] = mel_batch(block["audio"], job.render.sample_rate, job.mel)
    if not job.store_audio:
        del block["audio"]
    shard.write(b0, block)


def _check_parent(job: ShardJob) -> None:
    """Between blocks: stop (dropping the shard) when the parent died or Ctrl-C reached us."""
    if _PARENT is not None and os.getppid() != _PARENT:
        raise ParentGone(f"the generate process {_PARENT} died; shard {job.index} dropped")
    if _INTERRUPTED:
        raise ParentGone(f"interrupted; shard {job.index} dropped")


def _queue_progress(rows: int, attempts: int, rejected: int) -> None:
    if _PROGRESS is not None:
        _PROGRESS.put((rows, attempts, rejected))
