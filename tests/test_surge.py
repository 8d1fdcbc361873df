"""The ``surge`` backend: the pedalboard boundary with a stand-in, and the real plugin where found."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from a2d.contracts.errors import PresetError, SpecError, SynthUnavailableError
from a2d.contracts.plugins import create_backend, get_spec, get_synth
from a2d.contracts.spec import Note, Patch
from a2d.contracts.synth import RenderSettings
from a2d.kernels.loudness import integrated_loudness
from a2d.kernels.metrics import mss
from a2d_surge.backend import (
    ALL_OFF,
    SETTLE_BLOCKS,
    SurgeBackend,
    SurgeHost,
    check_base,
    load_surge,
)
from a2d_surge.finder import ENV_VAR, find_surge_vst3, standard_folders
from a2d_surge.patch import BASE_ROUTINGS, apply_base, routings_in
from a2d_surge.state import SurgePatch, VstPreset, fxp_bytes, parse_fxp, split_component

SETTINGS = RenderSettings(sample_rate=44100, duration=0.5)
CLASS_ID = b"56534558667350736572676520787400"  # 32 ASCII bytes, as a VST3 class id
OSC_NAMES = {
    "Classic": ("shape", "width_1", "width_2", "sub_mix"),
    "Modern": ("sawtooth", "pulse", "triangle", "width"),
}
FX_TYPES = ("Off", "Chorus", "Delay", "Reverb 2")
#: Process calls after which renamed parameters appear: oscillators 1, FX after a state load 3.
FX_RENAME_BLOCKS = 3


class Param:
    """Stand-in for pedalboard's AudioProcessorParameter: a raw value and its text choices
    (evenly spread, or at given raw values as Surge's categoricals are)."""

    def __init__(
        self, choices: tuple[str, ...] = (), value: float = 0.0, at: tuple[float, ...] = ()
    ) -> None:
        self.raw_value = value
        self.choices = choices
        self.at = at or tuple((i + 0.5) / len(choices) for i in range(len(choices)))

    def get_raw_value_for(self, text: str) -> float:
        if text not in self.choices:
            raise ValueError(f"valid: {self.choices}")
        return self.at[self.choices.index(text)]

    def text(self) -> str:
        return self.choices[int(np.argmin([abs(a - self.raw_value) for a in self.at]))]

    @property
    def string_value(self) -> str:
        return self.text() if self.choices else f"{self.raw_value:.3f}"


class StandInSurge:
    """Behaves like pedalboard's VST3Plugin hosting Surge XT 1.4 where a2d depends on it (each
    point measured on the real plugin):

    - ``parameters`` builds a new dict on every access (counted in ``reads``);
    - a module-type change renames parameters only after processing: oscillators after one
      ``process`` call, FX after :data:`FX_RENAME_BLOCKS` calls;
    - ``preset_data`` is a ``.vstpreset`` holding a ``sub3`` patch plus JUCE's private-data
      trailer, and assigning one loads its XML (types, routings, filter bypass); ``raw_state`` is
      JUCE's ``VC2!`` wrapper and assigning bare patch bytes to it is silently ignored;
    - a filter whose type element is missing or deactivated in a loaded patch stays bypassed, and
      setting its type parameter does not activate it;
    - ``process(reset=True)`` leaves sounding voices sounding: only MIDI CC 120/123 silence them;
    - the audio depends on every parameter, on the filter cutoff only while filter 1 is active and
      on the LFO 1 -> cutoff routing only while it is in the patch.
    """

    def __init__(
        self,
        spec_names: list[str] | None = None,
        choices: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] | None = None,
    ) -> None:
        spec_names = spec_names or []
        self.choices = choices or {}
        self.fx_names = [
            n for n in spec_names if n.startswith("fx_a") and not n.endswith("_fx_type")
        ]
        self.reads = 0
        self.processed: list[tuple[list, float, bool]] = []
        self.static: dict[str, Param] = {}
        for name in spec_names:
            if not _type_dependent(name):
                labels, at = self.choices.get(name, ((), ()))
                self.static[name] = Param(labels, at=at)
        for i in (1, 2, 3):
            self.static[f"a_osc_{i}_type"] = Param(("Classic", "Modern"))
        for n in (1, 2, 3):
            self.static[f"fx_a{n}_fx_type"] = Param(FX_TYPES)
        base = ("a_filter_1_type", "a_filter_2_type", "a_filter_1_cutoff", "a_noise_mute")
        osc = tuple(f"a_osc_{i}_{part}" for i in (1, 2, 3) for part in ("route", "mute"))
        for name in base + osc:
            self.static.setdefault(name, Param())
        self.dynamic: dict[str, Param] = {}
        self.shown: dict[str, str] = {}  # module -> type whose names are exposed
        self.pending: dict[str, int] = {}  # module -> process calls left before renaming
        self.active = {"a_filter1_type": True, "a_filter2_type": True, "a_ws_type": True}
        self.routings: list[tuple[str, int, float]] = []
        self.sounding = 0.0  # level of voices still sounding from the last note
        self.patch_name = "Init"
        self.stored: dict[str, float] = {}
        self._rename_all(now=True)

    # -- parameters
    def _modules(self) -> dict[str, str]:
        mods = {f"a_osc_{i}": self.static[f"a_osc_{i}_type"].text() for i in (1, 2, 3)}
        mods.update({f"fx_a{n}": self.static[f"fx_a{n}_fx_type"].text() for n in (1, 2, 3)})
        return mods

    def _rename_all(self, now: bool = False, fx_blocks: int = 1) -> None:
        for module, kind in self._modules().items():
            if self.shown.get(module) != kind and module not in self.pending:
                self.pending[module] = 0 if now else (fx_blocks if module.startswith("fx") else 1)
        self._apply_pending()

    def _apply_pending(self) -> None:
        for module, left in list(self.pending.items()):
            if left > 0:
                continue
            del self.pending[module]
            kind = self._modules()[module]
            for name in [n for n in self.dynamic if n.startswith(module + "_")]:
                del self.dynamic[name]
            if module.startswith("a_osc"):
                names = [f"{module}_{part}" for part in OSC_NAMES[kind]]
            else:
                names = (
                    []
                    if kind == "Off"
                    else [f"{module}_{kind.lower().replace(' ', '')}_{k}" for k in ("a", "b")]
                )
                names += [n for n in self.fx_names if n.startswith(module + "_") and kind != "Off"]
            for name in names:  # a loaded patch stores every module's values
                labels, at = self.choices.get(name, ((), ()))
                self.dynamic[name] = Param(labels, self.stored.get(name, 0.0), at)
            self.shown[module] = kind

    @property
    def parameters(self) -> dict[str, Param]:
        self.reads += 1
        return {**self.static, **self.dynamic}

    # -- state
    def _xml(self) -> str:
        def el(tag: str, value: float, extra: str = "", inner: str = "") -> str:
            return f'<{tag} type="2" value="{value:.6f}"{extra}>{inner}</{tag}>'

        parts = [el(n, p.raw_value) for n, p in {**self.static, **self.dynamic}.items()]
        for tag, on in self.active.items():
            parts.append(el(tag, 0.0, f' deactivated="{0 if on else 1}"'))
        for target in (
            "a_filter1_cutoff",
            "a_filter2_cutoff",
            "a_osc1_param3",
            "a_osc2_param3",
            "a_osc3_param3",
            "a_pitch",
        ):
            mods = "".join(
                f'<modrouting source="{src}" depth="{depth}" muted="0" source_index="0" />'
                for t, src, depth in self.routings
                if t == target
            )
            parts.append(el(target, 0.0, "", mods))
        return (
            f'<patch revision="21"><meta name="{self.patch_name}" category="" comment="" author="" />'
            f"<parameters>{''.join(parts)}</parameters></patch>"
        )

    def _component(self) -> bytes:
        xml = self._xml().encode() + b"\0"
        raw = b"sub3" + struct.pack("<7I", len(xml), *([0] * 6)) + xml + b"extra-block"
        private = b"<JUCEPrivateData Bypass=0/>"
        return (
            raw
            + struct.pack("<q", 0)
            + private
            + struct.pack("<q", len(private))
            + b"JUCEPrivateData"
        )

    @property
    def preset_data(self) -> bytes:
        return VstPreset(CLASS_ID, ((b"Comp", self._component()), (b"Cont", b"ctl"))).to_bytes()

    @preset_data.setter
    def preset_data(self, data: bytes) -> None:
        preset = VstPreset.parse(data)
        assert preset.class_id == CLASS_ID
        raw, trailer = split_component(preset.chunk(b"Comp"))
        assert trailer.endswith(b"JUCEPrivateData")
        root = ET.fromstring(SurgePatch.parse(raw).xml.encode())
        self.patch_name = root.find("meta").get("name")
        params = root.find("parameters")
        self.stored = {element.tag: float(element.get("value")) for element in params}
        for name, param in {**self.static, **self.dynamic}.items():
            param.raw_value = self.stored.get(name, param.raw_value)
        for tag in self.active:  # missing or deactivated: bypassed
            element = params.find(tag)
            self.active[tag] = element is not None and element.get("deactivated", "1") == "0"
        self.routings = [
            (e.tag, int(m.get("source")), float(m.get("depth")))
            for e in params
            for m in e.findall("modrouting")
        ]
        for module, kind in self._modules().items():  # a state load re-creates every module
            self.pending[module] = 1 if module.startswith("a_osc") else FX_RENAME_BLOCKS
            del kind

    @property
    def raw_state(self) -> bytes:
        return (
            b"VC2!" + b"<VST3PluginState><IComponent>juce-base64</IComponent></VST3PluginState>\0"
        )

    @raw_state.setter
    def raw_state(self, data: bytes) -> None:
        pass  # bare Surge patch bytes are not JUCE's wrapper: ignored, silently, as the real host does

    # -- audio
    def process(self, midi, duration, sample_rate, num_channels, buffer_size, reset):
        self.processed.append((list(midi), duration, reset))
        for module, kind in self._modules().items():  # type changes take effect while processing
            if self.shown.get(module) != kind and module not in self.pending:
                self.pending[module] = 1 if module.startswith("a_osc") else FX_RENAME_BLOCKS
        for module in list(self.pending):
            self.pending[module] -= 1
        self._apply_pending()
        n = round(duration * sample_rate)
        t = np.arange(n) / sample_rate
        out = np.zeros(n)
        if any(m[0][:1] == bytes([0xB0]) and m[0][1] in (120, 123) for m in midi):
            self.sounding = 0.0
        out += self.sounding * np.sin(2 * np.pi * 110 * t)  # voices left from the last note
        for message, start in midi:
            if message[0] == 0x90:
                level = 0.1 + 0.4 * np.mean([p.raw_value for p in self.static.values()])
                if self.active["a_filter1_type"]:
                    level *= 0.2 + self.static["a_filter_1_cutoff"].raw_value
                if any(r[:2] == ("a_filter1_cutoff", 17) for r in self.routings):
                    level = level * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
                freq = 440 * 2 ** ((message[1] - 69) / 12)
                out += np.where(t >= start, level * np.sin(2 * np.pi * freq * t), 0.0)
                self.sounding = float(np.max(level)) * 0.5
        return np.tile(out.astype(np.float32), (num_channels, 1))


