"""a2d.kernels.npnn: every NumPy layer equals the torch module it stands for (eval mode), and the
native GELU equals its NumPy reference and torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from a2d.kernels import _native, npnn

GEN = torch.Generator().manual_seed(0)


def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=GEN) * scale


def close(got: np.ndarray, want: torch.Tensor, tol: float = 2e-6) -> None:
    assert got.dtype == np.float32 and got.shape == tuple(want.shape)
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=tol, atol=tol)


def test_erf_against_the_standard_library() -> None:
    x = np.linspace(-9, 9, 40001, dtype=np.float32)
    want = np.array([math.erf(float(v)) for v in x])
    assert np.abs(npnn.erf(x) - want).max() < 6e-7
    assert npnn.erf(np.float32([0.0]))[0] == 0.0 and npnn.erf(np.float32([-20.0]))[0] == -1.0


@pytest.mark.parametrize("impl", [b for b in _native.available() if b != "cuda"])
def test_gelu_is_torchs_exact_gelu(impl: str) -> None:
    x = randn(7, 33, 65, scale=4.0)
    got = npnn.gelu(x.numpy(), implementation=impl)
    # a few float32 ulps of the result (1 + erf(x) cancels for negative x; torch's exp is
    # Sleef's, a2d's its own polynomial or NumPy's); the tanh approximation of GELU would be
    # 1e-4 to 1e-3 off
    err = 4e-7 if impl == "cpp" else 1e-6
    bound = err * np.abs(x.numpy()) + 2e-7
    assert np.all(np.abs(got - F.gelu(x).numpy()) <= bound)
    assert npnn.gelu(np.zeros((0, 3), np.float32), implementation=impl).shape == (0, 3)


@pytest.mark.native
@pytest.mark.skipif("cpp" not in _native.available(), reason="a2d._core did not build")
def test_native_gelu_matches_the_numpy_reference_and_refuses_bad_arrays() -> None:
    x = randn(4096, scale=6.0).numpy()
    np.testing.assert_allclose(
        npnn.gelu(x, implementation="cpp"), npnn.gelu(x, implementation="python"), atol=4e-6
    )
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    assert np.all(
        np.abs(npnn.gelu(x, implementation="cpp") - exact) <= 5e-7 * np.maximum(1, abs(x))
    )
    with pytest.raises(ValueError, match="float32"):
        _native.core().gelu(x.astype(np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        _native.core().gelu(np.zeros((4, 4), np.float32)[:, ::2])


def test_linear_silu_layer_norm() -> None:
    lin = nn.Linear(24, 40)
    x = randn(3, 5, 24)
    close(
        npnn.linear(x.numpy(), lin.weight.detach().numpy(), lin.bias.detach().numpy()), lin(x), 1e-5
    )
    close(npnn.silu(x.numpy()), F.silu(x))
    close(npnn.layer_norm(x.numpy()), F.layer_norm(x, (24,)), 1e-5)


@pytest.mark.parametrize("shape", [(2, 16, 9, 13), (1, 3, 8, 8)])
def test_conv_group_norm_and_pools(shape: tuple[int, ...]) -> None:
    x = randn(*shape)
    conv = nn.Conv2d(shape[1], 8, kernel_size=3, padding=1)
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    close(npnn.conv2d_3x3(x.numpy(), w, b), conv(x), 1e-5)
    norm = nn.GroupNorm(min(8, shape[1]), shape[1])
    nn.init.normal_(norm.weight, generator=GEN)
    nn.init.normal_(norm.bias, generator=GEN)
    got = npnn.group_norm(
        x.numpy(), min(8, shape[1]), norm.weight.detach().numpy(), norm.bias.detach().numpy()
    )
    close(got, norm(x), 1e-5)
    close(npnn.max_pool2(x.numpy()), nn.MaxPool2d(2, ceil_mode=True)(x))
    for k in (2, 3, (1, 4), (3, 2)):
        close(npnn.avg_pool(x.numpy(), k), nn.AvgPool2d(k, ceil_mode=True)(x))


@pytest.mark.parametrize("n", [1, 3, 4, 7])
def test_segment_pool_cuts_time_as_torch_adaptive_pooling(n: int) -> None:
    x = randn(2, 3, 5, 13)  # 13 frames into n segments: uneven, overlapping cuts for 3, 4, 7
    mean, peak = npnn.segment_pool(x.numpy(), n)
    close(mean, F.adaptive_avg_pool2d(x, (5, n)))
    close(peak, F.adaptive_max_pool2d(x, (5, n)))


def test_attention() -> None:
    q, k, v = randn(2, 4, 32, 24), randn(2, 4, 32, 24), randn(2, 4, 32, 24)
    close(npnn.attention(q.numpy(), k.numpy(), v.numpy()), F.scaled_dot_product_attention(q, k, v))
