"""Plugin loading policy: built-ins, third-party entry points, and the registries they fill.

One lazily built, idempotent :class:`pluggy.PluginManager`. Built-in plugins are the modules in
:data:`BUILTIN_PLUGINS`; third-party ones register under the ``a2d`` entry-point group.

Environment switches (handy in tests and for users debugging a broken plugin):

- ``A2D_LOAD_PLUGINS=name1,name2``: load only these plugins (built-in module names or entry-point
  names); an empty value loads no plugin at all.
- ``A2D_BLOCK_PLUGINS=name1,name2``: load every plugin except these.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from a2d.contracts import hookspecs
from a2d.contracts.errors import ConfigError, RegistryError
from a2d.contracts.registry import Registry

if TYPE_CHECKING:
    from a2d.contracts.model import Predictor
    from a2d.contracts.spec import ParamSpec
    from a2d.contracts.synth import RenderSettings, SynthBackend

#: Built-in plugin modules, loaded in this order.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "a2d_vital",
    "a2d_surge",
    "a2d_dexed",
    "a2d_flow",
    "a2d_feedforward",
)

ENTRY_POINT_GROUP = "a2d"

_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_registries: Registries | None = None


@dataclass
class Registries:
    """Every registry a2d fills from its plugins."""

    synths: Registry[type[SynthBackend]]
    specs: Registry[ParamSpec]
    models: Registry[type[Predictor]]


def _env_list(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


def _plugin_label(pm: pluggy.PluginManager, plugin: object) -> str:
    name = pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin))
    return name


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use with every allowed plugin loaded."""
    global _pm
    with _lock:
        if _pm is not None:
            return _pm
        pm = pluggy.PluginManager("a2d")
        pm.add_hookspecs(hookspecs)
        only = _env_list("A2D_LOAD_PLUGINS")
        blocked = _env_list("A2D_BLOCK_PLUGINS") or set()

        def allowed(name: str) -> bool:
            short = name.rsplit(".", 1)[-1]
            if name in blocked or short in blocked:
                return False
            return only is None or name in only or short in only

        for modname in BUILTIN_PLUGINS:
            if allowed(modname):
                pm.register(importlib.import_module(modname), name=modname)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if not allowed(ep.name) or pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken third-party plugin must say which one
                raise RegistryError(
                    f"third-party plugin {ep.name!r} ({ep.value}) failed to import: {exc}; "
                    f"fix or uninstall it, or set A2D_BLOCK_PLUGINS={ep.name}"
                ) from exc
            pm.register(plugin, name=ep.name)
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise RegistryError(
                f"a plugin implements a hook that a2d does not define: {exc}; "
                "check the hook name against docs/writing-plugins.md"
            ) from exc
        _pm = pm
        return pm


def _fill(hook_name: str, registry: Registry[Any]) -> Registry[Any]:
    pm = get_plugin_manager()
    caller = getattr(pm.hook, hook_name)
    # Call each implementation separately, in registration order (built-ins first), so the
    # registry knows which plugin adds what and a duplicate blames the later plugin.
    for impl in caller.get_hookimpls():
        with registry._as_plugin(_plugin_label(pm, impl.plugin)):
            impl.function(registry=registry)
    return registry


def registries() -> Registries:
    """The filled registries (built once per process; :func:`reset` rebuilds)."""
    global _registries
    with _lock:
        if _registries is None:
            _registries = Registries(
                synths=_fill("a2d_register_synths", Registry("synth")),
                specs=_fill("a2d_register_param_specs", Registry("spec")),
                models=_fill("a2d_register_models", Registry("model")),
            )
        return _registries


def register(plugin: ModuleType | object, name: str | None = None) -> str:
    """Register an extra plugin object at run time (tests, notebooks); returns its name."""
    pm = get_plugin_manager()
    with _lock:
        registered = pm.register(plugin, name=name)
        if registered is None:
            raise RegistryError(f"plugin {name or plugin!r} is already registered")
        pm.check_pending()
        _reset_registries()
        return registered


def unregister(name: str) -> None:
    """Remove a plugin registered with :func:`register`."""
    pm = get_plugin_manager()
    with _lock:
        pm.unregister(name=name)
        _reset_registries()


def _reset_registries() -> None:
    global _registries
    _registries = None


def reset() -> None:
    """Forget the plugin manager and registries; the next use reloads (env switches re-read)."""
    global _pm
    with _lock:
        _pm = None
        _reset_registries()


