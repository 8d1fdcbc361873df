"""The DX7 voice: a2d parameter names, the 155-byte VCED layout, sysex dumps and display text.

Parameter names (one per voice byte, operators numbered 1-6 as on the DX7 panel)::

    op{N}_eg_rate{1..4}   op{N}_eg_level{1..4}   op{N}_output_level
    op{N}_freq_mode       op{N}_freq_coarse      op{N}_freq_fine       op{N}_detune
    op{N}_kbd_breakpoint  op{N}_kbd_left_depth   op{N}_kbd_right_depth
    op{N}_kbd_left_curve  op{N}_kbd_right_curve  op{N}_kbd_rate_scaling
    op{N}_amp_mod_sens    op{N}_key_vel_sens
    pitch_eg_rate{1..4}   pitch_eg_level{1..4}   algorithm  feedback  osc_key_sync
    lfo_speed  lfo_delay  lfo_pitch_mod_depth  lfo_amp_mod_depth  lfo_key_sync  lfo_wave
    pitch_mod_sens  transpose

Values are the voice bytes themselves (``algorithm`` 0-31 shows as 1-32, ``detune`` 0-14 as -7..+7,
``transpose`` 0-48 as C1..C5). The byte layout is the DX7's VCED (Yamaha DX7 owner's manual,
"voice data"): operator 6 first, 21 bytes per operator, then the globals from byte 126 and the
10-character name at 145-154.

Sysex (MIDI channel ``n`` = 0 in the format byte ``0n``):

- single voice: ``F0 43 0n 00 01 1B`` + 155 VCED bytes + checksum + ``F7`` (163 bytes);
- 32-voice bank: ``F0 43 0n 09 20 00`` + 32 x 128 packed VMEM bytes + checksum + ``F7`` (4104 bytes);

the checksum is ``(-sum(data bytes)) & 0x7F``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from a2d.contracts.errors import SpecError

#: Byte offset inside one operator's 21 VCED bytes, and the byte's maximum.
OP_FIELDS: dict[str, tuple[int, int]] = {
    **{f"eg_rate{k}": (k - 1, 99) for k in range(1, 5)},
    **{f"eg_level{k}": (3 + k, 99) for k in range(1, 5)},
    "kbd_breakpoint": (8, 99),
    "kbd_left_depth": (9, 99),
    "kbd_right_depth": (10, 99),
    "kbd_left_curve": (11, 3),
    "kbd_right_curve": (12, 3),
    "kbd_rate_scaling": (13, 7),
    "amp_mod_sens": (14, 3),
    "key_vel_sens": (15, 7),
    "output_level": (16, 99),
    "freq_mode": (17, 1),
    "freq_coarse": (18, 31),
    "freq_fine": (19, 99),
    "detune": (20, 14),
}
#: Byte offset of each global field in the VCED, and its maximum.
GLOBAL_FIELDS: dict[str, tuple[int, int]] = {
    **{f"pitch_eg_rate{k}": (125 + k, 99) for k in range(1, 5)},
    **{f"pitch_eg_level{k}": (129 + k, 99) for k in range(1, 5)},
    "algorithm": (134, 31),
    "feedback": (135, 7),
    "osc_key_sync": (136, 1),
    "lfo_speed": (137, 99),
    "lfo_delay": (138, 99),
    "lfo_pitch_mod_depth": (139, 99),
    "lfo_amp_mod_depth": (140, 99),
    "lfo_key_sync": (141, 1),
    "lfo_wave": (142, 5),
    "pitch_mod_sens": (143, 7),
    "transpose": (144, 48),
}
VOICE_BYTES = 155
NAME_OFFSET = 145
NAME_LENGTH = 10


def _layout() -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for n in range(1, 7):
        base = (6 - n) * 21  # operator 6 comes first
        for field, (offset, hi) in OP_FIELDS.items():
            out[f"op{n}_{field}"] = (base + offset, hi)
    out.update(GLOBAL_FIELDS)
    return out


#: Every voice parameter: ``name -> (VCED byte offset, maximum)``; 145 entries.
LAYOUT: dict[str, tuple[int, int]] = _layout()

#: The DX7's INIT VOICE (what the synth shows after "VOICE INIT"): algorithm 1, only operator 1
#: sounding (output level 99, the others 0), every EG 99/99/99/99 rates and 99/99/99/0 levels,
#: ratio 1.00, detune 0, breakpoint C3 (39), pitch EG flat (levels 50), LFO speed 35, transpose C3.
INIT_VOICE: dict[str, int] = {
    **{
        f"op{n}_{field}": value
        for n in range(1, 7)
        for field, value in {
            **{f"eg_rate{k}": 99 for k in range(1, 5)},
            "eg_level1": 99,
            "eg_level2": 99,
            "eg_level3": 99,
            "eg_level4": 0,
            "kbd_breakpoint": 39,
            "kbd_left_depth": 0,
            "kbd_right_depth": 0,
            "kbd_left_curve": 0,
            "kbd_right_curve": 0,
            "kbd_rate_scaling": 0,
            "amp_mod_sens": 0,
            "key_vel_sens": 0,
            "output_level": 99 if n == 1 else 0,
            "freq_mode": 0,
            "freq_coarse": 1,
            "freq_fine": 0,
            "detune": 7,
        }.items()
    },
    **{f"pitch_eg_rate{k}": 99 for k in range(1, 5)},
    **{f"pitch_eg_level{k}": 50 for k in range(1, 5)},
    "algorithm": 0,
    "feedback": 0,
    "osc_key_sync": 1,
    "lfo_speed": 35,
    "lfo_delay": 0,
    "lfo_pitch_mod_depth": 0,
    "lfo_amp_mod_depth": 0,
    "lfo_key_sync": 1,
    "lfo_wave": 0,
    "pitch_mod_sens": 3,
    "transpose": 24,
}

SINGLE_HEADER = bytes([0xF0, 0x43, 0x00, 0x00, 0x01, 0x1B])
BANK_HEADER = bytes([0xF0, 0x43, 0x00, 0x09, 0x20, 0x00])
SINGLE_SIZE = len(SINGLE_HEADER) + VOICE_BYTES + 2  # 163
BANK_SIZE = len(BANK_HEADER) + 32 * 128 + 2  # 4104


def checksum(data: bytes) -> int:
    """DX7 sysex checksum: the low 7 bits of the two's complement of the data bytes' sum."""
    return (-sum(data)) & 0x7F


def voice_bytes(values: Mapping[str, float], name: str = "A2D") -> bytes:
    """The 155 VCED bytes of ``INIT_VOICE`` updated with ``values`` (a2d names, DX7 units;
    rounded to integers). Out-of-range values and unknown names are a :class:`SpecError`."""
    data = bytearray(VOICE_BYTES)
    merged = {**INIT_VOICE, **values}
    for key, value in merged.items():
        try:
            offset, hi = LAYOUT[key]
        except KeyError:
            raise SpecError(f"{key!r} is not a DX7 voice parameter; see a2d_dexed.voice") from None
        v = int(round(float(value)))
        if not 0 <= v <= hi:
            raise SpecError(f"DX7 parameter {key!r} = {value} is outside 0..{hi}")
        data[offset] = v
    data[NAME_OFFSET : NAME_OFFSET + NAME_LENGTH] = voice_name(name)
    return bytes(data)


def voice_values(data: bytes) -> dict[str, int]:
    """Inverse of :func:`voice_bytes`: every parameter of 155 (or more) VCED bytes."""
    if len(data) < VOICE_BYTES:
        raise SpecError(f"a DX7 voice has {VOICE_BYTES} bytes, got {len(data)}")
    return {key: int(data[offset]) for key, (offset, _) in LAYOUT.items()}


def voice_name(name: str) -> bytes:
    """10 printable ASCII bytes (DX7 names are space padded; other characters become ``_``)."""
    text = "".join(c if 32 <= ord(c) < 127 else "_" for c in name)[:NAME_LENGTH]
    return text.ljust(NAME_LENGTH).encode("ascii")


def single_voice_sysex(voice: bytes, channel: int = 0) -> bytes:
    """A DX7 single-voice bulk dump (VCED, 163 bytes) of 155 voice bytes."""
    if len(voice) != VOICE_BYTES:
        raise SpecError(f"a DX7 voice has {VOICE_BYTES} bytes, got {len(voice)}")
    head = bytearray(SINGLE_HEADER)
    head[2] = channel & 0x0F
    return bytes(head) + voice + bytes([checksum(voice), 0xF7])


def pack_voice(voice: bytes) -> bytes:
    """155 VCED bytes -> the 128 packed bytes of one VMEM (bank) slot."""
    v = voice
    out = bytearray(128)
    for op in range(6):
        s, d = op * 21, op * 17
        out[d : d + 11] = v[s : s + 11]
        out[d + 11] = (v[s + 11] & 3) | ((v[s + 12] & 3) << 2)
        out[d + 12] = (v[s + 13] & 7) | ((v[s + 20] & 15) << 3)
        out[d + 13] = (v[s + 14] & 3) | ((v[s + 15] & 7) << 2)
        out[d + 14] = v[s + 16]
        out[d + 15] = (v[s + 17] & 1) | ((v[s + 18] & 31) << 1)
        out[d + 16] = v[s + 19]
    out[102:110] = v[126:134]
    out[110] = v[134] & 31
    out[111] = (v[135] & 7) | ((v[136] & 1) << 3)
    out[112:116] = v[137:141]
    out[116] = (v[141] & 1) | ((v[142] & 7) << 1) | ((v[143] & 7) << 4)
    out[117] = v[144]
    out[118:128] = v[145:155]
    return bytes(out)


def bank_sysex(voices: Sequence[bytes], channel: int = 0) -> bytes:
    """A DX7 32-voice bulk dump (VMEM, 4104 bytes). Fewer than 32 voices are padded with
    ``INIT VOICE``; more is a :class:`SpecError`."""
    if not 1 <= len(voices) <= 32:
        raise SpecError(f"a DX7 bank holds 1 to 32 voices, got {len(voices)}")
    init = voice_bytes({}, name="INIT VOICE")
    payload = b"".join(pack_voice(v) for v in [*voices, *[init] * (32 - len(voices))])
    head = bytearray(BANK_HEADER)
    head[2] = channel & 0x0F
    return bytes(head) + payload + bytes([checksum(payload), 0xF7])


def parse_single_voice_sysex(data: bytes) -> bytes:
    """The 155 voice bytes of a single-voice dump, after checking header, length and checksum."""
    if len(data) != SINGLE_SIZE or data[0] != 0xF0 or data[-1] != 0xF7:
        raise SpecError(f"not a DX7 single-voice dump ({len(data)} bytes, need {SINGLE_SIZE})")
    if data[1] != 0x43 or data[2] & 0xF0 or data[3:6] != SINGLE_HEADER[3:6]:
        raise SpecError(f"not a DX7 single-voice header: {data[:6].hex(' ')}")
    voice = data[6 : 6 + VOICE_BYTES]
    if checksum(voice) != data[-2]:
        raise SpecError("DX7 single-voice dump has a wrong checksum")
    return bytes(voice)


# ---- display text ----------------------------------------------------------------------------
_NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
CURVES = ("-LIN", "-EXP", "+EXP", "+LIN")
LFO_WAVES = ("TRIANGLE", "SAW DOWN", "SAW UP", "SQUARE", "SINE", "S/HOLD")


def note_name(value: int, offset: int) -> str:
    """DX7 note names: C3 is middle C (MIDI 60); ``value + offset`` is the MIDI note."""
    midi = value + offset
    return f"{_NOTES[midi % 12]}{midi // 12 - 2}"


def frequency_text(mode: int, coarse: int, fine: int) -> str:
    """What the DX7 shows for an operator's frequency: a ratio (``1.00``) or a fixed ``Hz``."""
    if mode:
        return f"{10 ** ((coarse & 3) + fine / 100):.4g} Hz"
    base = 0.5 if coarse == 0 else float(coarse)
    return f"{base * (1 + fine / 100):.2f}"


