"""An out-of-domain dev set anyone can rebuild: real instrument sounds rendered from a soundfont.

``a2d devset --out DIR`` writes one small MIDI file per sound (program change, one note) with a
private, minimal Standard MIDI File writer, renders each with the fluidsynth command line
(``fluidsynth -ni -q -R 0 -C 0 -r 44100 -F out.wav SF2 in.mid``: no reverb, no chorus, no MIDI
input, no shell) and crops or pads the render to :data:`CLIP_SECONDS` of stereo audio at
:data:`SAMPLE_RATE`. ``DIR/manifest.json`` lists every sound: GM program and family, pitch, note on
and off (s), velocity, the soundfont (name and sha256) and the sha256 of each clip's samples
(:func:`audio_sha256`), so two builds can be compared sound by sound.

The sounds (:func:`dev_sounds`): 24 GM programs across 12 families (piano, e-piano, organ, guitar,
bass with low notes, strings, brass, reeds, flute, synth lead, synth pad, mallets), two pitches and
note lengths each, plus two unpitched drum hits (GM channel 10): 50 sounds. The soundfonts come from
the distribution's packages (Debian/Ubuntu ``timgm6mb-soundfont``, ``opl3-soundfont``); any ``.sf2``
path works too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import (
    AudioInputError,
    OutputError,
    SynthUnavailableError,
    UnknownNameError,
)
from a2d.storage.atomic import atomic_write
from a2d.storage.midi import smf_type0, variable_length

SAMPLE_RATE = 44100
CLIP_SECONDS = 4.0
#: Soundfonts by short name: the files the Debian/Ubuntu packages install.
SOUNDFONTS: dict[str, Path] = {
    "timgm6mb": Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    "opl3": Path("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2"),
}
#: Which package installs each short-named soundfont (for the error message).
PACKAGES = {"timgm6mb": "timgm6mb-soundfont", "opl3": "opl3-soundfont"}
#: Ticks per quarter note of the MIDI files; at 120 bpm one tick is 1/960 s.
TICKS_PER_QUARTER = 480
TICKS_PER_SECOND = 960
#: Channel 10 (index 9) plays the GM percussion kit.
DRUM_CHANNEL = 9


@dataclass(frozen=True)
class DevSound:
    """One sound of the dev set.

    :param name: file stem. :param program: GM program (0-127; ``-1`` for the drum kit).
    :param family: instrument family. :param pitch: MIDI note (a drum key for drums).
    :param onset: note on (s). :param note_off: note off (s). :param velocity: 1-127.
    :param pitched: False for drum hits (no pitch to estimate).
    """

    name: str
    program: int
    family: str
    pitch: int
    onset: float
    note_off: float
    velocity: int
    pitched: bool = True


#: (GM program, family, instrument, (pitch, pitch)): two notes per program.
PROGRAMS: tuple[tuple[int, str, str, tuple[int, int]], ...] = (
    (0, "piano", "acoustic_grand", (48, 67)),
    (1, "piano", "bright_acoustic", (55, 72)),
    (4, "e-piano", "electric_piano_1", (52, 64)),
    (5, "e-piano", "electric_piano_2", (57, 69)),
    (16, "organ", "drawbar_organ", (48, 60)),
    (19, "organ", "church_organ", (43, 62)),
    (24, "guitar", "nylon_guitar", (52, 64)),
    (25, "guitar", "steel_guitar", (45, 59)),
    (32, "bass", "acoustic_bass", (28, 40)),
    (33, "bass", "finger_bass", (31, 43)),
    (38, "bass", "synth_bass_1", (36, 48)),
    (40, "strings", "violin", (67, 76)),
    (42, "strings", "cello", (43, 55)),
    (48, "strings", "string_ensemble_1", (55, 62)),
    (56, "brass", "trumpet", (60, 67)),
    (61, "brass", "brass_section", (53, 60)),
    (65, "reeds", "alto_sax", (56, 63)),
    (68, "reeds", "oboe", (65, 72)),
    (71, "reeds", "clarinet", (50, 58)),
    (73, "flute", "flute", (72, 79)),
    (80, "synth_lead", "square_lead", (57, 69)),
    (81, "synth_lead", "saw_lead", (50, 62)),
    (89, "synth_pad", "warm_pad", (48, 60)),
    (11, "mallets", "vibraphone", (60, 72)),
)
#: Note lengths (s), onsets (s) and velocities, cycled over the sounds.
LENGTHS = (0.4, 1.0, 2.0, 3.0, 1.5)
ONSETS = (0.0, 0.1, 0.25)
VELOCITIES = (100, 80, 115)
#: Unpitched hits on the drum channel: (GM drum key, name).
DRUMS = ((38, "snare"), (42, "closed_hihat"))


def dev_sounds() -> list[DevSound]:
    """The dev set's 50 sounds, in a fixed order (the same on every machine)."""
    out = []
    i = 0
    for program, family, instrument, pitches in PROGRAMS:
        for pitch in pitches:
            onset = ONSETS[i % len(ONSETS)]
            length = LENGTHS[i % len(LENGTHS)]
            out.append(
                DevSound(
                    name=f"{i:02d}_{instrument}_{pitch}",
                    program=program,
                    family=family,
                    pitch=pitch,
                    onset=onset,
                    note_off=round(onset + length, 3),
                    velocity=VELOCITIES[i % len(VELOCITIES)],
                )
            )
            i += 1
    for key, name in DRUMS:
        out.append(DevSound(f"{i:02d}_{name}", -1, "drums", key, 0.0, 0.5, 100, pitched=False))
        i += 1
    return out


