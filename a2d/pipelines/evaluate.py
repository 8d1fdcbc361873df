"""How good is a checkpoint: ``a2d evaluate`` on a held-out split of a generated dataset.

For every evaluated row, each method proposes ``K`` encoded parameter vectors:

- the checkpoint's model (``K`` samples in one batch; a deterministic model proposes one),
- optionally a baseline checkpoint (e.g. the feed-forward model), the same way,
- ``nearest``: the ``K`` training rows whose log-mels are closest (L2 on time-pooled mels),
- ``random``: ``K`` patches drawn from the spec.

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

Writes ``OUT/samples.csv`` (one line per row, method and k), ``OUT/summary.json`` (means, standard
errors, parameter metrics per method) and ``OUT/report.html`` (table and MSS bar chart).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import ConfigError, DatasetError, OutputError
from a2d.contracts.spec import ParamSpec
from a2d.contracts.synth import SynthBackend
from a2d.kernels.metrics import AUDIO_METRICS, audio_metrics, mss, param_metrics
from a2d.storage.atomic import atomic_write

#: Time-pooling factor of the log-mels compared by the nearest-neighbour baseline.
NN_POOL = 4
#: Evaluated rows whose neighbours one streamed scan of the train split finds.
NN_QUERY_BLOCK = 512
#: The files of an evaluation folder that ``overwrite`` removes.
STATE_NAME, PARTS_DIR = "evaluate.json", "parts"
OUTPUT_NAMES = ("samples.csv", "summary.json", "report.html")


@dataclass
class Proposer:
    """One method: a name and a function ``(row indices (B,), mels (B, C, M, F)) -> (B, K, width)``
    of encoded vectors; the result may depend only on the rows and the method's seed."""

    name: str
    propose: Callable[[np.ndarray, np.ndarray], np.ndarray]
    stochastic: bool = True


def model_proposer(
    path: str | Path, spec: ParamSpec, k: int, seed: int, label: str | None = None
) -> Proposer:
    """Proposals from a checkpoint trained on exactly ``spec`` (else CheckpointError). Sampling
    noise is seeded by ``(seed, first row)`` of each call, so a batch's proposals do not depend on
    which batches ran before it."""
    import torch

    from a2d.storage.checkpoint import load_checkpoint

    ck = load_checkpoint(path, spec=spec)
    stochastic = ck.model.stochastic

    def propose(rows: np.ndarray, mels: np.ndarray) -> np.ndarray:
        kwargs: dict[str, Any] = {}
        if stochastic:
            state = np.random.SeedSequence([seed, int(rows[0])]).generate_state(1, np.uint64)
            kwargs["generator"] = torch.Generator().manual_seed(int(state[0]) >> 1)
        out = ck.predict(torch.from_numpy(mels), n_candidates=k if stochastic else 1, **kwargs)
        return out.detach().cpu().numpy().astype(np.float64)

    return Proposer(label or ck.model_name, propose, stochastic)


def random_proposer(spec: ParamSpec, k: int, seed: int) -> Proposer:
    """``k`` patches drawn from the spec; row ``r`` draws from ``default_rng([seed, 7, r])``."""

    def propose(rows: np.ndarray, mels: np.ndarray) -> np.ndarray:
        out = []
        for r in rows:
            rng = np.random.default_rng([seed, 7, int(r)])
            out.append(spec.encode_many([spec.sample(rng) for _ in range(k)]))
        return np.stack(out).astype(np.float64)

    return Proposer("random", propose)


def _pool(mels: np.ndarray) -> np.ndarray:
    """``(B, C, M, F)`` -> ``(B, C * M * (F // NN_POOL))`` time-averaged features."""
    b, c, m, f = mels.shape
    f4 = f // NN_POOL * NN_POOL
    return mels[..., :f4].reshape(b, c, m, -1, NN_POOL).mean(-1).reshape(b, -1)


