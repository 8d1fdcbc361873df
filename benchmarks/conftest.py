"""Timed benchmark runs refuse to measure the pure-Python fallback.

Run from a source checkout with ``python -m pytest``, Python imports ``a2d`` from the checkout,
which has no compiled ``a2d._core``: every mel, loudness and ODE figure would then time the
reference kernels (scoring 0.9 s instead of 0.07 s in ``bench_predict``). A timed run
(``--benchmark-only``, or benchmarks not skipped nor disabled) therefore stops at once with
what to do; the untimed CI run (``--benchmark-disable``) goes on, as CI requires the native core
through ``A2D_REQUIRE_NATIVE=1`` anyway.
"""

from __future__ import annotations

import importlib.util

import pytest


def timed(config: pytest.Config) -> bool:
    """Whether this session times benchmarks (pytest-benchmark's own options)."""
    if config.getoption("benchmark_disable", False):
        return False
    return bool(config.getoption("benchmark_only", False)) or not config.getoption(
        "benchmark_skip", False
    )


def pytest_configure(config: pytest.Config) -> None:
    if timed(config) and importlib.util.find_spec("a2d._core") is None:
        import a2d

        pytest.exit(
            f"a2d's compiled core a2d._core is missing in {a2d.__path__[0]}: the benchmarks would "
            "time the pure-Python kernels; run them from outside the checkout "
            "(cd /tmp && pytest PATH/benchmarks --benchmark-only) after `pip install .`",
            returncode=4,
        )
