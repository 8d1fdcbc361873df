"""Read a ``torch.save`` file without importing torch: its plain data, with every tensor as a NumPy
array.

``a2d predict`` with a shipped model needs the checkpoint's arrays, not torch (whose import alone
costs 1.5-2.5 s of a 2-core machine). A checkpoint is a zip archive: ``<name>/data.pkl`` pickles
the payload, and each tensor's storage is the raw little-endian bytes of ``<name>/data/<key>``.
This reader accepts exactly what ``torch.load(weights_only=True)`` accepts of a2d's checkpoints
(plain containers, numbers, strings, tensors of the common dtypes) and refuses any other pickled
global, as the weights-only loader does: reading a file never runs its code.
"""

from __future__ import annotations

import io
import pickle
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Skipped", "UnsupportedTorchFile", "read_torch_file"]

#: Storage classes of ``torch.save``'s legacy typed storages and their NumPy dtypes.
STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsupportedTorchFile(ValueError):
    """The file is a zip checkpoint, but holds something this reader does not rebuild (another
    dtype, a pickled class): load it with torch instead."""


class _Storage:
    """A storage class named in the pickle (its dtype)."""

    def __init__(self, name: str) -> None:
        self.name, self.dtype = name, STORAGE_DTYPES[name]


class Skipped:
    """A tensor left unread (``read_torch_file(..., arrays=False)``): its dtype and shape."""

    def __init__(self, dtype: np.dtype, shape: tuple[int, ...] = ()) -> None:
        self.dtype, self.shape = dtype, tuple(shape)

    def __repr__(self) -> str:
        return f"Skipped({self.dtype}, {self.shape})"


def _rebuild_tensor(
    storage: np.ndarray | Skipped, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
    *_: Any,
) -> np.ndarray | Skipped:  # fmt: skip
    """``torch._utils._rebuild_tensor_v2``: a C-ordered view of the (writable) storage, as torch
    shares it between tensors, or a copy where the layout is not C-ordered."""
    if isinstance(storage, Skipped):
        return Skipped(storage.dtype, size)
    if not size:
        return storage[offset : offset + 1].reshape(()).copy()
    needed = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride, strict=True) if n > 0)
    if min(size) > 0 and needed > storage.size:
        raise UnsupportedTorchFile(f"a tensor of shape {tuple(size)} overruns its storage")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * item for s in stride)
    )
    return np.ascontiguousarray(view)


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    return data


_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _Storage(name) for name in STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, arrays: bool) -> None:
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.arrays = archive, prefix, arrays
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _GLOBALS[(module, name)]
        except KeyError:
            raise UnsupportedTorchFile(f"the file pickles {module}.{name}") from None

    def persistent_load(self, pid: Any) -> np.ndarray | Skipped:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsupportedTorchFile(f"unknown persistent id {pid!r:.60}")
        kind, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(kind, _Storage):
            raise UnsupportedTorchFile(f"unknown storage type {kind!r:.60}")
        if not self.arrays:
            return Skipped(kind.dtype)
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}data/{key}")
            if len(raw) < numel * kind.dtype.itemsize:
                raise UnsupportedTorchFile(f"storage {key} is truncated")
            self.storages[key] = np.frombuffer(bytearray(raw), dtype=kind.dtype, count=numel)
        return self.storages[key]


def read_torch_file(path: str | Path, *, arrays: bool = True) -> Any:
    """The object a ``torch.save`` zip file holds, tensors as (writable) NumPy arrays; with
    ``arrays=False`` every tensor is a :class:`Skipped` and no tensor data is read (to describe
    a checkpoint from its plain data alone).

    :raises UnsupportedTorchFile: for content the weights-only loader would refuse, dtypes other
        than :data:`STORAGE_DTYPES`, or a big-endian file.
    :raises OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError: for a missing,
        truncated or foreign file.
    """
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise UnsupportedTorchFile("not a torch zip archive (no single <name>/data.pkl)")
        prefix = pickles[0][: -len("data.pkl")]
        try:
            order = archive.read(f"{prefix}byteorder").decode().strip()
        except KeyError:
            order = "little"
        if order != "little" or sys.byteorder != "little":
            raise UnsupportedTorchFile("only little-endian files on little-endian machines")
        result = _Unpickler(archive.read(pickles[0]), archive, prefix, arrays).load()
    return result
