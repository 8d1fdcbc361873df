"""The ``dexed`` backend (the Yamaha DX7 via dexed-py), its specs and its ``.syx`` presets, with the
real engine, real files and the real CLI."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from a2d.contracts.errors import ExitCode, SpecError
from a2d.contracts.plugins import create_backend, get_spec, get_synth
from a2d.contracts.spec import Categorical, Discrete, Note, Patch
from a2d.contracts.synth import RenderSettings
from a2d.kernels.loudness import integrated_loudness
from a2d.storage.dataset import open_dataset
from a2d_dexed import voice
from a2d_dexed.backend import DexedBackend, load_syx
from a2d_dexed.specs import CARRIERS, MODULATORS

# dexed-py is a dependency wherever it installs (Python >= 3.11); on 3.10 there is no engine.
dexed = pytest.importorskip("dexed", reason="dexed-py needs Python >= 3.11")

SR = 44100
SHORT = RenderSettings(sample_rate=SR, duration=1.0)


def drawn(spec_name: str, seed: int, note: Note | None = None) -> Patch:
    patch = get_spec(spec_name).sample(np.random.default_rng(seed))
    return Patch(patch.params, note or patch.note)


def engine_render(p: dexed.Patch, note: Note, duration: float = 1.0) -> np.ndarray:
    """dexed-py alone (no a2d): a fresh synth plays ``note`` on the reloaded voice."""
    synth = dexed.DexedSynth(SR)
    synth.load_patch(p)
    return synth.render(note.pitch, note.velocity, note.end - note.start, duration)


@pytest.fixture(scope="module")
def full() -> DexedBackend:
    backend = create_backend(get_spec("dexed_full"), SHORT)
    assert isinstance(backend, DexedBackend)
    return backend


@pytest.fixture(scope="module")
def simple() -> DexedBackend:
    backend = create_backend(get_spec("dexed_simple"), SHORT)
    assert isinstance(backend, DexedBackend)
    return backend


# ---- registration and specs ------------------------------------------------------------------
def test_registered_backend_and_specs() -> None:
    assert get_synth("dexed") is DexedBackend
    assert DexedBackend.preset_suffix == ".syx"
    full, simple = get_spec("dexed_full"), get_spec("dexed_simple")
    assert full.synth == simple.synth == "dexed"
    assert set(full.param_names) == set(voice.LAYOUT)  # every voice parameter, nothing else
    assert len(full.params) == 145
    algorithm = full.param("algorithm")
    assert isinstance(algorithm, Categorical) and algorithm.width == 32
    assert algorithm.values == tuple(float(v) for v in range(32))
    assert set(simple.param_names) < set(full.param_names)
    assert all(p.group for p in full.params) and all(p.group for p in simple.params)
    assert simple.base["voice"]["algorithm"] == 4  # DX7 algorithm 5
    # Its operator roles (the ranges of dexed_simple follow them) are the engine's own table.
    assert [n - 1 for n in CARRIERS] == dexed.get_carriers(4)
    assert [n - 1 for n in MODULATORS] == dexed.get_modulators(4)
    assert dexed.get_feedback_edge(4) == (5, 5)  # feedback on operator 6


def test_dexed_fm2_is_one_carrier_one_modulator_with_feedback() -> None:
    """``dexed_fm2``: DX7 algorithm 2 with operator 1 the only audible carrier, modulated by
    operator 2, which feeds back on itself; every parameter belongs to those two operators."""
    from a2d_dexed.specs import FM2_ALGORITHM

    spec = get_spec("dexed_fm2")
    assert spec.base["voice"]["algorithm"] == FM2_ALGORITHM == 1  # DX7 algorithm 2
    assert dexed.get_carriers(FM2_ALGORITHM) == [0, 2]
    assert dexed.get_feedback_edge(FM2_ALGORITHM) == (1, 1)  # feedback on operator 2
    assert len(spec.params) == 17 and set(spec.param_names) < set(
        get_spec("dexed_full").param_names
    )
    assert {p.group for p in spec.params} == {"global", "op1", "op2"}
    # operator 3, the second carrier, stays at the INIT VOICE's level 0: silent
    assert voice.INIT_VOICE["op3_output_level"] == 0
    with create_backend(spec, SHORT) as backend:
        patch = drawn("dexed_fm2", 4)
        written = voice.voice_values(backend.voice_bytes(patch))
        assert written["algorithm"] == 1 and written["op1_output_level"] >= 70
        assert [written[f"op{n}_output_level"] for n in range(3, 7)] == [0, 0, 0, 0]
        # the modulator is heard: turning it off changes the sound
        off = Patch({**patch.params, "op2_output_level": 0.0}, patch.note)
        a, b = backend.render(patch)[0], backend.render(off)[0]
        assert np.abs(a - b).max() > 0.01


def test_cli_plugins_lists_dexed(a2d_cli: str) -> None:
    proc = subprocess.run([a2d_cli, "plugins", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    records = {r["plugin"]: r for r in json.loads(proc.stdout)}
    assert [s["name"] for s in records["a2d_dexed"]["synths"]] == ["dexed"]
    specs = {s["name"] for s in records["a2d_dexed"]["specs"]}
    assert specs == {"dexed_full", "dexed_simple", "dexed_fm2"}


def test_backend_rejects_specs_outside_the_dx7() -> None:
    spec = get_spec("dexed_simple")
    wide = dataclasses.replace(spec, params=(Discrete("feedback", 0, 9), *spec.params[1:]))
    with pytest.raises(SpecError, match="feedback"):
        DexedBackend(wide, SHORT)
    unknown = dataclasses.replace(spec, params=(Discrete("op7_detune", 0, 9), *spec.params[1:]))
    with pytest.raises(SpecError, match="op7_detune"):
        DexedBackend(unknown, SHORT)
    bad_base = dataclasses.replace(spec, base={"voice": {"algorithm": 32}})
    with pytest.raises(SpecError, match="algorithm"):
        DexedBackend(bad_base, SHORT)


@pytest.mark.parametrize("name", ["dexed_full", "dexed_simple", "dexed_fm2"])
def test_encode_decode_round_trip(name: str) -> None:
    spec = get_spec(name)
    rng = np.random.default_rng(3)
    for _ in range(20):
        patch = spec.sample(rng)
        vec = spec.encode(patch)
        assert vec.shape == (spec.width,) and vec.min() >= 0.0 and vec.max() <= 1.0
        back = spec.decode(vec)
        assert back.params == patch.params  # DX7 values are integers: exact
        assert back.note.pitch == patch.note.pitch
        assert back.note.end == pytest.approx(patch.note.end, abs=1e-5)
        assert np.array_equal(spec.encode(back), vec)


@pytest.mark.parametrize("name", ["dexed_full", "dexed_simple", "dexed_fm2"])
def test_most_drawn_patches_are_audible(name: str) -> None:
    # Uniform random DX7 voices are mostly silent or noise; the specs' ranges keep most draws
    # above the generation gate (measured on 500 draws: see docs/results.md).
    spec = get_spec(name)
    with create_backend(spec, RenderSettings(duration=1.0, channels=1)) as backend:
        loud = [
            integrated_loudness(backend.render(spec.sample(np.random.default_rng([9, k]))), SR)
            >= -55.0
            for k in range(40)
        ]
    assert np.mean(loud) >= 0.8


# ---- the voice layout --------------------------------------------------------------------
def _dexed_field(p: dexed.Patch, name: str) -> int:
    """What dexed-py's own parser made of parameter ``name`` (its field names, 0-based ops)."""
    if name.startswith("op") and name[2].isdigit():
        op = p.op[int(name[2]) - 1]
        field = name[4:]
        if field.startswith("eg_rate"):
            return op.envelope.rates[int(field[-1]) - 1]
        if field.startswith("eg_level"):
            return op.envelope.levels[int(field[-1]) - 1]
        attr = {
            "kbd_breakpoint": "breakpoint", "kbd_left_depth": "left_depth",
            "kbd_right_depth": "right_depth", "kbd_left_curve": "_left_curve",
            "kbd_right_curve": "_right_curve", "kbd_rate_scaling": "rate_scaling",
            "amp_mod_sens": "amp_mod_sensitivity", "key_vel_sens": "velocity_sensitivity",
            "output_level": "output_level", "freq_mode": "frequency_mode",
            "freq_coarse": "frequency_coarse", "freq_fine": "frequency_fine", "detune": "detune",
        }[field]  # fmt: skip
        return int(getattr(op, attr))
    if name.startswith("pitch_eg_rate"):
        return p.pitch_envelope.rates[int(name[-1]) - 1]
    if name.startswith("pitch_eg_level"):
        return p.pitch_envelope.levels[int(name[-1]) - 1]
    return int(
        {
            "algorithm": p.algorithm, "feedback": p.feedback, "osc_key_sync": p.osc_key_sync,
            "lfo_speed": p.lfo.speed, "lfo_delay": p.lfo.delay,
            "lfo_pitch_mod_depth": p.lfo.pitch_mod_depth, "lfo_amp_mod_depth": p.lfo.amp_mod_depth,
            "lfo_key_sync": p.lfo.sync, "lfo_wave": p.lfo._wave,
            "pitch_mod_sens": p.pitch_mod_sensitivity, "transpose": p.transpose,
        }[name]
    )  # fmt: skip