def display_text(values: Mapping[str, float]) -> dict[str, str]:
    """Each parameter of ``values`` as the DX7 (and Dexed) displays it."""
    v = {**INIT_VOICE, **{k: int(round(float(x))) for k, x in values.items()}}
    out: dict[str, str] = {}
    for key in values:
        x = v[key]
        field = key.split("_", 1)[1] if key.startswith("op") and key[2].isdigit() else key
        if key == "algorithm":
            text = str(x + 1)
        elif field == "detune":
            text = f"{x - 7:+d}" if x != 7 else "0"
        elif key == "transpose":
            text = note_name(x, 36)  # 0 = C1 ... 24 = C3 ... 48 = C5
        elif field == "kbd_breakpoint":
            text = note_name(x, 21)  # 0 = A-1 ... 39 = C3 ... 99 = C8
        elif field in ("kbd_left_curve", "kbd_right_curve"):
            text = CURVES[x]
        elif field == "freq_mode":
            text = "FIXED" if x else "RATIO"
        elif field in ("freq_coarse", "freq_fine"):
            n = key.split("_", 1)[0]
            text = frequency_text(v[f"{n}_freq_mode"], v[f"{n}_freq_coarse"], v[f"{n}_freq_fine"])
        elif key in ("osc_key_sync", "lfo_key_sync"):
            text = "ON" if x else "OFF"
        elif key == "lfo_wave":
            text = LFO_WAVES[x]
        else:
            text = str(x)
        out[key] = text
    return out
