"""Flow ODE sampling, 100 RK4 steps with classifier-free guidance through a small MLP velocity
field (3 x 256, time as an input): a2d's C++ loop against the pure-PyTorch loop (a2d's python
reference) and torchdiffeq's fixed-grid ``odeint(method="rk4")``, batch 1 and 1024, widths 92 and
300 (the surge_simple and surge_full specs), all at the same torch thread count.

Run: ``pytest benchmarks/bench_ode.py --benchmark-only``. Under ``--benchmark-disable`` (CI) each
case runs 2 steps once so the file stays a few seconds.
"""

from __future__ import annotations

import pytest
import torch

from a2d.kernels import _native
from a2d.kernels.ode import sample_ode

THREADS = _native.default_num_threads()
WEIGHT = 2.0
CASES = [(1, 92), (1, 300), (1024, 92), (1024, 300)]


def make_mlp(width: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(width + 1, 256), torch.nn.SiLU(),
        torch.nn.Linear(256, 256), torch.nn.SiLU(),
        torch.nn.Linear(256, width),
    )  # fmt: skip


def velocity_for(mlp: torch.nn.Module):
    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return mlp(torch.cat([x, t[:, None]], dim=1))

    return velocity


def torchdiffeq_sampler(velocity, x0: torch.Tensor, steps: int) -> torch.Tensor:
    from torchdiffeq import odeint

    rows = x0.shape[0]

    def func(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        v = velocity(torch.cat([x, x]), t.expand(2 * rows))
        return (1 - WEIGHT) * v[rows:] + WEIGHT * v[:rows]

    grid = torch.tensor([0.0, 1.0])
    return odeint(func, x0, grid, method="rk4", options={"step_size": 1.0 / steps})[-1]


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


def _run(benchmark, sampler: str, batch: int, width: int) -> None:
    steps = 2 if benchmark.disabled else 100
    mlp = make_mlp(width)
    velocity = velocity_for(mlp)
    x0 = torch.randn(batch, width, generator=torch.Generator().manual_seed(1))
    if sampler == "torchdiffeq":
        fn = lambda: torchdiffeq_sampler(velocity, x0, steps)  # noqa: E731
    else:
        fn = lambda: sample_ode(  # noqa: E731
            velocity, x0, steps=steps, method="rk4", guidance_weight=WEIGHT, implementation=sampler
        )
    rounds = 3 if batch > 1 else 10
    with torch.inference_mode():
        out = benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1)
        want = sample_ode(
            velocity, x0, steps=steps, guidance_weight=WEIGHT, implementation="python"
        )
    # torchdiffeq's rk4 is the 3/8 rule: same order, different rounding and truncation error.
    tol = 1e-5 if sampler != "torchdiffeq" else 1e-3
    torch.testing.assert_close(out, want, rtol=tol, atol=tol)
    benchmark.extra_info.update(sampler=sampler, batch=batch, width=width, steps=steps,
                                method="rk4", guidance_weight=WEIGHT, threads=THREADS,
                                velocity="MLP 3x256 SiLU")  # fmt: skip


@pytest.mark.native
@pytest.mark.skipif("cpp" not in _native.available(), reason="a2d._core did not build")
@pytest.mark.parametrize(("batch", "width"), CASES)
def test_a2d_cpp(benchmark, torch_threads, batch: int, width: int) -> None:
    _run(benchmark, "cpp", batch, width)


@pytest.mark.parametrize(("batch", "width"), CASES)
def test_pytorch_loop(benchmark, torch_threads, batch: int, width: int) -> None:
    _run(benchmark, "python", batch, width)


@pytest.mark.parametrize(("batch", "width"), CASES)
def test_torchdiffeq(benchmark, torch_threads, batch: int, width: int) -> None:
    _run(benchmark, "torchdiffeq", batch, width)
