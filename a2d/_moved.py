"""The import paths a2d had before its modules were grouped into layers (``a2d.contracts``,
``a2d.kernels``, ``a2d.storage``, ``a2d.runtime``, ``a2d.pipelines``; see ``docs/design.md``).

An old path still imports, as the very module object of its new home (no copy, so ``isinstance``,
monkeypatching and pickling see one module). The paths that plugins and users import (the contracts,
the documented kernels, the dataset and checkpoint readers) stay silently; the others are internal
and warn once with a :class:`DeprecationWarning` that names the new path. :func:`moved_name`
does the same for a function that moved to another module.

Nothing here imports an a2d module until an old name is asked for.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType
from typing import Any

_PIPELINES = (
    "generate", "evaluate", "evaluate_sounds", "predict", "refine", "report",
    "calibration", "quickstart", "demo", "devset", "train",
)  # fmt: skip

#: Old path -> new path of every module that moved, and whether the old path is public (silent).
MODULES: dict[str, tuple[str, bool]] = {
    **{
        f"a2d.{m}": (f"a2d.contracts.{m}", True)
        for m in ("errors", "params", "notes", "spec", "synth", "model", "hookspecs", "registry")
    },
    "a2d.plugins": ("a2d.contracts.plugins", True),
    "a2d.features": ("a2d.kernels.features", True),
    "a2d.mel": ("a2d.kernels.mel", True),
    "a2d.ode": ("a2d.kernels.ode", True),
    "a2d.loudness": ("a2d.kernels.loudness", True),
    "a2d.dataset": ("a2d.storage.dataset", True),
    "a2d.checkpoint": ("a2d.storage.checkpoint", True),
    **{
        f"a2d.{m}": (f"a2d.kernels.{m}", False)
        for m in ("_native", "dtw", "metrics", "audio", "analysis")
    },
    **{f"a2d.{m}": (f"a2d.storage.{m}", False) for m in ("atomic", "config", "midi", "_resources")},
    "a2d._workers": ("a2d.runtime.workers", False),
    "a2d._executors": ("a2d.runtime.executors", False),
    "a2d._orphans": ("a2d.runtime.process", False),
    "a2d.synth_pool": ("a2d.runtime.synth_pool", False),
    **{f"a2d.{m}": (f"a2d.pipelines.{m}", False) for m in _PIPELINES},
}

#: (module, name) -> module that now defines the name (the old module no longer does).
NAMES: dict[tuple[str, str], str] = {
    ("a2d.contracts.synth", "create_backend"): "a2d.contracts.plugins",
    ("a2d.contracts.synth", "backend_class"): "a2d.contracts.plugins",
    ("a2d.contracts.model", "model_class"): "a2d.contracts.plugins",
    **{
        ("a2d.storage.dataset", name): "a2d.storage.shards"
        for name in ("FIELD_DTYPES", "VERIFY_ROWS", "shard_name", "verify_shard")
    },
}


def new_path(old: str) -> tuple[str, bool] | None:
    """``(new module path, public)`` for an old module path (or one inside an old package)."""
    head = old
    while head:
        if head in MODULES:
            new, public = MODULES[head]
            return new + old[len(head) :], public
        head = head.rpartition(".")[0]
    return None


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module path and loads it as the module of its new path."""

    def __init__(self) -> None:
        self._own_specs: dict[str, Any] = {}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not fullname.startswith("a2d.") or new_path(fullname) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        found = new_path(spec.name)
        assert found is not None
        new, public = found
        if not public:
            warnings.warn(
                f"{spec.name} moved to {new}; import {new} instead "
                "(the old path will be removed in a later release)",
                DeprecationWarning,
                stacklevel=2,
            )
        module = importlib.import_module(new)
        self._own_specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the old spec on the shared module: give it back its own.
        module.__spec__ = self._own_specs.pop(module.__spec__.name)


def install() -> None:
    """Put the old-path finder first (once), so an old package path never loads a second copy
    of a module through the new package's ``__path__``."""
    if not any(isinstance(f, _OldPaths) for f in sys.meta_path):
        sys.meta_path.insert(0, _OldPaths())


def moved_name(module: str, name: str) -> Any:
    """A module's ``__getattr__`` for a name that moved to another module: warns, then returns
    the name from its new home; any other name is an ``AttributeError`` as usual."""
    home = NAMES.get((module, name))
    if home is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warnings.warn(
        f"{module}.{name} moved to {home}.{name}; import it from {home}",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module(home), name)