def _midi_bytes(sound: DevSound, clip_seconds: float = CLIP_SECONDS) -> bytes:
    """A format-0 Standard MIDI File: tempo 120 bpm, program change, one note, end of track at
    ``clip_seconds`` (so the renderer plays the release tail to the clip's end)."""
    ch = DRUM_CHANNEL if sound.program < 0 else 0
    on = round(sound.onset * TICKS_PER_SECOND)
    off = round(sound.note_off * TICKS_PER_SECOND)
    end = max(round(clip_seconds * TICKS_PER_SECOND), off)
    events = bytearray()
    events += b"\x00\xff\x51\x03" + (500_000).to_bytes(3, "big")  # 500,000 us per quarter
    if sound.program >= 0:
        events += b"\x00" + bytes([0xC0 | ch, sound.program])
    events += variable_length(on) + bytes([0x90 | ch, sound.pitch, sound.velocity])
    events += variable_length(off - on) + bytes([0x80 | ch, sound.pitch, 0])
    events += variable_length(end - off) + b"\xff\x2f\x00"
    return smf_type0(bytes(events), TICKS_PER_QUARTER)


def resolve_soundfont(soundfont: str | Path) -> tuple[str, Path]:
    """A short name (``timgm6mb``, ``opl3``) or a ``.sf2`` path -> (name, existing path)."""
    key = str(soundfont)
    if key in SOUNDFONTS:
        path = SOUNDFONTS[key]
        if not path.is_file():
            raise UnknownNameError(
                f"soundfont {key!r} is not installed ({path} is missing); install it with "
                f"`apt-get install {PACKAGES[key]}` or pass a .sf2 path"
            )
        return key, path
    path = Path(soundfont)
    if not path.is_file():
        raise UnknownNameError(
            f"soundfont {key!r} is neither {' nor '.join(SOUNDFONTS)} nor an existing file; "
            "pass one of those names or the path of a .sf2 file"
        )
    return path.stem, path


def fluidsynth_path() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise SynthUnavailableError(
            "the fluidsynth program is not installed; install it (`apt-get install fluidsynth`)"
        )
    return exe


