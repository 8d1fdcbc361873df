"""The ``surge`` backend: Surge XT as a VST3 through pedalboard's plugin host.

:class:`SurgeHost` is everything a2d does at the pedalboard boundary (parameter-dict caching,
renames, raw values, state loads, the render protocol, preset bytes); it works on any object with
pedalboard's ``VST3Plugin`` attributes (``parameters``, ``process``, ``preset_data``), so it is
unit-tested with a stand-in that behaves like the real plugin (``tests/surge_standin.py``), and
checked against the real one wherever Surge XT is installed (``pytest -m surge``).
:class:`SurgeBackend` loads the real plugin (5-10 s) and builds the spec's base state.

Host facts this relies on, each measured on a real Surge XT 1.4.0 VST3 (pedalboard 0.9.26,
headless Linux):

- ``plugin.parameters`` rebuilds its dict on every access (about 11 ms), so the dict is cached and
  re-read only when names can change.
- Surge renames parameters after a module-type change (``a_osc_1_shape`` -> ``a_osc_1_sawtooth``),
  but only while processing audio: one block for oscillators, several 50 ms blocks for FX after a
  state load. :meth:`SurgeHost.settle` processes blocks until the names a spec needs exist (bounded).
- State goes in and out through ``preset_data`` (a ``.vstpreset``); ``raw_state`` is JUCE's host
  wrapper, and assigning a bare Surge patch to it is silently ignored (:mod:`a2d_surge.state`).
- ``process(..., reset=True)`` does not stop sounding voices: tails of the previous render leaked
  into the next one. Every warm-up sends MIDI CC 120 and CC 123 (all sound off, all notes off).
- The first render after a state change is silent: Surge applies state while processing, so every
  render resets, silences and processes a 50 ms warm-up first.
- Host-side parameter values read back stale after a state load (the audio is right), so a2d never
  reads state back from the parameter dict after a load; it reads Surge's own patch instead.
- The editor pitfall of older hosts (Surge ignoring a loaded preset until its editor was shown)
  did not occur headless with Surge XT 1.4.0; env ``A2D_SURGE_SHOW_EDITOR=1`` still opens the
  editor once after loading (needs a display).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from a2d.contracts.errors import OutputError, RenderError, SpecError, SynthUnavailableError
from a2d.contracts.spec import Note, ParamSpec, Patch
from a2d.contracts.synth import RenderSettings, SynthBackend
from a2d_surge.finder import find_surge_vst3
from a2d_surge.patch import (
    ACTIVATE,
    BASE_ROUTINGS,
    LFO_SOURCE_IDS,
    Routing,
    apply_base,
    deactivated,
    routings_in,
    with_name,
)
from a2d_surge.state import COMPONENT_CHUNK, SurgePatch, VstPreset, fxp_bytes, split_component

#: Warm-up processed after every reset, seconds (Surge applies state changes while processing).
WARMUP_SECONDS = 0.05
#: One flush pass of the reference protocol, seconds.
FLUSH_SECONDS = 32.0
#: Offset of the first of the two sets of every parameter (see :meth:`SurgeHost.set_raw`).
NUDGE = 1e-3
#: Most 50 ms blocks :meth:`SurgeHost.settle` processes while waiting for renamed parameters.
SETTLE_BLOCKS = 40
#: MIDI "all sound off" (CC 120) and "all notes off" (CC 123) on channel 1, at time 0.
ALL_OFF: tuple[tuple[bytes, float], ...] = (
    (bytes([0xB0, 120, 0]), 0.0),
    (bytes([0xB0, 123, 0]), 0.0),
)


class SurgeHost:
    """One loaded plugin, its cached parameter dict, its state, and the render protocol.

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

    def settle(self, names: Iterable[str], *, after: str) -> int:
        """Process 50 ms blocks, re-reading the parameter dict after each, until every one of
        ``names`` exists (Surge renames parameters only while processing). Returns the number of
        blocks processed; raises :class:`SpecError` naming the missing ones after
        :data:`SETTLE_BLOCKS` blocks."""
        names = list(names)
        missing = [n for n in names if n not in self.params]
        blocks = 0
        while missing and blocks < SETTLE_BLOCKS:
            self._process_silence(reset=False)
            self.refresh()
            blocks += 1
            missing = [n for n in missing if n not in self.params]
        if missing:
            raise SpecError(
                f"Surge XT still lacks parameter(s) {', '.join(missing[:5])} "
                f"({len(missing)} in all) {blocks * WARMUP_SECONDS:.1f} s after {after}; "
                "this spec needs a Surge XT whose module names match (1.3 or newer)"
            )
        return blocks

    def set_types(self, types: Mapping[str, str]) -> None:
        """Set module types by their display text (e.g. ``a_osc_1_type = "Modern"``); the renamed
        parameters appear after :meth:`settle`."""
        for name, text in types.items():
            param = self.parameter(name)
            try:
                param.raw_value = param.get_raw_value_for(text)
            except (ValueError, KeyError) as exc:
                raise SpecError(
                    f"Surge XT parameter {name!r} has no value {text!r}: {exc}"
                ) from exc

    def set_raw(self, values: Mapping[str, float]) -> None:
        """Set normalized VST3 values (``raw_value`` in [0, 1]).

        Each value is sent twice, first nudged: the host sends a parameter change to the plugin
        only when the value differs from its own cached copy, and that copy goes stale whenever
        Surge changes the value itself (a state load, a module-type change resetting its
        parameters). A value equal to the stale copy was silently dropped, so a render could keep
        a previous patch's FX mix. Both sets land before the next block; Surge sees the last."""
        for name, value in values.items():
            if not 0.0 <= value <= 1.0:
                raise SpecError(f"Surge XT parameter {name!r}: raw value {value} is not in [0, 1]")
            param = self.parameter(name)
            param.raw_value = float(value) + (NUDGE if value < 0.5 else -NUDGE)
            param.raw_value = float(value)

    # ---- state -------------------------------------------------------------------------------

    @property
    def preset_data(self) -> bytes:
        """The plugin's whole state as a ``.vstpreset``."""
        return bytes(self.plugin.preset_data)

    def patch(self) -> SurgePatch:
        """Surge's own current patch (XML and wavetables), read from the plugin's state."""
        component = VstPreset.parse(self.preset_data).chunk(COMPONENT_CHUNK)
        return SurgePatch.parse(split_component(component)[0])

    def load_preset_data(self, data: bytes) -> None:
        """Load a ``.vstpreset`` (as :attr:`preset_data` gives), silence and warm up, re-read."""
        self.plugin.preset_data = data
        self.warm_up()
        self.refresh()

    def load_patch(self, patch: SurgePatch) -> None:
        """Load a Surge patch: wrapped as this plugin's ``.vstpreset`` component state (keeping
        JUCE's private-data trailer), since bare patch bytes in ``raw_state`` are ignored."""
        current = VstPreset.parse(self.preset_data)
        trailer = split_component(current.chunk(COMPONENT_CHUNK))[1]
        self.load_preset_data(
            current.with_chunk(COMPONENT_CHUNK, patch.to_bytes() + trailer).to_bytes()
        )

    # ---- rendering ---------------------------------------------------------------------------

    def _process_silence(self, *, reset: bool) -> None:
        s = self.settings
        self.plugin.process(
            list(ALL_OFF), WARMUP_SECONDS, s.sample_rate, s.channels, s.block_size, reset
        )

    def warm_up(self) -> None:
        """Reset, silence every voice (CC 120/123: ``reset`` alone leaves voices sounding) and
        process 50 ms, so a render never hears the one before and state changes are applied."""
        self._process_silence(reset=True)

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
        """Set ``values``, reset + silence + warm up, play ``note``."""
        self.set_raw(values)
        self.warm_up()
        return self.play(note)

    def flush(self) -> None:
        s = self.settings
        self.plugin.process([], FLUSH_SECONDS, s.sample_rate, s.channels, s.block_size, False)