def _type_dependent(name: str) -> bool:
    parts = name.split("_")
    if name.startswith("fx_a") and not name.endswith("_fx_type"):
        return True
    return name.startswith("a_osc_") and parts[3:4] in [[n] for n in sum(OSC_NAMES.values(), ())]


def standin_for(spec_name: str) -> StandInSurge:
    """A stand-in exposing (after the right module types) every parameter of ``spec_name``."""
    spec = get_spec(spec_name)
    choices = {p.name: (p.labels, p.values) for p in spec.params if p.kind == "categorical"}
    return StandInSurge([p.name for p in spec.params], choices)


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


def test_host_caches_the_parameter_dict_and_waits_for_renames() -> None:
    plugin = StandInSurge()
    host = SurgeHost(plugin, SETTINGS)
    assert plugin.reads == 1
    host.set_types({f"a_osc_{i}_type": "Modern" for i in (1, 2, 3)})
    host.refresh()
    assert "a_osc_1_sawtooth" not in host.params  # renamed only after processing
    assert host.settle(["a_osc_1_sawtooth"], after="the type change") == 1
    assert "a_osc_1_sawtooth" in host.params and "a_osc_1_shape" not in host.params
    reads = plugin.reads
    for _ in range(3):
        host.render({"a_osc_1_sawtooth": 0.25}, Note(60, 100, 0.1, 0.3))
    assert plugin.reads == reads  # renders never rebuild the dict
    with pytest.raises(SpecError, match="no parameter 'a_osc_1_shape'.*a_osc_1_sawtooth"):
        host.set_raw({"a_osc_1_shape": 0.5})
    with pytest.raises(SpecError, match="has no value 'Wavetable'"):
        host.set_types({"a_osc_1_type": "Wavetable"})


