"""The ``surge`` backend: Surge XT as a VST3 through pedalboard's plugin host.

:class:`SurgeHost` is everything a2d does at the pedalboard boundary (parameter-dict caching,
renames after module-type changes, raw values, the render protocol, preset bytes); it works on any
object with pedalboard's ``VST3Plugin`` attributes (``parameters``, ``process``, ``reset``,
``raw_state``, ``preset_data``), so it is unit-tested with a small stand-in.
:class:`SurgeBackend` loads the real plugin (about 7.5 s) and builds the spec's base state.

Host facts this relies on (SURGE_AND_ANCHOR_FACTS.md, Surge XT 1.4): ``plugin.parameters``
rebuilds its dict on every access (about 11 ms), so the dict is read once and cached, and read
again once after module types change (Surge renames parameters, e.g. ``a_osc_1_shape`` ->
``a_osc_1_sawtooth``). The first render after a state load is silent, so every render resets the
plugin and processes a 50 ms warm-up first.

Editor pitfall: Surge XT may ignore a loaded preset until its editor has been shown once. a2d
builds the base state through parameters after loading its routing patch, which does not depend
on this; set env ``A2D_SURGE_SHOW_EDITOR=1`` to open the editor once after loading (needs a
display, e.g. ``xvfb-run``; close the window to continue).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from a2d.errors import OutputError, RenderError, SpecError, SynthUnavailableError
from a2d.spec import Note, ParamSpec, Patch
from a2d.synth import RenderSettings, SynthBackend
from a2d_surge.finder import find_surge_vst3
from a2d_surge.patch import component_state, patch_xml

#: Warm-up processed after every reset, seconds (Surge applies state changes while processing).
WARMUP_SECONDS = 0.05
#: One flush pass of the reference protocol, seconds.
FLUSH_SECONDS = 32.0


class SurgeHost:
    """One loaded plugin, its cached parameter dict, and the render protocol.

    :param plugin: a pedalboard ``VST3Plugin`` (or a stand-in with the same attributes).
    :param settings: render settings.
    """

    def __init__(self, plugin: Any, settings: RenderSettings) -> None:
        self.plugin = plugin
        self.settings = settings
        self.params: dict[str, Any] = {}
        self.refresh()

    def refresh(self) -> None:
        """Read the plugin's parameter dict once (after loading or module-type changes)."""
        self.params = dict(self.plugin.parameters)

    def parameter(self, name: str) -> Any:
        try:
            return self.params[name]
        except KeyError:
            near = sorted(n for n in self.params if n.split("_")[:3] == name.split("_")[:3])
            raise SpecError(
                f"Surge XT has no parameter {name!r} (near: {', '.join(near[:6]) or 'none'}); "
                "is the module type set (oscillator/FX type) and the spec meant for this version?"
            ) from None

    def set_types(self, types: Mapping[str, str]) -> None:
        """Set module types by their display text (e.g. ``a_osc_1_type = "Modern"``), then read
        the renamed parameter dict once."""
        for name, text in types.items():
            param = self.parameter(name)
            try:
                param.raw_value = param.get_raw_value_for(text)
            except (ValueError, KeyError) as exc:
                raise SpecError(
                    f"Surge XT parameter {name!r} has no value {text!r}: {exc}"
                ) from exc
        self.refresh()

    def set_raw(self, values: Mapping[str, float]) -> None:
        """Set normalized VST3 values (``raw_value`` in [0, 1])."""
        for name, value in values.items():
            if not 0.0 <= value <= 1.0:
                raise SpecError(f"Surge XT parameter {name!r}: raw value {value} is not in [0, 1]")
            self.parameter(name).raw_value = float(value)

    def load_state(self, state: bytes) -> None:
        """Load a raw component state (Surge patch), warm up, and re-read the parameters."""
        self.plugin.raw_state = state
        self.warm_up()
        self.refresh()

    def warm_up(self) -> None:
        """Reset the plugin (clears voices and effect tails) and process 50 ms of silence."""
        s = self.settings
        self.plugin.process([], WARMUP_SECONDS, s.sample_rate, s.channels, s.block_size, True)

    def midi(self, note: Note) -> list[tuple[bytes, float]]:
        end = min(note.end, self.settings.duration)
        return [
            (bytes([0x90, note.pitch, note.velocity]), note.start),
            (bytes([0x80, note.pitch, 0]), end),
        ]

    def play(self, note: Note, *, reset: bool = False) -> np.ndarray:
        """Process the note for ``settings.duration``: ``(channels, num_samples)`` float32."""
        s = self.settings
        out = self.plugin.process(
            self.midi(note), s.duration, s.sample_rate, s.channels, s.block_size, reset
        )
        out = np.asarray(out, dtype=np.float32)
        if out.ndim == 1:
            out = out[None, :]
        n = s.num_samples
        if out.shape[1] < n:
            out = np.pad(out, ((0, 0), (0, n - out.shape[1])))
        out = out[:, :n]
        if not np.all(np.isfinite(out)):
            raise RenderError(f"Surge XT rendered NaN or inf for note {note}")
        return out

    def render(self, values: Mapping[str, float], note: Note) -> np.ndarray:
        """Set ``values``, reset + warm up, play ``note``."""
        self.set_raw(values)
        self.warm_up()
        return self.play(note)

    def flush(self) -> None:
        s = self.settings
        self.plugin.process([], FLUSH_SECONDS, s.sample_rate, s.channels, s.block_size, False)

    @property
    def preset_data(self) -> bytes:
        return bytes(self.plugin.preset_data)


