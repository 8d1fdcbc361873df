"""The Vital parameter specs ``vital_simple`` and ``vital_full``, designed in the spirit of the Surge pair.

Values are in each control's native units (``vita.Synth.get_control_details``): envelope times on
Vital's quartic scale (seconds = value ** 4, so 1.414 is 4 s), filter cutoff in semitones (MIDI
note number of the cutoff), LFO / delay / chorus rates on log2 scales, modulation amounts as a
fraction of the destination's range.

- ``vital_simple``: the continuous core. Oscillators 1-3 (levels, wave frames of a basic-shapes
  wavetable, fine tuning of 2 and 3) into filter 1 (cutoff, resonance, drive), the amplitude
  envelope (env_1) and a filter envelope (env_2) routed to the cutoff in the base patch
  (``modulation_1``: env_2 -> filter_1_cutoff; its amount is a parameter).
- ``vital_full``: adds categoricals (filter model and style, unison voices, octave transposition,
  spectral-morph and distortion types per oscillator), LFO-driven modulations (lfo_1 -> cutoff,
  lfo_2 -> osc 1 wave frame, lfo_3 -> pitch vibrato) and the effects (chorus, delay, reverb,
  distortion), each dry 70 % of the time (``constant_p``), as the Surge spec does.

Notes use ``times="release"``: note on at 0 s, note off uniform in [0.5, 4] s (``a2d predict`` trims
leading silence, so a start time would be wasted capacity). Pitch 48..72, velocity 100.
"""

from __future__ import annotations

import copy
from typing import Any

from a2d.contracts.spec import Categorical, Continuous, NoteSpec, Param, ParamSpec

#: Envelope time caps on the quartic scale: 1.2 ** 4 = 2.1 s attack, 1.414 ** 4 = 4 s.
ATTACK_MAX = 1.2
TIME_MAX = 1.414

NOTE = NoteSpec(pitch_range=(48, 72), velocity=100, times="release", time_range=(0.5, 4.0))


def _osc_controls(destination: float = 0.0) -> dict[str, float]:
    out: dict[str, float] = {}
    for i in (1, 2, 3):
        out[f"osc_{i}_on"] = 1.0
        out[f"osc_{i}_destination"] = destination  # 0 = FILTER 1
        out[f"osc_{i}_random_phase"] = 0.0  # repeatable renders (see backend docstring)
    return out


SIMPLE_BASE: dict[str, Any] = {
    "preset_name": "a2d vital_simple base",
    "wavetable": "basic_shapes",
    "controls": {
        **_osc_controls(),
        "filter_1_on": 1.0,
        "filter_1_model": 0.0,  # Analog
        "filter_1_style": 0.0,  # 12dB
        "filter_1_keytrack": 0.0,
        "volume": 5473.04,  # Vital's default (-6 dB)
    },
    "modulations": [{"source": "env_2", "destination": "filter_1_cutoff"}],
}


def _env(n: int, group: str) -> list[Param]:
    return [
        Continuous(f"env_{n}_attack", 0.0, ATTACK_MAX, unit="quartic s", group=group),
        Continuous(f"env_{n}_decay", 0.0, TIME_MAX, unit="quartic s", group=group),
        Continuous(f"env_{n}_sustain", 0.0, 1.0, group=group),
        Continuous(f"env_{n}_release", 0.0, TIME_MAX, unit="quartic s", group=group),
    ]


def simple_params() -> list[Param]:
    params: list[Param] = []
    for i in (1, 2, 3):
        params.append(Continuous(f"osc_{i}_level", 0.0, 1.0, unit="quadratic gain", group="osc"))
    for i in (1, 2, 3):
        params.append(Continuous(f"osc_{i}_wave_frame", 0.0, 256.0, unit="frame", group="osc"))
    for i in (2, 3):
        params.append(Continuous(f"osc_{i}_tune", -1.0, 1.0, unit="semitones", group="osc"))
    params += [
        Continuous("filter_1_cutoff", 30.0, 136.0, unit="semitones", group="filter"),
        Continuous("filter_1_resonance", 0.0, 0.9, group="filter"),
        Continuous("filter_1_drive", 0.0, 20.0, unit="dB", group="filter"),
    ]
    params += _env(1, "env")
    params += _env(2, "env")
    params.append(Continuous("modulation_1_amount", -0.5, 1.0, unit="env_2->cutoff", group="mod"))
    return params


def vital_simple() -> ParamSpec:
    return ParamSpec(
        name="vital_simple",
        synth="vital",
        params=tuple(simple_params()),
        note=NOTE,
        description="Vital: 3 oscillators into an analog filter, amp and filter envelopes",
        base=copy.deepcopy(SIMPLE_BASE),
    )


#: Dry most of the time, as the Surge full spec's effect mixes.
FX_DRY_P = 0.7

FULL_BASE: dict[str, Any] = {
    "preset_name": "a2d vital_full base",
    "wavetable": "basic_shapes",
    "controls": {
        **SIMPLE_BASE["controls"],
        **{f"lfo_{i}_sync": 0.0 for i in (1, 2, 3)},  # free-running in Hz ("Seconds")
        **{f"lfo_{i}_sync_type": 0.0 for i in (1, 2, 3)},  # Trigger: restart with each note
        "modulation_2_bipolar": 1.0,
        "modulation_3_bipolar": 1.0,
        "modulation_4_bipolar": 1.0,
        "chorus_on": 1.0,
        "chorus_sync": 0.0,
        "delay_on": 1.0,
        "delay_sync": 0.0,
        "reverb_on": 1.0,
        "distortion_on": 1.0,
    },
    "modulations": [
        {"source": "env_2", "destination": "filter_1_cutoff"},
        {"source": "lfo_1", "destination": "filter_1_cutoff"},
        {"source": "lfo_2", "destination": "osc_1_wave_frame"},
        {"source": "lfo_3", "destination": "voice_tune"},
    ],
}