def nearest_neighbours(
    queries: np.ndarray, train: Any, k: int, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` training rows nearest to each query in pooled log-mel L2, by one streamed scan of
    ``train`` (a dataset with ``mel`` and ``params``); never holds more than ``chunk`` train rows.

    :param queries: ``(Q, C, M, F)`` log-mels.
    :returns: ``(Q, k)`` train row indices, nearest first (the last repeated when the train split
        has fewer than ``k`` rows), and their ``(Q, k, width)`` encoded parameters.
    """
    import torch

    q = torch.from_numpy(_pool(queries))
    best_d = torch.full((len(q), 0), float("inf"), dtype=q.dtype)
    best_i = torch.zeros((len(q), 0), dtype=torch.long)
    best_p = torch.zeros((len(q), 0, train.spec.width), dtype=torch.float64)
    for start in range(0, len(train), chunk):
        block = train.read(start, min(start + chunk, len(train)), fields=("mel", "params"))
        train.check_finite(block, start)
        d = torch.cdist(q, torch.from_numpy(_pool(block["mel"])))
        n, kept = d.shape[1], best_d.shape[1]
        idx = torch.arange(start, start + n).expand(len(q), -1)
        d, i = torch.cat([best_d, d], 1), torch.cat([best_i, idx], 1)
        order = torch.argsort(d, dim=1, stable=True)[:, :k]
        best_d, best_i = torch.gather(d, 1, order), torch.gather(i, 1, order)
        # Parameters of the chosen rows only: from the kept set or from this chunk (no
        # (Q, kept + n, width) tensor: that is hundreds of MB for wide specs).
        chunk_p = torch.from_numpy(block["params"].astype(np.float64))
        if kept:
            width = chunk_p.shape[-1]
            old = best_p.gather(1, order.clamp(max=kept - 1)[..., None].expand(-1, -1, width))
            new = chunk_p[(order - kept).clamp(min=0)]
            best_p = torch.where((order < kept)[..., None], old, new)
        else:
            best_p = chunk_p[order]
    rows, params = best_i.numpy(), best_p.numpy()
    if rows.shape[1] < k:
        pad = k - rows.shape[1]
        rows = np.concatenate([rows, np.repeat(rows[:, -1:], pad, axis=1)], axis=1)
        params = np.concatenate([params, np.repeat(params[:, -1:], pad, axis=1)], axis=1)
    return rows, params


def nearest_proposer(train: Any, k: int, queries: Any = None, limit: int | None = None) -> Proposer:
    """The ``k`` training rows nearest in pooled log-mel L2.

    With ``queries`` (the evaluated dataset), one scan of ``train`` answers the next
    :data:`NN_QUERY_BLOCK` rows of ``queries`` (up to ``limit``) at once, instead of one scan per
    batch; without, each call scans for its own rows.
    """
    if len(train) == 0:
        raise DatasetError("the train split is empty; the nearest-neighbour baseline needs it")
    cache: dict[int, np.ndarray] = {}
    end = len(queries) if queries is not None else 0
    end = min(end, limit) if limit is not None else end

    def propose(rows: np.ndarray, mels: np.ndarray) -> np.ndarray:
        if queries is None or int(rows[-1]) >= end:
            return nearest_neighbours(mels, train, k)[1]
        if int(rows[0]) not in cache:
            cache.clear()
            a = int(rows[0])
            b = min(end, a + max(NN_QUERY_BLOCK, len(rows)))
            _, params = nearest_neighbours(queries.read(a, b, fields=("mel",))["mel"], train, k)
            cache.update({a + j: p for j, p in enumerate(params)})
        return np.stack([cache[int(r)] for r in rows])

    return Proposer("nearest", propose)


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


def score_row(
    backend: SynthBackend,
    target: np.ndarray,
    target_is_params: bool,
    proposals: dict[str, tuple[np.ndarray, bool]],
    best_label: str,
) -> dict[str, list[tuple[str, int, dict[str, float]]]]:
    """Render and score one row's proposals (runs in a synth worker).

    :param target: ``(C, N)`` audio, or the ``(width,)`` encoded target when ``target_is_params``
        (a dataset stored without audio: the target is rendered here).
    :param proposals: method -> (``(K, width)`` canonical vectors, stochastic).
    :returns: method -> ``[(k label, index of the scored proposal, {metric: value}), ...]``.
    """
    spec, rate = backend.spec, backend.settings.sample_rate
    if target_is_params:
        target = backend.render(spec.decode(target))
    out = {}
    for name, (vecs, stochastic) in proposals.items():
        renders = np.stack([backend.render(spec.decode(v)) for v in vecs])
        pick = {"1": 0}
        if stochastic and len(vecs) > 1:
            pick[best_label] = int(np.argmin(mss(renders, target, rate)))
        keys = list(pick)
        scores = audio_metrics(renders[[pick[k] for k in keys]], target, rate)
        out[name] = [
            (k, pick[k], {m: float(v[j]) for m, v in scores.items()}) for j, k in enumerate(keys)
        ]
    return out


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
    ``on_progress(done, total)`` after each batch (``done`` counts resumed rows too)."""
    from a2d.runtime.synth_pool import SynthPool, result
    from a2d.storage.checkpoint import load_checkpoint
    from a2d.storage.dataset import open_dataset

    t0 = time.perf_counter()
    if candidates < 1:
        raise ConfigError(f"candidates must be >= 1, got {candidates}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if workers < 0:
        raise ConfigError(f"workers must be >= 0, got {workers}")
    ds = open_dataset(data, split)
    spec, settings = ds.spec, ds.render_settings
    ck = load_checkpoint(checkpoint, spec=spec)
    if ck.render_settings != settings or ck.mel_settings != ds.mel_settings:
        raise DatasetError(
            f"dataset {str(data)!r} was rendered with other render/mel settings than checkpoint "
            f"{str(checkpoint)!r} was trained on; evaluate on data generated with the same config"
        )
    n = len(ds) if limit is None else min(int(limit), len(ds))
    if n == 0:
        raise DatasetError(f"split {split!r} of {str(data)!r} has no rows to evaluate")
    methods = [model_proposer(checkpoint, spec, candidates, seed)]
    if baseline_checkpoint is not None:
        methods.append(model_proposer(baseline_checkpoint, spec, candidates, seed, None))
        if methods[1].name == methods[0].name:
            methods[1].name = f"baseline-{methods[1].name}"
    if nearest:
        methods.append(nearest_proposer(open_dataset(data, "train"), candidates, ds, n))
    if random:
        methods.append(random_proposer(spec, candidates, seed))
    out = Path(out)
    identity = {
        "checkpoint_sha256": _sha256(checkpoint),
        "baseline_sha256": _sha256(baseline_checkpoint) if baseline_checkpoint else None,
        "data": str(Path(data).resolve()),
        "spec_fingerprint": spec.fingerprint,
        "split": split,
        "rows": n,
        "candidates": candidates,
        "seed": seed,
        "batch_size": batch_size,
        "methods": [m.name for m in methods],
    }
    parts = _prepare(out, identity, overwrite)
    best_label = f"best-of-{candidates}"
    fields = ("mel", "params", "audio") if "audio" in ds.fields else ("mel", "params")
    starts = list(range(0, n, batch_size))
    todo = [s for s in starts if not _part_path(parts, s).exists()]
    resumed = n - sum(min(s + batch_size, n) - s for s in todo)
    done = resumed
    if on_progress is not None and resumed:
        on_progress(done, n)

    def propose(start: int) -> tuple[dict[str, np.ndarray], list[Future]]:
        block = ds.read(start, min(start + batch_size, n), fields=fields)
        ds.check_finite(block, start)  # a damaged row is named, not scored as NaN
        rows = np.arange(start, start + block["mel"].shape[0])
        proposals = {  # snapped to valid settings: what is rendered is what is scored
            m.name: np.stack(
                [
                    np.stack([spec.canonicalize(v) for v in row])
                    for row in m.propose(rows, block["mel"])
                ]
            )
            for m in methods
        }
        futures = []
        for b in range(len(rows)):
            per_method = {m.name: (proposals[m.name][b], m.stochastic) for m in methods}
            target, is_params = (
                (block["audio"][b].astype(np.float32), False)
                if "audio" in block
                else (block["params"][b], True)
            )
            futures.append(pool.submit(score_row, target, is_params, per_method, best_label))
        return {"rows": rows, "params": block["params"], "proposals": proposals}, futures

    with SynthPool(spec, settings, workers=workers, synth_options=synth_options) as pool:
        # The model proposes batch i + 1 while the workers render and score batch i.
        pending = propose(todo[0]) if todo else None
        for i, start in enumerate(todo):
            assert pending is not None
            block, futures = pending
            pending = propose(todo[i + 1]) if i + 1 < len(todo) else None
            scored = [result(f) for f in futures]
            _write_part(parts, start, _part(block, scored, methods))
            done += len(block["rows"])
            if on_progress is not None:
                on_progress(done, n)
    records, chosen, targets = _collect(parts, starts)
    summary = EvaluateSummary(
        out, n, candidates, _aggregate(records, chosen, targets, spec), resumed_rows=resumed
    )
    summary.seconds = time.perf_counter() - t0
    _write(summary, records, checkpoint, data, split, workers)
    return summary


def _part(
    block: dict[str, Any], scored: list[dict[str, Any]], methods: list[Proposer]
) -> dict[str, Any]:
    """One batch's records and chosen vectors (JSON-ready)."""
    records: list[dict[str, Any]] = []
    chosen: dict[str, list[list[float]]] = {}
    for b, row in enumerate(block["rows"]):
        target = block["params"][b].astype(np.float64)
        for m in methods:
            vecs = block["proposals"][m.name][b]
            for k, index, scores in scored[b][m.name]:
                vec = np.asarray(vecs[index], dtype=np.float64)
                chosen.setdefault(f"{m.name}\t{k}", []).append(vec.tolist())
                rec = {"row": int(row), "method": m.name, "k": k, **scores}
                rec["param_mse"] = float(np.mean((vec - target) ** 2))
                records.append(rec)
    return {
        "records": records,
        "chosen": chosen,
        "targets": block["params"].astype(np.float64).tolist(),
    }


def _prepare(out: Path, identity: dict[str, Any], overwrite: bool) -> Path:
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


def _part_path(parts: Path, start: int) -> Path:
    return parts / f"rows-{start:08d}.json"


def _write_part(parts: Path, start: int, part: dict[str, Any]) -> None:
    atomic_write(_part_path(parts, start), json.dumps(part))


def _collect(
    parts: Path, starts: list[int]
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], list], np.ndarray]:
    records: list[dict[str, Any]] = []
    chosen: dict[tuple[str, str], list] = {}
    targets: list[list[float]] = []
    for start in starts:
        path = _part_path(parts, start)
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


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _aggregate(
    records: list[dict[str, Any]], chosen: dict, targets: np.ndarray, spec: ParamSpec
) -> dict:
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for (method, k), vecs in chosen.items():
        recs = [r for r in records if r["method"] == method and r["k"] == k]
        entry: dict[str, Any] = {"n": len(recs)}
        for name in (*AUDIO_METRICS, "param_mse"):
            v = np.array([r[name] for r in recs])
            entry[name] = float(v.mean())
            entry[f"{name}_se"] = (
                float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
            )
        pm = param_metrics(np.stack(vecs), targets[: len(vecs)], spec)
        pm.pop("per_row_mse")
        entry["params"] = pm
        table.setdefault(method, {})[k] = entry
    return table


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