def test_settle_waits_for_fx_renames_and_gives_up_clearly() -> None:
    plugin = StandInSurge(["fx_a1_chorus_rate"])
    host = SurgeHost(plugin, SETTINGS)
    host.set_types({"fx_a1_fx_type": "Chorus"})
    assert host.settle(["fx_a1_chorus_rate"], after="the FX type") == FX_RENAME_BLOCKS
    with pytest.raises(SpecError, match=r"still lacks parameter\(s\) fx_a9_x .*2\.0 s after x"):
        host.settle(["fx_a9_x"], after="x")
    assert len(plugin.processed) == FX_RENAME_BLOCKS + SETTLE_BLOCKS  # bounded


def test_host_maps_values_midi_and_protocol() -> None:
    plugin = StandInSurge()
    host = SurgeHost(plugin, SETTINGS)
    audio = host.render({"a_filter_1_cutoff": 0.75}, Note(61, 90, 0.1, 0.9))
    assert host.params["a_filter_1_cutoff"].raw_value == 0.75  # raw values pass through unchanged
    assert audio.shape == (2, 22050) and audio.dtype == np.float32
    warm, real = plugin.processed[-2:]
    assert warm == (list(ALL_OFF), 0.05, True)  # reset, all sound/notes off, 50 ms warm-up
    assert ((bytes([0xB0, 120, 0]), 0.0), (bytes([0xB0, 123, 0]), 0.0)) == ALL_OFF
    assert real[0] == [(bytes([0x90, 61, 90]), 0.1), (bytes([0x80, 61, 0]), 0.5)]  # off clipped
    assert real[2] is False
    with pytest.raises(SpecError, match=r"raw value 1.5 is not in \[0, 1\]"):
        host.set_raw({"a_filter_1_cutoff": 1.5})


