"""Sharded HDF5 datasets: the on-disk layout and a lazy reader over all shards of a split.

Layout of ``DIR`` (written by :func:`a2d.pipelines.generate.generate`)::

    DIR/dataset.json          manifest (see :class:`Manifest`): spec, settings, seed, shard plan, splits
    DIR/shard-00000.h5 ...    rows [k * shard_size, (k + 1) * shard_size) of the dataset

Each shard holds a run of consecutive rows; :mod:`a2d.storage.shards` owns the shard format
(fields, dtypes, checksums, attributes) and its writing, checking and opening.
Row ``r`` of the dataset is always in shard ``r // shard_size`` at offset ``r % shard_size``.

Splits are contiguous row ranges ``[start, stop)`` listed in the manifest: the last rows are
``test``, the rows before them ``val``, the rest ``train``; whole shards when there are enough of
them, otherwise row ranges inside shards, so tiny datasets still get non-empty splits.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from a2d._moved import moved_name
from a2d.contracts.errors import DatasetError, DatasetNotFoundError, UnknownSplitError
from a2d.contracts.spec import ParamSpec
from a2d.contracts.synth import RenderSettings
from a2d.kernels.features import MelSettings
from a2d.storage.atomic import atomic_write
from a2d.storage.shards import FIELD_DTYPES, open_shard

FORMAT_VERSION = 1
MANIFEST_NAME = "dataset.json"
SPLITS = ("train", "val", "test")
DEFAULT_FIELDS = ("mel", "params")


def plan_splits(
    num_rows: int, shard_size: int, val_fraction: float, test_fraction: float
) -> dict[str, tuple[int, int]]:
    """Row ranges ``{split: (start, stop)}``: test last, val before it, train first.

    Whole shards when rounding the fractions to shards gives every non-zero fraction at least one
    shard and leaves train at least one; else row counts (at least one row for a non-zero fraction
    while train keeps one row).
    """
    num_shards = math.ceil(num_rows / shard_size)
    t_sh, v_sh = round(num_shards * test_fraction), round(num_shards * val_fraction)
    shard_ok = (
        (t_sh >= 1 or test_fraction == 0)
        and (v_sh >= 1 or val_fraction == 0)
        and num_shards - t_sh - v_sh >= 1
    )
    if shard_ok:
        n_test = num_rows - (num_shards - t_sh) * shard_size
        n_val = (num_shards - t_sh) * shard_size - (num_shards - t_sh - v_sh) * shard_size
    else:
        n_test = max(1, round(num_rows * test_fraction)) if test_fraction > 0 else 0
        n_val = max(1, round(num_rows * val_fraction)) if val_fraction > 0 else 0
        while n_test + n_val > num_rows - 1 and (n_test or n_val):
            if n_val >= n_test and n_val:
                n_val -= 1
            else:
                n_test -= 1
    b = num_rows - n_test
    a = b - n_val
    return {"train": (0, a), "val": (a, b), "test": (b, num_rows)}


@dataclass(frozen=True)
class Manifest:
    """The parsed ``dataset.json``: what a dataset holds and how it was made."""

    data: dict[str, Any]

    @property
    def num_rows(self) -> int:
        return int(self.data["num_rows"])

    @property
    def shard_size(self) -> int:
        return int(self.data["shard_size"])

    @property
    def shards(self) -> list[dict[str, Any]]:
        return list(self.data["shards"])

    @property
    def splits(self) -> dict[str, tuple[int, int]]:
        return {k: (int(v[0]), int(v[1])) for k, v in self.data["splits"].items()}

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.data["fields"])

    @property
    def spec(self) -> ParamSpec:
        return ParamSpec.from_dict(self.data["spec"])

    @property
    def render_settings(self) -> RenderSettings:
        return RenderSettings(**self.data["render"])

    @property
    def mel_settings(self) -> MelSettings:
        return MelSettings.from_dict(self.data["mel"])

    @classmethod
    def read(cls, root: str | Path) -> Manifest:
        path = Path(root) / MANIFEST_NAME
        if not path.is_file():
            raise DatasetNotFoundError(
                f"no dataset at {str(root)!r} ({MANIFEST_NAME} is missing); create one with "
                "`a2d generate --out DIR`"
            )
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DatasetError(
                f"{str(path)!r} is unreadable or not JSON ({exc}); re-run `a2d generate` with "
                "--overwrite to rebuild the dataset"
            ) from exc
        missing = [
            k
            for k in ("format", "num_rows", "shard_size", "shards", "splits", "spec")
            if k not in data
        ]
        if missing:
            raise DatasetError(
                f"{str(path)!r} lacks {', '.join(missing)}; it is not an a2d dataset manifest"
            )
        if int(data["format"]) > FORMAT_VERSION:
            raise DatasetError(
                f"{str(path)!r} has dataset format {data['format']}, newer than this a2d reads "
                f"({FORMAT_VERSION}); upgrade a2d"
            )
        return cls(data)

    def write(self, root: str | Path) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a manifest."""
        atomic_write(Path(root) / MANIFEST_NAME, json.dumps(self.data, indent=1, sort_keys=True))