_MORPH = (
    "None",
    "Vocode",
    "Formant Scale",
    "Harmonic Stretch",
    "Inharmonic Stretch",
    "Smear",
    "Random Amplitudes",
    "Low Pass",
    "High Pass",
    "Phase Disperse",
    "Shepard Tone",
    "Spectral Time Skew",
)
_WARP = ("None", "Sync", "Formant", "Quantize", "Bend", "Squeeze", "Pulse")
_FILTER_MODELS = ("Analog", "Dirty", "Ladder", "Digital", "Diode", "Formant", "Comb", "Phaser")
_DIST_TYPES = ("Soft Clip", "Hard Clip", "Linear Fold", "Sine Fold", "Bit Crush", "Down Sample")


def _categorical(
    name: str, labels: tuple[str, ...], values: tuple[float, ...], weights, group: str
):
    return Categorical(name, labels=labels, values=values, weights=weights, group=group)


def full_params() -> list[Param]:
    params = simple_params()
    params.insert(6, Continuous("osc_1_tune", -1.0, 1.0, unit="semitones", group="osc"))
    for i in (1, 2, 3):
        params += [
            _categorical(
                f"osc_{i}_transpose",
                ("-24", "-12", "0", "+12"),
                (-24.0, -12.0, 0.0, 12.0),
                (1.0, 2.0, 4.0, 2.0),
                "osc",
            ),
            _categorical(
                f"osc_{i}_unison_voices", ("1", "3", "5"), (1.0, 3.0, 5.0), (4.0, 1.0, 1.0), "osc"
            ),
            Continuous(f"osc_{i}_unison_detune", 0.0, 5.0, unit="quadratic %", group="osc"),
            _categorical(
                f"osc_{i}_spectral_morph_type",
                _MORPH,
                tuple(float(v) for v in range(len(_MORPH))),
                (6.0,) + (0.5,) * (len(_MORPH) - 1),
                "osc",
            ),
            Continuous(f"osc_{i}_spectral_morph_amount", 0.0, 1.0, group="osc"),
            _categorical(
                f"osc_{i}_distortion_type",
                _WARP,
                tuple(float(v) for v in range(len(_WARP))),
                (6.0,) + (1.0,) * (len(_WARP) - 1),
                "osc",
            ),
            Continuous(f"osc_{i}_distortion_amount", 0.0, 1.0, group="osc"),
        ]
    params += [
        _categorical(
            "filter_1_model",
            _FILTER_MODELS,
            tuple(float(v) for v in range(len(_FILTER_MODELS))),
            (3.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0),
            "filter",
        ),
        _categorical("filter_1_style", ("style 0", "style 1"), (0.0, 1.0), None, "filter"),
        Continuous("filter_1_blend", 0.0, 2.0, constant_p=0.5, constant_value=0.0, group="filter"),
    ]
    # LFO-driven modulations: rates on log2 Hz, amounts bipolar, off half of the time.
    for k, lfo in ((2, 1), (3, 2), (4, 3)):
        params.append(Continuous(f"lfo_{lfo}_frequency", -2.0, 3.0, unit="log2 Hz", group="lfo"))
        hi = 0.05 if k == 4 else 0.5  # vibrato: +-5 % of voice_tune's range
        params.append(
            Continuous(f"modulation_{k}_amount", -hi, hi, 0.5, 0.0, unit="fraction", group="lfo")
        )
    params += [
        Continuous("chorus_dry_wet", 0.0, 1.0, FX_DRY_P, 0.0, group="fx"),
        Continuous("chorus_mod_depth", 0.0, 1.0, group="fx"),
        Continuous("chorus_frequency", -6.0, 2.0, unit="log2 Hz", group="fx"),
        Continuous("delay_dry_wet", 0.0, 0.5, FX_DRY_P, 0.0, group="fx"),
        Continuous("delay_feedback", 0.0, 0.8, group="fx"),
        Continuous("delay_frequency", 1.0, 4.0, unit="log2 Hz", group="fx"),
        Continuous("reverb_dry_wet", 0.0, 0.6, FX_DRY_P, 0.0, group="fx"),
        Continuous("reverb_decay_time", -3.0, 2.0, unit="log2 s", group="fx"),
        Continuous("reverb_size", 0.0, 1.0, group="fx"),
        Continuous("distortion_mix", 0.0, 1.0, FX_DRY_P, 0.0, group="fx"),
        Continuous("distortion_drive", -10.0, 20.0, unit="dB", group="fx"),
        _categorical(
            "distortion_type",
            _DIST_TYPES,
            tuple(float(v) for v in range(len(_DIST_TYPES))),
            None,
            "fx",
        ),
    ]
    return params


def vital_full() -> ParamSpec:
    return ParamSpec(
        name="vital_full",
        synth="vital",
        params=tuple(full_params()),
        note=NOTE,
        description="Vital: vital_simple plus oscillator/filter types, LFO modulation and effects",
        base=copy.deepcopy(FULL_BASE),
    )
