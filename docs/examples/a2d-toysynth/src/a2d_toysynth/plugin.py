"""The plugin: a backend class, a spec, and the hooks that register them with a2d."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import a2d
from a2d.contracts.spec import Continuous, NoteSpec, ParamSpec, Patch
from a2d.contracts.synth import SynthBackend
from a2d_toysynth import __version__, synth

TOY_SIMPLE = ParamSpec(
    name="toy_simple",
    synth="toysynth",
    description="Every control of the toy synth.",
    params=(
        Continuous("shape", 0.0, 1.0, group="osc"),
        Continuous("detune", 0.0, 20.0, unit="cents", group="osc"),
        Continuous("cutoff", 40.0, 120.0, unit="semitones", group="filter"),
        Continuous("resonance", 0.5, 6.0, unit="Q", group="filter"),
        Continuous("attack", 0.002, 0.5, unit="s", group="env"),
        Continuous("decay", 0.01, 1.0, unit="s", group="env"),
        Continuous("sustain", 0.0, 1.0, group="env"),
        Continuous("release", 0.01, 1.0, unit="s", group="env"),
        Continuous("volume", 0.2, 0.8, group="amp"),
    ),
    note=NoteSpec(pitch_range=(48, 72), times="release", time_range=(0.5, 3.0)),
)


class ToySynth(SynthBackend):
    """The numpy synth above, as an a2d backend. Renders are deterministic."""

    name = "toysynth"
    display_name = "Toy synth (a2d example plugin)"
    preset_suffix = ".toy.json"

    @property
    def version(self) -> str:
        return __version__

    def render(self, patch: Patch) -> np.ndarray:
        s, n = self.settings, patch.note
        audio = synth.render(
            patch.params, n.pitch, n.velocity, n.start, n.end, s.sample_rate, s.duration
        )
        return audio if s.channels == 2 else audio.mean(axis=0, keepdims=True)

    def write_preset(self, patch: Patch, path: str | Path) -> Path:
        path = Path(path)
        if not path.name.endswith(self.preset_suffix):
            path = path.with_name(path.name + self.preset_suffix)
        path.write_text(json.dumps({"synth": self.name, "version": __version__, **patch.to_dict()}))
        return path


@a2d.hookimpl
def a2d_register_synths(registry):
    registry.add(ToySynth)


@a2d.hookimpl
def a2d_register_param_specs(registry):
    registry.add(TOY_SIMPLE)
