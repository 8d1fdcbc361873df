"""Built-in a2d plugin: the ``surge`` synth backend (Surge XT VST3 via pedalboard) and the specs
``surge_simple`` (92 encoded columns) and ``surge_full`` (300), read from the reference CSVs in
``a2d_surge/specs/``. Registering the specs needs neither pedalboard's host nor the plugin binary.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from typing import TYPE_CHECKING, Any

import a2d

if TYPE_CHECKING:
    from a2d.contracts.registry import Registry
    from a2d.contracts.spec import ParamSpec

_MODERN = {f"a_osc_{i}_type": "Modern" for i in (1, 2, 3)}

#: Base states of the published experiment (docs/design.md): module types by display text, then raw
#: values; the LFO routings are added to Surge's own patch (a2d_surge.patch).
BASES: dict[str, dict[str, Any]] = {
    "surge_simple": {
        "types": {
            **_MODERN,
            "fx_a1_fx_type": "Off",
            "fx_a2_fx_type": "Off",
            "fx_a3_fx_type": "Off",
        },
        "raw": {
            "a_filter_1_type": 0.0355,  # LP 12 dB
            "a_filter_2_type": 0.0355,
            "a_noise_mute": 0.2505,  # unmuted (level is sampled)
            # Surge's init patch mutes oscillators 2 and 3; the spec samples all three.
            **{f"a_osc_{i}_mute": 0.2505 for i in (1, 2, 3)},
            **{f"a_osc_{i}_route": 0.1265 for i in (1, 2, 3)},  # Filter 1
        },
        "routings": True,
    },
    "surge_full": {
        "types": {
            **_MODERN,
            "fx_a1_fx_type": "Chorus",
            "fx_a2_fx_type": "Delay",
            "fx_a3_fx_type": "Reverb 2",
        },
        "raw": {},
        "routings": True,
    },
}

DESCRIPTIONS = {
    "surge_simple": "Surge XT scene A: 3 Modern oscillators, 2 filters, envelopes, 6 LFOs (92 columns)",
    "surge_full": "Surge XT scene A with types, routing and FX A1-A3 (300 columns)",
}

GROUPS_BY_PREFIX = (
    ("fx_", "fx"),
    ("a_lfo", "lfo"),
    ("a_osc", "osc"),
    ("a_filter", "filter"),
    ("a_amp_eg", "env"),
    ("a_waveshaper", "filter"),
    ("a_noise", "osc"),
    ("a_ring", "osc"),
    ("a_fm", "osc"),
)


def load_surge_spec(name: str) -> ParamSpec:
    """Read ``surge_simple`` or ``surge_full`` from the packaged CSV."""
    from a2d.contracts.spec import read_spec_csv  # here: `a2d --help` loads this plugin, not numpy

    resource = files("a2d_surge") / "specs" / f"{name}.csv"
    with as_file(resource) as path:
        names = [line.split(",", 1)[0] for line in path.read_text().splitlines()[1:]]
        groups = {
            n: next((g for prefix, g in GROUPS_BY_PREFIX if n.startswith(prefix)), "global")
            for n in names
        }
        return read_spec_csv(
            path,
            name=name,
            synth="surge",
            description=DESCRIPTIONS[name],
            base=BASES[name],
            groups=groups,
        )


@a2d.hookimpl
def a2d_register_synths(registry: Registry) -> None:
    from a2d_surge.backend import SurgeBackend

    registry.add(SurgeBackend)


@a2d.hookimpl
def a2d_register_param_specs(registry: Registry) -> None:
    registry.add(load_surge_spec("surge_simple"))
    registry.add(load_surge_spec("surge_full"))