def test_renders_do_not_hear_the_render_before() -> None:
    plugin = StandInSurge()
    host = SurgeHost(plugin, SETTINGS)
    a = host.render({"a_filter_1_cutoff": 0.2}, Note(60, 100, 0.0, 0.5))
    host.render({"a_filter_1_cutoff": 0.9}, Note(72, 127, 0.0, 0.5))
    assert np.array_equal(host.render({"a_filter_1_cutoff": 0.2}, Note(60, 100, 0.0, 0.5)), a)
    # The stand-in is faithful: reset alone (the old warm-up) lets the previous voices through.
    host.render({"a_filter_1_cutoff": 0.9}, Note(72, 127, 0.0, 0.5))
    host.set_raw({"a_filter_1_cutoff": 0.2})
    plugin.process([], 0.05, 44100, 2, 2048, True)
    assert not np.array_equal(host.play(Note(60, 100, 0.0, 0.5)), a)


@pytest.mark.parametrize("spec_name", ["surge_simple", "surge_full"])
def test_build_base_edits_surges_own_patch(spec_name: str) -> None:
    plugin = standin_for(spec_name)
    plugin.active = dict.fromkeys(plugin.active, False)  # bypassed before, as after a bare patch
    spec = get_spec(spec_name)
    backend = SurgeBackend(spec, SETTINGS, plugin=plugin)
    assert sorted(plugin.routings) == sorted((r.target, 16 + r.lfo, r.depth) for r in BASE_ROUTINGS)
    assert all(plugin.active.values())  # filters and waveshaper un-bypassed
    assert plugin.patch_name == f"a2d {spec_name} base"
    assert all(p.name in backend.host.params for p in spec.params)
    types = {"surge_simple": "Off", "surge_full": "Reverb 2"}
    assert backend.host.params["fx_a3_fx_type"].text() == types[spec_name]
    assert VstPreset.parse(backend.base_state).class_id == CLASS_ID
    audio = backend.render(
        Patch(spec.sample(np.random.default_rng(0)).params, Note(60, 100, 0, 0.3))
    )
    assert audio.shape == (2, SETTINGS.num_samples) and np.abs(audio).max() > 0


