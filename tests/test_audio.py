"""Input loading: formats, resampling, channels, trimming, loudness, and one clear error per bad file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from a2d.contracts.errors import AudioInputError
from a2d.contracts.synth import RenderSettings
from a2d.kernels.audio import TARGET_LUFS, find_sounds, load_sound
from a2d.kernels.loudness import integrated_loudness
from a2d.pipelines.demo import demo_sound, write_demo

SETTINGS = RenderSettings(sample_rate=22050, duration=1.0)


def test_demo_sound_is_a_decaying_note():
    x = demo_sound(22050, 2.0, note_off=1.0)
    assert x.shape == (2, 44100) and x.dtype == np.float32
    assert np.abs(x).max() == pytest.approx(0.5, rel=1e-5)
    early, late = np.abs(x[0, 2000:6000]).max(), np.abs(x[0, -4000:]).max()
    assert late < 0.05 * early  # released


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_formats_resample_and_shape_like_a_training_clip(tmp_path, fmt):
    mono = demo_sound(44100, 1.5, channels=1)
    lead = np.zeros((1, 4410), np.float32)  # 100 ms of leading silence
    path = tmp_path / f"in.{fmt}"
    sf.write(str(path), np.concatenate([lead, mono], axis=1).T, 44100)
    sound = load_sound(path, SETTINGS)
    assert sound.audio.shape == (2, SETTINGS.num_samples)
    assert sound.source_rate == 44100
    np.testing.assert_array_equal(sound.audio[0], sound.audio[1])
    assert float(integrated_loudness(sound.audio, 22050)) == pytest.approx(TARGET_LUFS, abs=0.1)
    if fmt in ("wav", "flac"):  # lossless: the onset is exact
        assert sound.trimmed_seconds == pytest.approx(0.1, abs=1e-3)
        assert np.abs(sound.audio[:, :20]).max() > 1e-3


def test_short_input_is_zero_padded_and_long_input_cropped(tmp_path):
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    sf.write(str(short), demo_sound(22050, 0.5).T, 22050)
    sf.write(str(long), demo_sound(22050, 3.0).T, 22050)
    s = load_sound(short, SETTINGS)
    assert s.audio.shape == (2, 22050) and np.all(s.audio[:, 11100:] == 0)
    assert load_sound(long, SETTINGS).audio.shape == (2, 22050)


def test_find_sounds_expands_folders_and_keeps_missing_paths(tmp_path):
    write_demo(tmp_path / "a" / "x.wav", 22050, 0.5)
    write_demo(tmp_path / "a" / "sub" / "y.wav", 22050, 0.5)
    (tmp_path / "a" / "notes.txt").write_text("not audio")
    found = find_sounds([tmp_path / "a", tmp_path / "missing.wav"])
    assert sorted(p.name for p in found[:2]) == ["x.wav", "y.wav"]
    assert found[2].name == "missing.wav" and len(found) == 3


def _bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def _write(path, data, rate=22050, subtype=None):
    sf.write(str(path), np.asarray(data, np.float32).T, rate, subtype=subtype)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.with_name("absent.wav"), "no such file"),
        (lambda p: _bytes(p, b""), "empty"),
        (lambda p: _bytes(p, b"RIFF1234WAVEjunkjunk"), "cannot decode"),
        (lambda p: _write(p, np.zeros((2, 22050))), "silent"),
        (lambda p: _write(p, np.full((1, 2205), np.nan), subtype="FLOAT"), "NaN"),
        (lambda p: _write(p, demo_sound(8000, 3.0), rate=8000), "longer than"),
        (lambda p: _bytes(p.with_suffix(".aiff"), b"FORM"), "unsupported"),
        (lambda p: p.parent, "not a file"),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, make, message):
    path = make(tmp_path / "bad.wav")
    with pytest.raises(AudioInputError, match=message) as info:
        load_sound(path, SETTINGS, max_seconds=2.0)
    text = str(info.value)
    assert "\n" not in text and str(path) in text


def test_sound_silent_after_its_onset_window_is_refused(tmp_path):
    x = np.zeros((1, 22050 * 3), np.float32)
    x[0, 0] = 1e-3  # a faint click (-106 LUFS over the clip), then silence
    with pytest.raises(AudioInputError, match="silent in its first"):
        load_sound(_write(tmp_path / "click.wav", x), SETTINGS)


def test_matched_mss_calls_a_near_silent_render_silent() -> None:
    """A render far below the loudness gate must not win by being gain-matched up to the input
    (a Surge preset 91 dB below full scale once ranked first as "very close")."""
    from a2d.kernels.audio import SILENT_LUFS, matched_mss
    from a2d.kernels.loudness import integrated_loudness

    rate = 22050
    t = np.arange(rate) / rate
    tone = np.stack([np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32) * 0.3
    target = tone
    quiet = tone * 10 ** (-80 / 20)  # the same sound, 80 dB down
    loud_enough = tone * 10 ** (-20 / 20)
    assert integrated_loudness(quiet, rate) < SILENT_LUFS < integrated_loudness(loud_enough, rate)
    ref = float(integrated_loudness(target, rate))
    scores = matched_mss(np.stack([quiet, loud_enough]), target, ref, rate)
    assert np.isinf(scores[0]) and scores[1] < 0.01


@pytest.mark.parametrize(("rate", "target"), [(48000, 44100), (22050, 44100), (44100, 11025)])
@pytest.mark.parametrize("shape", [(1000,), (2, 4801), (1, 333)])
def test_resample_is_librosas_soxr_hq(rate: int, target: int, shape: tuple[int, ...]) -> None:
    """a2d resamples through soxr itself (librosa's audio module costs predict about 2 s to
    import): the same samples and length as ``librosa.resample(..., res_type="soxr_hq")``."""
    import librosa

    from a2d.kernels.audio import resample

    y = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    want = librosa.resample(y, orig_sr=rate, target_sr=target, res_type="soxr_hq")
    got = resample(y, rate, target)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert resample(y, rate, rate) is y
