"""Named registries that plugins fill through the ``a2d_register_*`` hooks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from a2d.contracts.errors import RegistryError, UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered thing and the plugin that provided it."""

    name: str
    obj: T
    plugin: str


class Registry(Generic[T]):
    """Name -> object map of one kind (``"synth"``, ``"spec"``, ``"model"``).

    Plugins call :meth:`add`; a2d looks things up with :meth:`get`. The registry knows which plugin
    is registering through :meth:`_as_plugin`, so duplicate names can name both plugins.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._current_plugin = "<direct>"

    def add(self, obj: T, *, name: str | None = None) -> T:
        """Register ``obj`` under ``name`` (default: ``obj.name``) and return it."""
        name = name if name is not None else getattr(obj, "name", None)
        if not isinstance(name, str) or not name.strip():
            raise RegistryError(
                f"plugin {self._current_plugin!r} registered a {self.kind} without a name "
                f"({obj!r}); give it a non-empty `name` attribute"
            )
        if name in self._entries:
            other = self._entries[name].plugin
            raise RegistryError(
                f"{self.kind} {name!r} is registered twice: by plugin {other!r} and by plugin "
                f"{self._current_plugin!r}; rename one or block a plugin with A2D_BLOCK_PLUGINS"
            )
        self._entries[name] = Entry(name, obj, self._current_plugin)
        return obj

    def get(self, name: str) -> T:
        """The object registered as ``name``; an unknown name lists the known ones."""
        try:
            return self._entries[name].obj
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def entry(self, name: str) -> Entry[T]:
        self.get(name)
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[n] for n in self.names()]

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def _as_plugin(self, plugin: str) -> _PluginScope:
        return _PluginScope(self, plugin)


class _PluginScope:
    def __init__(self, registry: Registry[Any], plugin: str) -> None:
        self.registry, self.plugin = registry, plugin

    def __enter__(self) -> Registry[Any]:
        self.previous = self.registry._current_plugin
        self.registry._current_plugin = self.plugin
        return self.registry

    def __exit__(self, *exc: object) -> None:
        self.registry._current_plugin = self.previous
