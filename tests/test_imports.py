"""Every a2d module imports in a fresh interpreter with warnings as errors."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import a2d


def _modules() -> list[str]:
    names = ["a2d"]
    for info in pkgutil.walk_packages(a2d.__path__, prefix="a2d."):
        names.append(info.name)
    names += ["a2d_vital", "a2d_surge", "a2d_dexed", "a2d_flow", "a2d_feedforward"]
    return sorted(set(names))


def test_every_module_imports_cleanly_with_warnings_as_errors() -> None:
    modules = _modules()
    assert "a2d.cli" in modules and "a2d.contracts.spec" in modules
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", code, *modules],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr


def test_import_a2d_is_cheap() -> None:
    """`import a2d` (and so `a2d --version`) must not pull in torch."""
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, a2d, a2d.cli; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
