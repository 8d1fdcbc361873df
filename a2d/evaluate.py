"""How good is a checkpoint: ``a2d evaluate`` on a held-out split of a generated dataset.

For every evaluated row, each method proposes ``K`` encoded parameter vectors:

- the checkpoint's model (``K`` samples in one batch; a deterministic model proposes one),
- optionally a baseline checkpoint (e.g. the feed-forward model), the same way,
- ``nearest``: the ``K`` training rows whose log-mels are closest (L2 on time-pooled mels),
- ``random``: ``K`` patches drawn from the spec.

Proposals are snapped to valid settings (``spec.canonicalize``), rendered by the real synth and
compared with the row's audio. ``k=1`` scores the first proposal; ``best-of-K`` the proposal with
the lowest MSS against the target (an oracle choice, as when a user auditions K presets). Audio
metrics: :mod:`a2d.metrics`; parameter metrics on the canonical vectors.

Writes ``OUT/samples.csv`` (one line per row, method and k), ``OUT/summary.json`` (means, standard
errors, parameter metrics per method) and ``OUT/report.html`` (table and MSS bar chart).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2d.errors import ConfigError, DatasetError, OutputError
from a2d.metrics import AUDIO_METRICS, audio_metrics, mss, param_metrics
from a2d.spec import ParamSpec

#: Time-pooling factor of the log-mels compared by the nearest-neighbour baseline.
NN_POOL = 4


@dataclass
class Proposer:
    """One method: a name and a function ``(row indices, mels (B, C, M, F)) -> (B, K, width)``."""

    name: str
    propose: Callable[[np.ndarray, np.ndarray], np.ndarray]
    stochastic: bool = True


def model_proposer(
    path: str | Path, spec: ParamSpec, k: int, seed: int, label: str | None = None
) -> Proposer:
    """Proposals from a checkpoint trained on exactly ``spec`` (else CheckpointError)."""
    from a2d.checkpoint import load_checkpoint

    ck = load_checkpoint(path, spec=spec)
    stochastic = ck.model.stochastic
    gen = torch.Generator().manual_seed(seed)

    def propose(rows: np.ndarray, mels: np.ndarray) -> np.ndarray:
        kwargs = {"generator": gen} if stochastic else {}
        out = ck.predict(torch.from_numpy(mels), n_candidates=k if stochastic else 1, **kwargs)
        return out.detach().cpu().numpy().astype(np.float64)

    return Proposer(label or ck.model_name, propose, stochastic)


def random_proposer(spec: ParamSpec, k: int, seed: int) -> Proposer:
    rng = np.random.default_rng([seed, 7])

    def propose(rows: np.ndarray, mels: np.ndarray) -> np.ndarray:
        return np.stack(
            [spec.encode_many([spec.sample(rng) for _ in range(k)]) for _ in rows]
        ).astype(np.float64)

    return Proposer("random", propose)


def _pool(mels: np.ndarray) -> np.ndarray:
    """``(B, C, M, F)`` -> ``(B, C * M * (F // NN_POOL))`` time-averaged features."""
    b, c, m, f = mels.shape
    f4 = f // NN_POOL * NN_POOL
    return mels[..., :f4].reshape(b, c, m, -1, NN_POOL).mean(-1).reshape(b, -1)


def nearest_proposer(train: Any, k: int, chunk: int = 256) -> Proposer:
    """The ``k`` training rows nearest in pooled log-mel L2 (a streamed scan of the train split)."""
    if len(train) == 0:
        raise DatasetError("the train split is empty; the nearest-neighbour baseline needs it")

    def propose(rows: np.ndarray, mels: np.ndarray) -> np.ndarray:
        q = torch.from_numpy(_pool(mels))
        best_d = torch.full((len(rows), 0), float("inf"))
        best_i = torch.zeros((len(rows), 0), dtype=torch.long)
        for start in range(0, len(train), chunk):
            block = train.read(start, min(start + chunk, len(train)), fields=("mel",))["mel"]
            d = torch.cdist(q, torch.from_numpy(_pool(block)))
            idx = torch.arange(start, start + block.shape[0]).expand(len(rows), -1)
            d, i = torch.cat([best_d, d], 1), torch.cat([best_i, idx], 1)
            order = torch.argsort(d, dim=1)[:, :k]
            best_d, best_i = torch.gather(d, 1, order), torch.gather(i, 1, order)
        out = [
            [train.read(int(j), int(j) + 1, fields=("params",))["params"][0] for j in r]
            for r in best_i
        ]
        out = np.asarray(out, dtype=np.float64)
        if out.shape[1] < k:  # fewer train rows than k: repeat the last
            out = np.concatenate([out, np.repeat(out[:, -1:], k - out.shape[1], axis=1)], axis=1)
        return out

    return Proposer("nearest", propose)


@dataclass
class EvaluateSummary:
    """What :func:`evaluate` wrote and the aggregate table (``table[method][k] -> metrics``)."""

    out: Path
    n: int
    candidates: int
    table: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

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
    seed: int = 0,
    batch_size: int = 8,
    synth_options: dict[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvaluateSummary:
    """Evaluate ``checkpoint`` (and baselines) on ``split`` of dataset ``data``; see the module
    docstring. ``limit``: the first N rows only. ``on_progress(done, total)`` after each batch."""
    from a2d.checkpoint import load_checkpoint
    from a2d.dataset import open_dataset
    from a2d.synth import create_backend

    if candidates < 1:
        raise ConfigError(f"candidates must be >= 1, got {candidates}")
    ds = open_dataset(data, split)
    spec, settings, rate = ds.spec, ds.render_settings, ds.render_settings.sample_rate
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
        methods.append(nearest_proposer(open_dataset(data, "train"), candidates))
    if random:
        methods.append(random_proposer(spec, candidates, seed))
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc}; choose a writable --out") from exc
    best_label = f"best-of-{candidates}"
    records: list[dict[str, Any]] = []
    chosen: dict[tuple[str, str], list[np.ndarray]] = {}
    targets: list[np.ndarray] = []
    fields = ("mel", "params", "audio") if "audio" in ds.fields else ("mel", "params")
    with create_backend(spec, settings, **(synth_options or {})) as backend:
        for start in range(0, n, batch_size):
            block = ds.read(start, min(start + batch_size, n), fields=fields)
            rows = np.arange(start, start + block["mel"].shape[0])
            targets.extend(block["params"].astype(np.float64))
            if "audio" in block:
                audio = block["audio"].astype(np.float32)
            else:
                audio = np.stack([backend.render(spec.decode(p)) for p in block["params"]])
            proposals = {m.name: m.propose(rows, block["mel"]) for m in methods}
            for b, row in enumerate(rows):
                for m in methods:
                    vecs = np.stack([spec.canonicalize(v) for v in proposals[m.name][b]])
                    renders = np.stack([backend.render(spec.decode(v)) for v in vecs])
                    pick = {"1": 0}
                    if m.stochastic and len(vecs) > 1:
                        pick[best_label] = int(np.argmin(mss(renders, audio[b], rate)))
                    keys = list(pick)
                    scores = audio_metrics(renders[[pick[k] for k in keys]], audio[b], rate)
                    for j, k in enumerate(keys):
                        vec = vecs[pick[k]]
                        chosen.setdefault((m.name, k), []).append(vec)
                        rec = {"row": int(row), "method": m.name, "k": k}
                        rec.update({name: float(v[j]) for name, v in scores.items()})
                        rec["param_mse"] = float(np.mean((vec - block["params"][b]) ** 2))
                        records.append(rec)
            if on_progress is not None:
                on_progress(int(rows[-1]) + 1, n)
    summary = EvaluateSummary(
        out, n, candidates, _aggregate(records, chosen, np.stack(targets), spec)
    )
    _write(summary, records, checkpoint, data, split)
    return summary


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
    summary: EvaluateSummary, records: list[dict[str, Any]], checkpoint, data, split
) -> None:
    from a2d.report import evaluate_report

    header = ["row", "method", "k", *AUDIO_METRICS, "param_mse"]
    with summary.samples_csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(records)
    doc = {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "split": split,
        "rows": summary.n,
        "candidates": summary.candidates,
        "higher_is_better": {**AUDIO_METRICS, "param_mse": False},
        "methods": summary.table,
    }
    summary.summary_json.write_text(json.dumps(doc, indent=2))
    summary.report.write_text(evaluate_report(doc))
