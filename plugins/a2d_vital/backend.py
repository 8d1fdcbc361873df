"""The ``vital`` backend: Vital through the embedded ``vita`` package (no plugin host, no GUI).

One ``vita.Synth`` per backend instance, created once (about 0.2 s) and reused. The spec's
``base`` describes the base patch (see :func:`build_base_state`); the backend builds it once and
keeps it as Vital preset JSON.

How a render avoids leaking state from the previous one (measured with vita 0.1.0, tested in
``tests/test_vital.py`` as render A, B, A again):

- ``vita.Synth.render`` does not clear the engine between calls: reverb/delay tails and voices
  still in their release carry over. ``load_json`` clears them (and sets every control).
- Vital smooths control changes over about 0.2 s, and ``load_json`` does not reset the smoothers:
  the first ~100 ms of a render glide from the PREVIOUS patch's values.
- ``load_json`` also cuts off voices that are still sounding (a note released near the end of a
  render, the warm-up note) and leaves their per-voice state behind; a later note that lands on
  such a voice starts from it. So a render depended on the synth's history: rendering a patch
  after 12 other patches, 13 of 60 renders differed from the first render of the same patch
  (peak 0.27, up to 1.8 dB MSS, decaying over the first ~1.2 s), with the reset below but
  without draining. A full state reload, longer flushes, polyphony 1 and a 1 s warm-up did not
  remove it (3 of 60 still differed at 1 s). Letting the voices end on their own before each reset
  does: every envelope release is set to its minimum and 50 ms are rendered ("drain"); 0 of 60
  then differ, for about 5 % more time per render.
- So a render is: drain, apply the patch, render a 0.3 s warm-up (the smoothers settle on the
  patch's values), drain, ``load_json`` the base patch without its wavetables (the engine keeps
  them; 2.5 ms instead of about 100 ms for the full state), apply the patch again, render. Every
  render plays the same number of notes (4): the engine also keeps a state that alternates with
  the number of notes played (one extra raw ``vita`` note flips it), so nothing else may play one.

Determinism: renders of identical settings are NOT bit-identical with Vital's default oscillator
random phase. The base patches set ``osc_N_random_phase = 0``; then repeated ``vital_simple``
renders are identical (max difference 0 measured); unison, some spectral-morph and
distortion types and the effects of ``vital_full`` still vary between renders. Tests compare
spectra.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from a2d.contracts.errors import OutputError, RenderError, SpecError, SynthUnavailableError
from a2d.contracts.spec import Note, ParamSpec, Patch
from a2d.contracts.synth import RenderSettings, SynthBackend
from a2d_vital.wavetable import basic_shapes_wavetable

#: Length of one flush render of the reference protocol, seconds.
FLUSH_SECONDS = 32.0
#: Warm-up render that lets Vital's control smoothers settle on a patch's values, seconds.
WARMUP_SECONDS = 0.3
#: Render with every envelope release at its minimum, so sounding voices end on their own, seconds.
DRAIN_SECONDS = 0.05
#: Length of the silent noise-oscillator sample of the base patches, samples.
SILENT_SAMPLE_LENGTH = 64


def _import_vita() -> Any:
    try:
        import vita
    except ImportError as exc:  # pragma: no cover - vita is a hard dependency
        raise SynthUnavailableError(
            f"the vital backend needs the 'vita' package ({exc}); install it with `pip install vita`"
        ) from exc
    return vita


def vita_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vita")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def control_ranges(synth: Any, names: list[str] | None = None) -> dict[str, tuple[float, float]]:
    """``name -> (min, max)`` of Vital's controls (all, or ``names``), in native units."""
    names = sorted(synth.get_controls()) if names is None else names
    out = {}
    for name in names:
        try:
            info = synth.get_control_details(name)
        except RuntimeError:
            continue
        out[name] = (float(info.min), float(info.max))
    return out