class SurgeBackend(SynthBackend):
    """Surge XT (VST3 via pedalboard). Spec values are VST3 ``raw_value`` s in [0, 1].

    ``spec.base`` keys: ``types`` (parameter -> display text, set first, e.g. oscillator and FX
    types), ``raw`` (parameter -> raw value, set after the types), ``routings`` (bool: load
    a2d's routing patch, :mod:`a2d_surge.patch`).
    """

    name: ClassVar[str] = "surge"
    display_name: ClassVar[str] = "Surge XT (VST3)"
    preset_suffix: ClassVar[str] = ".vstpreset"

    def __init__(
        self, spec: ParamSpec, settings: RenderSettings | None = None, **options: Any
    ) -> None:
        super().__init__(spec, settings, **options)
        path = find_surge_vst3(options.get("plugin_path"))
        import pedalboard

        try:
            plugin = pedalboard.load_plugin(str(path), plugin_name="Surge XT")
        except Exception as exc:  # pedalboard raises ImportError/RuntimeError/ValueError
            raise SynthUnavailableError(f"cannot load Surge XT from {path}: {exc}") from exc
        self.plugin_path = path
        self.host = SurgeHost(plugin, self.settings)
        self._base_state = build_base(self.host, spec)
        if os.environ.get("A2D_SURGE_SHOW_EDITOR") == "1":
            plugin.show_editor()

    @classmethod
    def check_available(cls, **options: Any) -> None:
        find_surge_vst3(options.get("plugin_path"))

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ("plugin_path",)

    @property
    def version(self) -> str:
        return str(getattr(self.host.plugin, "version", "unknown"))

    def _values(self, patch: Patch) -> dict[str, float]:
        try:
            return {p.name: patch.params[p.name] for p in self.spec.params}
        except KeyError as exc:
            raise SpecError(
                f"patch has no value for parameter {exc} of {self.spec.name!r}"
            ) from None

    def render(self, patch: Patch) -> np.ndarray:
        """Set the patch, reset + 50 ms warm-up, play: ``(channels, num_samples)`` float32."""
        return self.host.render(self._values(patch), patch.note)

    def render_bare(self, note: Note) -> np.ndarray:
        """Only the plugin's ``process`` call for the note, on the current state."""
        return self.host.play(note)

    def render_reference_protocol(self, patch: Patch) -> np.ndarray:
        """The anchor's protocol: reload the base state, three 32 s flushes around the sample."""
        self.host.load_state(self._base_state)
        self.host.flush()
        self.host.set_raw(self._values(patch))
        self.host.flush()
        audio = self.host.play(patch.note)
        self.host.flush()
        return audio

    def write_preset(self, patch: Patch, path: str | Path) -> Path:
        """Write a ``.vstpreset`` (pedalboard's ``preset_data``) of base patch + ``patch``."""
        path = Path(path)
        if path.suffix != self.preset_suffix:
            path = path.with_name(path.name + self.preset_suffix)
        self.host.set_raw(self._values(patch))
        self.host.warm_up()
        try:
            path.write_bytes(self.host.preset_data)
        except OSError as exc:
            raise OutputError(f"cannot write preset {path}: {exc}; choose a writable path") from exc
        return path

    def param_text(self, patch: Patch) -> dict[str, str]:
        self.host.set_raw(self._values(patch))
        return {p.name: str(self.host.parameter(p.name).string_value) for p in self.spec.params}


def build_base(host: SurgeHost, spec: ParamSpec) -> bytes:
    """Put the plugin into ``spec``'s base state and return that state (raw component bytes):
    routing patch, then module types (re-reading the renamed parameters once), then raw values."""
    base = dict(spec.base)
    if base.get("routings"):
        host.load_state(component_state(patch_xml(f"a2d {spec.name} base")))
    host.set_types(base.get("types", {}))
    host.set_raw(base.get("raw", {}))
    missing = [p.name for p in spec.params if p.name not in host.params]
    if missing:
        raise SpecError(
            f"Surge XT lacks parameter(s) {', '.join(missing[:5])} of spec {spec.name!r} after the "
            "base types were set; is Surge's factory data (SurgeXTData) installed?"
        )
    host.warm_up()
    return bytes(host.plugin.raw_state)