def test_check_base_refuses_a_patch_that_lost_the_edits() -> None:
    plugin = standin_for("surge_simple")
    host = SurgeHost(plugin, SETTINGS)
    xml = host.patch().xml
    with pytest.raises(SpecError, match="6 of 6 routings lost"):
        check_base(xml, BASE_ROUTINGS)
    check_base(apply_base(xml, "x"), BASE_ROUTINGS)


def test_presets_carry_the_patch_and_reload(tmp_path) -> None:
    spec = get_spec("surge_simple")
    backend = SurgeBackend(spec, SETTINGS, plugin=standin_for("surge_simple"))
    patch = Patch(spec.sample(np.random.default_rng(3)).params, Note(62, 100, 0.0, 0.3))
    audio = backend.render(patch)
    path = backend.write_preset(patch, tmp_path / "my sound")
    assert path.name == "my sound.vstpreset" and (tmp_path / "my sound.fxp").exists()
    fresh = standin_for("surge_simple")
    fresh.preset_data = path.read_bytes()
    host = SurgeHost(fresh, SETTINGS)
    host.warm_up()
    assert fresh.patch_name == "my sound"
    assert np.allclose(host.play(patch.note), audio)
    fxp = (tmp_path / "my sound.fxp").read_bytes()
    assert fxp[:4] == b"CcnK" and fxp[8:12] == b"FPCh" and fxp[16:20] == b"cjs3"
    assert fxp[28:36].rstrip(b"\0") == b"my sound"
    assert ET.canonicalize(SurgePatch.parse(parse_fxp(fxp)).xml) == ET.canonicalize(
        host.patch().xml
    )


def test_state_containers_round_trip_and_refuse_garbage() -> None:
    preset = VstPreset(CLASS_ID, ((b"Comp", b"component"), (b"Cont", b"controller")))
    data = preset.to_bytes()
    assert data[:4] == b"VST3" and data[8:40] == CLASS_ID
    assert VstPreset.parse(data) == preset
    assert VstPreset.parse(preset.with_chunk(b"Comp", b"new").to_bytes()).chunk(b"Comp") == b"new"
    patch = SurgePatch("<patch />", (0, 0, 0, 0, 0, 0), b"wavetables")
    raw = patch.to_bytes()
    assert raw[:4] == b"sub3" and struct.unpack_from("<I", raw, 4)[0] == len("<patch />") + 1
    assert SurgePatch.parse(raw) == patch
    private = b"<x/>"
    component = raw + struct.pack("<q", 0) + private + struct.pack("<q", 4) + b"JUCEPrivateData"
    assert split_component(component) == (raw, component[len(raw) :])
    assert split_component(raw) == (raw, b"")
    assert parse_fxp(fxp_bytes(raw, "n" * 40)) == raw  # long names are cut to 27 bytes + NUL
    for bad, call in (
        (b"VST2" + bytes(60), VstPreset.parse),
        (data[:-10], VstPreset.parse),
        (b"sub2" + bytes(40), SurgePatch.parse),
        (raw[:20], SurgePatch.parse),
        (b"CcnK" + bytes(80), parse_fxp),
    ):
        with pytest.raises(PresetError):
            call(bad)
    with pytest.raises(PresetError, match="no 'Comp' chunk"):
        VstPreset(CLASS_ID, ()).chunk(b"Comp")


def test_apply_base_replaces_routings_and_names_the_patch() -> None:
    plugin = StandInSurge()
    xml = SurgeHost(plugin, SETTINGS).patch().xml
    once = apply_base(xml, "a")
    twice = apply_base(once, "b")
    assert len(routings_in(twice)) == len(BASE_ROUTINGS) == 6
    assert ('name="b"' in twice) and all(f'source="{s}"' in twice for s in range(17, 23))
    with pytest.raises(PresetError, match="no parameter 'a_nothing'"):
        apply_base(xml, "x", activate=("a_nothing",))
    with pytest.raises(PresetError, match="does not parse"):
        apply_base("<patch", "x")


