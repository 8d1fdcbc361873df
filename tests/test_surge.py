"""The ``surge`` backend: the pedalboard boundary with a stand-in, and the real plugin where found."""

from __future__ import annotations

import numpy as np
import pytest

from a2d.errors import SpecError, SynthUnavailableError
from a2d.plugins import get_spec, get_synth
from a2d.spec import Note, Patch
from a2d.synth import RenderSettings, create_backend
from a2d_surge.backend import SurgeBackend, SurgeHost, build_base
from a2d_surge.finder import ENV_VAR, find_surge_vst3, standard_folders
from a2d_surge.patch import BASE_ROUTINGS, component_state, parse_component_state, patch_xml

SETTINGS = RenderSettings(sample_rate=44100, duration=0.5)


class Param:
    """Stand-in for pedalboard's AudioProcessorParameter: a raw value and its text choices."""

    def __init__(self, choices: tuple[str, ...] = ()) -> None:
        self.raw_value = 0.0
        self.choices = choices

    def get_raw_value_for(self, text: str) -> float:
        if text not in self.choices:
            raise ValueError(f"valid: {self.choices}")
        return (self.choices.index(text) + 0.5) / len(self.choices)

    @property
    def string_value(self) -> str:
        return f"{self.raw_value:.3f}"


class StandInSurge:
    """The attributes of pedalboard's VST3Plugin that SurgeHost uses. Setting an oscillator type
    renames that oscillator's parameters, as Surge does; ``parameters`` builds a new dict on every
    access and counts the accesses."""

    def __init__(self) -> None:
        self.reads = 0
        self.processed: list[tuple[list, float, bool]] = []
        self.raw_state = b""
        self._params: dict[str, Param] = {}
        for i in (1, 2, 3):
            self._params[f"a_osc_{i}_type"] = Param(("Classic", "Modern"))
            self._params[f"a_osc_{i}_shape"] = Param()
        for name in ("fx_a1_fx_type", "fx_a2_fx_type", "fx_a3_fx_type"):
            self._params[name] = Param(("Off", "Chorus", "Delay", "Reverb 2"))
        for name in ("a_filter_1_type", "a_filter_2_type", "a_noise_mute"):
            self._params[name] = Param()
        for i in (1, 2, 3):
            self._params[f"a_osc_{i}_route"] = Param()

    @property
    def parameters(self) -> dict[str, Param]:
        self.reads += 1
        for i in (1, 2, 3):  # Surge renames after a type change
            if (
                self._params[f"a_osc_{i}_type"].raw_value > 0.5
                and f"a_osc_{i}_shape" in self._params
            ):
                del self._params[f"a_osc_{i}_shape"]
                for part in ("sawtooth", "pulse", "width"):
                    self._params[f"a_osc_{i}_{part}"] = Param()
        return dict(self._params)

    def process(self, midi, duration, sample_rate, num_channels, buffer_size, reset):
        self.processed.append((list(midi), duration, reset))
        n = round(duration * sample_rate)
        level = self._params.get("a_osc_1_sawtooth", Param()).raw_value
        return np.full((num_channels, n), level, dtype=np.float32)

    def reset(self) -> None:
        pass

    @property
    def preset_data(self) -> bytes:
        return b"VST3" + self.raw_state


def test_specs_register_without_the_plugin() -> None:
    assert get_synth("surge") is SurgeBackend
    simple, full = get_spec("surge_simple"), get_spec("surge_full")
    assert (simple.width, full.width) == (92, 300)
    assert len(simple.params) == 89 and simple.note.times == "sorted"
    assert simple.param("a_osc_1_pitch").constant_p == 0.5
    assert full.param("a_osc_1_octave").values[3] == 0.5005
    assert {p.group for p in full.params} >= {"osc", "filter", "lfo", "fx", "env"}


def test_finder_order_and_error(tmp_path, monkeypatch) -> None:
    explicit, from_env, installed = (tmp_path / d for d in ("a", "b", "c"))
    for folder in (explicit, from_env, installed):
        (folder / "Surge XT.vst3").mkdir(parents=True)
    env = {ENV_VAR: str(from_env / "Surge XT.vst3")}
    assert find_surge_vst3(explicit / "Surge XT.vst3", environ=env) == explicit / "Surge XT.vst3"
    assert find_surge_vst3(None, environ=env, folders=[installed]) == from_env / "Surge XT.vst3"
    assert find_surge_vst3(None, environ={}, folders=[installed]) == installed / "Surge XT.vst3"
    with pytest.raises(SynthUnavailableError, match="surge-synthesizer.github.io.*A2D_SURGE_VST3"):
        find_surge_vst3(None, environ={}, folders=[tmp_path / "empty"])
    with pytest.raises(SynthUnavailableError, match="does not exist"):
        find_surge_vst3(tmp_path / "nope.vst3", environ={})
    assert standard_folders("linux", tmp_path)[-1] == tmp_path / ".vst3"
    assert str(standard_folders("win32")[0]).endswith("VST3")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.vst3"))
    with pytest.raises(SynthUnavailableError):
        SurgeBackend.check_available()


