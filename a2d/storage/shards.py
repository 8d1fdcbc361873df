"""The HDF5 shard, the file a dataset is stored in. This module owns its format: the fields, their
dtypes and chunks, the attributes, how a shard is written, checked and opened for reading.

A shard holds the consecutive rows ``[first_row, first_row + rows)`` of a dataset: ``audio``
float16 ``(n, C, T)`` (optional), ``mel`` float32 ``(n, C, n_mels, frames)``, ``params`` float32
``(n, width)`` in [0, 1], ``note`` float32 ``(n, 4)`` (pitch, velocity, start s, end s), ``row``
int64 ``(n,)`` (global row index) and ``attempt`` int32 ``(n,)`` (loudness-gate redraws: the row's
patch is ``spec.sample(np.random.default_rng([seed, row, attempt]))``). Attributes: ``first_row``,
``rows``, ``shard_index``, ``seed``, ``spec_fingerprint``, ``backend_version``. Audio and mel are
chunked one row block at a time; every field carries HDF5's ``fletcher32`` checksum (per chunk),
so a damaged shard fails to read instead of giving garbage.

A shard file exists only once it is complete: :class:`ShardWriter` writes it under a temporary name
(``shard-k.h5.tmp-<pid>``) through :func:`a2d.storage.atomic.atomic_path`, which fsyncs and renames
it. A full disk never reaches HDF5 (whose own error path can crash the process): the writer's file
object records the first failed write and the shard is dropped with one clear error.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from a2d.contracts.errors import DatasetError
from a2d.storage.atomic import atomic_path

#: Every per-row field of a shard and its dtype.
FIELD_DTYPES: dict[str, str] = {
    "audio": "float16",
    "mel": "float32",
    "params": "float32",
    "note": "float32",
    "row": "int64",
    "attempt": "int32",
}
#: Rows :func:`verify_shard` reads per step (bounds its memory on shards of long clips).
VERIFY_ROWS = 32


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.h5"


def field_shapes(
    *, channels: int, num_samples: int, n_mels: int, frames: int, width: int, store_audio: bool
) -> dict[str, tuple[int, ...]]:
    """The per-row shape of every field a shard stores."""
    shapes: dict[str, tuple[int, ...]] = {"audio": (channels, num_samples)} if store_audio else {}
    return {
        **shapes,
        "mel": (channels, n_mels, frames),
        "params": (width,),
        "note": (4,),
        "row": (),
        "attempt": (),
    }


class _GuardedFile(io.FileIO):
    """A file HDF5 writes through (h5py's fileobj driver) that records the first OSError (disk
    full) and swallows it and every later write: HDF5's own error path after a failed write can
    crash the process, so HDF5 never sees the failure and the writer checks :attr:`error`."""

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


class ShardWriter:
    """Write one shard: ``with ShardWriter(path, rows, shapes) as w: w.write(start, block)`` for
    each block of rows, then ``w.finish(attrs)``. The file appears under ``path`` only when
    :meth:`finish` completed; leaving the ``with`` any other way removes the temporary file.

    :param shapes: per-row shape of each field (:func:`field_shapes`).
    :param chunk_rows: rows per HDF5 chunk of the multi-dimensional fields.
    :param compression: ``"none"`` or an h5py filter (``"lzf"``, ``"gzip"``).
    :raises OutputError: the disk is full or the folder unwritable (from the ``with``).
    """

    def __init__(
        self,
        path: str | Path,
        rows: int,
        shapes: dict[str, tuple[int, ...]],
        *,
        chunk_rows: int,
        compression: str = "none",
    ) -> None:
        self.path, self.rows, self.shapes = Path(path), int(rows), shapes
        self.chunk_rows, self.compression = int(chunk_rows), compression
        self._stack = ExitStack()
        self._file: _GuardedFile | None = None
        self._h5: h5py.File | None = None
        self._dsets: dict[str, h5py.Dataset] = {}

    def __enter__(self) -> ShardWriter:
        tmp_name = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        with ExitStack() as stack:
            tmp = stack.enter_context(atomic_path(self.path, tmp=tmp_name))
            self._file = _GuardedFile(tmp, "w+")
            stack.callback(self._close)
            self._h5 = h5py.File(self._file, "w")
            self._dsets = self._create(self._h5)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.__exit__(*exc)

    def _create(self, f: h5py.File) -> dict[str, h5py.Dataset]:
        comp = None if self.compression == "none" else self.compression
        out = {}
        for name, shape in self.shapes.items():
            big = len(shape) >= 2
            out[name] = f.create_dataset(
                name,
                shape=(self.rows, *shape),
                dtype=FIELD_DTYPES[name],
                chunks=(min(self.chunk_rows, self.rows), *shape) if big else None,
                compression=comp if big else None,
                fletcher32=True,  # per-chunk checksums: a damaged shard is found, not trained on
            )
        return out

    @property
    def failed(self) -> bool:
        """Whether a write has failed (the disk is full): stop writing; leaving raises it."""
        return self._file is not None and self._file.error is not None

    def write(self, start: int, block: dict[str, np.ndarray]) -> None:
        """Store rows ``[start, start + n)`` of every field in ``block`` (cast to its dtype)."""
        for name, values in block.items():
            self._dsets[name][start : start + len(values)] = values.astype(
                FIELD_DTYPES[name], copy=False
            )

    def finish(self, attrs: dict[str, Any]) -> None:
        """Write the attributes and flush everything to disk (the rename follows on leaving the
        ``with``); raises the first failed write instead."""
        assert self._h5 is not None and self._file is not None
        self._h5.attrs.update(attrs)
        self._h5.flush()
        self._h5.close()
        self._h5 = None
        if self._file.error is not None:
            raise self._file.error
        self._file.flush()

    def _close(self) -> None:
        if self._h5 is not None:
            with suppress(OSError, RuntimeError):  # a failed write's file: dropped anyway
                self._h5.close()
            self._h5 = None
        if self._file is not None:
            self._file.close()
            self._file = None


def verify_shard(path: Path, entry: dict[str, Any], fields: Sequence[str]) -> str | None:
    """Read every field of a finished shard in full: ``None`` when it is intact, else what is wrong
    (unreadable, a ``fletcher32`` checksum mismatch, wrong rows, NaN or inf in a float field)."""
    try:
        with h5py.File(path, "r") as f:
            rows = int(f.attrs["rows"])
            if rows != entry["rows"] or int(f.attrs["first_row"]) != entry["first_row"]:
                return f"holds rows {f.attrs['first_row']}+{rows}, expected {entry['first_row']}+{entry['rows']}"
            for name in fields:
                problem = _verify_field(f[name], rows, entry["first_row"])
                if problem:
                    return f"{name!r} {problem}"
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def _verify_field(dset: h5py.Dataset, rows: int, first_row: int) -> str | None:
    if dset.shape[0] != rows:
        return f"has {dset.shape[0]} rows, expected {rows}"
    for a in range(0, rows, VERIFY_ROWS):
        block = dset[a : a + VERIFY_ROWS]
        if block.dtype.kind == "f" and not np.all(np.isfinite(block)):
            bad = int(np.flatnonzero(~np.isfinite(block.reshape(len(block), -1)).all(1))[0])
            return f"holds NaN or inf in row {first_row + a + bad}"
    return None


def shard_is_ours(
    path: Path, entry: dict[str, Any], *, seed: int, spec_fingerprint: str, fields: Sequence[str]
) -> bool:
    """A finished shard is kept (on resume) only if it was made with this seed and spec and reads
    back intact in full (checksums, NaN/inf): anything else is regenerated."""
    try:
        with h5py.File(path, "r") as f:
            a = f.attrs
            ours = int(a["seed"]) == seed and str(a["spec_fingerprint"]) == spec_fingerprint
    except (OSError, KeyError, ValueError):
        return False
    return ours and verify_shard(path, entry, fields) is None


def open_shard(path: Path, entry: dict[str, Any], fields: Sequence[str], *, fix: str) -> h5py.File:
    """Open a shard read-only and check that it holds the rows ``entry`` (its manifest entry)
    says, in every field of ``fields``; any fault is a :class:`DatasetError` ending in ``fix``."""
    if not path.is_file():
        raise DatasetError(f"shard {str(path)!r} is missing; {fix}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"shard {str(path)!r} is corrupt ({exc}); delete it and {fix}") from exc
    try:
        rows = int(f.attrs["rows"])
        first = int(f.attrs["first_row"])
        lengths = {name: f[name].shape[0] for name in fields}
    except (KeyError, OSError) as exc:
        f.close()
        raise DatasetError(
            f"shard {str(path)!r} is incomplete ({exc}); delete it and {fix}"
        ) from exc
    if rows != entry["rows"] or first != entry["first_row"] or set(lengths.values()) != {rows}:
        f.close()
        raise DatasetError(
            f"shard {str(path)!r} holds rows {first}+{rows}, expected {entry['first_row']}+"
            f"{entry['rows']}; delete it and {fix}"
        )
    return f
