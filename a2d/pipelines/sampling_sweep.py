"""How many ODE steps, and which solver, a flow checkpoint needs: quality and cost against both.

For every grid point ``(method, steps, guided)`` the checkpoint samples ``K`` candidates per input
from the same noise (the same generator seed for every grid point, so the comparison is paired),
and the tool records:

- ``ode_err``: RMS distance in the encoded [0, 1] space to the reference solution (RK4 at
  ``reference_steps``, default 32: its error is below 1e-5, 4th order; same noise, same guidance):
  the ODE's own truncation error, no renders;
- ``sample_s``: median seconds to sample the ``K`` candidates of one input (this process, its torch
  threads);
- ``mss_k1`` and ``mss_best``: the first candidate's and the best candidate's loudness-matched MSS
  (dB, as ``a2d predict`` ranks) against the target, rendered on the real synth: in domain (rows of
  a dataset split, target = the row's stored audio, candidates play their own note) and on a folder
  of sounds such as ``a2d devset`` writes (target = the analysed sound, candidates play its note).

Run: ``python -m a2d.pipelines.sampling_sweep CHECKPOINT --data DIR --sounds DIR --out FILE.json``;
``--help`` lists the grid options. Mean and standard error over inputs are in the JSON; the
Markdown table goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import CheckpointError
from a2d.kernels.ode import METHODS

#: Steps swept by default (the issue's 4 to 100).
STEPS: tuple[int, ...] = (4, 8, 16, 32, 100)
#: Function evaluations per step of each method.
STAGES = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}


@dataclass(frozen=True)
class GridPoint:
    method: str
    steps: int
    guided: bool

    @property
    def nfe(self) -> int:
        """Velocity evaluations (each of the stacked batch when guided)."""
        return STAGES[self.method] * self.steps


@dataclass
class _Input:
    name: str
    mel: np.ndarray  # (C, M, F) raw log-mel
    target: np.ndarray  # (C, N) audio the candidates are scored against
    note: Any  # a2d.contracts.notes.Note all candidates play, or None (their own note columns)


def default_grid(
    methods: tuple[str, ...] = METHODS, steps: tuple[int, ...] = STEPS, guided=(True, False)
) -> list[GridPoint]:
    return [GridPoint(m, s, g) for g in guided for m in methods for s in steps]


def _dataset_inputs(data: str | Path, split: str, rows: int) -> list[_Input]:
    from a2d.storage.dataset import open_dataset

    ds = open_dataset(data, split)
    n = min(rows, len(ds))
    if "audio" in ds.fields:
        got = ds.read(0, n, fields=("mel", "audio"))
        audio = [got["audio"][i].astype(np.float32) for i in range(n)]
    else:  # stored without audio: render each row's own parameters, as `a2d evaluate` does
        from a2d.contracts.plugins import create_backend

        got = ds.read(0, n, fields=("mel", "params"))
        backend = create_backend(ds.spec, ds.render_settings)
        try:
            audio = [backend.render(ds.spec.decode(got["params"][i])) for i in range(n)]
        finally:
            backend.close()
    return [_Input(f"{split}[{i}]", got["mel"][i], audio[i], None) for i in range(n)]


def _sound_inputs(folder: str | Path, ck: Any, limit: int) -> list[_Input]:
    from a2d.kernels.analysis import analyse_input
    from a2d.kernels.audio import find_sounds, load_sound
    from a2d.kernels.metrics import log_mel

    out = []
    for path in find_sounds([Path(folder)])[:limit]:
        sound = load_sound(path, ck.render_settings)
        target, note, _ = analyse_input(sound, ck.spec, ck.render_settings)
        mel = log_mel(target.audio, ck.render_settings.sample_rate, ck.mel_settings)
        out.append(_Input(path.name, mel, target.audio, note))
    return out


def _sample(ck: Any, mel: np.ndarray, k: int, point: GridPoint, seed: int) -> np.ndarray:
    import torch

    w = ck.model.guidance_weight if point.guided else 1.0
    out = ck.predict(
        torch.from_numpy(np.ascontiguousarray(mel))[None], n_candidates=k, steps=point.steps,
        method=point.method, guidance_weight=w, generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip
    return out[0].numpy().astype(np.float64)


def _mean_se(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return float("nan"), float("nan")
    se = float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else float("nan")
    return float(a.mean()), se


def sweep(
    checkpoint: str | Path,
    *,
    data: str | Path | None = None,
    split: str = "test",
    sounds: str | Path | None = None,
    rows: int = 8,
    candidates: int = 16,
    grid: list[GridPoint] | None = None,
    render_grid: list[GridPoint] | None = None,
    reference_steps: int = 32,
    workers: int = 2,
    seed: int = 0,
    timing_repeats: int = 3,
    synth_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the sweep (module docstring) and return ``{"settings": ..., "results": [...]}``.

    :param grid: points measured for ``ode_err`` and ``sample_s`` (default: every method at
        :data:`STEPS`, guided and not).
    :param render_grid: points also rendered and scored (default: ``grid``); rendering costs
        ``K`` renders per input and point.
    """
    from a2d.pipelines.refine import Objective
    from a2d.runtime.synth_pool import SynthPool
    from a2d.storage.checkpoint import load_checkpoint

    ck = load_checkpoint(checkpoint)
    if not ck.model.stochastic:
        raise CheckpointError(f"{checkpoint} holds a deterministic model; sweep a flow checkpoint")
    grid = default_grid() if grid is None else grid
    render_grid = grid if render_grid is None else render_grid
    sets: dict[str, list[_Input]] = {}
    if data is not None:
        sets["in_domain"] = _dataset_inputs(data, split, rows)
    if sounds is not None:
        sets["devset"] = _sound_inputs(sounds, ck, rows)
    results = []
    rate = ck.render_settings.sample_rate
    with SynthPool(
        ck.spec, ck.render_settings, workers=workers, synth_options=synth_options
    ) as pool:
        for set_name, inputs in sets.items():
            refs: dict[bool, list[np.ndarray]] = {}
            ref_secs: dict[bool, float] = {}
            for g in sorted({p.guided for p in grid}):
                t0 = time.perf_counter()
                refs[g] = [_sample(ck, x.mel, candidates, GridPoint("rk4", reference_steps, g), seed)
                           for x in inputs]  # fmt: skip
                ref_secs[g] = (time.perf_counter() - t0) / max(1, len(inputs))
            for point in grid:
                errs, k1, best, secs = [], [], [], []
                for i, x in enumerate(inputs):
                    t0 = time.perf_counter()
                    if point == GridPoint("rk4", reference_steps, point.guided):
                        vecs = refs[point.guided][i]  # the reference itself: timed as sampled
                        secs.append(ref_secs[point.guided])
                    else:
                        vecs = _sample(ck, x.mel, candidates, point, seed)
                        secs.append(time.perf_counter() - t0)
                    if i == 0:
                        for _ in range(timing_repeats - 1):
                            t0 = time.perf_counter()
                            _sample(ck, x.mel, candidates, point, seed)
                            secs.append(time.perf_counter() - t0)
                    errs.append(float(np.sqrt(np.mean((vecs - refs[point.guided][i]) ** 2))))
                    if point in render_grid:
                        objective = Objective(
                            ck.spec, x.target, rate, pool.map, chunks=max(1, 2 * pool.lanes),
                            note=x.note,
                        )  # fmt: skip
                        scores, _ = objective(vecs)
                        k1.append(float(scores[0]))
                        best.append(float(np.min(scores)))
                row: dict[str, Any] = {"set": set_name, **asdict(point), "nfe": point.nfe}
                row["ode_err"], row["ode_err_se"] = _mean_se(errs)
                row["sample_s"] = float(np.median(secs))
                if k1:
                    row["mss_k1"], row["mss_k1_se"] = _mean_se(k1)
                    row["mss_best"], row["mss_best_se"] = _mean_se(best)
                    row["mss_k1_each"], row["mss_best_each"] = k1, best
                results.append(row)
                print(_line(row), file=sys.stderr, flush=True)
    settings = {
        "checkpoint": str(checkpoint), "spec": ck.spec.name, "data": str(data), "split": split,
        "sounds": str(sounds), "rows": rows, "candidates": candidates, "seed": seed,
        "reference": f"rk4 x {reference_steps}", "guidance_weight": ck.model.guidance_weight,
        "model_default": f"{ck.model.method} x {ck.model.steps}",
    }  # fmt: skip
    return {"settings": settings, "results": results}


