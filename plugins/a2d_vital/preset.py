"""The ``.vital`` files a2d writes: a format the released Vital loads, and a check of it.

A ``.vital`` preset is JSON: ``synth_version``, ``preset_name``, ``author``, ``comments``,
``preset_style``, ``macro1``..``macro4`` and ``settings`` (every control by name as a float, plus
``modulations``: 64 ``{"source", "destination"}`` slots, ``sample``: ``length``, ``sample_rate`` and
16-bit PCM ``samples`` in base64, ``wavetables``: one per oscillator, ``lfos``: 8 line shapes).

How Vital reads the version (``LoadSave::jsonToState`` in Vital's public source): it refuses a preset
whose *feature* version (``major.minor``) is newer than its own ("Preset was created with a newer
version."), and a preset older than itself goes through ``updateFromOldVersion``, the migrations that
keep old presets sounding as they did. ``vita`` reports ``99999.9.9``, which every released Vital
refuses. a2d writes :data:`PRESET_VERSION` instead: the content ``vita`` saves has exactly the key set
of a preset saved by Vital 1.0.8 (a Vital 1.5.3 preset adds ``custom_warps``, ``random_values`` and
``osc_N_spectral_morph_phase``), and ``vita``'s engine is the public 1.0 source. So the file claims
the format it has: Vital 1.0.x opens it as its own, and Vital 1.5.x (1.5.5 is the latest release)
migrates it as it migrates every 1.0 preset, to the sound the 1.0 engine made, which is the sound
a2d rendered.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The Vital release whose preset format a2d writes (see the module docstring).
PRESET_VERSION = "1.0.8"
#: The latest public Vital release; a file must open in it.
LATEST_RELEASE = "1.5.5"
#: Top-level keys of a preset saved by Vital, with their JSON types.
TOP_LEVEL: dict[str, type] = {
    "synth_version": str,
    "preset_name": str,
    "author": str,
    "comments": str,
    "preset_style": str,
    "macro1": str,
    "macro2": str,
    "macro3": str,
    "macro4": str,
    "settings": dict,
}
#: Vital's fixed numbers of modulation slots, oscillators (wavetables) and LFO shapes.
MODULATION_SLOTS = 64
WAVETABLES = 3
LFOS = 8
#: Samples per wavetable frame (float32 in ``wave_data``).
FRAME_SIZE = 2048


def compare_versions(a: str, b: str) -> int:
    """Vital's ``LoadSave::compareVersionStrings``: -1, 0 or 1, by dot-separated integers (a part
    that is not all digits counts as 0; a missing part is empty and compares as 0)."""
    a, b = a.strip(), b.strip()
    if not a and not b:
        return 0
    head_a, _, rest_a = a.partition(".")
    head_b, _, rest_b = b.partition(".")
    va = int(head_a) if head_a.isdigit() else 0
    vb = int(head_b) if head_b.isdigit() else 0
    if va != vb:
        return 1 if va > vb else -1
    return compare_versions(rest_a, rest_b)


def feature_version(version: str) -> str:
    """``"1.5.5"`` -> ``"1.5"``: what Vital compares to refuse a newer preset."""
    return version.strip().rpartition(".")[0] or version.strip()


def opens_in(version: str, app_version: str) -> bool:
    """Whether Vital ``app_version`` loads a preset saved as ``version`` (not refused as newer)."""
    return compare_versions(feature_version(version), feature_version(app_version)) <= 0


def preset_document(state_json: str, *, name: str, comments: str) -> dict[str, Any]:
    """``vita``'s saved state -> the JSON object of a ``.vital`` file the released Vital opens."""
    doc = json.loads(state_json)
    doc["synth_version"] = PRESET_VERSION
    doc["preset_name"] = name
    doc["author"] = "a2d"
    doc["comments"] = comments
    for table in doc.get("settings", {}).get("wavetables", []):
        table["version"] = PRESET_VERSION
    return doc


def dumps(doc: Mapping[str, Any]) -> str:
    """The file text: compact JSON, no NaN or Infinity (Vital's parser rejects them)."""
    return json.dumps(doc, allow_nan=False)


def _b64_size(text: object) -> int:
    if not isinstance(text, str):
        return -1
    try:
        return len(base64.b64decode(text, validate=True))
    except ValueError:
        return -1


