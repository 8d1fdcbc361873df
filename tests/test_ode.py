"""a2d.kernels.ode.sample_ode: analytic solutions per method order, and C++ == PyTorch reference;
NumPy states (C++ and the NumPy loop) == the PyTorch reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from a2d.contracts.errors import ConfigError, NativeBackendError
from a2d.kernels import _native
from a2d.kernels.ode import METHODS, sample_ode

CPU_BACKENDS = [b for b in _native.available() if b != "cuda"]
ORDER = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}


@pytest.mark.parametrize("impl", CPU_BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_constant_velocity_is_exact(method: str, impl: str) -> None:
    x0 = torch.zeros(3, 2)
    v = torch.tensor([1.5, -2.0])
    x = sample_ode(
        lambda x, t: v.expand_as(x).clone(), x0, steps=4, method=method, implementation=impl
    )
    torch.testing.assert_close(x, v.expand(3, 2), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("impl", CPU_BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_linear_ode_converges_at_the_method_order(method: str, impl: str) -> None:
    # dx/dt = a x on [0, 1]: x(1) = x0 e^a; in float64-free float32 arithmetic, so keep h large
    # enough that truncation error dominates rounding.
    a = -1.3
    x0 = torch.ones(1, 1)
    errors = []
    for steps in (4, 8):
        x = sample_ode(lambda x, t: a * x, x0, steps=steps, method=method, implementation=impl)
        errors.append(abs(float(x) - math.exp(a)))
    ratio = errors[0] / errors[1]
    assert 2 ** ORDER[method] * 0.7 < ratio < 2 ** ORDER[method] * 1.4


@pytest.mark.parametrize("impl", CPU_BACKENDS)
def test_polynomial_in_time_is_exact_up_to_the_order(impl: str) -> None:
    # v = 4 t^3 from 0 to 1 -> x = 1. RK4 (Simpson) integrates cubics exactly; Euler's error is h/2*4.
    def vel(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (4 * t**3)[:, None].expand_as(x).contiguous()

    x0 = torch.zeros(2, 1)
    torch.testing.assert_close(sample_ode(vel, x0, steps=3, implementation=impl), torch.ones(2, 1))
    midpoint = sample_ode(vel, x0, steps=10, method="midpoint", implementation=impl)
    assert 0 < 1 - float(midpoint[0]) < 0.01  # second order, not exact


def mlp_velocity(width: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    w1 = torch.randn(width + 1, 64, generator=gen) / width**0.5
    w2 = torch.randn(64, width, generator=gen) / 8

    def vel(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.cat([x, t[:, None]], 1) @ w1) @ w2

    return vel


@pytest.mark.native
@pytest.mark.skipif("cpp" not in CPU_BACKENDS, reason="a2d._core did not build")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("weight", [None, 2.5])
def test_cpp_matches_the_torch_reference(method: str, weight: float | None) -> None:
    vel = mlp_velocity(7)
    x0 = torch.randn(5, 7, generator=torch.Generator().manual_seed(1))
    got = sample_ode(vel, x0, steps=12, method=method, guidance_weight=weight, implementation="cpp")
    want = sample_ode(
        vel, x0, steps=12, method=method, guidance_weight=weight, implementation="python"
    )
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not torch.equal(got, x0)


@pytest.mark.parametrize("impl", CPU_BACKENDS)
def test_guidance_sees_the_stacked_batch_and_combines(impl: str) -> None:
    seen = []

    def vel(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen.append((tuple(x.shape), tuple(t.shape)))
        cond = torch.full((2, 3), 1.0)
        uncond = torch.full((2, 3), 3.0)
        return torch.cat([cond, uncond])

    x = sample_ode(
        vel, torch.zeros(2, 3), steps=2, method="euler", guidance_weight=2.0, implementation=impl
    )
    torch.testing.assert_close(x, torch.full((2, 3), -1.0))  # (1 - 2) * 3 + 2 * 1
    assert seen == [((4, 3), (4,))] * 2


@pytest.mark.parametrize("impl", CPU_BACKENDS)
def test_errors_are_the_same_everywhere(impl: str) -> None:
    x0 = torch.zeros(2, 3)
    with pytest.raises(ConfigError, match="shape \\(2, 3\\)"):
        sample_ode(lambda x, t: x[:1], x0, implementation=impl)
    with pytest.raises(ConfigError, match="float32"):
        sample_ode(lambda x, t: x.double(), x0, implementation=impl)
    with pytest.raises(ConfigError, match="method"):
        sample_ode(lambda x, t: x, x0, method="rk45", implementation=impl)
    with pytest.raises(ConfigError, match="x0"):
        sample_ode(lambda x, t: x, x0.double(), implementation=impl)
    with pytest.raises(ZeroDivisionError):  # the callback's own error passes through
        sample_ode(lambda x, t: 1 / 0, x0, implementation=impl)


def test_forcing_a_missing_backend_is_an_error() -> None:
    missing = [b for b in _native.IMPLEMENTATIONS if b not in _native.available()] or ["nope"]
    with pytest.raises(NativeBackendError):
        sample_ode(lambda x, t: x, torch.zeros(1, 1), implementation=missing[0])


@pytest.mark.cuda
@pytest.mark.skipif("cuda" not in _native.available(), reason="no CUDA GPU visible")
def test_cuda_matches_cpu() -> None:
    vel = mlp_velocity(7)
    x0 = torch.randn(5, 7)

    def vel_cuda(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return vel(x.cpu(), t.cpu()).cuda()

    got = sample_ode(vel_cuda, x0.cuda(), steps=8, guidance_weight=1.5)
    want = sample_ode(vel, x0, steps=8, guidance_weight=1.5, implementation="python")
    torch.testing.assert_close(got.cpu(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.native
@pytest.mark.skipif("cpp" not in CPU_BACKENDS, reason="a2d._core did not build")
def test_cpp_large_state_uses_threads_and_still_matches() -> None:
    # 1024 x 160 = 163840 elements: the C++ state updates split over threads.
    x0 = torch.randn(1024, 160, generator=torch.Generator().manual_seed(2))

    def vel(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.sin(x) * t[:, None]

    kwargs = {"steps": 3, "guidance_weight": 1.5}
    got = sample_ode(vel, x0, implementation="cpp", **kwargs)
    torch.testing.assert_close(got, sample_ode(vel, x0, implementation="python", **kwargs))


# -- NumPy states (the torch-free sampler of shipped models) ------------------------------------


def _numpy_velocity(vel):
    """The same field as ``vel`` on NumPy arrays (the torch-free sampler's kind of callback)."""

    def f(x, t):
        return vel(torch.from_numpy(np.array(x)), torch.from_numpy(np.array(t))).numpy()

    return f


@pytest.mark.parametrize("impl", CPU_BACKENDS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("weight", [None, 2.5])
def test_numpy_states_match_the_torch_reference(
    method: str, weight: float | None, impl: str
) -> None:
    vel = mlp_velocity(7)
    x0 = torch.randn(5, 7, generator=torch.Generator().manual_seed(1))
    kwargs = {"steps": 12, "method": method, "guidance_weight": weight, "t0": 0.25}
    want = sample_ode(vel, x0, implementation="python", **kwargs)
    got = sample_ode(_numpy_velocity(vel), x0.numpy().copy(), implementation=impl, **kwargs)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == (5, 7)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.array_equal(got, x0.numpy())


@pytest.mark.parametrize("impl", CPU_BACKENDS)
def test_numpy_states_see_the_stacked_batch_and_check_the_velocity(impl: str) -> None:
    seen = []

    def vel(x, t):
        seen.append((x.shape, t.shape, t.dtype))
        return np.concatenate([np.full((2, 3), 1.0, np.float32), np.full((2, 3), 3.0, np.float32)])

    x0 = np.zeros((2, 3), np.float32)
    x = sample_ode(vel, x0, steps=2, method="euler", guidance_weight=2.0, implementation=impl)
    np.testing.assert_allclose(x, np.full((2, 3), -1.0))
    assert seen == [((4, 3), (4,), np.float32)] * 2
    assert np.array_equal(x0, np.zeros((2, 3)))  # the start is not changed in place
    with pytest.raises(ConfigError, match="float32 array of shape \\(2, 3\\)"):
        sample_ode(lambda x, t: x[:1], x0, implementation=impl)
    with pytest.raises(ConfigError, match="float32 array"):
        sample_ode(lambda x, t: x.astype(np.float64), x0, implementation=impl)
    with pytest.raises(ConfigError, match="x0 must be a float32 array"):
        sample_ode(lambda x, t: x, x0.astype(np.float64), implementation=impl)


def test_numpy_states_refuse_cuda() -> None:
    if "cuda" not in _native.available():
        with pytest.raises(NativeBackendError):
            sample_ode(lambda x, t: x, np.zeros((1, 1), np.float32), implementation="cuda")
    else:
        with pytest.raises(ConfigError, match="CUDA tensor"):
            sample_ode(lambda x, t: x, np.zeros((1, 1), np.float32), implementation="cuda")