class SurgeBackend(SynthBackend):
    """Surge XT (VST3 via pedalboard). Spec values are VST3 ``raw_value`` s in [0, 1].

    ``spec.base`` keys: ``types`` (parameter -> display text, set first, e.g. oscillator and FX
    types), ``raw`` (parameter -> raw value, set after the types), ``routings`` (bool: add the
    fixed LFO routings of :data:`a2d_surge.patch.BASE_ROUTINGS` to the base patch).

    Presets: :meth:`write_preset` writes a ``.vstpreset`` (any VST3 host's preset browser) and,
    beside it, the same patch as Surge's own ``.fxp`` (Surge XT's patch browser, every plugin
    format and the standalone).
    """

    name: ClassVar[str] = "surge"
    display_name: ClassVar[str] = "Surge XT (VST3)"
    preset_suffix: ClassVar[str] = ".vstpreset"

    def __init__(
        self, spec: ParamSpec, settings: RenderSettings | None = None, **options: Any
    ) -> None:
        super().__init__(spec, settings, **options)
        plugin = options.get("plugin")
        if plugin is None:
            path = find_surge_vst3(options.get("plugin_path"))
            plugin = load_surge(path)
            self.plugin_path: Path | None = path
        else:  # an already loaded plugin (or a stand-in), e.g. in tests
            self.plugin_path = None
        self.host = SurgeHost(plugin, self.settings)
        self._base_state = build_base(self.host, spec)
        self._remap = choice_map(self.host, spec)
        if os.environ.get("A2D_SURGE_SHOW_EDITOR") == "1":
            plugin.show_editor()

    @classmethod
    def check_available(cls, **options: Any) -> None:
        if options.get("plugin") is None:
            find_surge_vst3(options.get("plugin_path"))

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ("plugin_path", "plugin")

    @property
    def version(self) -> str:
        return str(getattr(self.host.plugin, "version", "unknown"))

    @property
    def base_state(self) -> bytes:
        """The base patch as a ``.vstpreset`` (what every render starts from)."""
        return self._base_state

    def _values(self, patch: Patch) -> dict[str, float]:
        """The patch as plugin raw values (choices moved where this Surge lists them elsewhere)."""
        try:
            return {
                p.name: self._remap.get(p.name, {}).get(patch.params[p.name], patch.params[p.name])
                for p in self.spec.params
            }
        except KeyError as exc:
            raise SpecError(
                f"patch has no value for parameter {exc} of {self.spec.name!r}"
            ) from None

    def render(self, patch: Patch) -> np.ndarray:
        """Set the patch, reset + silence + 50 ms warm-up, play: ``(channels, num_samples)``."""
        return self.host.render(self._values(patch), patch.note)

    def render_bare(self, note: Note) -> np.ndarray:
        """Only the plugin's ``process`` call for the note, on the current state."""
        return self.host.play(note)

    def render_reference_protocol(self, patch: Patch) -> np.ndarray:
        """The anchor's protocol: reload the base state, three 32 s flushes around the sample."""
        self.host.load_preset_data(self._base_state)
        self.host.flush()
        self.host.refresh()  # renamed FX parameters appear only after processing
        self.host.set_raw(self._values(patch))
        self.host.flush()
        audio = self.host.play(patch.note)
        self.host.flush()
        return audio

    def preset_bytes(self, patch: Patch, name: str) -> tuple[bytes, bytes]:
        """``(vstpreset, fxp)`` bytes of base patch + ``patch``, the patch named ``name``."""
        self.host.set_raw(self._values(patch))
        self.host.warm_up()
        state = VstPreset.parse(self.host.preset_data)
        raw, trailer = split_component(state.chunk(COMPONENT_CHUNK))
        named = SurgePatch.parse(raw)
        named = named.with_xml(with_name(named.xml, name)).to_bytes()
        return state.with_chunk(COMPONENT_CHUNK, named + trailer).to_bytes(), fxp_bytes(named, name)

    def write_preset(self, patch: Patch, path: str | Path) -> Path:
        """Write ``<path>.vstpreset`` and ``<path>.fxp`` of base patch + ``patch``; returns the
        ``.vstpreset`` path."""
        path = Path(path)
        if path.suffix != self.preset_suffix:
            path = path.with_name(path.name + self.preset_suffix)
        vstpreset, fxp = self.preset_bytes(patch, path.stem)
        try:
            path.write_bytes(vstpreset)
            path.with_suffix(".fxp").write_bytes(fxp)
        except OSError as exc:
            raise OutputError(f"cannot write preset {path}: {exc}; choose a writable path") from exc
        return path

    def param_text(self, patch: Patch) -> dict[str, str]:
        self.host.set_raw(self._values(patch))
        return {p.name: str(self.host.parameter(p.name).string_value) for p in self.spec.params}


