"""Play a Vital preset file as a2d renders a patch: how the tests check that a written preset
sounds like the render it was written from. Apart from the backend, so that the preset format
(:mod:`a2d_vital.preset`) imports nothing back from it."""

from __future__ import annotations

import numpy as np

from a2d_vital.backend import DRAIN_SECONDS, WARMUP_SECONDS, control_ranges


def render_preset(
    text: str, pitch: int, velocity: int, seconds_held: float, duration: float, sample_rate: int
) -> np.ndarray:
    """Play one note on a fresh ``vita.Synth`` with the preset ``text`` loaded, as
    :meth:`~a2d_vital.backend.VitalBackend.render` plays a patch (drain, warm-up, drain, reload,
    play: four notes; see the backend's docstring): ``(2, round(duration * sample_rate))``."""
    import vita

    synth = vita.Synth()
    synth.set_sample_rate(float(sample_rate))
    controls = synth.get_controls()
    releases = control_ranges(
        synth, [n for n in controls if n.startswith("env_") and n.endswith("_release")]
    )

    def load() -> None:
        if not synth.load_json(text):
            raise ValueError("vita refused the preset")

    def drain() -> None:
        for name, (low, _) in releases.items():
            controls[name].set(low)
        synth.render(pitch, 0.0, 0.0, DRAIN_SECONDS)

    load()
    drain()
    load()
    synth.render(pitch, velocity / 127.0, 0.0, WARMUP_SECONDS)
    drain()
    load()
    return synth.render(pitch, velocity / 127.0, seconds_held, duration)
