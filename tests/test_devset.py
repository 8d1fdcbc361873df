"""The out-of-domain dev set: its sound list, its MIDI files, and real fluidsynth renders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from a2d.contracts.errors import ExitCode
from a2d.pipelines.devset import (
    CLIP_SECONDS,
    SAMPLE_RATE,
    SOUNDFONTS,
    TICKS_PER_SECOND,
    DevSound,
    _midi_bytes,
    build_devset,
    dev_sounds,
)

needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not SOUNDFONTS["timgm6mb"].is_file(),
    reason="needs fluidsynth and timgm6mb-soundfont (apt-get install fluidsynth timgm6mb-soundfont)",
)


def read_smf(data: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    """A format-0 file -> (ticks per quarter, [(absolute tick, event bytes)]), parsed by hand."""
    assert data[:4] == b"MThd" and int.from_bytes(data[4:8], "big") == 6
    fmt, ntrk, tpq = (int.from_bytes(data[i : i + 2], "big") for i in (8, 10, 12))
    assert (fmt, ntrk) == (0, 1)
    assert data[14:18] == b"MTrk"
    length = int.from_bytes(data[18:22], "big")
    body, i, tick, events = data[22:], 0, 0, []
    assert len(body) == length
    while i < len(body):
        delta = 0
        while True:
            b = body[i]
            i += 1
            delta = (delta << 7) | (b & 0x7F)
            if b < 0x80:
                break
        tick += delta
        status = body[i]
        if status == 0xFF:
            size = body[i + 2]
            events.append((tick, body[i : i + 3 + size]))
            i += 3 + size
        else:
            size = 2 if status & 0xF0 == 0xC0 else 3
            events.append((tick, body[i : i + size]))
            i += size
    return tpq, events


def test_the_set_covers_families_pitches_and_lengths() -> None:
    sounds = dev_sounds()
    assert len(sounds) >= 40
    assert len({s.name for s in sounds}) == len(sounds)
    families = {s.family for s in sounds}
    assert {
        "piano", "e-piano", "organ", "guitar", "bass", "strings", "brass", "reeds", "flute",
        "synth_lead", "synth_pad", "mallets",
    } <= families  # fmt: skip
    assert len({s.program for s in sounds if s.pitched}) >= 20
    assert min(s.pitch for s in sounds if s.family == "bass") < 36  # low notes
    assert len({round(s.note_off - s.onset, 3) for s in sounds}) >= 4
    assert all(0 <= s.onset < s.note_off < CLIP_SECONDS for s in sounds)
    assert any(not s.pitched for s in sounds)
    assert dev_sounds() == sounds  # the same list every time


def test_midi_file_plays_one_note_at_the_given_times() -> None:
    s = DevSound("x", 33, "bass", 31, 0.25, 2.25, 80)
    tpq, events = read_smf(_midi_bytes(s))
    assert tpq * 2 == TICKS_PER_SECOND  # 120 bpm
    kinds = [(t, e[0] & 0xF0 if e[0] != 0xFF else e[:2]) for t, e in events]
    assert kinds == [
        (0, b"\xff\x51"), (0, 0xC0), (240, 0x90), (2160, 0x80), (3840, b"\xff\x2f"),
    ]  # fmt: skip
    assert events[0][1][3:] == (500_000).to_bytes(3, "big")
    assert events[1][1][1] == 33
    assert events[2][1][1:] == bytes([31, 80])
    drum = DevSound("d", -1, "drums", 38, 0.0, 0.5, 100, pitched=False)
    _, events = read_smf(_midi_bytes(drum))
    assert [e[0] for _, e in events if e[0] != 0xFF] == [0x99, 0x89]  # channel 10, no program


def test_long_delta_times_use_several_bytes() -> None:
    s = DevSound("x", 0, "piano", 60, 0.0, 3.9, 100)
    _, events = read_smf(_midi_bytes(s, clip_seconds=30.0))
    assert events[-1][0] == 30 * TICKS_PER_SECOND


@needs_fluidsynth
def test_build_renders_clips_and_a_reproducible_manifest(tmp_path: Path) -> None:
    subset = [s for s in dev_sounds() if s.name.startswith(("16_", "48_"))]  # a low bass, a snare
    manifest = build_devset(tmp_path / "a", sounds=subset)
    doc = json.loads(manifest.read_text())
    assert doc["soundfont"]["name"] == "timgm6mb" and len(doc["soundfont"]["sha256"]) == 64
    assert [e["name"] for e in doc["sounds"]] == [s.name for s in subset]
    for e, s in zip(doc["sounds"], subset, strict=True):
        assert (e["program"], e["pitch"], e["onset"], e["note_off"]) == (
            s.program, s.pitch, s.onset, s.note_off,
        )  # fmt: skip
        audio, rate = sf.read(str(tmp_path / "a" / e["file"]), always_2d=True)
        assert rate == SAMPLE_RATE and audio.shape == (round(CLIP_SECONDS * SAMPLE_RATE), 2)
        assert np.abs(audio).max() > 1e-3  # audible
        assert (tmp_path / "a" / e["midi"]).is_file()
    again = json.loads(build_devset(tmp_path / "b", sounds=subset).read_text())
    assert [e["audio_sha256"] for e in again["sounds"]] == [
        e["audio_sha256"] for e in doc["sounds"]
    ]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from a2d.cli import run; run()", *args],
        capture_output=True, text=True, env=dict(os.environ), timeout=300,
    )  # fmt: skip


def test_unknown_soundfont_is_one_error_line(tmp_path: Path) -> None:
    proc = cli("devset", "--out", str(tmp_path / "d"), "--soundfont", "nope")
    assert proc.returncode == ExitCode.NOT_FOUND
    assert proc.stderr.strip().splitlines() == [
        "error: soundfont 'nope' is neither timgm6mb nor opl3 nor an existing file; pass one of "
        "those names or the path of a .sf2 file"
    ]
    assert not (tmp_path / "d").exists()


@needs_fluidsynth
def test_cli_refuses_to_overwrite_a_dev_set(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "manifest.json").write_text("{}")
    proc = cli("devset", "--out", str(tmp_path / "d"))
    assert proc.returncode == ExitCode.OUTPUT
    assert proc.stderr.startswith("error: ") and "--overwrite" in proc.stderr
    assert (tmp_path / "d" / "manifest.json").read_text() == "{}"
