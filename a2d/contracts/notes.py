"""The note a2d plays for every render, and how a spec draws and encodes it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from a2d.contracts.errors import SpecError


@dataclass(frozen=True)
class Note:
    """One MIDI note: pitch (MIDI number), velocity (0-127), on and off times in seconds."""

    pitch: int
    velocity: int = 100
    start: float = 0.0
    end: float = 3.0

    def __post_init__(self) -> None:
        if not 0 <= self.pitch <= 127:
            raise SpecError(f"note pitch {self.pitch} is not a MIDI note (0-127)")
        if not 0 <= self.velocity <= 127:
            raise SpecError(f"note velocity {self.velocity} is not in 0-127")
        if not (math.isfinite(self.start) and math.isfinite(self.end)) or self.start < 0:
            raise SpecError(f"note times must be finite and >= 0, got {self.start}..{self.end}")
        if self.end < self.start:
            raise SpecError(f"note off ({self.end} s) is before note on ({self.start} s)")


#: Pitch-class names, sharps only (as Vital and most DAWs show them).
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    """MIDI note number -> scientific pitch name with middle C (60) = C4: 57 -> ``"A3"``.
    (Ableton Live and FL Studio call 60 C3: their names are one octave lower.)"""
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"


def note_in_words(note: Note) -> str:
    """What to play, for a musician: ``"play A3 (MIDI note 57) for 2.6 s at velocity 100"``."""
    start = f" starting {note.start:.2f} s in" if note.start > 0 else ""
    return (
        f"play {note_name(note.pitch)} (MIDI note {note.pitch}) for "
        f"{note.end - note.start:.1f} s at velocity {note.velocity}{start}"
    )


NoteTimes = Literal["sorted", "release", "fixed"]


@dataclass(frozen=True)
class NoteSpec:
    """How notes are drawn and encoded.

    Pitch is a uniform integer in ``pitch_range``, encoded (p - lo) / (hi - lo). Note times:

    - ``times="sorted"`` (the reference protocol): on/off are two sorted uniform draws in
      ``time_range`` seconds, two columns ``note_start``, ``note_end`` encoded (t - lo) / (hi - lo).
    - ``times="release"``: the note starts at ``fixed_times[0]``; its off time is uniform in
      ``time_range``, one column ``note_end``.
    - ``times="fixed"``: on/off are ``fixed_times``; no columns.
    """

    pitch_range: tuple[int, int] = (48, 72)
    velocity: int = 100
    times: NoteTimes = "sorted"
    time_range: tuple[float, float] = (0.0, 4.0)
    fixed_times: tuple[float, float] = (0.0, 3.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pitch_range", tuple(int(x) for x in self.pitch_range))
        object.__setattr__(self, "time_range", tuple(float(x) for x in self.time_range))
        object.__setattr__(self, "fixed_times", tuple(float(x) for x in self.fixed_times))
        lo, hi = self.pitch_range
        if not 0 <= lo < hi <= 127:
            raise SpecError(f"note pitch_range {self.pitch_range} must satisfy 0 <= lo < hi <= 127")
        if not 0 <= self.velocity <= 127:
            raise SpecError(f"note velocity {self.velocity} is not in 0-127")
        t0, t1 = self.time_range
        if not 0 <= t0 < t1:
            raise SpecError(f"note time_range {self.time_range} must satisfy 0 <= lo < hi")
        if not 0 <= self.fixed_times[0] <= self.fixed_times[1]:
            raise SpecError(f"note fixed_times {self.fixed_times} must be sorted and >= 0")
        if self.times not in ("sorted", "release", "fixed"):
            raise SpecError(
                f"note times must be 'sorted', 'release' or 'fixed', got {self.times!r}"
            )
        if self.times == "release" and t0 < self.fixed_times[0]:
            raise SpecError(
                f"note time_range {self.time_range} starts before the note on ({self.fixed_times[0]} s)"
            )

    @property
    def columns(self) -> list[str]:
        return {
            "sorted": ["pitch", "note_start", "note_end"],
            "release": ["pitch", "note_end"],
            "fixed": ["pitch"],
        }[self.times]

    @property
    def width(self) -> int:
        return len(self.columns)

    def _to_unit(self, t: float) -> float:
        t0, t1 = self.time_range
        return (t - t0) / (t1 - t0)

    def _from_unit(self, x: float) -> float:
        t0, t1 = self.time_range
        return t0 + float(np.clip(x, 0.0, 1.0)) * (t1 - t0)

    def sample(self, rng: np.random.Generator) -> Note:
        pitch = int(rng.integers(self.pitch_range[0], self.pitch_range[1] + 1))
        if self.times == "sorted":
            a, b = sorted(float(x) for x in rng.uniform(*self.time_range, size=2))
        elif self.times == "release":
            a, b = self.fixed_times[0], float(rng.uniform(*self.time_range))
        else:
            a, b = self.fixed_times
        return Note(pitch=pitch, velocity=self.velocity, start=a, end=b)

    def encode_into(self, note: Note, out: np.ndarray) -> None:
        lo, hi = self.pitch_range
        out[0] = (note.pitch - lo) / (hi - lo)
        if self.times == "sorted":
            out[1], out[2] = self._to_unit(note.start), self._to_unit(note.end)
        elif self.times == "release":
            out[1] = self._to_unit(note.end)

    def decode(self, cols: np.ndarray) -> Note:
        lo, hi = self.pitch_range
        pitch = int(round(lo + float(np.clip(cols[0], 0, 1)) * (hi - lo)))
        if self.times == "sorted":
            a, b = self._from_unit(cols[1]), self._from_unit(cols[2])
            a, b = min(a, b), max(a, b)  # note on <= note off, whatever the model says
        elif self.times == "release":
            a, b = self.fixed_times[0], self._from_unit(cols[1])
        else:
            a, b = self.fixed_times
        return Note(pitch=pitch, velocity=self.velocity, start=a, end=b)