def test_every_parameter_lands_where_dexed_reads_it() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        values = {k: int(rng.integers(0, hi + 1)) for k, (_, hi) in voice.LAYOUT.items()}
        data = voice.voice_bytes(values, name="LAYOUT")
        parsed = dexed.Patch.from_sysex(data)
        assert {k: _dexed_field(parsed, k) for k in values} == values
        assert parsed.name == "LAYOUT    "
        assert parsed.to_sysex()[: voice.VOICE_BYTES] == data
        assert voice.voice_values(data) == values


def test_init_voice_is_the_dx7_init_voice() -> None:
    p = dexed.Patch.from_sysex(voice.voice_bytes({}))
    assert p.algorithm == 0 and p.op[0].output_level == 99
    assert [p.op[i].output_level for i in range(1, 6)] == [0] * 5
    assert p.transpose == 24 and p.op[0].breakpoint == 39 and p.pitch_envelope.levels == [50] * 4


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(SpecError, match="feedback"):
        voice.voice_bytes({"feedback": 8})
    with pytest.raises(SpecError, match="op9_detune"):
        voice.voice_bytes({"op9_detune": 3})


# ---- rendering ---------------------------------------------------------------------------
def test_render_shape_dtype_channels_and_sound(full: DexedBackend) -> None:
    patch = drawn("dexed_full", 1, Note(60, 100, 0.0, 0.5))
    audio = full.render(patch)
    assert audio.shape == (2, SR) and audio.dtype == np.float32
    assert np.array_equal(audio[0], audio[1])  # the mono engine on both channels
    assert np.abs(audio).max() > 0.01 and np.all(np.isfinite(audio))
    assert full.version == version("dexed-py")
    with create_backend(
        full.spec, RenderSettings(sample_rate=22050, duration=0.5, channels=1)
    ) as b:
        mono = b.render(patch)
    assert mono.shape == (1, 11025) and np.abs(mono).max() > 0.01