def _line(r: dict[str, Any]) -> str:
    mss = (
        f"| {r['mss_k1']:.3f} ± {r['mss_k1_se']:.3f} | {r['mss_best']:.3f} ± {r['mss_best_se']:.3f} "
        if "mss_k1" in r
        else "| | "
    )
    return (
        f"| {r['set']} | {r['method']} | {r['steps']} | {'on' if r['guided'] else 'off'} | "
        f"{r['nfe']} | {r['ode_err']:.4f} | {r['sample_s']:.3f} {mss}|"
    )


def markdown(report: dict[str, Any]) -> str:
    head = (
        "| set | solver | steps | guidance | NFE | ODE error | sample K s | MSS K=1 | "
        "MSS best-of-K |\n|---|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([head, *(_line(r) for r in report["results"])])


def _points(text: str, guided: tuple[bool, ...]) -> list[GridPoint]:
    """``rk4:4,8,16;euler:8`` -> grid points (for each guidance setting)."""
    out = []
    for part in filter(None, text.split(";")):
        method, _, steps = part.partition(":")
        out += [GridPoint(method, int(s), g) for g in guided for s in steps.split(",")]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m a2d.pipelines.sampling_sweep", description=__doc__.split("\n")[0]
    )
    p.add_argument("checkpoint")
    p.add_argument("--data", help="dataset folder (with audio) for the in-domain rows")
    p.add_argument("--split", default="test")
    p.add_argument("--sounds", help="folder of sounds (e.g. from `a2d devset`)")
    p.add_argument("--rows", type=int, default=8, help="inputs per set")
    p.add_argument("-k", "--candidates", type=int, default=16)
    p.add_argument("--grid", help="e.g. 'rk4:4,8,100;euler:8' (default: all methods x 4..100)")
    p.add_argument("--render", help="points also rendered (same syntax; default: the grid)")
    p.add_argument("--guidance", choices=["on", "off", "both"], default="both")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--reference-steps", type=int, default=32, help="RK4 steps of the reference")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the JSON report here")
    a = p.parse_args(argv)
    guided = {"on": (True,), "off": (False,), "both": (True, False)}[a.guidance]
    grid = _points(a.grid, guided) if a.grid else default_grid(guided=guided)
    render = _points(a.render, guided) if a.render else None
    report = sweep(
        a.checkpoint, data=a.data, split=a.split, sounds=a.sounds, rows=a.rows,
        candidates=a.candidates, grid=grid, render_grid=render, workers=a.workers, seed=a.seed,
        reference_steps=a.reference_steps,
    )  # fmt: skip
    if a.out:
        Path(a.out).write_text(json.dumps(report, indent=1))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