def plugin_version(plugin_name: str) -> str:
    """Best-effort version of the distribution providing ``plugin_name``."""
    from importlib.metadata import PackageNotFoundError, version

    from a2d._version import __version__

    if plugin_name in BUILTIN_PLUGINS:
        return __version__
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == plugin_name and ep.dist is not None:
            return ep.dist.version
    try:
        return version(plugin_name)
    except PackageNotFoundError:
        return "unknown"


def get_synth(name: str) -> type[SynthBackend]:
    return registries().synths.get(name)


def get_spec(name: str) -> ParamSpec:
    return registries().specs.get(name)


def get_model(name: str) -> type[Predictor]:
    return registries().models.get(name)


def resolve_synth_and_spec(
    synth: str | None, spec: str | None, *, need_spec: bool = True
) -> tuple[str | None, str | None]:
    """The one ``--synth`` / ``--spec`` vocabulary of every command: ``(synth name, spec name)``.

    ``synth`` names a synth (``vital``, ``surge``) or, where unambiguous, a spec (``surge_full``
    names its synth too); ``spec`` names a spec. A synth with one spec implies it; a synth with
    several needs ``spec`` when ``need_spec`` (else the spec stays None). Contradictions and
    unknown names are errors that list the known ones.
    """
    from a2d.contracts.errors import ConfigError, UnknownNameError

    regs = registries()
    specs, synths = regs.specs, regs.synths
    spec_names, synth_names = sorted(specs.names()), sorted(synths.names())
    if spec is not None:
        chosen = specs.get(spec)  # unknown: lists the known specs
        if synth is not None and synth not in (chosen.synth, chosen.name):
            raise ConfigError(
                f"spec {spec!r} is for synth {chosen.synth!r}, not {synth!r}; "
                f"drop --synth or pass --synth {chosen.synth}"
            )
        return chosen.synth, chosen.name
    if synth is None:
        if need_spec:
            raise ConfigError(
                "no synth chosen; pass --synth NAME (one of "
                f"{', '.join(synth_names)}) or --spec NAME (one of {', '.join(spec_names)})"
            )
        return None, None
    if synth in spec_names and synth not in synth_names:
        return specs.get(synth).synth, synth
    if synth not in synth_names:
        raise UnknownNameError(
            f"unknown synth {synth!r}; known synths: {', '.join(synth_names)}; "
            f"known specs: {', '.join(spec_names)}"
        )
    own = [name for name in spec_names if specs.get(name).synth == synth]
    if len(own) == 1:
        return synth, own[0]
    if need_spec:
        raise ConfigError(
            f"synth {synth!r} has several parameter specs ({', '.join(own)}); "
            f"choose one with --spec NAME"
        )
    return synth, None


def model_class(name: str) -> type[Predictor]:
    """The :class:`Predictor` subclass registered as ``name``.

    Registry entries may be lightweight stand-ins that import torch only when used: such an entry
    has a ``load()`` classmethod returning the real class.
    """
    entry = get_model(name)
    loader = getattr(entry, "load", None)
    return loader() if loader is not None else entry


def numpy_sampler(name: str) -> Any:
    """The torch-free sampler class of the model registered as ``name``, or None.

    A registry entry may offer one with a ``load_numpy()`` classmethod: it returns a class whose
    ``from_state(model_args, state)`` rebuilds a checkpoint's model from NumPy arrays (raising
    :class:`NotImplementedError` for a configuration it does not cover) and whose ``predict(features,
    *, noise, n_candidates, ...)`` answers as the torch model's does (``a2d_flow.numpy_model``).
    ``a2d predict`` uses it to skip importing torch.
    """
    loader = getattr(get_model(name), "load_numpy", None)
    return loader() if loader is not None else None


def create_backend(
    spec: ParamSpec, settings: RenderSettings | None = None, **options: Any
) -> SynthBackend:
    """Instantiate the registered backend that renders ``spec``."""
    cls, options = backend_class(spec, **options)
    return cls(spec, settings, **options)


def backend_class(spec: ParamSpec, **options: Any) -> tuple[type[SynthBackend], dict[str, Any]]:
    """The registered backend class for ``spec`` and its checked options (``None`` values dropped),
    after checking that the synth can run here (without creating it)."""
    cls = get_synth(spec.synth)
    accepted = set(cls.option_names())
    unknown = sorted(k for k, v in options.items() if v is not None and k not in accepted)
    if unknown:
        raise ConfigError(
            f"synth {spec.synth!r} does not take option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(accepted)) or 'none'}"
        )
    options = {k: v for k, v in options.items() if v is not None}
    cls.check_available(**options)
    return cls, options