def test_renders_are_identical_and_nothing_leaks_between_them(full: DexedBackend) -> None:
    a_patch = drawn("dexed_full", 2, Note(60, 100, 0.0, 0.6))
    # A long, loud note still sounding at the end of its clip, with LFO and feedback.
    b_params = dict(drawn("dexed_full", 3).params)
    b_params.update(feedback=7, lfo_amp_mod_depth=99, lfo_speed=80, lfo_key_sync=0)
    b_params.update({f"op{n}_eg_rate4": 25 for n in range(1, 7)})
    b_patch = Patch(b_params, Note(40, 100, 0.0, 1.0))
    first = full.render(a_patch)
    other = full.render(b_patch)
    again = full.render(a_patch)
    assert np.abs(first - other).max() > 0.01  # they do sound different
    assert np.array_equal(first, again)
    with create_backend(full.spec, SHORT) as fresh:
        assert np.array_equal(fresh.render(a_patch), first)


def test_a_render_does_not_depend_on_what_the_synth_rendered_before() -> None:
    # As generation draws them: each target rendered after 12 other drawn patches.
    spec = get_spec("dexed_full")
    backend = create_backend(spec, SHORT)
    rng = np.random.default_rng(1)
    others = [spec.sample(rng) for _ in range(12)]
    targets = [spec.sample(rng) for _ in range(4)]
    differ = []
    for k, target in enumerate(targets):
        first = backend.render(target)
        for j, other in enumerate(others):
            backend.render(other)
            if not np.array_equal(backend.render(target), first):
                differ.append((k, j))
    assert differ == []