def load_surge(path: Path) -> Any:
    """Load the Surge XT VST3 at ``path`` with pedalboard (5-10 s)."""
    import pedalboard

    try:
        return pedalboard.load_plugin(str(path), plugin_name="Surge XT")
    except Exception as exc:  # pedalboard raises ImportError/RuntimeError/ValueError
        raise SynthUnavailableError(f"cannot load Surge XT from {path}: {exc}") from exc


def build_base(host: SurgeHost, spec: ParamSpec) -> bytes:
    """Put the plugin into ``spec``'s base state and return it as a ``.vstpreset``: Surge's own
    patch with the base edits (:func:`a2d_surge.patch.apply_base`), then module types (waiting
    for the renamed parameters), then raw values; checks that Surge kept the edits."""
    base = dict(spec.base)
    routings = BASE_ROUTINGS if base.get("routings") else ()
    host.warm_up()  # the first render after loading is silent; Surge finishes its set-up here
    patch = host.patch()
    host.load_patch(patch.with_xml(apply_base(patch.xml, f"a2d {spec.name} base", routings)))
    host.set_types(base.get("types", {}))
    raw = base.get("raw", {})
    host.settle([p.name for p in spec.params] + list(raw), after="setting the base module types")
    host.set_raw(raw)
    host.warm_up()
    check_base(host.patch().xml, routings)
    return host.preset_data