class Dataset:
    """Rows ``[start, stop)`` of a sharded dataset as one indexable sequence.

    Opens shard files lazily, once per process (safe in DataLoader workers after fork or spawn;
    pickling drops open handles). Never loads more than what :meth:`read` asks for.
    """

    def __init__(
        self, root: Path, manifest: Manifest, start: int, stop: int, split: str | None
    ) -> None:
        self.root = root
        self.manifest = manifest
        self.split = split
        self.start, self.stop = start, stop
        self._files: dict[int, h5py.File] = {}
        self._pid = os.getpid()

    # ---- description -------------------------------------------------------------------------
    @property
    def spec(self) -> ParamSpec:
        return self.manifest.spec

    @property
    def render_settings(self) -> RenderSettings:
        return self.manifest.render_settings

    @property
    def mel_settings(self) -> MelSettings:
        return self.manifest.mel_settings

    @property
    def fields(self) -> tuple[str, ...]:
        return self.manifest.fields

    def __len__(self) -> int:
        return self.stop - self.start

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, split={self.split!r}, rows={len(self)})"

    # ---- access ------------------------------------------------------------------------------
    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        """One row: ``{field: array}`` for every stored field (shapes without the row axis)."""
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"row {index} is out of range for {n} rows")
        block = self.read(i, i + 1, fields=self.fields)
        return {k: v[0] for k, v in block.items()}

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for i in range(len(self)):
            yield self[i]

    def read(
        self, start: int, stop: int, fields: Sequence[str] = DEFAULT_FIELDS
    ) -> dict[str, np.ndarray]:
        """Rows ``[start, stop)`` of this view (contiguous, across shard boundaries).

        :returns: ``{field: (stop - start, ...)}``, e.g. ``mel`` ``(n, C, n_mels, frames)`` float32.
        """
        n = len(self)
        if not 0 <= start <= stop <= n:
            raise IndexError(f"rows [{start}, {stop}) are out of range for {n} rows")
        unknown = [f for f in fields if f not in self.fields]
        if unknown:
            raise KeyError(f"unknown field(s) {unknown}; this dataset stores {list(self.fields)}")
        g0, g1 = self.start + start, self.start + stop
        size = self.manifest.shard_size
        out: dict[str, np.ndarray] = {}
        pos = g0
        while pos < g1:
            k = pos // size
            a = pos - k * size
            b = min(g1 - k * size, size)
            f = self._file(k)
            for name in fields:
                dset = f[name]
                if name not in out:
                    out[name] = np.empty((g1 - g0, *dset.shape[1:]), dtype=dset.dtype)
                if b > a:
                    o = pos - g0
                    try:
                        dset.read_direct(out[name], np.s_[a:b], np.s_[o : o + b - a])
                    except (OSError, RuntimeError) as exc:  # checksum mismatch, damaged chunk
                        raise self._damaged(k, name, a + size * k, b + size * k, exc) from None
            pos = k * size + b
        if not out:
            for name in fields:
                out[name] = np.empty((0,), dtype=FIELD_DTYPES[name])
        return out

    def _damaged(self, k: int, name: str, r0: int, r1: int, exc: BaseException) -> DatasetError:
        path = self.root / self.manifest.shards[k]["file"]
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return DatasetError(
            f"shard {str(path)!r} is damaged: {name!r} of rows {r0}..{r1 - 1} cannot be read "
            f"({reason}); delete the shard and re-run the same `a2d generate ... --out "
            f"{self.root}` command to regenerate it"
        )

    def check_finite(self, block: dict[str, np.ndarray], start: int) -> None:
        """Raise :class:`DatasetError` naming the shard and row if ``block`` (rows ``start...`` of
        this view, as :meth:`read` returns them) holds NaN or inf in a float field."""
        for name, arr in block.items():
            if arr.dtype.kind == "f" and len(arr) and not np.all(np.isfinite(arr)):
                i = int(np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(1))[0])
                shard, row = self.shard_of(start + i)
                raise DatasetError(
                    f"shard {str(shard)!r} has NaN/inf in {name!r} at row {row}; delete the shard "
                    f"and re-run the same `a2d generate ... --out {self.root}` command to "
                    "regenerate it"
                )

    def shard_of(self, index: int) -> tuple[Path, int]:
        """The shard file holding row ``index`` of this view, and the row's global index."""
        row = self.start + int(index)
        return self.root / self.manifest.shards[row // self.manifest.shard_size]["file"], row

    def close(self) -> None:
        if self._pid == os.getpid():
            for f in self._files.values():
                f.close()
        self._files = {}

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_files"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    # ---- files -------------------------------------------------------------------------------
    def _file(self, k: int) -> h5py.File:
        if self._pid != os.getpid():  # forked: the parent's HDF5 handles are not ours to use
            self._files, self._pid = {}, os.getpid()
        f = self._files.get(k)
        if f is None:
            entry = self.manifest.shards[k]
            fix = f"re-run the same `a2d generate ... --out {self.root}` command to regenerate it"
            f = open_shard(self.root / entry["file"], entry, self.manifest.fields, fix=fix)
            self._files[k] = f
        return f


def open_dataset(root: str | Path, split: str | None = None) -> Dataset:
    """A lazy view over every row of ``split`` (``"train"``, ``"val"``, ``"test"``; None: all).

    Checks that the manifest is readable and every shard of the split exists; shard contents are
    checked when first opened. Raises :class:`~a2d.contracts.errors.DatasetError` naming the bad file.
    """
    root = Path(root)
    manifest = Manifest.read(root)
    if split is None:
        start, stop = 0, manifest.num_rows
    elif split in manifest.splits:
        start, stop = manifest.splits[split]
    else:
        raise UnknownSplitError(
            f"unknown split {split!r}; this dataset has {', '.join(manifest.splits)}"
        )
    size = manifest.shard_size
    if stop > start:
        for k in range(start // size, (stop - 1) // size + 1):
            path = root / manifest.shards[k]["file"]
            if not path.is_file():
                raise DatasetError(
                    f"shard {str(path)!r} is missing (dataset incomplete or interrupted); re-run "
                    f"the same `a2d generate ... --out {root}` command to finish it"
                )
    return Dataset(root, manifest, start, stop, split)


def __getattr__(name: str) -> Any:
    # The shard format (FIELD_DTYPES, shard_name, verify_shard, open_shard) moved to
    # a2d.storage.shards.
    return moved_name(__name__, name)
