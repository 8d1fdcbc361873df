"""What a DSP method knows better than a network: the input's note.

:func:`analyse_note` estimates, from one clip:

- **pitch**: probabilistic YIN (:func:`a2d.kernels.pitch.pyin`, the numbers of ``librosa.pyin``
  without numba) on the mono mix resampled to :data:`PYIN_RATE`,
  between :data:`FMIN_HZ` and :data:`FMAX_HZ`; the median f0 of the voiced frames that lie inside
  the note (frame RMS within :data:`ACTIVE_DB` of the loudest frame) gives a fractional MIDI number,
  rounded to the note.
- **pitched or not**: the share of the note's frames that pyin calls voiced, at least
  :data:`MIN_VOICED` (a drum hit or noise has few voiced frames).
- **onset**: the first frame whose RMS is within :data:`ONSET_DB` of the loudest frame.
- **end** (note off, or where a decaying note has died away): the last frame within :data:`END_DB`
  of the loudest frame; a note that sounds to the clip's end is marked ``sustained_to_end``.
- **loudness**: BS.1770 integrated loudness (:func:`a2d.kernels.loudness.integrated_loudness`).

:func:`plan_pitch` then moves the detected note by whole octaves into a spec's pitch range (the
model only saw notes there), and says which key the user plays to hear the input's pitch;
:func:`transpose` shifts the target audio by the same octaves so the match compares like with like.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from a2d.contracts.notes import Note, NoteSpec, note_name
from a2d.kernels.loudness import integrated_loudness

#: pyin runs at this rate (Hz) with these frames (93 ms: the lowest f0's period fits in pyin's
#: 46 ms lag window) and a quarter-semitone pitch grid: its Viterbi pass costs the square of the
#: grid's size, so the default 0.1-semitone grid took 5.3 s per 4 s clip against 0.28 s here, with
#: the same median pitch on the dev set's low bass.
PYIN_RATE = 11025
PYIN_FRAME = 1024
PYIN_HOP = 256
PYIN_RESOLUTION = 0.25
#: Pitch search range (Hz): B0 (30.9 Hz) up to C7 (2093 Hz).
FMIN_HZ = 30.0
FMAX_HZ = 2100.0
#: Frames within this many dB of the loudest frame belong to the note.
ACTIVE_DB = -30.0
#: Onset: the first frame within this many dB of the loudest frame.
ONSET_DB = -30.0
#: End: the last frame within this many dB of the loudest frame.
END_DB = -30.0
#: A clip is pitched when at least this share of its active frames is voiced.
MIN_VOICED = 0.4
#: Sub-octave test: the found f0 is a sub-octave (an organ's 16' stop) and the note an octave up
#: when its 2nd harmonic is at most this many dB below it, and its odd harmonics 3, 5, 7 all lie
#: at least :data:`SUB_OCTAVE_ODD_DB` below the 2nd.
SUB_OCTAVE_SECOND_DB = 6.0
SUB_OCTAVE_ODD_DB = 25.0


def hz_to_midi(hz: float) -> float:
    return 69.0 + 12.0 * float(np.log2(hz / 440.0))


@dataclass(frozen=True)
class NoteAnalysis:
    """The note found in one clip.

    :param pitched: whether the clip has a stable pitch.
    :param midi: the nearest MIDI note (None when unpitched).
    :param midi_float: fractional MIDI number of the median f0 (NaN when unpitched).
    :param f0_hz: median f0 (Hz; NaN when unpitched).
    :param voiced_fraction: share of the note's frames pyin called voiced.
    :param onset_s: note on (s from the clip's start). :param end_s: note end (s).
    :param sustained_to_end: the note still sounds at the clip's end (end_s is the clip's length).
    :param loudness_lufs: integrated loudness (LUFS; -inf for silence).
    :param sub_octave: pyin's f0 had only even harmonics (a sub-octave stop), so the note is an
        octave above it.
    """

    pitched: bool
    midi: int | None
    midi_float: float
    f0_hz: float
    voiced_fraction: float
    onset_s: float
    end_s: float
    sustained_to_end: bool
    loudness_lufs: float
    sub_octave: bool = False

    @property
    def length_s(self) -> float:
        return self.end_s - self.onset_s

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["note_name"] = note_name(self.midi) if self.midi is not None else None
        return {
            k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()
        }


def _mono(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return audio
    if audio.ndim != 2:
        raise ValueError(f"audio must be (N,) or (C, N), got shape {audio.shape}")
    return audio.mean(axis=0)


def _frame_db(mono: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Centred frame RMS in dB (floor -120)."""
    pad = np.pad(mono.astype(np.float64), (frame // 2, frame // 2))
    view = np.lib.stride_tricks.sliding_window_view(pad, frame)[::hop]
    rms = np.sqrt((view**2).mean(axis=-1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def analyse_note(audio: np.ndarray, sample_rate: int) -> NoteAnalysis:
    """Estimate the note of ``audio`` (``(C, N)`` or ``(N,)`` at ``sample_rate`` Hz).

    :raises ValueError: for silent or shorter-than-0.4 s audio.
    """
    from a2d.kernels.audio import resample
    from a2d.kernels.pitch import pyin

    mono = _mono(audio)
    if mono.shape[-1] < round(0.4 * sample_rate):
        raise ValueError(
            f"audio of {mono.shape[-1]} samples is shorter than 0.4 s at {sample_rate} Hz"
        )
    if not np.any(np.abs(mono) > 1e-6):
        raise ValueError("audio is silent; there is no note to analyse")
    stereo = audio if np.ndim(audio) == 2 else mono[None]
    lufs = float(integrated_loudness(np.asarray(stereo[:3], dtype=np.float32), sample_rate))
    y = resample(mono, sample_rate, PYIN_RATE)
    db = _frame_db(y, PYIN_FRAME, PYIN_HOP)
    peak = db.max()
    seconds = len(y) / PYIN_RATE
    frame_t = np.arange(len(db)) * PYIN_HOP / PYIN_RATE
    onset = float(frame_t[np.argmax(db >= peak + ONSET_DB)])
    last = len(db) - 1 - int(np.argmax(db[::-1] >= peak + END_DB))
    sustained = last >= len(db) - 2
    end = seconds if sustained else float(frame_t[last])
    f0, voiced, _ = pyin(
        y, fmin=FMIN_HZ, fmax=FMAX_HZ, sr=PYIN_RATE, frame_length=PYIN_FRAME, hop_length=PYIN_HOP,
        resolution=PYIN_RESOLUTION, center=True,
    )  # fmt: skip
    n = min(len(f0), len(db))
    active = db[:n] >= peak + ACTIVE_DB
    good = active & voiced[:n] & np.isfinite(f0[:n])
    fraction = float(good.sum() / max(active.sum(), 1))
    if fraction >= MIN_VOICED and good.sum() >= 3:
        f0_hz = float(np.median(f0[:n][good]))
        sub = _sub_octave(y, active, f0_hz)
        f0_hz = 2 * f0_hz if sub else f0_hz
        mf = hz_to_midi(f0_hz)
        midi = int(np.clip(round(mf), 0, 127))
        return NoteAnalysis(True, midi, mf, f0_hz, fraction, onset, end, sustained, lufs, sub)
    nan = float("nan")
    return NoteAnalysis(False, None, nan, nan, fraction, onset, end, sustained, lufs)


def _sub_octave(y: np.ndarray, active: np.ndarray, f0_hz: float) -> bool:
    """Whether ``f0_hz`` is a sub-octave: see :data:`SUB_OCTAVE_SECOND_DB`."""
    idx = np.flatnonzero(active)
    a, b = idx[0] * PYIN_HOP, min(len(y), (idx[-1] + 1) * PYIN_HOP + PYIN_FRAME)
    seg = y[a:b].astype(np.float64)
    if len(seg) < PYIN_FRAME:
        return False
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    freqs = np.fft.rfftfreq(len(seg), 1 / PYIN_RATE)

    def level(h: int) -> float:
        band = (freqs > h * f0_hz * 0.97) & (freqs < h * f0_hz * 1.03)
        return 20 * np.log10(spec[band].max() + 1e-12) if band.any() else -240.0

    if 7 * f0_hz * 1.03 >= PYIN_RATE / 2:
        return False
    first, second = level(1), level(2)
    odd = max(level(3), level(5), level(7))
    return second >= first - SUB_OCTAVE_SECOND_DB and odd <= second - SUB_OCTAVE_ODD_DB


@dataclass(frozen=True)
class PitchPlan:
    """Where the match is made and which key the user plays.

    :param input_midi: the detected note (None: unpitched, so ``render_midi`` is assumed).
    :param render_midi: the note candidates are rendered at (inside the spec's pitch range).
    :param octaves: ``render_midi - input_midi`` in octaves (the target is shifted by as much).
    :param message: one sentence for the user.
    """

    input_midi: int | None
    render_midi: int
    octaves: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["play"] = note_name(self.input_midi if self.input_midi is not None else self.render_midi)
        return d


def plan_pitch(analysis: NoteAnalysis, pitch_range: tuple[int, int]) -> PitchPlan:
    """Move the detected note by whole octaves into ``pitch_range`` (inclusive MIDI numbers).

    A range narrower than an octave that no octave of the note falls in gets the nearest octave,
    clamped into the range. An unpitched input is matched at the range's middle.
    """
    lo, hi = pitch_range
    if not analysis.pitched or analysis.midi is None:
        mid = (lo + hi) // 2
        return PitchPlan(
            None, mid, 0,
            f"no stable pitch found ({analysis.voiced_fraction:.0%} of the note voiced): treated "
            f"as unpitched and matched at {note_name(mid)} (MIDI {mid}); play any key",
        )  # fmt: skip
    m = analysis.midi
    octaves = 0
    while m + 12 * octaves < lo:
        octaves += 1
    while m + 12 * octaves > hi:
        octaves -= 1
    render = int(np.clip(m + 12 * octaves, lo, hi))
    if octaves == 0 and render == m:
        msg = f"detected {note_name(m)} (MIDI {m}); matched there: play {note_name(m)}"
    else:
        way = "up" if octaves > 0 else "down"
        msg = (
            f"detected {note_name(m)} (MIDI {m}), outside the model's range "
            f"{note_name(lo)}-{note_name(hi)}: matched {abs(octaves)} octave(s) {way} at "
            f"{note_name(render)} (MIDI {render}); play {note_name(m)} to hear the input's pitch"
        )
    return PitchPlan(m, render, octaves, msg)


def transpose(audio: np.ndarray, sample_rate: int, octaves: int) -> np.ndarray:
    """``(C, N)`` shifted by whole octaves, same length (phase vocoder: the numbers of
    ``librosa.effects.pitch_shift``, :mod:`a2d.kernels.vocoder`); unchanged for 0."""
    if octaves == 0:
        return audio
    from a2d.kernels.vocoder import pitch_shift

    return pitch_shift(audio, sample_rate, 12 * octaves)


def render_note(spec_note: NoteSpec, plan: PitchPlan, analysis: NoteAnalysis) -> Note:
    """The note every candidate is rendered with: the planned pitch, the analysed note times
    (clipped to what the spec can encode; a ``fixed``-times spec keeps its own)."""
    lo, hi = spec_note.time_range
    end = float(np.clip(hi if analysis.sustained_to_end else analysis.end_s, lo, hi))
    if spec_note.times == "sorted":
        start = float(np.clip(analysis.onset_s, lo, hi))
        start, end = min(start, end), max(start, end)
    elif spec_note.times == "release":
        start = spec_note.fixed_times[0]
        end = max(end, start)
    else:
        start, end = spec_note.fixed_times
    return Note(plan.render_midi, spec_note.velocity, start, end)


def at_pitch(patch: Any, note: Note | None) -> Any:
    """``patch`` playing ``note``'s pitch (and velocity), with its own note times.

    The note a candidate is rendered with in matching. Its times stay the candidate's own: the
    model predicts them from the whole input, and a retrieved row brings the times it was rendered
    with. Measured on the 50-sound TimGM6mb dev set with the shipped ``vital_simple`` model
    (docs/results.md, best of 16 in MSS, paired): against the analysed note-on/off times, 0.68 ±
    0.16 dB better for the model's samples and 0.08 ± 0.07 dB for retrieved rows; against the
    candidates' own pitch, 0.15 ± 0.07 dB better.
    """
    if note is None:
        return patch
    return replace(patch, note=replace(patch.note, pitch=note.pitch, velocity=note.velocity))


def analyse_input(sound: Any, spec: Any, settings: Any) -> tuple[Any, Note, dict[str, Any]]:
    """Analyse a loaded :class:`a2d.kernels.audio.Sound` for matching with ``spec``.

    :returns: the sound with its audio moved by the planned octaves (what candidates are matched
        against), the note to render them with, and ``{"note_analysis": ..., "pitch_plan": ...}``
        for ``params.json``.
    """
    rate = settings.sample_rate
    analysis = analyse_note(sound.audio, rate)
    plan = plan_pitch(analysis, spec.note.pitch_range)
    note = render_note(spec.note, plan, analysis)
    moved = replace(sound, audio=transpose(sound.audio, rate, plan.octaves))
    return moved, note, {"note_analysis": analysis.to_dict(), "pitch_plan": plan.to_dict()}