def test_host_caches_the_parameter_dict_and_handles_renames() -> None:
    plugin = StandInSurge()
    host = SurgeHost(plugin, SETTINGS)
    assert plugin.reads == 1
    host.set_types({f"a_osc_{i}_type": "Modern" for i in (1, 2, 3)})
    assert plugin.reads == 2  # one re-read after all type changes
    assert "a_osc_1_sawtooth" in host.params and "a_osc_1_shape" not in host.params
    for _ in range(3):
        host.render({"a_osc_1_sawtooth": 0.25}, Note(60, 100, 0.1, 0.3))
    assert plugin.reads == 2  # renders never rebuild the dict
    with pytest.raises(SpecError, match="no parameter 'a_osc_1_shape'.*a_osc_1_sawtooth"):
        host.set_raw({"a_osc_1_shape": 0.5})
    with pytest.raises(SpecError, match="has no value 'Wavetable'"):
        host.set_types({"a_osc_1_type": "Wavetable"})


def test_host_maps_values_midi_and_protocol() -> None:
    plugin = StandInSurge()
    host = SurgeHost(plugin, SETTINGS)
    host.set_types({"a_osc_1_type": "Modern"})
    audio = host.render({"a_osc_1_sawtooth": 0.75}, Note(61, 90, 0.1, 0.9))
    assert host.params["a_osc_1_sawtooth"].raw_value == 0.75  # raw values pass through unchanged
    assert audio.shape == (2, 22050) and audio.dtype == np.float32
    assert np.allclose(audio, 0.75)
    warm, real = plugin.processed[-2:]
    assert warm == ([], 0.05, True)  # reset + 50 ms warm-up first
    assert real[0] == [(bytes([0x90, 61, 90]), 0.1), (bytes([0x80, 61, 0]), 0.5)]  # off clipped
    assert real[2] is False
    with pytest.raises(SpecError, match=r"raw value 1.5 is not in \[0, 1\]"):
        host.set_raw({"a_osc_1_sawtooth": 1.5})


def test_build_base_loads_routings_then_types_then_values() -> None:
    plugin = StandInSurge()
    host = SurgeHost(plugin, SETTINGS)
    spec = get_spec("surge_simple")
    with pytest.raises(SpecError, match="lacks parameter"):
        build_base(host, spec)  # the stand-in has none of the envelope/LFO parameters
    xml = parse_component_state(plugin.raw_state)
    assert xml.count("<modrouting") == len(BASE_ROUTINGS) == 6
    assert host.params["fx_a1_fx_type"].raw_value == pytest.approx(0.125)  # "Off"
    assert host.params["a_filter_1_type"].raw_value == 0.0355


def test_routing_patch_bytes() -> None:
    xml = patch_xml("x")
    state = component_state(xml)
    assert state[:4] == b"sub3" and int.from_bytes(state[4:8], "little") == len(xml.encode())
    assert len(state) == 32 + len(xml.encode()) and parse_component_state(state) == xml
    assert '<a_filter1_cutoff type="2"' in xml and 'source="17"' in xml and 'source="22"' in xml


# ---- the real plugin ---------------------------------------------------------------------------


def _surge_or_skip() -> None:
    try:
        find_surge_vst3()
    except SynthUnavailableError as exc:
        pytest.skip(f"no Surge XT VST3 here: {exc}")


@pytest.fixture(scope="module")
def surge_simple() -> SurgeBackend:
    _surge_or_skip()
    return create_backend(get_spec("surge_simple"), RenderSettings(duration=2.0))


def _spectrum(audio: np.ndarray) -> np.ndarray:
    return np.abs(np.fft.rfft(audio.mean(axis=0)))


@pytest.mark.surge
def test_real_surge_renders_without_leaking(surge_simple: SurgeBackend) -> None:
    spec = surge_simple.spec
    rng = np.random.default_rng(0)
    a_patch = spec.sample(rng)
    a_patch = Patch(a_patch.params, Note(60, 100, 0.0, 1.0))
    a = surge_simple.render(a_patch)
    assert a.shape == (2, 88200) and np.abs(a).max() > 1e-3
    surge_simple.render(spec.sample(rng))
    again = surge_simple.render(a_patch)
    sa, sb = _spectrum(a), _spectrum(again)
    assert np.abs(sa - sb).sum() / sa.sum() < 0.2


@pytest.mark.surge
def test_real_surge_preset_export_and_reload(surge_simple: SurgeBackend, tmp_path) -> None:
    import pedalboard

    patch = surge_simple.spec.sample(np.random.default_rng(1))
    patch = Patch(patch.params, Note(60, 100, 0.0, 1.0))
    original = surge_simple.render(patch)
    path = surge_simple.write_preset(patch, tmp_path / "p")
    assert path.suffix == ".vstpreset" and path.stat().st_size > 0
    fresh = pedalboard.load_plugin(str(surge_simple.plugin_path))
    fresh.load_preset(str(path))
    host = SurgeHost(fresh, surge_simple.settings)
    host.warm_up()
    again = host.play(patch.note)
    sa, sb = _spectrum(original), _spectrum(again)
    assert np.abs(sa - sb).sum() / sa.sum() < 0.2