def compatibility_problems(
    doc: Mapping[str, Any], controls: Mapping[str, tuple[float, float]]
) -> list[str]:
    """Everything in ``doc`` that Vital would refuse or misread, as sentences (empty: none).

    :param controls: ``name -> (min, max)`` of Vital's controls (see
        :func:`a2d_vital.backend.control_ranges`); each must be present as a number in range.
    """
    problems: list[str] = []
    for key, kind in TOP_LEVEL.items():
        if not isinstance(doc.get(key), kind):
            problems.append(f"top-level {key!r} is missing or not a {kind.__name__}")
    if problems:
        return problems
    version = doc["synth_version"]
    if not opens_in(version, LATEST_RELEASE) or compare_versions(version, "0.9.0") < 0:
        problems.append(
            f"synth_version {version!r} is not a released Vital version in 0.9.0..{LATEST_RELEASE}"
        )
    settings = doc["settings"]
    for name, (low, high) in controls.items():
        value = settings.get(name)
        if isinstance(value, bool) or not isinstance(value, float) or not math.isfinite(value):
            problems.append(f"control {name!r} is {value!r}, not a finite float")
        elif not low - 1e-6 <= value <= high + 1e-6:
            problems.append(f"control {name!r} = {value} is outside Vital's range {low}..{high}")
    known = set(controls) | {"modulations", "sample", "wavetables", "lfos"}
    unknown = sorted(set(settings) - known)
    if unknown:
        problems.append(f"settings has keys Vital does not know: {unknown[:5]}")
    mods = settings.get("modulations")
    if not isinstance(mods, list) or len(mods) != MODULATION_SLOTS:
        problems.append(f"modulations must be a list of {MODULATION_SLOTS} slots")
    else:
        for k, mod in enumerate(mods, start=1):
            if not (isinstance(mod.get("source"), str) and isinstance(mod.get("destination"), str)):
                problems.append(f"modulation slot {k} lacks source/destination strings")
    sample = settings.get("sample", {})
    length = sample.get("length")
    if not isinstance(length, int) or not isinstance(sample.get("sample_rate"), int):
        problems.append("sample length and sample_rate must be integers")
    elif _b64_size(sample.get("samples")) != 2 * length:
        problems.append(f"sample data is not {length} 16-bit PCM samples in base64")
    tables = settings.get("wavetables")
    if not isinstance(tables, list) or len(tables) != WAVETABLES:
        problems.append(f"wavetables must be a list of {WAVETABLES}")
    else:
        for i, table in enumerate(tables, start=1):
            problems += _wavetable_problems(i, table)
    lfos = settings.get("lfos")
    if not isinstance(lfos, list) or len(lfos) != LFOS:
        problems.append(f"lfos must be a list of {LFOS} shapes")
    else:
        for i, lfo in enumerate(lfos, start=1):
            n = lfo.get("num_points")
            if not (
                isinstance(n, int)
                and len(lfo.get("points", ())) == 2 * n
                and len(lfo.get("powers", ())) == n
            ):
                problems.append(f"lfo {i}: points/powers do not match num_points")
    return problems


def _wavetable_problems(i: int, table: Mapping[str, Any]) -> list[str]:
    out = []
    for key in ("version", "groups", "name"):  # WavetableCreator::jsonToState needs all three
        if key not in table:
            out.append(f"wavetable {i} lacks {key!r}")
    if table.get("version") != PRESET_VERSION:
        out.append(f"wavetable {i} version {table.get('version')!r} is not {PRESET_VERSION}")
    for group in table.get("groups", []):
        for comp in group.get("components", []):
            if not isinstance(comp.get("type"), str):
                out.append(f"wavetable {i}: a component has no type")
            if comp.get("type") != "Wave Source":
                continue
            for kf in comp.get("keyframes", []):
                if not 0 <= kf.get("position", -1) <= 256:
                    out.append(f"wavetable {i}: keyframe position outside 0..256")
                if _b64_size(kf.get("wave_data")) != 4 * FRAME_SIZE:
                    out.append(f"wavetable {i}: wave_data is not {FRAME_SIZE} float32 samples")
    return out


def read_preset(path: str | Path) -> dict[str, Any]:
    """The JSON object of a ``.vital`` file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
