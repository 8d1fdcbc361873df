"""The note as a Standard MIDI File: exact bytes, and a round trip through an independent reader."""

from __future__ import annotations

import struct

import pytest

from a2d.contracts.notes import Note, note_in_words, note_name
from a2d.storage.midi import TICKS_PER_BEAT, note_midi_bytes, variable_length


def _vlq(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos


def read_smf(data: bytes) -> dict:
    """A small reader of type-0/1 Standard MIDI Files (tempo, track name, notes with seconds),
    written from the specification, independent of :mod:`a2d.storage.midi`."""
    assert data[:4] == b"MThd"
    length, fmt, ntrks, division = struct.unpack(">IHHH", data[4:14])
    assert length == 6 and not division & 0x8000  # ticks per beat, not SMPTE
    pos, tempo, name, notes, open_notes = 8 + length, 500_000, None, [], {}
    for _ in range(ntrks):
        assert data[pos : pos + 4] == b"MTrk"
        (size,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        pos, end, tick, ended = pos + 8, pos + 8 + size, 0, False
        while pos < end:
            delta, pos = _vlq(data, pos)
            tick += delta
            status = data[pos]
            if status == 0xFF:
                kind = data[pos + 1]
                n, pos = _vlq(data, pos + 2)
                body, pos = data[pos : pos + n], pos + n
                if kind == 0x51:
                    tempo = int.from_bytes(body, "big")
                elif kind == 0x03:
                    name = body.decode()
                elif kind == 0x2F:
                    ended = True
                continue
            key, vel, pos = data[pos + 1], data[pos + 2], pos + 3
            seconds = tick * tempo / 1e6 / division
            if status & 0xF0 == 0x90 and vel > 0:
                open_notes[key] = (seconds, vel, status & 0x0F)
            elif status & 0xF0 in (0x80, 0x90):
                on, velocity, channel = open_notes.pop(key)
                notes.append(
                    {"pitch": key, "velocity": velocity, "channel": channel,
                     "start_s": on, "end_s": seconds}
                )  # fmt: skip
        assert pos == end and ended and not open_notes
    return {"format": fmt, "tracks": ntrks, "division": division, "name": name, "notes": notes}


def test_variable_length_quantities_match_the_specification() -> None:
    # The examples table of the SMF specification.
    cases = {0: "00", 0x40: "40", 0x7F: "7F", 0x80: "8100", 0x2000: "C000", 0x3FFF: "FF7F",
             0x4000: "818000", 0x100000: "C08000", 0x1FFFFF: "FFFF7F", 0x200000: "81808000",
             0x0FFFFFFF: "FFFFFF7F"}  # fmt: skip
    for value, hexed in cases.items():
        assert variable_length(value) == bytes.fromhex(hexed)
    with pytest.raises(ValueError):
        variable_length(-1)


def test_the_file_is_type_0_and_byte_exact() -> None:
    data = note_midi_bytes(Note(pitch=57, velocity=100, start=0.0, end=2.6), "demo")
    assert data[:14] == b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_BEAT)
    # 2.6 s at 120 BPM and 480 ticks per beat = 2496 ticks = VLQ 93 40.
    events = (
        b"\x00\xff\x51\x03\x07\xa1\x20"  # tempo 500000 us per beat
        b"\x00\xff\x03\x04demo"  # track name
        b"\x00\x90\x39\x64"  # note on A3, velocity 100
        b"\x93\x40\x80\x39\x40"  # note off after 2496 ticks
        b"\x00\xff\x2f\x00"  # end of track
    )
    assert data[14:] == b"MTrk" + struct.pack(">I", len(events)) + events


@pytest.mark.parametrize(
    "note", [Note(60, 100, 0.0, 0.5), Note(48, 1, 0.25, 3.9), Note(72, 127, 1.0, 1.0)]
)
def test_round_trip_through_an_independent_reader(note: Note) -> None:
    smf = read_smf(note_midi_bytes(note, "x"))
    assert (smf["format"], smf["tracks"], smf["name"]) == (0, 1, "x")
    (got,) = smf["notes"]
    assert (got["pitch"], got["velocity"], got["channel"]) == (note.pitch, note.velocity, 0)
    assert got["start_s"] == pytest.approx(note.start, abs=1 / 960)
    # A zero-length note keeps one tick, so that DAWs do not drop it.
    assert got["end_s"] == pytest.approx(max(note.end, note.start + 1 / 960), abs=1 / 960)


def test_note_names_and_words() -> None:
    assert [note_name(p) for p in (0, 57, 58, 60, 127)] == ["C-1", "A3", "A#3", "C4", "G9"]
    assert note_in_words(Note(57, 100, 0.0, 2.639)) == (
        "play A3 (MIDI note 57) for 2.6 s at velocity 100"
    )
    assert note_in_words(Note(60, 90, 0.5, 1.5)).endswith("starting 0.50 s in")
