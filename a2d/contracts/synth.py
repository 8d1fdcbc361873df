"""The synth backend contract: render a :class:`~a2d.contracts.spec.Patch` with a real synth, write presets.

A backend instance owns one live synth (one per worker process; creating one is slow) and is reused
across renders: :meth:`SynthBackend.render` must reset the synth to the spec's base patch before
applying the patch, so nothing leaks between renders.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from a2d._moved import moved_name
from a2d.contracts.errors import ConfigError
from a2d.contracts.spec import Note, ParamSpec, Patch


@dataclass(frozen=True)
class RenderSettings:
    """How every clip is rendered (the reference protocol's defaults).

    :param sample_rate: Hz.
    :param duration: clip length in seconds; audio is ``(channels, round(duration * sample_rate))``.
    :param channels: output channels (2: stereo).
    :param block_size: host buffer size in samples, for backends that process in blocks.
    """

    sample_rate: int = 44100
    duration: float = 4.0
    channels: int = 2
    block_size: int = 2048

    def __post_init__(self) -> None:
        if not 8000 <= self.sample_rate <= 192000:
            raise ConfigError(f"sample_rate {self.sample_rate} Hz is outside 8000..192000")
        if not 0.05 <= self.duration <= 60:
            raise ConfigError(f"duration {self.duration} s is outside 0.05..60")
        if self.channels not in (1, 2):
            raise ConfigError(f"channels must be 1 or 2, got {self.channels}")
        if not 16 <= self.block_size <= 65536:
            raise ConfigError(f"block_size {self.block_size} is outside 16..65536")

    @property
    def num_samples(self) -> int:
        return round(self.duration * self.sample_rate)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SynthBackend(ABC):
    """A real synthesizer that a2d drives.

    Subclasses set :attr:`name` (registered name), :attr:`preset_suffix`, and implement
    :meth:`render` and :meth:`write_preset`. The constructor loads the synth once.

    :param spec: the parameter spec whose patches this instance renders (its ``base`` is the base
        patch restored before every render).
    :param settings: render settings.
    :param options: backend-specific options, e.g. ``plugin_path`` for VST3 backends.
    """

    #: Registered name, e.g. ``"vital"``.
    name: ClassVar[str] = ""
    #: Human-readable name, e.g. ``"Vital"``.
    display_name: ClassVar[str] = ""
    #: File suffix of the presets :meth:`write_preset` writes, e.g. ``".vital"``.
    preset_suffix: ClassVar[str] = ""
    #: Whether separate instances may render at the same time in threads of one process (the
    #: engine releases the GIL while it renders and instances share no state); a synth pool then
    #: renders one input's candidates on several cores without worker processes. Set it only
    #: after measuring both (speed-up and identical renders); False is always safe.
    parallel_threads: ClassVar[bool] = False
    #: Renders ``a2d predict`` and ``a2d serve`` spend refining each match when not told
    #: (``--refine``). A synth whose renders are cheap gets more for about the same wait: set it
    #: from a measured gain, not from speed alone (``docs/results.md``, "Refine budget per synth").
    refine_renders: ClassVar[int] = 64

    def __init__(
        self, spec: ParamSpec, settings: RenderSettings | None = None, **options: Any
    ) -> None:
        self.spec = spec
        self.settings = settings or RenderSettings()
        self.options = options

    @classmethod
    def check_available(cls, **options: Any) -> None:
        """Raise :class:`~a2d.contracts.errors.SynthUnavailableError` (with an install hint) if this backend
        cannot run here. The default accepts."""

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """Backend options accepted by the constructor (e.g. ``("plugin_path",)``)."""
        return ()

    @property
    def version(self) -> str:
        """Version string of the underlying synth."""
        return "unknown"

    @abstractmethod
    def render(self, patch: Patch) -> np.ndarray:
        """Reset to the base patch, apply ``patch``, play its note; ``(channels, num_samples)``
        float32 at ``settings.sample_rate``."""

    def render_bare(self, note: Note) -> np.ndarray:
        """Only the synth's own render call on its current state (for overhead benchmarks)."""
        raise NotImplementedError(f"{type(self).__name__} has no bare render")

    def render_reference_protocol(self, patch: Patch) -> np.ndarray:
        """Render as the anchor protocol does (full state reload and flushes around every sample);
        for benchmarks only."""
        raise NotImplementedError(f"{type(self).__name__} has no reference-protocol render")

    @abstractmethod
    def write_preset(self, patch: Patch, path: str | Path) -> Path:
        """Write ``patch`` on top of the base patch as a preset file the synth loads in a DAW; the
        suffix :attr:`preset_suffix` is added when missing. Returns the written path."""

    def param_text(self, patch: Patch) -> dict[str, str]:
        """Display text of each parameter as the synth shows it (default: empty)."""
        return {}

    def param_display(self, patch: Patch) -> dict[str, dict[str, str]]:
        """Per parameter, what a musician reads on the synth's panel: ``text`` (the panel's value
        with its unit), optionally ``label`` (the control's name on the panel) and ``hint`` (the
        value in everyday units, e.g. a cutoff in Hz). Default: :meth:`param_text` alone."""
        return {name: {"text": text} for name, text in self.param_text(patch).items()}

    def close(self) -> None:
        """Release the synth."""

    def __enter__(self) -> SynthBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def __getattr__(name: str) -> Any:
    # create_backend and backend_class moved to the plugin layer (name lookup).
    return moved_name(__name__, name)
