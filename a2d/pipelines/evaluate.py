"""How good is a checkpoint: ``a2d evaluate`` on a held-out split of a generated dataset.

For every evaluated row, each method proposes ``K`` encoded parameter vectors:

- the checkpoint's model (``K`` samples in one batch; a deterministic model proposes one),
- optionally a baseline checkpoint (e.g. the feed-forward model), the same way,
- ``nearest``: the ``K`` training rows whose log-mels are closest (L2 on time-pooled mels),
- ``random``: ``K`` patches drawn from the spec,
- optionally ``edit`` (``edits`` > 0, a flow model): the model carries the first ``edits`` of those
  nearest rows towards the row's sound (noised to ``edit_t0``, integrated to 1), ``K`` in all: the
  model used as ``a2d predict`` uses its edits, at the same renders as the rows it starts from.

Proposals are snapped to valid settings (``spec.canonicalize``), rendered by the real synth and
compared with the row's audio. ``k=1`` scores the first proposal; ``best-of-K`` the proposal with
the lowest MSS against the target (an oracle choice, as when a user auditions K presets). Audio
metrics: :mod:`a2d.kernels.metrics`; parameter metrics on the canonical vectors.

Work is spread over ``workers`` processes (:class:`a2d.runtime.synth_pool.SynthPool`): each row's renders
and metrics are one task, and the model proposes the next batch while the workers render this one.

Crash-safe and resumable: each finished batch of rows is written to ``OUT/parts/`` (temp file, then
rename), and ``OUT/evaluate.json`` records what is being evaluated. Re-running the same command
skips the finished batches; proposals depend only on ``(seed, row)`` (model sampling: on ``(seed,
first row of the batch)``), so a resumed evaluation ends with the same table as an uninterrupted
one. Settings that would change the table (checkpoints, data, split, rows, K, seed, methods, batch
size) must match, else it is an error that names them (``overwrite=True`` starts again).

The proposers are in :mod:`a2d.pipelines.proposers`, row scoring and the table in
:mod:`a2d.pipelines.evaluate_rows`, the resumable folder in :mod:`a2d.pipelines.evaluate_parts`.

Writes ``OUT/samples.csv`` (one line per row, method and k), ``OUT/summary.json`` (means, standard
errors, parameter metrics per method) and ``OUT/report.html`` (table and MSS bar chart).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import ConfigError, DatasetError
from a2d.kernels.metrics import AUDIO_METRICS
from a2d.pipelines.evaluate_parts import collect, part_path, prepare, sha256, write_part
from a2d.pipelines.evaluate_rows import aggregate, part_records, score_row
from a2d.pipelines.proposers import (
    EDIT_T0,
    Proposer,
    edit_proposer,
    model_proposer,
    nearest_proposer,
    random_proposer,
)
from a2d.storage.atomic import atomic_write


@dataclass
class EvaluateSummary:
    """What :func:`evaluate` wrote and the aggregate table (``table[method][k] -> metrics``).

    :param resumed_rows: rows found finished in ``OUT`` from an earlier run (not recomputed).
    """

    out: Path
    n: int
    candidates: int
    table: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    resumed_rows: int = 0
    seconds: float = 0.0

    @property
    def samples_csv(self) -> Path:
        return self.out / "samples.csv"

    @property
    def summary_json(self) -> Path:
        return self.out / "summary.json"

    @property
    def report(self) -> Path:
        return self.out / "report.html"


def evaluate(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    split: str = "test",
    candidates: int = 16,
    limit: int | None = None,
    baseline_checkpoint: str | Path | None = None,
    nearest: bool = True,
    random: bool = True,
    edits: int = 0,
    edit_t0: float = EDIT_T0,
    seed: int = 0,
    batch_size: int = 8,
    workers: int = 0,
    overwrite: bool = False,
    synth_options: dict[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvaluateSummary:
    """Evaluate ``checkpoint`` (and baselines) on ``split`` of dataset ``data``; see the module
    docstring. ``limit``: the first N rows only. ``workers``: synth processes (0: render here).
    ``overwrite``: discard an earlier evaluation in ``out`` instead of resuming it.
    ``edits``/``edit_t0``: add the ``edit`` method (needs ``nearest`` and a flow checkpoint).
    ``on_progress(done, total)`` after each batch (``done`` counts resumed rows too)."""
    from a2d.runtime.synth_pool import SynthPool, result
    from a2d.storage.dataset import open_dataset

    t0 = time.perf_counter()
    _check_counts(candidates=candidates, batch_size=batch_size, workers=workers, edits=edits)
    if edits and not nearest:
        raise ConfigError("--edits starts from the nearest training rows; drop --no-nearest")
    ds = open_dataset(data, split)
    n = _rows_to_evaluate(ds, checkpoint, data, split, limit)
    methods = [model_proposer(checkpoint, ds.spec, candidates, seed)]
    if baseline_checkpoint is not None:
        methods.append(model_proposer(baseline_checkpoint, ds.spec, candidates, seed, None))
        if methods[1].name == methods[0].name:
            methods[1].name = f"baseline-{methods[1].name}"
    if nearest:
        methods.append(nearest_proposer(open_dataset(data, "train"), candidates, ds, n))
    if random:
        methods.append(random_proposer(ds.spec, candidates, seed))
    if edits:
        near = methods[-2] if random else methods[-1]
        methods.append(edit_proposer(checkpoint, ds.spec, near, candidates, edits, edit_t0, seed))
    out = Path(out)
    identity = {
        "checkpoint_sha256": sha256(checkpoint),
        "baseline_sha256": sha256(baseline_checkpoint) if baseline_checkpoint else None,
        "data": str(Path(data).resolve()),
        "spec_fingerprint": ds.spec.fingerprint,
        "split": split,
        "rows": n,
        "candidates": candidates,
        "seed": seed,
        "batch_size": batch_size,
        "methods": [m.name for m in methods],
        **({"edits": edits, "edit_t0": edit_t0} if edits else {}),
    }
    parts = prepare(out, identity, overwrite)
    starts = list(range(0, n, batch_size))
    todo = [s for s in starts if not part_path(parts, s).exists()]
    done = resumed = n - sum(min(s + batch_size, n) - s for s in todo)
    if on_progress is not None and resumed:
        on_progress(done, n)
    batches = _Batches(ds, n, batch_size, methods, f"best-of-{candidates}")
    with SynthPool(
        ds.spec, ds.render_settings, workers=workers, synth_options=synth_options
    ) as pool:
        # The model proposes batch i + 1 while the workers render and score batch i.
        pending = batches.submit(pool, todo[0]) if todo else None
        for i, start in enumerate(todo):
            assert pending is not None
            block, futures = pending
            pending = batches.submit(pool, todo[i + 1]) if i + 1 < len(todo) else None
            scored = [result(f) for f in futures]
            write_part(parts, start, part_records(block, scored, methods))
            done += len(block["rows"])
            if on_progress is not None:
                on_progress(done, n)
    records, chosen, targets = collect(parts, starts)
    table = aggregate(records, chosen, targets, ds.spec)
    summary = EvaluateSummary(out, n, candidates, table, resumed_rows=resumed)
    summary.seconds = time.perf_counter() - t0
    _write(summary, records, checkpoint, data, split, workers)
    return summary


def _check_counts(**counts: int) -> None:
    least = {"candidates": 1, "batch_size": 1, "workers": 0, "edits": 0}
    for name, value in counts.items():
        if value < least[name]:
            raise ConfigError(f"{name} must be >= {least[name]}, got {value}")


def _rows_to_evaluate(
    ds: Any, checkpoint: str | Path, data: str | Path, split: str, limit: int | None
) -> int:
    """How many rows of ``ds`` to evaluate, after checking the checkpoint was trained on data
    like it (same spec, render and mel settings)."""
    from a2d.storage.checkpoint import load_checkpoint

    ck = load_checkpoint(checkpoint, spec=ds.spec)
    if ck.render_settings != ds.render_settings or ck.mel_settings != ds.mel_settings:
        raise DatasetError(
            f"dataset {str(data)!r} was rendered with other render/mel settings than checkpoint "
            f"{str(checkpoint)!r} was trained on; evaluate on data generated with the same config"
        )
    n = len(ds) if limit is None else min(int(limit), len(ds))
    if n == 0:
        raise DatasetError(f"split {split!r} of {str(data)!r} has no rows to evaluate")
    return n


@dataclass
class _Batches:
    """Reads a batch of evaluated rows, asks every method for its proposals, and submits one
    scoring task per row to a synth pool."""

    ds: Any
    n: int
    batch_size: int
    methods: list[Proposer]
    best_label: str

    def submit(self, pool: Any, start: int) -> tuple[dict[str, Any], list[Future]]:
        """The batch at row ``start`` (rows, target params, proposals) and its rows' futures."""
        ds, spec = self.ds, self.ds.spec
        fields = ("mel", "params", "audio") if "audio" in ds.fields else ("mel", "params")
        block = ds.read(start, min(start + self.batch_size, self.n), fields=fields)
        ds.check_finite(block, start)  # a damaged row is named, not scored as NaN
        rows = np.arange(start, start + block["mel"].shape[0])
        proposals = {  # snapped to valid settings: what is rendered is what is scored
            m.name: np.stack(
                [
                    np.stack([spec.canonicalize(v) for v in row])
                    for row in m.propose(rows, block["mel"])
                ]
            )
            for m in self.methods
        }
        futures = []
        for b in range(len(rows)):
            per_method = {m.name: (proposals[m.name][b], m.stochastic) for m in self.methods}
            if "audio" in block:
                target, is_params = block["audio"][b].astype(np.float32), False
            else:
                target, is_params = block["params"][b], True
            futures.append(pool.submit(score_row, target, is_params, per_method, self.best_label))
        return {"rows": rows, "params": block["params"], "proposals": proposals}, futures


def _write(
    summary: EvaluateSummary,
    records: list[dict[str, Any]],
    checkpoint: str | Path,
    data: str | Path,
    split: str,
    workers: int,
) -> None:
    from a2d.pipelines.report import evaluate_report

    header = ["row", "method", "k", *AUDIO_METRICS, "param_mse"]
    doc = {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "split": split,
        "rows": summary.n,
        "candidates": summary.candidates,
        "resumed_rows": summary.resumed_rows,
        "seconds": summary.seconds,
        "workers": workers,
        "higher_is_better": {**AUDIO_METRICS, "param_mse": False},
        "methods": summary.table,
    }
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=header)
    writer.writeheader()
    writer.writerows(records)
    atomic_write(summary.samples_csv, table.getvalue())
    atomic_write(summary.summary_json, json.dumps(doc, indent=2))
    atomic_write(summary.report, evaluate_report(doc))
