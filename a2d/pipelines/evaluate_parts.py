"""The resumable state of an ``a2d evaluate`` folder: ``OUT/evaluate.json`` says what is being
evaluated, ``OUT/parts/rows-<start>.json`` holds each finished batch (written atomically), so a
re-run of the same command skips the finished batches and a different one is refused."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import OutputError
from a2d.storage.atomic import atomic_write

#: The files of an evaluation folder that ``overwrite`` removes.
STATE_NAME, PARTS_DIR = "evaluate.json", "parts"
OUTPUT_NAMES = ("samples.csv", "summary.json", "report.html")


def prepare(out: Path, identity: dict[str, Any], overwrite: bool) -> Path:
    """Create ``out`` for a fresh or resumed evaluation with ``identity``; return the parts folder."""
    state, parts = out / STATE_NAME, out / PARTS_DIR
    try:
        out.mkdir(parents=True, exist_ok=True)
        if overwrite:
            shutil.rmtree(parts, ignore_errors=True)
            for name in (STATE_NAME, *OUTPUT_NAMES):
                (out / name).unlink(missing_ok=True)
        if state.exists():
            try:
                before = json.loads(state.read_text())
            except ValueError:
                before = {}
            differ = sorted(k for k in identity if before.get(k) != identity[k])
            if differ:
                raise OutputError(
                    f"{str(out)!r} holds an evaluation with other settings ({', '.join(differ)}); "
                    "use another --out, or --overwrite to start again"
                )
        else:
            shutil.rmtree(parts, ignore_errors=True)  # parts of an unknown run are not ours
            atomic_write(state, json.dumps(identity, indent=1))
        parts.mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write {str(out)!r}: {exc}; choose a writable --out") from None
    return parts


def part_path(parts: Path, start: int) -> Path:
    return parts / f"rows-{start:08d}.json"


def write_part(parts: Path, start: int, part: dict[str, Any]) -> None:
    atomic_write(part_path(parts, start), json.dumps(part))


def collect(
    parts: Path, starts: list[int]
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], list], np.ndarray]:
    records: list[dict[str, Any]] = []
    chosen: dict[tuple[str, str], list] = {}
    targets: list[list[float]] = []
    for start in starts:
        path = part_path(parts, start)
        try:
            part = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise OutputError(
                f"cannot read {str(path)!r} ({exc}); delete it and re-run to redo those rows"
            ) from None
        records.extend(part["records"])
        targets.extend(part["targets"])
        for key, vecs in part["chosen"].items():
            method, k = key.split("\t")
            chosen.setdefault((method, k), []).extend(vecs)
    return records, chosen, np.asarray(targets, dtype=np.float64)


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