def test_delay_time_labels_are_what_surge_shows() -> None:
    """Surge's FX A2 delay times are not tempo-synced in the base patch: its display shows
    2 ** (13 * raw - 8) seconds (71.4 ms .. 2.29 s), measured on Surge XT 1.4.0."""
    param = get_spec("surge_full").param("fx_a2_delay_time_left")
    for label, raw in zip(param.labels, param.values, strict=True):
        seconds = 2 ** (13 * raw - 8)
        value, unit = label.split()
        assert float(value) * (1e-3 if unit == "ms" else 1.0) == pytest.approx(seconds, rel=5e-3)


# ---- the real plugin ---------------------------------------------------------------------------
# Audio comparisons use MSS in dB (a2d.kernels.metrics.mss), never full-resolution spectra: two renders of
# the same patch differ in their noise oscillator and free-running phases.


def _surge_or_skip() -> None:
    try:
        find_surge_vst3()
    except SynthUnavailableError as exc:
        pytest.skip(f"no Surge XT VST3 here: {exc}")


SURGE_SETTINGS = RenderSettings(duration=2.0)
#: MSS (dB) two renders of one patch may differ by (measured repeat spread: see _repeat_floor).
REPEAT_MARGIN_DB = 0.5


@pytest.fixture(scope="module")
def surge_simple() -> SurgeBackend:
    _surge_or_skip()
    return create_backend(get_spec("surge_simple"), SURGE_SETTINGS)


@pytest.fixture(scope="module")
def surge_full() -> SurgeBackend:
    _surge_or_skip()
    return create_backend(get_spec("surge_full"), SURGE_SETTINGS)


def _mss(a: np.ndarray, b: np.ndarray) -> float:
    return float(mss(a[None], b[None], SURGE_SETTINGS.sample_rate)[0])


def _patch(backend: SurgeBackend, seed: int) -> Patch:
    """The first draw from ``seed`` that passes the loudness gate (as ``a2d generate`` draws)."""
    rng = np.random.default_rng(seed)
    for _ in range(50):
        patch = Patch(backend.spec.sample(rng).params, Note(60, 100, 0.0, 1.0))
        if integrated_loudness(backend.render(patch), backend.settings.sample_rate) > -55:
            return patch
    raise AssertionError(f"no audible {backend.spec.name} patch in 50 draws from seed {seed}")


@pytest.mark.surge
@pytest.mark.parametrize("which", ["surge_simple", "surge_full"])
def test_real_surge_renders_do_not_depend_on_history(which: str, request) -> None:
    backend = request.getfixturevalue(which)
    a_patch = _patch(backend, 0)
    first = backend.render(a_patch)
    assert first.shape == (2, 88200) and np.abs(first).max() > 1e-3
    repeat = _mss(backend.render(a_patch), first)  # A after A: the repeat spread
    for seed in range(1, 7):
        backend.render(_patch(backend, seed))
    after_others = _mss(backend.render(a_patch), first)
    assert after_others <= repeat + REPEAT_MARGIN_DB, (repeat, after_others)
    backend.render(_patch(backend, 9))  # its note is still sounding at the end of the clip
    backend.host.warm_up()
    s = backend.settings
    tail = np.asarray(backend.host.plugin.process([], 1.0, s.sample_rate, 2, s.block_size, False))
    assert 20 * np.log10(np.abs(tail).max() + 1e-12) < -80  # no voice survives the warm-up


@pytest.mark.surge
@pytest.mark.parametrize("which", ["surge_simple", "surge_full"])
def test_real_surge_base_patch_holds_routings_and_active_filters(which: str, request) -> None:
    backend = request.getfixturevalue(which)
    xml = backend.host.patch().xml
    check_base(xml, BASE_ROUTINGS)
    assert len(routings_in(xml)) == len(BASE_ROUTINGS)


