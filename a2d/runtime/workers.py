"""What one generation worker does: render, gate, featurise and write one shard.

Runs in worker processes (local pool or Ray tasks) and, with ``workers=0``, in the caller. Each
process creates its synth backend once (:func:`_backend`) and reuses it for every row of every
shard it is given. A shard is written to ``shard-<index>.h5.tmp-<pid>`` and renamed to its final name
only when complete and flushed, so a killed run never leaves a partial shard under a final name, and
two processes never write one file (shards are deterministic, so the last rename wins harmlessly).

A local worker whose parent process died (the main process killed alone, e.g. ``kill -9 PID`` or
the OOM killer) stops after its current block of rows and removes its temp file, instead of
rendering on as an orphan beside the run that resumes the dataset.
"""

from __future__ import annotations

import atexit
import io
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from a2d.contracts.errors import OutputError, RenderError
from a2d.contracts.spec import ParamSpec
from a2d.contracts.synth import RenderSettings, SynthBackend
from a2d.kernels.features import MelSettings
from a2d.kernels.loudness import LoudnessGate
from a2d.runtime.orphans import watch_parent
from a2d.storage.atomic import is_disk_full
from a2d.storage.dataset import FIELD_DTYPES, shard_name


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


class _GuardedFile(io.FileIO):
    """A file HDF5 writes through (h5py's fileobj driver) that records the first OSError (disk
    full) and swallows it and every later write: HDF5's own error path after a failed write can
    crash the process, so HDF5 never sees the failure and the caller checks :attr:`error`."""

    error: OSError | None = None

    def write(self, data: Any) -> int:
        if self.error is None:
            try:
                return super().write(data)
            except OSError as exc:
                self.error = exc
        return len(memoryview(data))

    def truncate(self, size: int | None = None) -> int:
        if self.error is None:
            try:
                return super().truncate(size)
            except OSError as exc:
                self.error = exc
        return size or 0


_BACKEND: tuple[tuple[Any, ...], SynthBackend] | None = None
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
    """Pool initializer: remember where to send progress ``(rows, attempts, rejected)`` and which
    process is the parent; cap the native kernels' threads (the worker processes share the cores;
    0 leaves it alone)."""
    global _PROGRESS, _PARENT
    atexit.register(release_backend)
    # Ctrl-C in a terminal reaches the whole process group: the parent handles it (it stops the
    # pool, prints one line); a worker only notes it, drops its shard after the current block and
    # leaves quietly (a traceback of its own would bury the parent's line).
    signal.signal(signal.SIGINT, _note_interrupt)
    _PROGRESS = progress_queue
    # Between shards the watcher ends an orphaned worker; inside one, write_shard checks after
    # every block, so that it can remove its temp file first.
    _PARENT = watch_parent(busy=lambda: _BUSY)
    if native_threads > 0:
        os.environ["A2D_NUM_THREADS"] = str(native_threads)


def release_backend() -> None:
    """Close this process's backend (at the end of a run, and at exit of a worker process: a
    synth alive at interpreter exit makes nanobind print leak warnings)."""
    global _BACKEND
    if _BACKEND is not None:
        backend, _BACKEND = _BACKEND[1], None
        backend.close()


def _key(job: ShardJob) -> tuple[Any, ...]:
    return (
        job.backend_cls,
        job.spec.fingerprint,
        job.render,
        tuple(sorted(job.backend_options.items())),
    )


def adopt_backend(job: ShardJob, backend: SynthBackend) -> None:
    """Use an already created ``backend`` for jobs like ``job`` in this process."""
    global _BACKEND
    if _BACKEND is not None and _BACKEND[1] is not backend:
        _BACKEND[1].close()
    _BACKEND = (_key(job), backend)


def _backend(job: ShardJob) -> SynthBackend:
    """The process's backend for ``job``; created once and reused while the job keys match."""
    global _BACKEND
    key = _key(job)
    if _BACKEND is not None and _BACKEND[0] == key:
        return _BACKEND[1]
    if _BACKEND is not None:
        _BACKEND[1].close()
    backend = job.backend_cls(job.spec, job.render, **job.backend_options)
    _BACKEND = (key, backend)
    return backend


def mel_batch(audio: np.ndarray, sample_rate: int, settings: MelSettings) -> np.ndarray:
    """Log-mel of a block of clips: ``(B, C, T)`` -> ``(B, C, n_mels, frames)`` float32."""
    from a2d.kernels.mel import mel_spectrogram

    return np.asarray(mel_spectrogram(audio, sample_rate, settings), dtype=np.float32)


def _note_array(patch: Any) -> np.ndarray:
    n = patch.note
    return np.array([n.pitch, n.velocity, n.start, n.end], dtype=np.float32)