def choice_map(host: SurgeHost, spec: ParamSpec) -> dict[str, dict[float, float]]:
    """Where this Surge XT shows a categorical's label at another raw value than the spec's,
    ``{parameter: {spec raw value: raw value showing the label}}``. The published specs were made
    on an older Surge XT; 1.4 added filter types, which moved 5 of the 11 filter-type labels
    (e.g. the spec's "BP 24 dB" raw value shows "N 24 dB"). The labels are the specs' intent."""
    remap: dict[str, dict[float, float]] = {}
    for p in spec.params:
        if p.kind != "categorical":
            continue
        param = host.parameter(p.name)
        for label, raw in zip(p.labels, p.values, strict=True):
            param.raw_value = raw
            shown = str(param.string_value).strip()
            if shown == label:
                continue
            try:
                moved = float(param.get_raw_value_for(label))
            except (ValueError, KeyError):
                raise SpecError(
                    f"Surge XT shows {shown!r} where spec {spec.name!r} has {p.name} = {label!r}, "
                    f"and offers no {label!r}; this spec does not fit this Surge XT version"
                ) from None
            remap.setdefault(p.name, {})[raw] = moved
    return remap


def check_base(xml: str, routings: tuple[Routing, ...]) -> None:
    """Raise :class:`SpecError` unless Surge's saved patch holds every routing and has the
    filters and waveshaper active."""
    have = {(target, source) for target, source, _ in routings_in(xml)}
    lost = [r for r in routings if (r.target, LFO_SOURCE_IDS[r.lfo]) not in have]
    inactive = [tag for tag, off in deactivated(xml, ACTIVATE).items() if off]
    if lost or inactive:
        raise SpecError(
            f"Surge XT did not keep the base patch ({len(lost)} of {len(routings)} routings lost, "
            f"bypassed: {', '.join(inactive) or 'none'}); this Surge XT version loads patches "
            "differently from 1.4; please report it with `a2d --version`"
        )