def build_base_state(synth: Any, base: dict[str, Any]) -> str:
    """Put ``synth`` into the base patch and return it as preset JSON.

    ``base`` keys (all optional): ``controls`` (name -> native value), ``modulations`` (list of
    ``{"source", "destination"}``; the K-th becomes slot ``modulation_K``, whose ``_amount`` a spec
    may sample), ``wavetable`` (``"basic_shapes"`` loads :mod:`a2d_vital.wavetable` into
    oscillators 1-3).
    """
    synth.load_init_preset()
    controls = synth.get_controls()
    for name, value in base.get("controls", {}).items():
        if name not in controls:
            raise SpecError(f"vital base patch sets unknown control {name!r}; check its spelling")
        controls[name].set(float(value))
    for k, mod in enumerate(base.get("modulations", []), start=1):
        src, dst = mod["source"], mod["destination"]
        if not synth.connect_modulation(src, dst):
            raise SpecError(
                f"vital base patch: cannot route {src!r} -> {dst!r}; see "
                "vita.get_modulation_sources() / get_modulation_destinations()"
            )
        amount = mod.get("amount")
        if amount is not None:
            controls[f"modulation_{k}_amount"].set(float(amount))
    state = json.loads(synth.to_json())
    routed = state["settings"]["modulations"]
    for k, mod in enumerate(base.get("modulations", [])):
        got = (routed[k]["source"], routed[k]["destination"])
        if got != (mod["source"], mod["destination"]):
            raise RenderError(
                f"vital put modulation {mod} in another slot ({got}); report this bug"
            )
    if base.get("wavetable") == "basic_shapes":
        for table in state["settings"]["wavetables"]:
            version = table.get("version")
            table.clear()
            table.update(basic_shapes_wavetable(), version=version)
    # The sample oscillator is off in every a2d base; a short silent sample keeps the state small,
    # so that reloading it (the per-render reset) costs about 2.5 ms instead of 9 ms.
    state["settings"]["sample"] = {
        "length": SILENT_SAMPLE_LENGTH,
        "name": "a2d silence",
        "sample_rate": 44100,
        # Vital stores samples as 16-bit PCM (Sample::jsonToState).
        "samples": base64.b64encode(np.zeros(SILENT_SAMPLE_LENGTH, "<i2").tobytes()).decode(),
    }
    state["preset_name"] = base.get("preset_name", "a2d base")
    text = json.dumps(state)
    if not synth.load_json(text):
        raise RenderError("vita refused the base patch JSON; report this bug")
    return synth.to_json()


