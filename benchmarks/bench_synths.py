"""Renders per second per core, 4 s stereo at 44.1 kHz: a2d's render beside the synth's bare
render call (the overhead ratio) and the reference protocol (the baseline a2d improves on).

Run: ``pytest benchmarks/bench_synths.py --benchmark-only``. Surge cases skip without the VST3.
"""

from __future__ import annotations

import numpy as np
import pytest

from a2d.contracts.errors import SynthUnavailableError
from a2d.contracts.plugins import create_backend, get_spec
from a2d.contracts.spec import Note, Patch
from a2d.contracts.synth import RenderSettings

SETTINGS = RenderSettings(sample_rate=44100, duration=4.0, channels=2)
CASES = [("vital_simple",), ("vital_full",), ("dexed_full",), ("surge_simple",), ("surge_full",)]
_backends: dict[str, object] = {}


def backend_for(spec_name: str):
    if spec_name not in _backends:
        try:
            _backends[spec_name] = create_backend(get_spec(spec_name), SETTINGS)
        except SynthUnavailableError as exc:
            pytest.skip(f"{spec_name}: {exc}")
    return _backends[spec_name]


def patch_for(spec_name: str) -> Patch:
    spec = get_spec(spec_name)
    patch = spec.sample(np.random.default_rng(0))
    return Patch(patch.params, Note(pitch=60, velocity=100, start=0.0, end=2.0))


def _check(audio: np.ndarray, benchmark, backend, kind: str) -> None:
    # A mono engine's bare call returns (num_samples,); a2d's render is always (2, num_samples).
    assert audio.shape[-1] == SETTINGS.num_samples and np.all(np.isfinite(audio))
    benchmark.extra_info.update(
        synth=backend.name,
        version=backend.version,
        spec=backend.spec.name,
        kind=kind,
        seconds_of_audio=SETTINGS.duration,
        sample_rate=SETTINGS.sample_rate,
    )


@pytest.mark.parametrize(("spec_name",), CASES)
def test_render(benchmark, spec_name: str) -> None:
    backend = backend_for(spec_name)
    patch = patch_for(spec_name)
    audio = benchmark.pedantic(backend.render, args=(patch,), rounds=5, warmup_rounds=1)
    _check(audio, benchmark, backend, "a2d render (reset + warm-up + render)")


@pytest.mark.parametrize(("spec_name",), CASES)
def test_render_bare(benchmark, spec_name: str) -> None:
    backend = backend_for(spec_name)
    patch = patch_for(spec_name)
    backend.render(patch)  # the state the bare call plays
    audio = benchmark.pedantic(backend.render_bare, args=(patch.note,), rounds=5, warmup_rounds=1)
    _check(audio, benchmark, backend, "bare synth render call")


@pytest.mark.parametrize(("spec_name",), CASES)
def test_render_reference_protocol(benchmark, spec_name: str) -> None:
    backend = backend_for(spec_name)
    patch = patch_for(spec_name)
    audio = benchmark.pedantic(backend.render_reference_protocol, args=(patch,), rounds=2)
    _check(audio, benchmark, backend, "reference protocol (reload + 3 x 32 s flush)")