@pytest.mark.surge
def test_real_surge_fixed_routings_are_audible(surge_simple: SurgeBackend) -> None:
    """Each fixed routing, removed alone from the base patch, changes the sound more than a
    repeated render does, in a probe that lets each target be heard: pulse-only oscillators
    (the LFO 3-5 routings move the pulse width), open filters with little resonance, LFOs at full
    amplitude and a moderate rate, no noise."""
    spec = surge_simple.spec
    values = {p.name: p.decode(np.full(p.width, 0.5, dtype=np.float32)) for p in spec.params}
    values.update({"a_noise_volume": 0.0})
    values.update(
        {f"a_filter_{i}_{k}": v for i in (1, 2) for k, v in (("resonance", 0.5), ("cutoff", 0.45))}
    )
    values.update(
        {f"a_lfo_{i}_{k}": v for i in range(1, 7) for k, v in (("amplitude", 1.0), ("rate", 0.6))}
    )
    for i in (1, 2, 3):
        values.update({f"a_osc_{i}_sawtooth": 0.0, f"a_osc_{i}_triangle": 0.0,
                       f"a_osc_{i}_pulse": 1.0, f"a_osc_{i}_volume": 0.8})  # fmt: skip
    patch = Patch(values, Note(48, 100, 0.0, 1.5))
    host = surge_simple.host
    with_all = surge_simple.render(patch)
    repeat = max(_mss(surge_simple.render(patch), with_all) for _ in range(2))
    base = host.patch()
    effect = {}
    try:
        for routing in BASE_ROUTINGS:
            others = tuple(r for r in BASE_ROUTINGS if r != routing)
            host.load_patch(base.with_xml(apply_base(base.xml, "probe", others)))
            host.settle([p.name for p in spec.params], after="loading the probe")
            effect[routing.target] = _mss(surge_simple.render(patch), with_all) - repeat
    finally:
        host.load_preset_data(surge_simple.base_state)
        host.settle([p.name for p in spec.params], after="reloading the base")
    # Known, open: the LFO 3-5 -> pulse-width routings are in Surge's patch (check_base) but are
    # heard only at times (-0.3 to +0.5 dB over the repeat spread in three runs), although the
    # pulse width itself is (2.4 dB from 0 to 1). The other three must be heard every time.
    heard = {t: e > REPEAT_MARGIN_DB for t, e in effect.items() if t not in WIDTH_TARGETS}
    assert all(heard.values()) and len(heard) == 3, (repeat, effect)


#: Parameters of each spec that no single move (to its minimum or maximum) from any of the
#: reference patches below makes audible beyond the repeat spread, and why (measured on Surge XT
#: 1.4.0). Everything else must change the sound.
WIDTH_TARGETS = ("a_osc1_param3", "a_osc2_param3", "a_osc3_param3")
#: Every parameter these suffixes name must be detected (the filter section was dead before).
CORE = ("_cutoff", "_resonance", "_feg_mod_amount", "a_amp_eg_attack", "a_amp_eg_decay",
        "a_amp_eg_sustain", "a_amp_eg_release", "a_filter_eg_attack", "a_filter_eg_decay",
        "_filter_1_type", "_filter_2_type", "_octave", "_reverb_room_size", "_reverb_decay_time",
        "_delay_time_left", *(f"a_osc_{i}_{k}" for i in (1, 2, 3) for k in ("volume", "pitch")))  # fmt: skip
#: At most this share of a spec's parameters may go undetected: the LFO envelopes and the LFO 3-5
#: and pulse-width chain act below the spread of 2 s renders (drift, noise, FX modulation) in
#: random probes. Measured on Surge XT 1.4.0 over four runs: 41-43 of 89 (simple) and 57-73 of
#: 162 (full). The core list above is what must never go silent.
MAX_UNDETECTED_SHARE = 0.6
REFERENCE_SEEDS = (11, 12, 13)
#: What makes a drawn patch a fair probe: a self-oscillating filter (resonance near 1, a third of
#: the draws) drowns every oscillator, a silent LFO hides its envelope, a muted or silent
#: oscillator hides its shape, the noise oscillator raises the repeat spread.
PROBE = {
    **{f"a_filter_{i}_resonance": 0.3 for i in (1, 2)},
    **{f"a_filter_{i}_feg_mod_amount": 0.8 for i in (1, 2)},
    **{f"a_lfo_{i}_amplitude": 0.8 for i in range(1, 7)},
    **{f"a_osc_{i}_{k}": 0.8 for i in (1, 2, 3) for k in ("volume", "pulse", "sawtooth")},
    "a_noise_volume": 0.0,
}


def _probe_reference(backend: SurgeBackend, seed: int) -> Patch:
    patch = _patch(backend, seed)
    values = dict(patch.params)
    values.update({k: v for k, v in PROBE.items() if k in values})
    for i in (1, 2, 3):  # unmuted ("Off")
        if f"a_osc_{i}_mute" in values:
            values[f"a_osc_{i}_mute"] = backend.spec.param(f"a_osc_{i}_mute").values[0]
    return Patch(values, patch.note)


