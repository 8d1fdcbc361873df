"""Shared fixtures. Tests create their own small data; nothing is downloaded."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest


def pytest_report_header(config: pytest.Config) -> list[str]:
    from a2d import _native

    return [f"a2d: {_native.describe()}"]


def pytest_sessionstart(session: pytest.Session) -> None:
    # CI sets A2D_REQUIRE_NATIVE=1: a missing a2d._core must fail the run, not fall back.
    if os.environ.get("A2D_REQUIRE_NATIVE") == "1":
        from a2d import _native

        _native.core()  # raises NativeBackendError if the extension did not build


@pytest.fixture
def plugin_registered() -> Iterator:
    """Register temporary plugin objects for one test: ``plugin_registered(obj, name)``."""
    from a2d import plugins

    names: list[str] = []

    def add(obj: object, name: str) -> str:
        names.append(plugins.register(obj, name=name))
        return names[-1]

    try:
        yield add
    finally:
        for name in reversed(names):
            plugins.unregister(name)


@pytest.fixture
def a2d_cli() -> str:
    """Path of the installed ``a2d`` console script."""
    path = shutil.which("a2d")
    if path is None:
        pytest.fail(
            "the `a2d` console script is not on PATH; install the package with `pip install .`"
        )
    return path
