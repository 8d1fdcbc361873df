"""The ``.vital`` files a2d writes open in the released Vital and sound as a2d rendered them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from a2d.contracts.plugins import create_backend, get_spec
from a2d.contracts.synth import RenderSettings
from a2d.kernels.metrics import mss
from a2d_vital.backend import VitalBackend, control_ranges, panel_text
from a2d_vital.playback import render_preset
from a2d_vital.preset import (
    LATEST_RELEASE,
    PRESET_VERSION,
    compare_versions,
    compatibility_problems,
    opens_in,
    read_preset,
)

SETTINGS = RenderSettings(sample_rate=22050, duration=1.5)


@pytest.fixture(scope="module", params=["vital_simple", "vital_full"])
def backend(request) -> VitalBackend:
    b = create_backend(get_spec(request.param), SETTINGS)
    assert isinstance(b, VitalBackend)
    return b


def test_version_rules_follow_vitals_loader() -> None:
    # LoadSave::compareVersionStrings: integer parts, left to right.
    assert compare_versions("1.0.8", "1.5.5") == -1
    assert compare_versions("1.10.0", "1.9.9") == 1
    assert compare_versions("1.5.5", "1.5.5") == 0
    # A newer *feature* version (major.minor) is refused; a newer patch level is not.
    assert opens_in(PRESET_VERSION, LATEST_RELEASE)
    assert opens_in(PRESET_VERSION, "1.0.0")  # every 1.0.x release opens it too
    assert opens_in("1.5.9", "1.5.5")
    assert not opens_in("1.6.0", "1.5.5")
    assert not opens_in("99999.9.9", LATEST_RELEASE)  # what vita reports: refused by Vital


def patches(backend: VitalBackend, n: int = 3) -> list:
    """Drawn patches (generate's path) and decoded model outputs (predict's and evaluate's)."""
    spec = backend.spec
    rng = np.random.default_rng(7)
    drawn = [spec.sample(rng) for _ in range(n)]
    decoded = [spec.decode(rng.uniform(0, 1, spec.width)) for _ in range(n)]
    return drawn + decoded


def test_every_written_preset_obeys_vitals_format_and_sounds_as_rendered(backend, tmp_path):
    ranges = control_ranges(backend.synth)
    rate = SETTINGS.sample_rate
    for i, patch in enumerate(patches(backend)):
        path = backend.write_preset(patch, tmp_path / f"p{i}")
        doc = read_preset(path)
        assert doc["synth_version"] == PRESET_VERSION
        assert compatibility_problems(doc, ranges) == []
        assert doc["preset_name"] == f"p{i}" and "play " in doc["comments"]
        for name in backend.spec.param_names:
            stored = doc["settings"][name]  # Vital keeps float32
            assert stored == pytest.approx(patch.params[name], rel=1e-6, abs=1e-6)

        n = patch.note
        ours = [backend.render(patch) for _ in range(3)]
        loaded = render_preset(
            path.read_text(), n.pitch, n.velocity, n.end - n.start, SETTINGS.duration, rate
        )
        distances = [float(mss(loaded[None], a[None], rate)[0]) for a in ours]
        if backend.spec.name == "vital_simple":  # repeatable renders: the very same sound
            assert max(distances) < 1e-3, (i, distances)
            continue
        # vital_full's own renders of one patch differ (unison, spectral morph, effects; up to
        # 12 dB measured): the preset must sound as close to a2d's renders as they are to each
        # other.
        spread = max(
            float(mss(a[None], b[None], rate)[0]) for j, a in enumerate(ours) for b in ours[:j]
        )
        assert min(distances) <= spread + 0.1, (i, distances, spread)


def test_the_checker_catches_what_vital_would_refuse(backend, tmp_path) -> None:
    ranges = control_ranges(backend.synth)
    path = backend.write_preset(patches(backend, 1)[0], tmp_path / "x")
    good = read_preset(path)

    def broken(change) -> list[str]:
        doc = json.loads(json.dumps(good))
        change(doc)
        return compatibility_problems(doc, ranges)

    assert broken(lambda d: d.update(synth_version="99999.9.9"))
    assert broken(lambda d: d.pop("preset_style"))
    assert broken(lambda d: d["settings"].update(filter_1_cutoff=500.0))
    assert broken(lambda d: d["settings"].update(filter_1_cutoff="72"))
    assert broken(lambda d: d["settings"]["modulations"].pop())
    assert broken(lambda d: d["settings"]["sample"].update(length=99))
    assert broken(lambda d: d["settings"]["wavetables"][0].pop("name"))
    assert broken(lambda d: d["settings"].update(not_a_control=1.0))


def test_wavetables_and_sample_have_vitals_binary_layout(tmp_path) -> None:
    import base64

    b = create_backend(get_spec("vital_simple"), SETTINGS)
    doc = read_preset(b.write_preset(patches(b, 1)[0], tmp_path / "x"))
    table = doc["settings"]["wavetables"][0]
    assert table["name"] == "a2d Basic Shapes" and table["version"] == PRESET_VERSION
    (comp,) = table["groups"][0]["components"]
    assert comp["type"] == "Wave Source"
    frames = [np.frombuffer(base64.b64decode(k["wave_data"]), "<f4") for k in comp["keyframes"]]
    assert [f.shape for f in frames] == [(2048,)] * 4
    assert abs(frames[0][512] - 1.0) < 1e-6  # frame 0 is a sine: its peak a quarter in
    sample = doc["settings"]["sample"]
    assert len(base64.b64decode(sample["samples"])) == 2 * sample["length"]  # 16-bit PCM


def test_panel_text_is_what_vitals_sliders_print() -> None:
    import vita

    synth = vita.Synth()
    details = synth.get_control_details
    # Cutoff: the stored MIDI note minus 60 ("Cutoff: 44.61 semitones" on the panel).
    assert panel_text(details("filter_1_cutoff"), 104.61) == "44.61 semitones"
    assert panel_text(details("osc_2_tune"), 0.552) == "55.20 cents"
    assert panel_text(details("env_1_attack"), 1.2) == "2.073 secs"  # quartic: 1.2 ** 4
    assert panel_text(details("lfo_1_frequency"), 1.0) == "0.500 secs"  # 2 Hz as a period
    assert panel_text(details("filter_1_resonance"), 0.5) == "50.00%"
    assert panel_text(details("osc_1_transpose"), -12.0) == "-12"
