"""The ``dexed`` backend: the Yamaha DX7 through Dexed's MSFA engine (``dexed-py``; no plugin host).

A patch is turned into the DX7's own 155 voice bytes (:mod:`a2d_dexed.voice`: the DX7 INIT VOICE,
then the spec's ``base`` overrides, then the patch's parameters) and loaded with one
``load_sysex`` call; the presets a2d writes are the same bytes as a DX7 single-voice sysex dump,
so what Dexed or a DX7 plays from the file is what a2d rendered.

State between renders (measured with dexed-py 0.3.0, tested in ``tests/test_dexed.py``): each
``render`` call starts from a fresh engine state (voices, envelopes, LFO phase, the sample-and-hold
noise), so a render is a pure function of the voice bytes and the note: 40 fully random voices
rendered after each other, each with a 3.5 s note in a 4 s clip (tails cut off), gave exactly the
bytes of a fresh synth rendering each alone (max difference 0). No drain or warm-up is needed,
unlike Vital.

Output: the engine is mono. With ``channels == 2`` (the reference protocol) the mono signal is
written to both channels, which is what Dexed sends to a DAW; ``channels == 1`` stores the single
channel (half the mel work and bytes; ``configs/generate/dexed_full.yaml``). The engine's output is
not limited to [-1, 1]: several carriers at full level sum above 1 (algorithm 1 with every
operator at 99, dexed-py's default ``Patch()``: peak 2.0); a2d keeps it unscaled so that a
reloaded ``.syx`` renders the same samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from a2d.contracts.errors import OutputError, RenderError, SpecError, SynthUnavailableError
from a2d.contracts.spec import Note, ParamSpec, Patch
from a2d.contracts.synth import RenderSettings, SynthBackend
from a2d_dexed import voice


def _import_dexed() -> Any:
    try:
        import dexed
    except ImportError as exc:  # pragma: no cover - dexed-py is a dependency (Python >= 3.11)
        raise SynthUnavailableError(
            f"the dexed backend needs the 'dexed-py' package ({exc}); install it with "
            "`pip install dexed-py` (Python 3.11 or newer)"
        ) from exc
    return dexed


def dexed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dexed-py")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def spec_ranges(spec: ParamSpec) -> dict[str, tuple[float, float]]:
    """``name -> (0, byte maximum)`` of every DX7 voice parameter the spec names."""
    return {
        name: (0.0, float(voice.LAYOUT[name][1]))
        for name in spec.param_names
        if name in voice.LAYOUT
    }


#: The 156th byte dexed-py's ``Patch.to_sysex`` appends to the 155 voice bytes: all 6 operators on.
OPERATORS_ON = bytes([0x3F])


class DexedBackend(SynthBackend):
    """Dexed / DX7 (via ``dexed-py``): renders ``(channels, num_samples)`` float32.

    The spec's ``base`` may hold ``voice``: DX7 parameters (a2d names) that differ from the INIT
    VOICE in every patch of the spec, e.g. the fixed algorithm of ``dexed_simple``.
    """

    name: ClassVar[str] = "dexed"
    display_name: ClassVar[str] = "Dexed (DX7, dexed-py)"
    preset_suffix: ClassVar[str] = ".syx"
    #: dexed-py releases the GIL in ``render`` (2 threads rendered 1.8x as fast as one, 4 s notes).
    parallel_threads: ClassVar[bool] = True
    #: Voices per bank file (``a2d predict`` of several sounds also writes them as banks).
    bank_size: ClassVar[int] = 32
    #: Dexed renders in a fraction of Vital's time, so `a2d predict` refines with 10x the renders for
    #: a shorter wait than Vital's 64: on the 50 dev sounds -0.72 +- 0.08 dB MSS against 64 renders
    #: (lower on 46, higher on none), 10 s for one sound with start-up on 2 cores
    #: (docs/results.md, "Refine budget per synth").
    refine_renders: ClassVar[int] = 640

    def __init__(
        self, spec: ParamSpec, settings: RenderSettings | None = None, **options: Any
    ) -> None:
        super().__init__(spec, settings, **options)
        dexed = _import_dexed()
        self._synth = dexed.DexedSynth(float(self.settings.sample_rate))
        self._patch_cls = dexed.Patch
        # The engine under dexed-py's wrapper, which load_patch feeds with Patch.to_sysex() bytes.
        engine = getattr(self._synth, "_synth", None)
        self._engine = engine if callable(getattr(engine, "load_sysex", None)) else None
        self._base = {k: int(v) for k, v in dict(spec.base).get("voice", {}).items()}
        unknown = sorted(set(self._base) - set(voice.LAYOUT))
        if unknown:
            raise SpecError(
                f"spec {spec.name!r}: base voice sets unknown DX7 parameter(s) {unknown}; see "
                "a2d_dexed.voice"
            )
        voice.voice_bytes(self._base)  # range check of the base
        spec.validate_ranges(spec_ranges(spec))

    @classmethod
    def check_available(cls, **options: Any) -> None:
        _import_dexed()

    @property
    def version(self) -> str:
        return dexed_version()

    @property
    def synth(self) -> Any:
        """The live ``dexed.DexedSynth`` (for tests and power users)."""
        return self._synth

    # ---- voices ------------------------------------------------------------------------------
    def values(self, patch: Patch) -> dict[str, float]:
        """The DX7 parameters of ``patch`` on top of the spec's base voice."""
        out: dict[str, float] = dict(self._base)
        for p in self.spec.params:
            try:
                out[p.name] = patch.params[p.name]
            except KeyError:
                raise SpecError(
                    f"patch has no value for parameter {p.name!r} of spec {self.spec.name!r}"
                ) from None
        return out

    def voice_bytes(self, patch: Patch, name: str = "A2D") -> bytes:
        """The 155 DX7 voice bytes (VCED) of ``patch``."""
        return voice.voice_bytes(self.values(patch), name=name)

    # ---- rendering ---------------------------------------------------------------------------
    def _load(self, data: bytes) -> None:
        if self._engine is not None:
            # What load_patch(Patch.from_sysex(data)) hands the engine: dexed-py's parser returns a
            # valid voice unchanged, plus its operator on/off byte (tests/test_dexed.py checks
            # that on every spec's draws); 5 us instead of 70 us.
            self._engine.load_sysex(data + OPERATORS_ON)
        else:
            self._synth.load_patch(self._patch_cls.from_sysex(data))

    def render_bare(self, note: Note) -> np.ndarray:
        """One engine render call on the loaded voice: ``(num_samples,)`` float32 mono."""
        dur = self.settings.duration
        return self._synth.render(int(note.pitch), int(note.velocity), note.end - note.start, dur)

    def render_voice(self, data: bytes, note: Note) -> np.ndarray:
        """Load 155 voice bytes and play ``note``: ``(channels, num_samples)`` float32."""
        self._load(data)
        n = self.settings.num_samples
        start = round(note.start * self.settings.sample_rate)
        audio = np.zeros(0, dtype=np.float32)
        if start < n:
            dur = (n - start) / self.settings.sample_rate
            audio = self._synth.render(
                int(note.pitch), int(note.velocity), max(note.end - note.start, 0.0), dur
            )
        if start == 0 and audio.shape[0] == n:
            mono = audio  # the engine's fresh array, as it is (the usual case)
        else:
            mono = np.zeros(n, dtype=np.float32)
            m = max(min(audio.shape[0], n - start), 0)
            mono[start : start + m] = audio[:m]
        # A finite sum means no NaN or inf (they propagate); only overflow needs the full check.
        if not math.isfinite(float(mono.sum())) and not np.all(np.isfinite(mono)):
            raise RenderError(f"dexed rendered NaN or inf for note {note}; report this bug")
        if self.settings.channels == 1:
            return mono[None]
        return np.broadcast_to(mono, (2, n)).copy()

    def render(self, patch: Patch) -> np.ndarray:
        """The patch's voice (base voice + parameters) playing its note."""
        return self.render_voice(self.voice_bytes(patch), patch.note)

    def render_reference_protocol(self, patch: Patch) -> np.ndarray:
        """The same as :meth:`render`: the engine keeps no state between renders to flush."""
        return self.render(patch)

    # ---- presets and text --------------------------------------------------------------------
    def write_preset(self, patch: Patch, path: str | Path) -> Path:
        """Write a DX7 single-voice sysex dump (``.syx``, 163 bytes) that Dexed and a DX7 load;
        the voice name is the file name's first 10 characters."""
        path = Path(path)
        if path.suffix != self.preset_suffix:
            path = path.with_name(path.name + self.preset_suffix)
        data = voice.single_voice_sysex(self.voice_bytes(patch, name=path.stem))
        return _write(path, data)

    def write_bank(
        self, patches: Sequence[Patch], path: str | Path, names: Sequence[str] = ()
    ) -> Path:
        """Write up to 32 patches as one DX7 32-voice bank (``.syx``, 4104 bytes; empty slots hold
        INIT VOICE). ``names`` name the voices (default ``A2D 1``, ``A2D 2``, ...)."""
        path = Path(path)
        if path.suffix != self.preset_suffix:
            path = path.with_name(path.name + self.preset_suffix)
        names = list(names) or [f"A2D {k + 1}" for k in range(len(patches))]
        if len(names) != len(patches):
            raise SpecError(f"{len(patches)} patches but {len(names)} names")
        data = voice.bank_sysex(
            [self.voice_bytes(p, name=n) for p, n in zip(patches, names, strict=True)]
        )
        return _write(path, data)

    def param_text(self, patch: Patch) -> dict[str, str]:
        """Each parameter as the DX7 displays it (algorithm ``1``-``32``, detune ``-7``..``+7``,
        frequency as a ratio ``1.00`` or ``Hz``, curves ``-LIN``..``+LIN``, note names)."""
        values = self.values(patch)
        text = voice.display_text(values)
        return {p.name: text[p.name] for p in self.spec.params}

    def close(self) -> None:
        self._synth = None


def _write(path: Path, data: bytes) -> Path:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"cannot write preset {path}: {exc}; choose a writable path") from None
    return path


def load_syx(path: str | Path) -> list[Any]:
    """The ``dexed.Patch`` es of a ``.syx`` file a2d wrote: one for a single-voice dump, 32 for a
    bank (read by dexed-py's own ``Patch.load_bank``)."""
    dexed = _import_dexed()
    data = Path(path).read_bytes()
    if len(data) == voice.BANK_SIZE:
        return list(dexed.Patch.load_bank(str(path)))
    return [dexed.Patch.from_sysex(voice.parse_single_voice_sysex(data))]