def test_note_start_is_padded_with_silence(full: DexedBackend) -> None:
    patch = drawn("dexed_full", 4)
    params = {**patch.params, **{f"op{n}_eg_rate1": 99 for n in range(1, 7)}}
    late = Patch(params, Note(60, 100, 0.25, 0.85))
    audio = full.render(late)
    assert np.abs(audio[:, : SR // 4]).max() == 0.0
    assert np.abs(audio[:, SR // 4 :]).max() > 0.001
    on_time = full.render(Patch(params, Note(60, 100, 0.0, 0.6)))
    assert np.array_equal(audio[:, SR // 4 :], on_time[:, : SR - SR // 4])


def test_render_bare_is_one_engine_call(full: DexedBackend) -> None:
    full.render(drawn("dexed_full", 5))
    audio = full.render_bare(Note(60, 100, 0.0, 0.5))
    assert audio.shape == (SR,) and audio.dtype == np.float32


@pytest.mark.parametrize("name", ["dexed_full", "dexed_simple", "dexed_fm2"])
def test_voices_go_to_the_engine_as_load_patch_would_send_them(name: str) -> None:
    """The backend hands its voice bytes to dexed-py's engine directly: they must be exactly the
    bytes ``load_patch(Patch.from_sysex(data))`` sends (dexed-py's parser keeps a valid voice as
    it is), for every spec's draws and the extremes of every byte, and play the same audio."""
    from a2d_dexed.backend import OPERATORS_ON

    fast = create_backend(get_spec(name), SHORT)
    assert fast._engine is not None  # the direct path is the one generation takes
    spec = fast.spec
    voices = [fast.voice_bytes(spec.sample(np.random.default_rng([5, s]))) for s in range(300)]
    voices += [
        voice.voice_bytes({}, name="INIT VOICE"),
        voice.voice_bytes({k: hi for k, (_, hi) in voice.LAYOUT.items()}, name="~" * 10),
        voice.voice_bytes({k: 0 for k in voice.LAYOUT}, name=""),
    ]
    for data in voices:
        assert dexed.Patch.from_sysex(data).to_sysex() == data + OPERATORS_ON
    slow = create_backend(spec, SHORT)
    slow._engine = None  # dexed-py's public path: Patch.from_sysex, then load_patch
    note = Note(60, 100, 0.0, 0.5)
    for data in voices[:4] + voices[-3:]:
        assert np.array_equal(fast.render_voice(data, note), slow.render_voice(data, note))


# ---- presets -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dexed_full", "dexed_simple", "dexed_fm2"])
def test_written_syx_is_a_dx7_single_voice_dump_that_reloads_to_the_same_audio(
    name: str, full: DexedBackend, simple: DexedBackend, tmp_path: Path
) -> None:
    backend = {"dexed_full": full, "dexed_simple": simple}.get(name)
    backend = backend or create_backend(get_spec(name), SHORT)
    for seed in range(6):
        patch = drawn(name, seed)
        path = backend.write_preset(patch, tmp_path / f"sound {seed}")
        assert path.name == f"sound {seed}.syx"
        data = path.read_bytes()
        assert len(data) == 163
        assert data[:6] == bytes([0xF0, 0x43, 0x00, 0x00, 0x01, 0x1B])
        assert data[-1] == 0xF7 and all(b < 0x80 for b in data[1:-1])
        assert data[-2] == (-sum(data[6:161])) & 0x7F
        assert data[6 + 145 : 6 + 155] == f"sound {seed}".ljust(10).encode()
        (reloaded,) = load_syx(path)
        assert reloaded.algorithm == int(backend.values(patch)["algorithm"])
        # dexed-py's own parser of the written bytes, in a fresh synth, plays exactly a2d's render.
        assert np.array_equal(engine_render(reloaded, patch.note), backend.render(patch)[0])


def test_a_bank_of_voices_loads_with_dexeds_bank_reader(full: DexedBackend, tmp_path: Path) -> None:
    patches = [drawn("dexed_full", 10 + k) for k in range(3)]
    path = full.write_bank(patches, tmp_path / "bank")
    data = path.read_bytes()
    assert path.suffix == ".syx" and len(data) == 4104
    assert data[:6] == bytes([0xF0, 0x43, 0x00, 0x09, 0x20, 0x00]) and data[-1] == 0xF7
    assert data[-2] == (-sum(data[6:4102])) & 0x7F
    loaded = dexed.Patch.load_bank(str(path))  # warns (an error under pytest) on a bad checksum
    assert len(loaded) == 32
    for patch, p in zip(patches, loaded[:3], strict=True):
        assert np.array_equal(engine_render(p, patch.note), full.render(patch)[0])
    assert [p.name.strip() for p in loaded[:4]] == ["A2D 1", "A2D 2", "A2D 3", "INIT VOICE"]
    with pytest.raises(SpecError, match="1 to 32"):
        full.write_bank([patches[0]] * 33, tmp_path / "too_many")


def test_param_text_is_the_dx7_display(full: DexedBackend) -> None:
    params = dict(drawn("dexed_full", 6).params)
    params.update(
        algorithm=4.0, op1_detune=0, op2_detune=7, op3_detune=14, op1_freq_mode=0.0,
        op1_freq_coarse=0, op1_freq_fine=0, op2_freq_mode=0.0, op2_freq_coarse=2,
        op2_freq_fine=50, op3_freq_mode=1.0, op3_freq_coarse=2, op3_freq_fine=0,
        op1_kbd_breakpoint=39, op1_kbd_left_curve=3.0, transpose=24, lfo_wave=5.0,
    )  # fmt: skip
    text = full.param_text(Patch(params, Note(60)))
    assert set(text) == set(full.spec.param_names)
    assert text["algorithm"] == "5"
    assert (text["op1_detune"], text["op2_detune"], text["op3_detune"]) == ("-7", "0", "+7")
    assert text["op1_freq_coarse"] == "0.50" and text["op2_freq_coarse"] == "3.00"
    assert text["op3_freq_coarse"] == "100 Hz" and text["op3_freq_mode"] == "FIXED"
    assert text["op1_kbd_breakpoint"] == "C3" and text["transpose"] == "C3"
    assert text["op1_kbd_left_curve"] == "+LIN" and text["lfo_wave"] == "S/HOLD"


# ---- the CLI end to end --------------------------------------------------------------------
def test_cli_generate_writes_a_valid_dexed_dataset(a2d_cli: str, tmp_path: Path) -> None:
    out = tmp_path / "dx"
    cmd = [
        a2d_cli, "generate", "--synth", "dexed_full", "--num-samples", "10", "--out", str(out),
        "--workers", "0", "--shard-size", "5", "--render.duration", "1.0",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == ExitCode.OK, proc.stderr
    data = open_dataset(out)
    spec = data.spec
    assert spec.same_as(get_spec("dexed_full")) and len(data) == 10
    rows = data.read(0, 10, fields=("audio", "mel", "params", "row", "attempt"))
    assert rows["audio"].shape == (10, 2, SR) and rows["mel"].shape[:3] == (10, 2, 128)
    assert rows["params"].min() >= 0.0 and rows["params"].max() <= 1.0
    with create_backend(spec, data.render_settings) as backend:
        for i in (0, 7):
            draw = spec.sample(
                np.random.default_rng([0, int(rows["row"][i]), int(rows["attempt"][i])])
            )
            assert np.array_equal(spec.encode(draw), rows["params"][i])
            clip = backend.render(draw)
            assert np.abs(clip - rows["audio"][i].astype(np.float32)).max() < 2e-3 * max(
                1.0, np.abs(clip).max()
            )
            assert integrated_loudness(clip, SR) >= -55.0


@pytest.fixture(scope="module")
def tiny_dexed_flow(tmp_path_factory: pytest.TempPathFactory, a2d_cli_path: str) -> Path:
    """A dexed_simple dataset (mono, 1 s, 48 rows) and a flow model trained on it for 6 steps
    through the CLI (mechanics, not quality)."""
    root = tmp_path_factory.mktemp("tiny_dexed")
    gen = [
        a2d_cli_path, "generate", "--synth", "dexed_simple", "--num-samples", "48", "--out",
        str(root / "data"), "--workers", "0", "--shard-size", "16", "--render.duration", "1.0",
        "--render.channels", "1", "--store-audio", "false", "--val-fraction", "0.25",
        "--test-fraction", "0.25",
    ]  # fmt: skip
    proc = subprocess.run(gen, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    train = [
        a2d_cli_path, "train", "--model", "flow", "--data", str(root / "data"), "--size", "tiny",
        "--out", str(root / "run"), "--train.steps", "6", "--train.device", "cpu",
        "--train.val_every", "0", "--train.val_rows", "8", "--json",
    ]  # fmt: skip
    proc = subprocess.run(train, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return Path(json.loads(proc.stdout)["checkpoint"])


@pytest.fixture(scope="module")
def a2d_cli_path() -> str:
    import shutil

    path = shutil.which("a2d")
    assert path is not None, "the `a2d` console script is not on PATH; `pip install .`"
    return path


def test_cli_train_flow_and_predict_write_a_syx_that_replays_the_render(
    tiny_dexed_flow: Path, a2d_cli_path: str, tmp_path: Path
) -> None:
    from a2d.pipelines.demo import write_demo

    wav = write_demo(tmp_path / "pluck.wav", SR, 1.0)
    other = write_demo(tmp_path / "pluck two.wav", SR, 0.7)
    cmd = [
        a2d_cli_path, "predict", str(wav), str(other), "-c", str(tiny_dexed_flow), "-o",
        str(tmp_path / "out"), "--candidates", "3", "--workers", "0",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    syx = tmp_path / "out" / "pluck" / "pluck.syx"
    assert syx.exists() and str(syx) in proc.stdout
    data = syx.read_bytes()
    assert len(data) == 163 and data[:6] == voice.SINGLE_HEADER
    doc = json.loads((tmp_path / "out" / "pluck" / "pluck.params.json").read_text())
    assert doc["synth"] == "dexed" and doc["preset"] == "pluck.syx"
    assert doc["params"]["op1_freq_coarse"]["text"]  # DX7 display text reached params.json
    from a2d_dexed.backend import DexedBackend  # no --refine: Dexed's own budget, 10x Vital's

    assert doc["stages"]["refine_renders"] == DexedBackend.refine_renders == 640
    (reloaded,) = load_syx(syx)
    assert reloaded.algorithm == 4
    note = Note(**{k: doc["params"]["note"][k] for k in ("pitch", "velocity")}, start=0.0,
                end=doc["params"]["note"]["end_s"])  # fmt: skip
    written, rate = sf.read(str(tmp_path / "out" / "pluck" / "pluck.wav"), always_2d=True)
    replay = engine_render(reloaded, note)
    assert rate == SR and written.shape == (SR, 1)
    assert np.allclose(written[:, 0], replay, atol=1e-6)
    # Several sounds: their voices also as one DX7 bank, in input order, named after the inputs.
    bank = dexed.Patch.load_bank(str(tmp_path / "out" / "bank-01.syx"))
    assert [p.name.strip() for p in bank[:3]] == ["pluck", "pluck two", "INIT VOICE"]
    assert bank[0].to_sysex() == reloaded.to_sysex()[:145] + b"pluck     " + b"\x3f"


def test_cli_evaluate_scores_the_flow_model_against_the_baselines(
    tiny_dexed_flow: Path, a2d_cli_path: str, tmp_path: Path
) -> None:
    data = tiny_dexed_flow.parent.parent / "data"
    cmd = [
        a2d_cli_path, "evaluate", "-c", str(tiny_dexed_flow), "-d", str(data), "--split", "test",
        "-o", str(tmp_path / "eval"), "--limit", "3", "-k", "2", "--workers", "0",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert doc["rows"] == 3 and set(doc["methods"]) == {"flow", "nearest", "random"}
    for method in doc["methods"].values():
        for entry in method.values():
            assert entry["n"] == 3 and np.isfinite(entry["mss"])


@pytest.mark.slow
def test_predict_with_the_shipped_dexed_model_writes_a_syx_that_replays(
    a2d_cli: str, tmp_path: Path
) -> None:
    """``a2d predict SOUND --synth dexed`` with no checkpoint: the shipped default (``dexed_fm2``)
    and its retrieval index propose (samples, rows, and rows carried by the flow), refine
    searches, and the written ``.syx`` replays in dexed-py alone as a2d rendered it."""
    from a2d.pipelines.demo import write_demo
    from a2d.storage.pretrained import MODELS_DIR

    wav = write_demo(tmp_path / "pluck.wav", SR, 2.0)
    proc = subprocess.run(
        [a2d_cli, "predict", str(wav), "--synth", "dexed", "-o", str(tmp_path / "out"), "-k", "4",
         "--neighbours", "4", "--refine", "8", "--workers", "0"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "out" / "pluck"
    doc = json.loads((folder / "pluck.params.json").read_text())
    assert doc["checkpoint"] == str(MODELS_DIR / "dexed_fm2.pt") and doc["spec"] == "dexed_fm2"
    assert {c["source"] for c in doc["candidates"]} >= {"model", "index", "edit"}
    assert doc["stages"]["refine_renders"] == 8
    (reloaded,) = load_syx(folder / "pluck.syx")
    note = Note(**{k: doc["params"]["note"][k] for k in ("pitch", "velocity")}, start=0.0,
                end=doc["params"]["note"]["end_s"])  # fmt: skip
    written, rate = sf.read(str(folder / "pluck.wav"), always_2d=True)
    replay = engine_render(reloaded, note, duration=written.shape[0] / SR)
    assert rate == SR and np.allclose(written[:, 0], replay, atol=1e-6)