def _create_datasets(f: h5py.File, job: ShardJob, width: int) -> dict[str, h5py.Dataset]:
    c, t = job.render.channels, job.render.num_samples
    shapes = {
        "mel": (c, job.mel.n_mels, job.mel.num_frames(t)),
        "params": (width,),
        "note": (4,),
        "row": (),
        "attempt": (),
    }
    if job.store_audio:
        shapes = {"audio": (c, t), **shapes}
    comp = None if job.compression == "none" else job.compression
    out = {}
    for name, shape in shapes.items():
        big = len(shape) >= 2
        chunks = (min(job.chunk_rows, job.rows), *shape) if big else None
        out[name] = f.create_dataset(
            name,
            shape=(job.rows, *shape),
            dtype=FIELD_DTYPES[name],
            chunks=chunks,
            compression=comp if big else None,
            fletcher32=True,  # per-chunk checksums: a damaged shard is found, not trained on
        )
    return out


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
    final = Path(job.out) / shard_name(job.index)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    attempts = rejected = 0
    fh = None
    try:
        fh = _GuardedFile(tmp, "w+")
        with h5py.File(fh, "w") as f:
            dsets = _create_datasets(f, job, job.spec.width)
            for b0 in range(0, job.rows, job.block_rows):
                b1 = min(b0 + job.block_rows, job.rows)
                audio = np.empty((b1 - b0, job.render.channels, job.render.num_samples), np.float32)
                params = np.empty((b1 - b0, job.spec.width), np.float32)
                notes = np.empty((b1 - b0, 4), np.float32)
                tries = np.empty(b1 - b0, np.int32)
                block_att = block_rej = 0
                for i in range(b1 - b0):
                    row = job.first_row + b0 + i
                    for attempt in range(job.max_attempts):
                        patch = draw_row(job.spec, job.seed, row, attempt)
                        clip = backend.render(patch)
                        block_att += 1
                        if gate.passes(clip):
                            break
                        block_rej += 1
                    else:
                        raise RenderError(
                            f"row {row} stayed below {job.min_loudness} LUFS for {job.max_attempts} "
                            f"draws of spec {job.spec.name!r}; lower --min-loudness or fix the spec"
                        )
                    audio[i] = clip
                    params[i] = job.spec.encode(patch)
                    notes[i] = _note_array(patch)
                    tries[i] = attempt
                mel = mel_batch(audio, job.render.sample_rate, job.mel)
                if job.store_audio:
                    dsets["audio"][b0:b1] = audio.astype(np.float16)
                dsets["mel"][b0:b1] = mel
                dsets["params"][b0:b1] = params
                dsets["note"][b0:b1] = notes
                dsets["row"][b0:b1] = np.arange(job.first_row + b0, job.first_row + b1)
                dsets["attempt"][b0:b1] = tries
                attempts += block_att
                rejected += block_rej
                if fh.error is not None:
                    break
                if report is not None:
                    report(b1 - b0, block_att, block_rej)
                if _PARENT is not None and os.getppid() != _PARENT:
                    raise ParentGone(
                        f"the generate process {_PARENT} died; shard {job.index} dropped"
                    )
                if _INTERRUPTED:
                    raise ParentGone(f"interrupted; shard {job.index} dropped")
            f.attrs.update(
                first_row=job.first_row,
                rows=job.rows,
                shard_index=job.index,
                seed=job.seed,
                spec_fingerprint=job.spec.fingerprint,
                backend_version=backend.version,
            )
            f.flush()
        if fh.error is not None:
            raise fh.error
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        os.replace(tmp, final)
    except OSError as exc:
        if fh is not None:
            fh.close()
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise OutputError(
                f"disk full while writing {str(final)!r}; completed shards are kept: free space and "
                "re-run the same command to resume"
            ) from None
        raise OutputError(
            f"cannot write {str(final)!r}: {exc}; check the folder's permissions and space"
        ) from None
    except BaseException as exc:
        if fh is not None:
            fh.close()
        tmp.unlink(missing_ok=True)
        if isinstance(exc, ParentGone):
            # Nobody waits for this worker: its result pipe has no reader and its task queue no
            # writer, so leave now rather than block forever holding a synth.
            os._exit(1)
        raise
    return ShardResult(
        index=job.index,
        rows=job.rows,
        attempts=attempts,
        rejected=rejected,
        prechecked=gate.prechecked,
        seconds=time.perf_counter() - t0,
        backend_version=backend.version,
    )


def _queue_progress(rows: int, attempts: int, rejected: int) -> None:
    if _PROGRESS is not None:
        _PROGRESS.put((rows, attempts, rejected))
