"""What the shard checksums cost (issue 11: a resumed ``generate`` must find a damaged shard).

Shards are written with HDF5's ``fletcher32`` filter on every field; a resumed run reads each finished
shard back in full (:func:`a2d.storage.shards.verify_shard`). Measured on one shard of the reference layout
(32 rows of 4 s stereo at 44.1 kHz: float16 audio, 128 x 401 float32 mel, one row per chunk):

- writing the shard with and without ``fletcher32`` (the same arrays, fsync'd);
- reading it back in full with and without the checksum (the resume check), beside a SHA-256 of the
  file's bytes (the other design: a content hash per shard in the manifest) in the same run.

Rendering is left out: it is the same with or without checksums and would hide the difference
(a row renders in about 0.14 s; the ratios below are of the storage work alone).

Run: ``pytest benchmarks/bench_shard_checksum.py --benchmark-only``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from a2d.storage.shards import verify_shard

ROWS, CHANNELS, SAMPLES, MELS, FRAMES, WIDTH = 32, 2, 176400, 128, 401, 40


def _arrays(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "audio": rng.standard_normal((rows, CHANNELS, SAMPLES)).astype(np.float16),
        "mel": rng.standard_normal((rows, CHANNELS, MELS, FRAMES)).astype(np.float32),
        "params": rng.random((rows, WIDTH)).astype(np.float32),
        "note": rng.random((rows, 4)).astype(np.float32),
        "row": np.arange(rows, dtype=np.int64),
        "attempt": np.zeros(rows, np.int32),
    }


def _write(path: Path, arrays: dict[str, np.ndarray], checksum: bool) -> None:
    with open(path, "wb") as fh:
        with h5py.File(fh, "w") as f:
            for name, a in arrays.items():
                big = a.ndim >= 3
                f.create_dataset(
                    name, data=a, chunks=(1, *a.shape[1:]) if big else (checksum or None),
                    fletcher32=checksum,
                )  # fmt: skip
            f.attrs.update(rows=len(arrays["row"]), first_row=0)
        fh.flush()
        os.fsync(fh.fileno())


def _rows(benchmark) -> int:
    return 4 if benchmark.disabled else ROWS


@pytest.mark.parametrize("checksum", [False, True], ids=["plain", "fletcher32"])
def test_write_shard(benchmark, tmp_path: Path, checksum: bool) -> None:
    arrays = _arrays(_rows(benchmark))
    path = tmp_path / "shard.h5"
    benchmark.pedantic(_write, args=(path, arrays, checksum), rounds=5, iterations=1)
    benchmark.extra_info["bytes"] = path.stat().st_size


@pytest.mark.parametrize("how", ["read-plain", "read-fletcher32", "sha256-of-file"])
def test_verify_shard(benchmark, tmp_path: Path, how: str) -> None:
    rows = _rows(benchmark)
    arrays = _arrays(rows)
    path = tmp_path / "shard.h5"
    _write(path, arrays, checksum=how == "read-fletcher32")
    entry = {"rows": rows, "first_row": 0}

    def verify() -> None:
        if how == "sha256-of-file":
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        else:
            assert verify_shard(path, entry, list(arrays)) is None

    benchmark.pedantic(verify, rounds=5, iterations=1, warmup_rounds=1)  # page cache warm
    benchmark.extra_info["bytes"] = path.stat().st_size