@pytest.mark.surge
@pytest.mark.parametrize("which", ["surge_simple", "surge_full"])
def test_real_surge_every_spec_parameter_is_audible(which: str, request) -> None:
    backend = request.getfixturevalue(which)
    dead = {p.name: [] for p in backend.spec.params}
    for seed in REFERENCE_SEEDS:
        reference = _probe_reference(backend, seed)
        ref_audio = backend.render(reference)
        floor = max(_mss(backend.render(reference), ref_audio) for _ in range(2))
        for p in backend.spec.params:
            if p.name not in dead:
                continue
            lo, hi = (dict(reference.params) for _ in range(2))
            if p.kind == "categorical":
                lo[p.name], hi[p.name] = p.values[0], p.values[-1]
            else:
                lo[p.name], hi[p.name] = p.range
            change = max(
                _mss(backend.render(Patch(v, reference.note)), ref_audio) for v in (lo, hi)
            )
            if change > floor + REPEAT_MARGIN_DB:
                del dead[p.name]
            else:
                dead[p.name].append(round(change - floor, 2))
    core = [n for n in dead if any(n.endswith(k) for k in CORE)]
    assert core == [], f"core parameters with no audible effect: {core}"
    share = len(dead) / len(backend.spec.params)
    assert share <= MAX_UNDETECTED_SHARE, f"not detected (dB above the spread): {dead}"


@pytest.mark.surge
def test_real_surge_choice_labels_are_surges_own_text(surge_full: SurgeBackend) -> None:
    """Every categorical label of the spec is what Surge displays at that raw value."""
    host = surge_full.host
    wrong = []
    for p in surge_full.spec.params:
        if p.kind != "categorical":
            continue
        param = host.parameter(p.name)
        for label, raw in zip(p.labels, p.values, strict=True):
            param.raw_value = surge_full._remap.get(p.name, {}).get(raw, raw)
            shown = str(param.string_value).strip()
            if shown != label and not _same_quantity(shown, label):
                wrong.append((p.name, label, shown))
    surge_full.render(_patch(surge_full, 0))  # leave the plugin in a rendered state
    assert wrong == []


def _same_quantity(shown: str, label: str) -> bool:
    def seconds(text: str) -> float | None:
        try:
            value, unit = text.split()
            return float(value) * {"ms": 1e-3, "s": 1.0}[unit]
        except (ValueError, KeyError):
            return None

    a, b = seconds(shown), seconds(label)
    return a is not None and b is not None and abs(a - b) <= 0.01 * b


@pytest.mark.surge
@pytest.mark.parametrize("which", ["surge_simple", "surge_full"])
def test_real_surge_presets_reload_on_a_fresh_plugin(which: str, request, tmp_path) -> None:
    backend = request.getfixturevalue(which)
    patch = _patch(backend, 1)
    original = backend.render(patch)
    repeat = _mss(backend.render(patch), original)
    path = backend.write_preset(patch, tmp_path / "p")
    fresh = SurgeHost(load_surge(backend.plugin_path), backend.settings)
    fresh.warm_up()
    names = [p.name for p in backend.spec.params]
    fresh.plugin.load_preset(str(path))  # what a VST3 host does with the file
    fresh.warm_up()
    fresh.refresh()
    fresh.settle(names, after="loading the .vstpreset")
    assert _mss(fresh.play(patch.note), original) <= repeat + REPEAT_MARGIN_DB
    # The .fxp holds the same patch: load it as Surge would, through its patch bytes.
    fresh.load_patch(SurgePatch.parse(parse_fxp(path.with_suffix(".fxp").read_bytes())))
    fresh.settle(names, after="loading the .fxp patch")
    assert _mss(fresh.play(patch.note), original) <= repeat + REPEAT_MARGIN_DB


@pytest.mark.surge
def test_real_surge_reference_protocol(surge_simple: SurgeBackend) -> None:
    patch = _patch(surge_simple, 2)
    ours = surge_simple.render(patch)
    reference = surge_simple.render_reference_protocol(patch)
    repeat = _mss(surge_simple.render(patch), ours)
    assert np.abs(reference).max() > 1e-3
    assert _mss(reference, ours) <= repeat + REPEAT_MARGIN_DB
