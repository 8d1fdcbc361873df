"""The Dexed (DX7) parameter specs ``dexed_full``, ``dexed_simple`` and ``dexed_fm2``.

Values are the DX7's own voice bytes (:mod:`a2d_dexed.voice`): 0-99 for rates, levels and depths,
0-31 coarse frequency, 0-14 detune (7 = none), 0-7 feedback and sensitivities.

Sampling. Uniformly random DX7 voices are mostly noise or silence: any operator can be a
modulator, and a modulator at a high output level, a high coarse ratio or full feedback turns the
carrier into noise, while slow rates, low levels or a quiet carrier give silence within the clip.
Published DX7 sound matching therefore learns from real patch banks (Le Vaillant et al. 2021:
30k curated DX7 voices) or fixes the structure and draws a small set of parameters in musical ranges
(Yee-King et al. 2018; DDX7, Caspe et al. 2022: fixed algorithm and ratios). a2d has no bank to
ship, so both specs draw every parameter independently (a spec's distribution must be expressible
per parameter: the random-search baseline of ``a2d evaluate`` draws from the spec saved in the
dataset) inside musical ranges that keep most draws audible and tonal:

- ``dexed_full`` (all 145 voice parameters; every parameter is present, some with a narrowed range):
  algorithm uniform over all 32; envelope rates >= 25 (slower ones fade in over more than the
  clip), levels L1, L2 >= 50 and sustain L3 >= 30, release level L4 = 0 nine times in ten; output
  levels 50-99 (each step is about 0.75 dB: a carrier below 50 is inaudible next to the others,
  and with independent draws any operator may be a carrier); coarse ratio 0-15 (0 is 0.5) with
  fine 0 two times in three, fixed frequency one operator in twenty (a fixed carrier at 1-10 Hz is
  silent); feedback 0-7; LFO pitch depth 0-50 and amplitude depth 0-99, each off half the time;
  pitch envelope levels 35-65 around 50 (no shift), flat seven times in ten; keyboard level
  scaling depths off seven times in ten; transpose C2..C4, C3 (no shift) four times in five, so
  the played pitch stays what the note says.
- ``dexed_simple``: the research-relevant core with the structure fixed, DDX7-style. Algorithm 5
  (three carrier/modulator pairs 1<-2, 3<-4, 5<-6, feedback on 6: the classic electric piano,
  brass and bell layout) so that every operator has a known role and its range can follow it:
  carrier levels 55-95 and ratios 0.5-4, modulator levels 0-90 and ratios 0.5-14; each
  operator's four envelope rates and its decay/sustain levels L2, L3 (L1 = 99, L4 = 0); carrier
  detune; feedback. 51 parameters; everything else is the DX7 INIT VOICE.

- ``dexed_fm2``: two-operator FM, the textbook case (Chowning 1973), where the sound fixes the
  parameters. Algorithm 2 (operator 2 modulates operator 1 and feeds back on itself); operators
  3-6 silent as in the INIT VOICE. The carrier's level 70-99 and ratio 0.5-4, the modulator's level
  (the modulation index) 0-90 and ratio 0.5-14, the feedback, and each operator's four envelope
  rates and levels L2, L3: 17 parameters, each one audible whenever the modulator is. Why: on
  ``dexed_full`` and ``dexed_simple`` a sound's nearest neighbour by spectrum shares almost none
  of its parameters (``docs/results.md``, "Does the model listen?"), so a parameter-space model
  cannot learn them from tens of thousands of rows; this spec asks what the DX7's core can do
  when the parameters are identifiable.

Measured rejection rates (silent < -55 LUFS, clipping, noise) are in ``docs/results.md``.

Notes use ``times="release"`` as the Vital specs do: note on at 0 s, off uniform in [0.5, 3.5] s of
a 4 s clip (time for the release), pitch 48..72, velocity 100.
"""

from __future__ import annotations

from a2d.contracts.spec import Categorical, Discrete, NoteSpec, Param, ParamSpec
from a2d_dexed.voice import CURVES, LFO_WAVES

NOTE = NoteSpec(pitch_range=(48, 72), velocity=100, times="release", time_range=(0.5, 3.5))

#: Slowest envelope rate drawn: rate 25 takes about 10 s from 0 to full level.
RATE_MIN = 25


def _cat(name: str, labels: tuple[str, ...], weights=None, group: str = "") -> Categorical:
    return Categorical(
        name, labels=labels, values=tuple(float(v) for v in range(len(labels))), weights=weights,
        group=group,
    )  # fmt: skip


