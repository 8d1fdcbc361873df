"""Sampling K = 16 candidates for one input with the ``small`` flow model (vital_simple width, 4 s
mels, guidance weight 2): the old default (RK4, 100 steps) against fewer steps and other solvers,
all through ``a2d.kernels.ode``'s C++ loop at the machine's core count of torch threads.

The first case is the baseline; every later case records ``speedup_vs_rk4_100`` (median over
median, same run). Which of these the model can afford without losing best-of-16 MSS is measured
by ``python -m a2d.pipelines.sampling_sweep`` (docs/results.md, "Speed (issue 17)").

Also the shipped model sampled by torch against the torch-free NumPy sampler that ``a2d predict``
uses (``test_shipped_model_k16``: the ratio NumPy / torch, same candidates).

Run: ``pytest benchmarks/bench_sampling.py --benchmark-only``. Under ``--benchmark-disable`` (CI)
each case samples once.
"""

from __future__ import annotations

import pytest
import torch

from a2d.runtime import threads as _threads

K, MEL = 16, (2, 128, 401)
CASES = [("rk4", 100), ("rk4", 8), ("heun", 8), ("midpoint", 8), ("euler", 16), ("rk4", 4)]
MEDIANS: dict[tuple[str, int], float] = {}


@pytest.fixture(scope="module")
def model():
    from a2d.contracts.plugins import get_spec, model_class
    from a2d.pipelines.train.config import resolve_config

    args = resolve_config(preset="small").models["flow"]
    cls = model_class("flow")
    torch.manual_seed(0)
    m = cls.build(**cls.spec_args(get_spec("vital_simple"), MEL), **args).eval()
    before = torch.get_num_threads()
    torch.set_num_threads(_threads.cores())
    yield m
    torch.set_num_threads(before)


@pytest.mark.parametrize(("method", "steps"), CASES)
def test_sample_k16(benchmark, model, method: str, steps: int) -> None:
    features = torch.randn(1, *MEL, generator=torch.Generator().manual_seed(1))

    def run() -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        return model.predict(features, n_candidates=K, steps=steps, method=method, generator=g)

    with torch.inference_mode():
        out = benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    assert out.shape == (1, K, model.width) and bool(((out >= 0) & (out <= 1)).all())
    if benchmark.enabled:
        MEDIANS[(method, steps)] = benchmark.stats.stats.median
        info = {"method": method, "steps": steps, "candidates": K, "guidance_weight": 2.0,
                "threads": torch.get_num_threads()}  # fmt: skip
        if ("rk4", 100) in MEDIANS and (method, steps) != ("rk4", 100):
            info["speedup_vs_rk4_100"] = MEDIANS[("rk4", 100)] / MEDIANS[(method, steps)]
        benchmark.extra_info.update(info)


#: The shipped vital_simple model sampled by torch (the reference) and by the torch-free NumPy
#: sampler ``a2d predict`` uses (a2d_flow.numpy_model), K = 16 from the same noise, midpoint x 8.
SHIPPED = ["torch", "numpy"]
SHIPPED_MEDIANS: dict[str, float] = {}


@pytest.mark.parametrize("engine", SHIPPED)
def test_shipped_model_k16(benchmark, engine: str, monkeypatch) -> None:
    import numpy as np

    from a2d.storage.inference import load_for_inference
    from a2d.storage.pretrained import resolve_checkpoint

    if engine == "torch":
        monkeypatch.setenv("A2D_TORCH_INFERENCE", "1")
    ck = load_for_inference(resolve_checkpoint(None))
    assert type(ck).__name__ == ("Checkpoint" if engine == "torch" else "NumpyCheckpoint")
    mel = np.random.default_rng(1).normal(-40, 15, ck.input_shape).astype(np.float32)
    before = torch.get_num_threads()
    torch.set_num_threads(_threads.cores())
    try:
        out = benchmark.pedantic(lambda: ck.sample(mel, K, 0), rounds=5, warmup_rounds=1)
    finally:
        torch.set_num_threads(before)
    assert out.shape == (K, ck.spec.width)
    if benchmark.enabled:
        SHIPPED_MEDIANS[engine] = benchmark.stats.stats.median
        info = {"engine": engine, "candidates": K, "solver": "midpoint x 8"}
        if engine != "torch" and "torch" in SHIPPED_MEDIANS:
            info.update(ratio_vs="torch", ratio=SHIPPED_MEDIANS[engine] / SHIPPED_MEDIANS["torch"])
        benchmark.extra_info.update(info)
