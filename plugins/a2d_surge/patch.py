"""Surge XT base patches written by a2d: the XML patch and the VST3 component state around it.

Modulation routings are not VST3 parameters, so the fixed routings of the Surge specs (LFO 1 ->
filter 1 cutoff, LFO 2 -> filter 2 cutoff, LFO 3/4/5 -> osc 1/2/3 width, LFO 6 -> scene pitch)
travel in a patch. Surge XT's VST3 component state is its raw patch: a ``patch_header``
(``b"sub3"``, the XML size, six wavetable sizes, little-endian uint32) followed by the XML. This
module writes a minimal XML with only the elements a2d needs (no factory patch is copied).

Verified without the binary: the byte layout and XML shape against Surge's public source (patch
header struct; ``<param type= value=><modrouting source= depth= /></param>``; storage names such
as ``a_filter1_cutoff``, ``a_osc1_param3``; LFO storage indices start at 0; modulation source ids
``ms_lfo1 = 17`` .. ``ms_lfo6 = 22``). NOT verified (needs the real plugin): that Surge keeps its
defaults for elements missing from the XML, that ``a_osc1_param3`` is the Modern oscillator's
width, the type id 8 for Modern, and the routing depths' units. The backend therefore sets module
types through VST3 parameters after loading this state, and ``tests/test_surge.py`` (marker
``surge``) checks that the routings are audible.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

#: Surge's ``modsources`` enum: ``ms_lfo1`` .. ``ms_lfo6`` (voice LFOs of the scene).
LFO_SOURCE_IDS = {n: 16 + n for n in range(1, 7)}
#: Surge's oscillator type id of "Modern" (``ot_modern``).
OSC_TYPE_MODERN = 8
PATCH_REVISION = 21


@dataclass(frozen=True)
class Routing:
    """One modulation routing: LFO ``lfo`` (1-6) -> storage parameter ``target`` by ``depth``
    (in the target's own units)."""

    lfo: int
    target: str
    depth: float


#: The fixed routings both Surge specs assume (see SURGE_AND_ANCHOR_FACTS.md). Depths are a2d's
#: choice: the published depths are not part of the reference facts.
BASE_ROUTINGS: tuple[Routing, ...] = (
    Routing(1, "a_filter1_cutoff", 24.0),
    Routing(2, "a_filter2_cutoff", 24.0),
    Routing(3, "a_osc1_param3", 0.5),
    Routing(4, "a_osc2_param3", 0.5),
    Routing(5, "a_osc3_param3", 0.5),
    Routing(6, "a_pitch", 12.0),
)


def patch_xml(name: str = "a2d base", routings: tuple[Routing, ...] = BASE_ROUTINGS) -> str:
    """A minimal Surge XML patch: Modern oscillators and the given routings."""
    params: dict[str, list[Routing]] = {}
    for r in routings:
        params.setdefault(r.target, []).append(r)
    lines = [
        '<?xml version="1.0" encoding="UTF-8" ?>',
        f'<patch revision="{PATCH_REVISION}">',
        f'<meta name={quoteattr(name)} category="a2d" comment="" author="a2d" />',
        "<parameters>",
    ]
    for i in (1, 2, 3):
        lines.append(f'<a_osc{i}_type type="0" value="{OSC_TYPE_MODERN}" />')
    for target, rs in params.items():
        kind = 2  # vt_float
        value = 0.0
        mods = "".join(
            f'<modrouting source="{LFO_SOURCE_IDS[r.lfo]}" depth="{r.depth:.6f}" muted="0" />'
            for r in rs
        )
        lines.append(f'<{target} type="{kind}" value="{value:.6f}">{mods}</{target}>')
    lines += ["</parameters>", "</patch>"]
    return "\n".join(lines) + "\n"


def component_state(xml: str) -> bytes:
    """Surge's raw state for ``xml``: ``b"sub3"``, uint32 XML size, six uint32 wavetable sizes
    (all 0: no wavetables), the XML bytes."""
    data = xml.encode("utf-8")
    return b"sub3" + struct.pack("<I", len(data)) + struct.pack("<6I", *([0] * 6)) + data


def parse_component_state(state: bytes) -> str:
    """The XML inside a raw state written by :func:`component_state` (inverse, for tests)."""
    if state[:4] != b"sub3":
        raise ValueError("not a Surge raw patch state (missing 'sub3' tag)")
    (size,) = struct.unpack("<I", state[4:8])
    return state[32 : 32 + size].decode("utf-8")
