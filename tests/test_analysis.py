"""Note analysis on tones of known pitch and length, and on real fluidsynth renders."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from a2d.kernels.analysis import NoteAnalysis, analyse_note, note_name, plan_pitch, transpose

RATE = 44100


def tone(kind: str, hz: float, start: float, end: float, seconds: float = 3.0) -> np.ndarray:
    """A stereo ``(2, N)`` sine or band-limited saw, on from ``start`` to ``end`` s (5 ms ramps)."""
    t = np.arange(round(seconds * RATE)) / RATE
    if kind == "sine":
        x = np.sin(2 * np.pi * hz * t)
    else:
        x = sum(np.sin(2 * np.pi * k * hz * t) / k for k in range(1, int(RATE / 2 / hz)))
    env = np.clip(np.minimum((t - start) / 0.005, (end - t) / 0.005), 0, 1)
    x = 0.3 * x * env / np.abs(x).max()
    return np.stack([x, x]).astype(np.float32)


def test_sine_440_is_a4_with_its_onset_and_end() -> None:
    a = analyse_note(tone("sine", 440.0, 0.5, 1.75), RATE)
    assert a.pitched and a.midi == 69 and abs(a.midi_float - 69) < 0.15
    assert abs(a.f0_hz - 440) < 5
    assert abs(a.onset_s - 0.5) < 0.05 and abs(a.end_s - 1.75) < 0.05
    assert not a.sustained_to_end
    assert abs(a.length_s - 1.25) < 0.08


def test_saw_220_is_a3_and_sustains_to_the_end() -> None:
    a = analyse_note(tone("saw", 220.0, 0.0, 3.0), RATE)
    assert a.pitched and a.midi == 57
    assert a.onset_s < 0.02 and a.sustained_to_end and a.end_s == pytest.approx(3.0, abs=0.01)
    assert -30 < a.loudness_lufs < 0


def test_low_bass_note_is_found() -> None:
    a = analyse_note(tone("saw", 41.2, 0.0, 2.0), RATE)  # E1, MIDI 28
    assert a.pitched and a.midi == 28


def test_noise_is_unpitched_and_says_so() -> None:
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((2, 2 * RATE))).astype(np.float32)
    a = analyse_note(x, RATE)
    assert not a.pitched and a.midi is None and np.isnan(a.f0_hz)
    assert a.to_dict()["f0_hz"] is None
    plan = plan_pitch(a, (48, 72))
    assert plan.input_midi is None and plan.render_midi == 60 and plan.octaves == 0
    assert "unpitched" in plan.message


def test_silence_and_short_clips_are_refused() -> None:
    with pytest.raises(ValueError, match="silent"):
        analyse_note(np.zeros((2, RATE), np.float32), RATE)
    with pytest.raises(ValueError, match="shorter"):
        analyse_note(tone("sine", 440, 0, 0.1, seconds=0.1), RATE)


def analysis(midi: int) -> NoteAnalysis:
    hz = 440 * 2 ** ((midi - 69) / 12)
    return NoteAnalysis(True, midi, float(midi), hz, 1.0, 0.0, 1.0, False, -20.0)


@pytest.mark.parametrize(
    ("midi", "render", "octaves"),
    [(60, 60, 0), (48, 48, 0), (72, 72, 0), (40, 52, 1), (28, 52, 2), (84, 72, -1), (90, 66, -2)],
)
def test_plan_moves_by_octaves_into_the_range(midi: int, render: int, octaves: int) -> None:
    plan = plan_pitch(analysis(midi), (48, 72))
    assert (plan.input_midi, plan.render_midi, plan.octaves) == (midi, render, octaves)
    assert f"play {note_name(midi)}" in plan.message
    assert plan.to_dict()["play"] == note_name(midi)


def test_a_narrow_range_clamps() -> None:
    plan = plan_pitch(analysis(50), (60, 64))  # 62 fits after one octave
    assert plan.render_midi == 62
    plan = plan_pitch(analysis(57), (60, 64))  # 69 is above, 57 below: clamped
    assert 60 <= plan.render_midi <= 64


def test_note_names() -> None:
    assert [note_name(m) for m in (21, 28, 60, 69, 127)] == ["A0", "E1", "C4", "A4", "G9"]


def test_transposing_a_saw_by_an_octave_moves_its_pitch() -> None:
    x = tone("saw", 110.0, 0.0, 2.0, seconds=2.0)
    up = transpose(x, RATE, 1)
    assert up.shape == x.shape and up.dtype == np.float32
    assert analyse_note(up, RATE).midi == 57
    assert transpose(x, RATE, 0) is x


@pytest.mark.parametrize("octaves", [1, -1, 2])
@pytest.mark.parametrize("channels", [1, 2])
def test_transpose_gives_librosa_pitch_shifts_numbers(octaves: int, channels: int) -> None:
    """The NumPy phase vocoder (no librosa import in ``a2d predict``) against librosa itself."""
    import librosa

    x = tone("saw", 110.0, 0.0, 1.0, seconds=1.3)
    x = np.concatenate([x, 0.5 * x[:, ::-1]])[:channels]
    want = librosa.effects.pitch_shift(x, sr=RATE, n_steps=12 * octaves)
    got = transpose(np.ascontiguousarray(x), RATE, octaves)
    assert got.shape == want.shape == x.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.abs(got - x).max() > 0.1  # shifted, not passed through


@pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/TimGM6mb.sf2").is_file(),
    reason="needs fluidsynth and timgm6mb-soundfont",
)
def test_pitch_of_real_instrument_renders(tmp_path: Path) -> None:
    from a2d.pipelines.devset import build_devset, dev_sounds

    picks = ("00_", "16_", "18_", "22_", "35_", "42_", "46_", "49_")  # piano, low basses, ...
    subset = [s for s in dev_sounds() if s.name.startswith(picks)]
    doc = __import__("json").loads(build_devset(tmp_path, sounds=subset).read_text())
    for e in doc["sounds"]:
        audio, rate = sf.read(str(tmp_path / e["file"]), dtype="float32", always_2d=True)
        a = analyse_note(audio.T, rate)
        if e["pitched"]:
            assert a.pitched and abs(a.midi_float - e["pitch"]) <= 1.0, (e["name"], a)
            assert abs(a.onset_s - e["onset"]) < 0.06, (e["name"], a.onset_s)
        else:
            assert not a.pitched, (e["name"], a)
    from a2d.pipelines.devset import pitch_accuracy

    report = pitch_accuracy(tmp_path)
    assert (report["hits"], report["pitched"], report["misses"]) == (7, 7, [])
    assert report["accuracy"] == 1.0 and report["unpitched_called_pitched"] == []


def test_a_sub_octave_stop_names_the_key_an_octave_up() -> None:
    # Drawbars 16', 8', 4', 2' on key C3 (MIDI 48): partials at 65.4 Hz (the 16' stop) and its
    # 2nd, 4th and 8th harmonics; no odd ones. pyin finds 65.4 Hz; the note is C3.
    t = np.arange(2 * RATE) / RATE
    f = 440 * 2 ** ((36 - 69) / 12)
    x = sum(np.sin(2 * np.pi * h * f * t) for h in (1, 2, 4, 8)).astype(np.float32) * 0.1
    a = analyse_note(np.stack([x, x]), RATE)
    assert a.pitched and a.sub_octave and a.midi == 48
    # A square wave (odd harmonics only) and a saw (all of them) keep their f0.
    sq = np.sign(np.sin(2 * np.pi * f * t)).astype(np.float32) * 0.1
    assert analyse_note(np.stack([sq, sq]), RATE).midi == 36
    assert not analyse_note(tone("saw", 220.0, 0.0, 2.0), RATE).sub_octave


@pytest.mark.parametrize(("pitch", "note_off"), [(57, 2.0), (40, 1.0), (76, 3.0)])
def test_the_quickstart_demo_note(pitch: int, note_off: float) -> None:
    from a2d.pipelines.demo import demo_sound

    a = analyse_note(demo_sound(RATE, 4.0, pitch=pitch, note_off=note_off), RATE)
    assert a.pitched and a.midi == pitch
    assert a.onset_s < 0.03
    # The release (0.1 s time constant) falls 30 dB below the sustain within about 0.35 s.
    assert note_off < a.end_s < note_off + 0.5 and not a.sustained_to_end


def test_candidates_play_the_analysed_pitch_with_their_own_times() -> None:
    from a2d.contracts.notes import Note
    from a2d.contracts.plugins import get_spec
    from a2d.kernels.analysis import at_pitch

    spec = get_spec("vital_simple")
    patch = spec.sample(np.random.default_rng(0))
    patch = type(patch)(patch.params, Note(50, 90, 0.25, 1.5))
    moved = at_pitch(patch, Note(64, 100, 0.0, 3.9))
    assert (moved.note.pitch, moved.note.velocity) == (64, 100)
    assert (moved.note.start, moved.note.end) == (0.25, 1.5)  # the candidate's own times
    assert moved.params == patch.params
    assert at_pitch(patch, None) is patch
