"""The note of a prediction as a Standard MIDI File (type 0), to drop on a DAW track.

One track: the tempo (120 BPM, so one beat is 0.5 s), the track name, then note on and note off of
the one note on channel 1, at :data:`TICKS_PER_BEAT` ticks per beat. Written by hand (the format is
a few fixed chunks; see the MIDI 1.0 "Standard MIDI Files" specification).
"""

from __future__ import annotations

import struct

from a2d.contracts.notes import Note

#: Time resolution: ticks per quarter note (at 120 BPM, 960 ticks per second).
TICKS_PER_BEAT = 480
#: Tempo in microseconds per quarter note (120 BPM).
TEMPO_US = 500_000


def variable_length(value: int) -> bytes:
    """A MIDI variable-length quantity: 7 bits per byte, high bit set on all but the last."""
    if value < 0:
        raise ValueError(f"a MIDI delta time must be >= 0, got {value}")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def seconds_to_ticks(seconds: float) -> int:
    return round(seconds * 1e6 / TEMPO_US * TICKS_PER_BEAT)


def note_midi_bytes(note: Note, name: str = "a2d") -> bytes:
    """The complete ``.mid`` file (SMF type 0, one track) that plays ``note``."""
    on, off = seconds_to_ticks(note.start), seconds_to_ticks(note.end)
    off = max(off, on + 1)  # a note of zero length would be dropped by some DAWs
    title = name.encode("utf-8")[:127]
    events = b"".join(
        [
            variable_length(0) + b"\xff\x51\x03" + TEMPO_US.to_bytes(3, "big"),  # set tempo
            variable_length(0) + b"\xff\x03" + variable_length(len(title)) + title,  # track name
            # note on, channel 1 (velocity 0 would mean note off)
            variable_length(on) + bytes([0x90, note.pitch, max(note.velocity, 1)]),
            variable_length(off - on) + bytes([0x80, note.pitch, 64]),  # note off
            variable_length(0) + b"\xff\x2f\x00",  # end of track
        ]
    )
    return smf_type0(events)


def smf_type0(events: bytes, ticks_per_beat: int = TICKS_PER_BEAT) -> bytes:
    """A type-0 Standard MIDI File: the header chunk and one track of delta-timed ``events``
    (ending with the end-of-track meta event)."""
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat)
    return header + b"MTrk" + struct.pack(">I", len(events)) + events
