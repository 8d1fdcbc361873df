"""Which native implementation runs: ``cuda``, ``cpp`` (a2d._core) or ``python`` (reference).

``A2D_IMPLEMENTATION=python|cpp|cuda`` forces one; forcing a backend that did not build is an error.
``A2D_REQUIRE_NATIVE=1`` makes a missing ``a2d._core`` an error instead of a fallback (CI sets it).
A fallback that nobody asked for (no ``A2D_IMPLEMENTATION=python``) says so once on stderr: the
usual cause is Python started in the source checkout, which imports the source ``a2d/`` (no compiled
extension) instead of the installed package.
"""

from __future__ import annotations

import importlib
import json
import os
from functools import cache
from types import ModuleType

from a2d.contracts.errors import ConfigError, NativeBackendError

IMPLEMENTATIONS = ("python", "cpp", "cuda")


@cache
def core() -> ModuleType | None:
    """The compiled ``a2d._core`` module, or None if it did not build."""
    try:
        return importlib.import_module("a2d._core")
    except ImportError:
        if os.environ.get("A2D_REQUIRE_NATIVE") == "1":
            raise NativeBackendError(
                "a2d._core is not built but A2D_REQUIRE_NATIVE=1; reinstall with "
                "`pip install .` and a C++17 compiler"
            ) from None
        if os.environ.get("A2D_IMPLEMENTATION", "").strip().lower() != "python":
            _warn_fallback()
        return None


def _warn_fallback() -> None:
    """One stderr line: the compiled kernels are missing, so everything runs 20-40x slower."""
    import sys

    where = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # a2d/
    print(
        f"warning: a2d's compiled extension a2d._core is missing in {where}, so the slow "
        "pure-Python kernels run (mel 20-40x slower); if that is a source checkout, run from "
        "another folder or set PYTHONSAFEPATH=1, else reinstall with `pip install .` "
        "(A2D_IMPLEMENTATION=python asks for the Python kernels and hides this)",
        file=sys.stderr,
    )


@cache
def core_cuda() -> ModuleType | None:
    """The compiled ``a2d._core_cuda`` module, or None (not built, or no usable GPU driver)."""
    try:
        return importlib.import_module("a2d._core_cuda")
    except ImportError:
        return None


@cache
def build_info() -> dict:
    """What the build decided (``a2d/_build_info.json`` written by CMake): ``cuda_requested``,
    ``cuda_built``, ``cuda_compiler``; empty when ``a2d._core`` did not build."""
    module = core()
    if module is None or not module.__file__:
        return {}
    path = os.path.join(os.path.dirname(module.__file__), "_build_info.json")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def default_num_threads() -> int:
    """Threads the native kernels use when not told otherwise (all cores)."""
    module = core()
    return int(module.default_num_threads()) if module is not None else (os.cpu_count() or 1)


def num_threads() -> int:
    """Threads for a native call that names none: env ``A2D_NUM_THREADS`` if set (worker processes
    set 1, so that processes are the parallelism), else 0, meaning all cores."""
    value = os.environ.get("A2D_NUM_THREADS", "").strip()
    if not value:
        return 0
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise ConfigError(f"A2D_NUM_THREADS={value!r} is not a thread count; set an integer >= 0")
    return n


def cuda_device_available() -> bool:
    """True when the CUDA module built and torch sees a GPU."""
    cuda = core_cuda()
    if cuda is None:
        return False
    if hasattr(cuda, "device_count") and cuda.device_count() == 0:
        return False  # no GPU or driver: answer without importing torch
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def available() -> list[str]:
    """Implementations usable in this process, fastest last."""
    out = ["python"]
    if core() is not None:
        out.append("cpp")
    if cuda_device_available():
        out.append("cuda")
    return out


def built() -> list[str]:
    """Native modules that built (whether or not a GPU is present)."""
    out = []
    if core() is not None:
        out.append("cpp")
    if core_cuda() is not None:
        out.append("cuda")
    return out


def requested() -> str | None:
    """The implementation forced through ``A2D_IMPLEMENTATION``, validated."""
    value = os.environ.get("A2D_IMPLEMENTATION", "").strip().lower()
    if not value:
        return None
    if value not in IMPLEMENTATIONS:
        raise NativeBackendError(
            f"A2D_IMPLEMENTATION={value!r} is not one of {', '.join(IMPLEMENTATIONS)}"
        )
    if value not in available():
        raise NativeBackendError(
            f"A2D_IMPLEMENTATION={value} but that backend is not available here "
            f"(available: {', '.join(available())})"
        )
    return value


def select(implementation: str | None = None, *, on_gpu: bool = False) -> str:
    """Pick the implementation for one call.

    :param implementation: explicit choice (overrides the environment).
    :param on_gpu: the inputs live on a CUDA device (prefers ``cuda``).
    """
    choice = implementation or requested()
    if choice is not None:
        if choice not in IMPLEMENTATIONS:
            raise NativeBackendError(
                f"implementation {choice!r} is not one of {', '.join(IMPLEMENTATIONS)}"
            )
        if choice not in available():
            raise NativeBackendError(
                f"implementation {choice!r} is not available here "
                f"(available: {', '.join(available())})"
            )
        return choice
    if on_gpu and "cuda" in available():
        return "cuda"
    return "cpp" if core() is not None else "python"


def describe() -> str:
    """One line for ``a2d --version``: active backend and what built."""
    active = select()
    b = built()
    cuda_note = ""
    if core_cuda() is not None and not cuda_device_available():
        cuda_note = " (cuda built, no GPU visible)"
    return f"native backend: {active} (built: {', '.join(b) or 'none'}){cuda_note}"
