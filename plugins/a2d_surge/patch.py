"""Edits a2d makes to Surge XT's own patch XML to build a spec's base patch.

Modulation routings are not VST3 parameters, so the fixed routings of the Surge specs (LFO 1 ->
filter 1 cutoff, LFO 2 -> filter 2 cutoff, LFO 3/4/5 -> osc 1/2/3 width, LFO 6 -> scene pitch, as
in the published experiment's base patches) travel in the patch. a2d does not
write a patch from scratch: it takes the complete XML Surge itself saved (every parameter, with
Surge's own attributes), and changes only what the base needs:

- adds the routings (``<modrouting source= depth= muted= source_index= />`` inside the target
  parameter's element; depth in the target's own units, as Surge stores it);
- activates both filters and the waveshaper (``deactivated="0"`` on ``a_filter1_type``,
  ``a_filter2_type``, ``a_ws_type``): Surge keeps a deactivated filter bypassed even when its type
  is then set through the VST3 parameter, which silenced every filter parameter of the specs.

Storage names (``a_filter1_cutoff``, ``a_osc1_param3``) and modulation source ids
(``ms_lfo1 = 17`` .. ``ms_lfo6 = 22``) are Surge's (``SurgePatch.cpp``, ``ModulationSource.h``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from a2d.contracts.errors import PresetError

#: Surge's ``modsources`` enum: ``ms_lfo1`` .. ``ms_lfo6`` (voice LFOs of the scene).
LFO_SOURCE_IDS = {n: 16 + n for n in range(1, 7)}
#: Elements whose bypass ("deactivated") a2d clears in every base patch.
ACTIVATE = ("a_filter1_type", "a_filter2_type", "a_ws_type")


@dataclass(frozen=True)
class Routing:
    """One modulation routing: LFO ``lfo`` (1-6) -> storage parameter ``target`` by ``depth``
    (in the target's own units)."""

    lfo: int
    target: str
    depth: float


#: The fixed routings both Surge specs assume. Depths are a2d's choice: the published depths are
#: not part of the reference facts.
BASE_ROUTINGS: tuple[Routing, ...] = (
    Routing(1, "a_filter1_cutoff", 24.0),
    Routing(2, "a_filter2_cutoff", 24.0),
    Routing(3, "a_osc1_param3", 0.5),
    Routing(4, "a_osc2_param3", 0.5),
    Routing(5, "a_osc3_param3", 0.5),
    Routing(6, "a_pitch", 12.0),
)


def apply_base(
    xml: str,
    name: str,
    routings: tuple[Routing, ...] = BASE_ROUTINGS,
    activate: tuple[str, ...] = ACTIVATE,
) -> str:
    """Surge patch XML ``xml`` with the base edits: patch name, exactly ``routings`` (every other
    routing removed) and ``activate`` d elements."""
    try:
        root = ET.fromstring(xml.encode("utf-8"))
    except ET.ParseError as exc:
        raise PresetError(f"Surge XT patch XML does not parse: {exc}") from exc
    params = root.find("parameters")
    if params is None:
        raise PresetError("Surge XT patch XML has no <parameters>; is this a Surge XT state?")
    meta = root.find("meta")
    if meta is not None:
        meta.set("name", name)
    for tag in activate:
        element = _element(params, tag)
        element.set("deactivated", "0")
    for element in params:  # the base has exactly ``routings``, whatever Surge's patch held
        for old in element.findall("modrouting"):
            element.remove(old)
    for r in routings:
        ET.SubElement(
            _element(params, r.target),
            "modrouting",
            {
                "source": str(LFO_SOURCE_IDS[r.lfo]),
                "depth": f"{r.depth:.6f}",
                "muted": "0",
                "source_index": "0",
            },
        )
    return ET.tostring(root, encoding="unicode")


def routings_in(xml: str) -> list[tuple[str, int, float]]:
    """Every ``(target, source id, depth)`` routing in a Surge patch XML."""
    params = ET.fromstring(xml.encode("utf-8")).find("parameters")
    if params is None:
        return []
    return [
        (element.tag, int(mr.get("source", -1)), float(mr.get("depth", "nan")))
        for element in params
        for mr in element.findall("modrouting")
    ]


def _element(params: ET.Element, tag: str) -> ET.Element:
    element = params.find(tag)
    if element is None:
        raise PresetError(
            f"Surge XT patch has no parameter {tag!r}; is this Surge XT 1.x with its factory data?"
        )
    return element


def deactivated(xml: str, tags: tuple[str, ...]) -> dict[str, bool]:
    """Whether each of ``tags`` is deactivated (bypassed) in a Surge patch XML."""
    params = ET.fromstring(xml.encode("utf-8")).find("parameters")
    if params is None:
        raise PresetError("Surge XT patch XML has no <parameters>; is this a Surge XT state?")
    return {tag: _element(params, tag).get("deactivated", "0") == "1" for tag in tags}


def with_name(xml: str, name: str) -> str:
    """Surge patch XML ``xml`` with its patch name (``<meta name=>``) set to ``name``."""
    root = ET.fromstring(xml.encode("utf-8"))
    meta = root.find("meta")
    if meta is None:
        meta = ET.SubElement(root, "meta")
    meta.set("name", name)
    return ET.tostring(root, encoding="unicode")