def render_midi(midi: Path, soundfont: Path, wav: Path) -> np.ndarray:
    """Render ``midi`` with fluidsynth into ``wav``; ``(2, N)`` float32 at :data:`SAMPLE_RATE`."""
    import soundfile as sf

    cmd = [
        fluidsynth_path(), "-ni", "-q", "-R", "0", "-C", "0", "-r", str(SAMPLE_RATE),
        "-O", "float", "-T", "wav", "-F", str(wav), str(soundfont), str(midi),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not wav.is_file():
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise AudioInputError(
            f"fluidsynth failed on {midi.name} with {soundfont.name} ({detail[0]}); check that "
            "the soundfont is a valid .sf2 file"
        )
    data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    assert rate == SAMPLE_RATE, rate
    return np.ascontiguousarray(data.T)


def _fit(audio: np.ndarray, n: int) -> np.ndarray:
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    out = np.zeros((2, n), dtype=np.float32)
    m = min(n, audio.shape[1])
    out[:, :m] = audio[:2, :m]
    return out


def sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def audio_sha256(audio: np.ndarray) -> str:
    """sha256 of ``(C, N)`` audio as interleaved little-endian float32 (the wav's samples; the
    file's own bytes differ between writes, as libsndfile stamps a time into float wavs)."""
    return hashlib.sha256(np.ascontiguousarray(audio.T, dtype="<f4").tobytes()).hexdigest()


def build_devset(
    out: str | Path,
    soundfont: str | Path = "timgm6mb",
    *,
    sounds: list[DevSound] | None = None,
    overwrite: bool = False,
) -> Path:
    """Render the dev set into ``out`` (``NAME.wav``, ``midi/NAME.mid``, ``manifest.json``).

    :param sounds: a subset of :func:`dev_sounds` (tests); default all of them.
    :param overwrite: replace an existing manifest; otherwise a folder holding one is refused.
    :returns: the manifest's path (written last, so a manifest means a complete set).
    """
    import soundfile as sf

    out = Path(out)
    sf_name, sf_path = resolve_soundfont(soundfont)
    fluidsynth_path()
    sounds = dev_sounds() if sounds is None else sounds
    manifest_path = out / "manifest.json"
    if manifest_path.exists() and not overwrite:
        raise OutputError(
            f"{out} already holds a dev set (manifest.json); choose another --out or pass --overwrite"
        )
    try:
        (out / "midi").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc}; choose a writable --out") from exc
    n = round(CLIP_SECONDS * SAMPLE_RATE)
    entries = []
    with tempfile.TemporaryDirectory(prefix="a2d-devset-") as tmp:
        for s in sounds:
            midi = out / "midi" / f"{s.name}.mid"
            midi.write_bytes(_midi_bytes(s))
            audio = _fit(render_midi(midi, sf_path, Path(tmp) / "render.wav"), n)
            wav = out / f"{s.name}.wav"
            sf.write(str(wav), audio.T, SAMPLE_RATE, subtype="FLOAT")
            peak = float(np.abs(audio).max())
            entries.append(
                {
                    **asdict(s),
                    "file": wav.name,
                    "midi": f"midi/{midi.name}",
                    "peak": peak,
                    "audio_sha256": audio_sha256(audio),
                }
            )
    doc = {
        "soundfont": {"name": sf_name, "path": str(sf_path), "sha256": sha256(sf_path)},
        "sample_rate": SAMPLE_RATE,
        "clip_seconds": CLIP_SECONDS,
        "channels": 2,
        "renderer": "fluidsynth -ni -q -R 0 -C 0 -r 44100 -O float -T wav",
        "sounds": entries,
    }
    atomic_write(manifest_path, json.dumps(doc, indent=2))
    return manifest_path


def read_manifest(folder: str | Path) -> dict | None:
    """``folder/manifest.json`` as a dict, or None when the folder has none."""
    path = Path(folder) / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else None


def pitch_accuracy(folder: str | Path) -> dict[str, Any]:
    """Note analysis against a dev set's manifest: the share of pitched sounds whose detected
    pitch lies within a semitone of the played note, the misses, and unpitched sounds called
    pitched. Only analysis: nothing is rendered."""
    import soundfile as sf

    from a2d.kernels.analysis import analyse_note

    manifest = read_manifest(folder)
    if manifest is None:
        raise AudioInputError(f"{folder} has no manifest.json; build it with `a2d devset`")
    hits, misses, false_pitched = 0, [], []
    pitched = [e for e in manifest["sounds"] if e["pitched"]]
    for e in manifest["sounds"]:
        audio, rate = sf.read(str(Path(folder) / e["file"]), dtype="float32", always_2d=True)
        a = analyse_note(audio.T, rate)
        if not e["pitched"]:
            if a.pitched:
                false_pitched.append(e["name"])
        elif a.pitched and abs(a.midi_float - e["pitch"]) <= 1.0:
            hits += 1
        else:
            misses.append(
                {"name": e["name"], "pitch": e["pitch"], "detected": a.to_dict()["midi_float"]}
            )
    return {
        "accuracy": hits / len(pitched) if pitched else float("nan"), "hits": hits,
        "pitched": len(pitched), "misses": misses, "unpitched_called_pitched": false_pitched,
    }  # fmt: skip