class VitalBackend(SynthBackend):
    """Vital (via ``vita``): renders ``(channels, num_samples)`` float32 at ``settings.sample_rate``.

    Note times: the note always starts at ``patch.note.start``; vita itself can only start a note
    at t = 0, so a start > 0 is rendered by padding leading zeros (the tail is cut to length).
    """

    name: ClassVar[str] = "vital"
    display_name: ClassVar[str] = "Vital (vita)"
    preset_suffix: ClassVar[str] = ".vital"
    #: vita releases the GIL in ``render`` (2 threads rendered 2.4x as fast as one, 4 s notes).
    parallel_threads: ClassVar[bool] = True

    def __init__(
        self, spec: ParamSpec, settings: RenderSettings | None = None, **options: Any
    ) -> None:
        super().__init__(spec, settings, **options)
        vita = _import_vita()
        self._synth = vita.Synth()
        self._synth.set_sample_rate(float(self.settings.sample_rate))
        self._base_json = build_base_state(self._synth, dict(spec.base))
        light = json.loads(self._base_json)
        light["settings"].pop("wavetables")  # the engine keeps its wavetables when absent
        self._reset_json = json.dumps(light)
        self._controls = self._synth.get_controls()
        releases = [n for n in self._controls if n.startswith("env_") and n.endswith("_release")]
        self._fast_release = control_ranges(self._synth, releases)
        spec.validate_ranges(control_ranges(self._synth, spec.param_names))

    @classmethod
    def check_available(cls, **options: Any) -> None:
        _import_vita()

    @property
    def version(self) -> str:
        return vita_version()

    @property
    def synth(self) -> Any:
        """The live ``vita.Synth`` (for tests and power users)."""
        return self._synth

    @property
    def base_json(self) -> str:
        """The base patch as ``.vital`` preset JSON."""
        return self._base_json

    # ---- state -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Restore the base patch's controls and clear the engine (effect tails, releasing voices).
        Wavetables are not reloaded (no spec changes them)."""
        if not self._synth.load_json(self._reset_json):
            raise RenderError("vita failed to reload the base patch; report this bug")

    def apply(self, patch: Patch) -> None:
        """Set the patch's parameters on the current state (no reset)."""
        for p in self.spec.params:
            try:
                value = patch.params[p.name]
            except KeyError:
                raise SpecError(
                    f"patch has no value for parameter {p.name!r} of spec {self.spec.name!r}"
                ) from None
            self._controls[p.name].set(float(value))

    # ---- rendering ---------------------------------------------------------------------------
    def render_bare(self, note: Note) -> np.ndarray:
        """One ``vita.Synth.render`` call on the current state: ``(2, num_samples)`` float32."""
        dur = self.settings.duration
        return self._synth.render(
            int(note.pitch), note.velocity / 127.0, note.end - note.start, dur
        )

    def _play(self, note: Note) -> np.ndarray:
        n = self.settings.num_samples
        start = round(note.start * self.settings.sample_rate)
        audio = np.zeros((2, 0), dtype=np.float32)
        if start < n:
            dur = (n - start) / self.settings.sample_rate
            audio = self._synth.render(
                int(note.pitch), note.velocity / 127.0, max(note.end - note.start, 0.0), dur
            )
        if start == 0 and audio.shape[1] == n:
            out = audio  # vita's fresh array, as it is (the usual case)
        else:
            out = np.zeros((2, n), dtype=np.float32)
            m = max(min(audio.shape[1], n - start), 0)
            out[:, start : start + m] = audio[:, :m]
        # A finite sum means no NaN or inf (they propagate); only overflow needs the full check.
        if not math.isfinite(float(out.sum())) and not np.all(np.isfinite(out)):
            raise RenderError(f"vital rendered NaN or inf for note {note}; the patch is unstable")
        if self.settings.channels == 1:
            return out.mean(axis=0, keepdims=True)
        return out

    def drain(self, pitch: int) -> None:
        """Let every sounding voice end on its own: envelope releases at their minimum, then
        :data:`DRAIN_SECONDS` of processing (its silent note ends at once too)."""
        for name, (low, _) in self._fast_release.items():
            self._controls[name].set(low)
        self._synth.render(pitch, 0.0, 0.0, DRAIN_SECONDS)

    def prepare(self, patch: Patch) -> None:
        """Bring the synth to exactly base patch + ``patch`` with settled smoothers, no sounding
        voices and no effect tails (see the module docstring). Plays 3 notes, always."""
        note = patch.note
        self.drain(int(note.pitch))
        self.apply(patch)
        self._synth.render(int(note.pitch), note.velocity / 127.0, 0.0, WARMUP_SECONDS)
        self.drain(int(note.pitch))
        self.reset()
        self.apply(patch)

    def render(self, patch: Patch) -> np.ndarray:
        """Reset to the base patch, apply ``patch``, play its note: ``(channels, num_samples)``."""
        self.prepare(patch)
        return self._play(patch.note)

    def _flush(self, note: Note) -> None:
        # vita cannot process without a note: a zero-length note at velocity 0 then 32 s of
        # processing has the anchor's flush cost, which is what this protocol is benchmarked for.
        self._synth.render(int(note.pitch), 0.0, 0.0, FLUSH_SECONDS)

    def render_reference_protocol(self, patch: Patch) -> np.ndarray:
        """The anchor's per-sample protocol transposed to Vital: full state reload from JSON, then
        flush, apply, flush, render, flush (three 32 s flush renders around the sample)."""
        if not self._synth.load_json(self._base_json):
            raise RenderError("vita failed to reload the base patch; report this bug")
        self._flush(patch.note)
        self.apply(patch)
        self._flush(patch.note)
        audio = self._play(patch.note)
        self._flush(patch.note)
        return audio

    # ---- presets and text --------------------------------------------------------------------
    def state_json(self, patch: Patch) -> str:
        """The full state (base patch + ``patch``) as ``.vital`` preset JSON."""
        self.reset()
        self.apply(patch)
        return self._synth.to_json()

    def write_preset(self, patch: Patch, path: str | Path) -> Path:
        """Write the full state as a ``.vital`` file that the released Vital (1.0.x and 1.5.x)
        opens and ``vita`` reloads (see :mod:`a2d_vital.preset`)."""
        from a2d.contracts.notes import note_in_words
        from a2d_vital.preset import dumps, preset_document

        path = Path(path)
        if path.suffix != self.preset_suffix:
            path = path.with_name(path.name + self.preset_suffix)
        comments = (
            f"Made by a2d (spec {self.spec.name}, {self.spec.fingerprint}). "
            f"To hear the matched sound, {note_in_words(patch.note)}."
        )
        doc = preset_document(self.state_json(patch), name=path.stem, comments=comments)
        try:
            path.write_text(dumps(doc), encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write preset {path}: {exc}; choose a writable path") from exc
        return path

    def param_text(self, patch: Patch) -> dict[str, str]:
        """Each parameter as Vital's panel shows it, with its unit (e.g. ``"44.61 semitones"``,
        ``"0.352 secs"``, ``"55.2 cents"``); see :func:`panel_text`."""
        return {name: entry["text"] for name, entry in self.param_display(patch).items()}

    def param_display(self, patch: Patch) -> dict[str, dict[str, str]]:
        """Panel text, panel label and an everyday-units hint of every parameter."""
        self.reset()
        self.apply(patch)
        out = {}
        for p in self.spec.params:
            details = self._synth.get_control_details(p.name)
            value = float(patch.params[p.name])
            if details.options:  # a choice: the panel shows its name (e.g. "24dB", "Formant")
                text = self._synth.get_control_text(p.name)
            else:
                text = panel_text(details, value)
            entry = {"label": details.display_name, "text": text}
            if details.post_offset == -60.0 and details.display_units.strip() == "semitones":
                # stored as a MIDI note number; the panel shows semitones above C4 (MIDI 60)
                entry["value_unit"] = "MIDI note number; the panel shows it minus 60"
            hint = panel_hint(p.name, details, value)
            if hint:
                entry["hint"] = hint
            out[p.name] = entry
        return out

    def close(self) -> None:
        """Drop the synth and its control handles (they keep it alive): released before the
        interpreter exits, nanobind reports no leaked ``vita`` instances."""
        self._controls = {}
        self._synth = None


def _vital_number(value: float, max_chars: int = 5) -> str:
    """A number as Vital's sliders print it (``SynthSlider::formatValue``): 5 characters (6 with
    a minus sign), a trailing point dropped."""
    text = f"{value:.5f}"[: max_chars + (1 if value < 0 else 0)]
    return text.rstrip(".") if text.endswith(".") else text


#: Units Vital's panel omits but a musician needs (its tune sliders print cents without a unit).
_MISSING_UNITS = {"tune": " cents"}


def panel_text(details: Any, value: float) -> str:
    """The value as Vital's panel prints it (``SynthSlider::getAdjustedValue`` then
    ``formatValue``), from ``vita``'s control details: scaled, offset, inverted, multiplied."""
    scale = details.scale.name
    x = float(value)
    if scale == "Indexed":
        return f"{round(x)}{details.display_units}"
    x = {
        "Quadratic": x * x,
        "Cubic": x**3,
        "Quartic": x**4,
        "Exponential": 2.0**x,
        "SquareRoot": max(x, 0.0) ** 0.5,
    }.get(scale, x)
    x += details.post_offset
    if scale == "Exponential" and details.name.endswith("frequency"):
        # Vital's display_invert (not exposed by vita): its free-running rates print as periods
        x = 1.0 / x if x else float("inf")
    x *= details.display_multiply
    unit = details.display_units or _MISSING_UNITS.get(details.name.rpartition("_")[2], "")
    return f"{_vital_number(x)}{unit}"


def _hz(hz: float) -> str:
    return f"{hz / 1000:.2f} kHz" if hz >= 1000 else f"{hz:.1f} Hz"


def panel_hint(name: str, details: Any, value: float) -> str:
    """The value in everyday units where the panel's are not (empty where they are)."""
    if details.display_units.strip() == "semitones" and details.post_offset == -60.0:
        hz = 440.0 * 2.0 ** ((value - 69.0) / 12.0)  # the stored value is a MIDI note number
        return f"cutoff {_hz(hz)}"
    if details.scale.name == "Exponential" and name.endswith("frequency"):
        return f"rate {_hz(2.0**value)}"
    if name.startswith("modulation_") and name.endswith("_amount"):
        return f"{value * 100:+.0f} % of the destination's range"
    if details.scale.name == "Quadratic" and not details.display_units:
        return f"{20 * np.log10(max(value * value, 1e-6)):.1f} dB" if value > 0 else "silent"
    return ""


def load_vital_preset(path: str | Path, sample_rate: int = 44100) -> Any:
    """A fresh ``vita.Synth`` with the ``.vital`` file at ``path`` loaded."""
    vita = _import_vita()
    synth = vita.Synth()
    synth.set_sample_rate(float(sample_rate))
    if not synth.load_json(Path(path).read_text()):
        raise RenderError(f"vita could not load preset {path}; is it a .vital file?")
    return synth