def _operator_full(n: int) -> list[Param]:
    g = f"op{n}"
    p = f"op{n}_"
    return [
        *[Discrete(f"{p}eg_rate{k}", RATE_MIN, 99, group=g) for k in range(1, 5)],
        Discrete(f"{p}eg_level1", 50, 99, group=g),
        Discrete(f"{p}eg_level2", 50, 99, group=g),
        Discrete(f"{p}eg_level3", 30, 99, group=g),
        Discrete(f"{p}eg_level4", 0, 99, constant_p=0.9, constant_value=0, group=g),
        Discrete(f"{p}output_level", 50, 99, group=g),
        _cat(f"{p}freq_mode", ("RATIO", "FIXED"), (19.0, 1.0), group=g),
        Discrete(f"{p}freq_coarse", 0, 15, group=g),
        Discrete(f"{p}freq_fine", 0, 99, constant_p=2 / 3, constant_value=0, group=g),
        Discrete(f"{p}detune", 0, 14, group=g),
        Discrete(f"{p}kbd_breakpoint", 0, 99, group=g),
        Discrete(f"{p}kbd_left_depth", 0, 99, constant_p=0.7, constant_value=0, group=g),
        Discrete(f"{p}kbd_right_depth", 0, 99, constant_p=0.7, constant_value=0, group=g),
        _cat(f"{p}kbd_left_curve", CURVES, group=g),
        _cat(f"{p}kbd_right_curve", CURVES, group=g),
        Discrete(f"{p}kbd_rate_scaling", 0, 7, group=g),
        Discrete(f"{p}amp_mod_sens", 0, 3, group=g),
        Discrete(f"{p}key_vel_sens", 0, 7, group=g),
    ]


def full_params() -> list[Param]:
    params: list[Param] = [
        _cat("algorithm", tuple(str(k) for k in range(1, 33)), group="global"),
        Discrete("feedback", 0, 7, group="global"),
        _cat("osc_key_sync", ("OFF", "ON"), group="global"),
        Discrete("transpose", 12, 36, constant_p=0.8, constant_value=24, group="global"),
        Discrete("lfo_speed", 0, 99, group="lfo"),
        Discrete("lfo_delay", 0, 99, group="lfo"),
        Discrete("lfo_pitch_mod_depth", 0, 50, constant_p=0.5, constant_value=0, group="lfo"),
        Discrete("lfo_amp_mod_depth", 0, 99, constant_p=0.5, constant_value=0, group="lfo"),
        _cat("lfo_key_sync", ("OFF", "ON"), group="lfo"),
        _cat("lfo_wave", LFO_WAVES, group="lfo"),
        Discrete("pitch_mod_sens", 0, 7, group="lfo"),
        *[Discrete(f"pitch_eg_rate{k}", 0, 99, group="pitch_eg") for k in range(1, 5)],
        *[
            Discrete(
                f"pitch_eg_level{k}", 35, 65, constant_p=0.7, constant_value=50, group="pitch_eg"
            )
            for k in range(1, 5)
        ],
    ]
    for n in range(1, 7):
        params += _operator_full(n)
    return params


def dexed_full() -> ParamSpec:
    return ParamSpec(
        name="dexed_full",
        synth="dexed",
        params=tuple(full_params()),
        note=NOTE,
        description="Dexed (DX7): every voice parameter, 32 algorithms, in musical ranges",
        base={"voice": {}},
    )


#: dexed_simple's fixed algorithm (DX7 numbering 5; byte 4) and the roles it gives the operators.
SIMPLE_ALGORITHM = 4
CARRIERS = (1, 3, 5)
MODULATORS = (2, 4, 6)


def _fm_operator(n: int, carrier: bool, carrier_levels: tuple[int, int]) -> list[Param]:
    """Operator ``n`` of a fixed-algorithm spec: output level (``carrier_levels`` for a carrier,
    0-90 for a modulator), coarse ratio (0.5-4 carrier, 0.5-14 modulator), four envelope rates and
    the decay/sustain levels L2, L3."""
    g, p = f"op{n}", f"op{n}_"
    low, high = carrier_levels if carrier else (0, 90)
    return [
        Discrete(f"{p}output_level", low, high, group=g),
        Discrete(f"{p}freq_coarse", 0, 4 if carrier else 14, group=g),
        *[Discrete(f"{p}eg_rate{k}", RATE_MIN, 99, group=g) for k in range(1, 5)],
        Discrete(f"{p}eg_level2", 0, 99, group=g),
        Discrete(f"{p}eg_level3", 0, 99, group=g),
    ]


def simple_params() -> list[Param]:
    params: list[Param] = [Discrete("feedback", 0, 7, group="global")]
    for n in range(1, 7):
        g, p = f"op{n}", f"op{n}_"
        carrier = n in CARRIERS
        params += _fm_operator(n, carrier, (55, 95))
        if carrier:
            params.append(Discrete(f"{p}detune", 0, 14, group=g))
    return params


#: dexed_fm2's algorithm (DX7 numbering 2; byte 1): 1 <- 2, feedback on 2; 3 <- 4 <- 5 <- 6 silent.
FM2_ALGORITHM = 1


def fm2_params() -> list[Param]:
    params: list[Param] = [Discrete("feedback", 0, 7, group="global")]
    for n, carrier in ((1, True), (2, False)):
        params += _fm_operator(n, carrier, (70, 99))
    return params


def dexed_fm2() -> ParamSpec:
    return ParamSpec(
        name="dexed_fm2",
        synth="dexed",
        params=tuple(fm2_params()),
        note=NOTE,
        description="Dexed (DX7): two-operator FM (algorithm 2), levels, ratios and envelopes",
        base={"voice": {"algorithm": FM2_ALGORITHM}},
    )


def dexed_simple() -> ParamSpec:
    return ParamSpec(
        name="dexed_simple",
        synth="dexed",
        params=tuple(simple_params()),
        note=NOTE,
        description="Dexed (DX7): algorithm 5 (three FM pairs), levels, ratios and envelopes",
        base={"voice": {"algorithm": SIMPLE_ALGORITHM}},
    )
