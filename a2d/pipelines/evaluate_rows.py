"""Scoring in ``a2d evaluate``: one row's proposals rendered and measured against the row's
audio (in a synth worker), a batch's records, and the table over all rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from a2d.contracts.spec import ParamSpec
from a2d.contracts.synth import SynthBackend
from a2d.kernels.metrics import AUDIO_METRICS, audio_metrics, mss, param_metrics
from a2d.pipelines.proposers import Proposer


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


def part_records(
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


def aggregate(
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
