"""The bytes around a Surge XT patch: VST3 preset containers, JUCE's component-state trailer,
Surge's raw patch (``sub3``) and Surge's ``.fxp`` preset file.

Layers, outside in (measured on a real Surge XT 1.4.0 VST3 through pedalboard 0.9.26):

- ``plugin.preset_data`` is a ``.vstpreset``: ``b"VST3"``, int32 version 1, the plugin's 32-byte
  ASCII class id, int64 offset of the chunk list, the chunk data, then ``b"List"``, int32 count and
  per chunk (4-byte id, int64 offset, int64 size), little-endian. The ``Comp`` chunk is the
  component state; assigning a ``.vstpreset`` to ``preset_data`` loads it. (``plugin.raw_state``
  is JUCE's host wrapper around the same state, ``VC2!`` + XML + JUCE base64; assigning Surge's
  bare patch bytes there is silently ignored, so a2d never writes ``raw_state``.)
- The component state is what Surge's ``getStateInformation`` writes, its raw patch, followed by
  JUCE's private-data trailer (int64 0, a ValueTree, int64 size, ``b"JUCEPrivateData"``).
- Surge's raw patch: ``patch_header`` (``b"sub3"``, uint32 XML size, six uint32 wavetable sizes,
  little-endian), the XML, then wavetable and extra blocks (Surge source,
  ``src/common/PatchFileHeaderStructs.h`` and ``SurgePatch::save_patch``).
- A Surge ``.fxp`` is ``fxChunkSetCustom`` (big-endian ``CcnK``, byte size, ``FPCh``, version 1,
  id ``cjs3``, fx version 1, 1 program, 28-byte name, chunk size) then the raw patch; this is
  what Surge's own patch browser saves and imports, in every plugin format and the standalone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from a2d.contracts.errors import PresetError

VST3_MAGIC = b"VST3"
LIST_MAGIC = b"List"
COMPONENT_CHUNK = b"Comp"
JUCE_PRIVATE = b"JUCEPrivateData"
PATCH_TAG = b"sub3"
#: ``sizeof(patch_header)``: tag, XML size, 2 scenes x 3 oscillators of wavetable sizes.
PATCH_HEADER_SIZE = 4 + 4 + 6 * 4
FXP_ID = b"cjs3"
#: ``sizeof(fxChunkSetCustom)``.
FXP_HEADER_SIZE = 60


@dataclass(frozen=True)
class VstPreset:
    """A parsed ``.vstpreset``: the plugin's class id and its chunks in file order."""

    class_id: bytes
    chunks: tuple[tuple[bytes, bytes], ...]

    def chunk(self, chunk_id: bytes) -> bytes:
        for cid, data in self.chunks:
            if cid == chunk_id:
                return data
        raise PresetError(f"VST3 preset has no {chunk_id.decode()!r} chunk; is it a VST3 preset?")

    def with_chunk(self, chunk_id: bytes, data: bytes) -> VstPreset:
        """A copy with chunk ``chunk_id`` replaced (appended when absent)."""
        chunks = [(cid, data if cid == chunk_id else d) for cid, d in self.chunks]
        if all(cid != chunk_id for cid, _ in self.chunks):
            chunks.append((chunk_id, data))
        return VstPreset(self.class_id, tuple(chunks))

    def to_bytes(self) -> bytes:
        body = bytearray()
        entries = []
        offset = 48  # header: magic, version, class id, list offset
        for cid, data in self.chunks:
            entries.append((cid, offset + len(body), len(data)))
            body += data
        header = VST3_MAGIC + struct.pack("<i", 1) + self.class_id
        header += struct.pack("<q", 48 + len(body))
        listing = LIST_MAGIC + struct.pack("<i", len(entries))
        for cid, off, size in entries:
            listing += cid + struct.pack("<qq", off, size)
        return bytes(header + body + listing)

    @classmethod
    def parse(cls, data: bytes) -> VstPreset:
        if len(data) < 48 or data[:4] != VST3_MAGIC:
            raise PresetError("not a VST3 preset (no 'VST3' header); export it from a VST3 host")
        class_id = bytes(data[8:40])
        (list_at,) = struct.unpack_from("<q", data, 40)
        if not 48 <= list_at <= len(data) - 8 or data[list_at : list_at + 4] != LIST_MAGIC:
            raise PresetError("VST3 preset has no chunk list; the file is truncated or corrupt")
        (count,) = struct.unpack_from("<i", data, list_at + 4)
        chunks = []
        for i in range(count):
            at = list_at + 8 + 20 * i
            if at + 20 > len(data):
                raise PresetError("VST3 preset chunk list is truncated; the file is corrupt")
            cid = bytes(data[at : at + 4])
            off, size = struct.unpack_from("<qq", data, at + 4)
            if off < 0 or size < 0 or off + size > len(data):
                raise PresetError(f"VST3 preset chunk {cid!r} lies outside the file; it is corrupt")
            chunks.append((cid, bytes(data[off : off + size])))
        return cls(class_id, tuple(chunks))


def split_component(component: bytes) -> tuple[bytes, bytes]:
    """Split a JUCE component state into (plugin state, JUCE private-data trailer); the trailer
    is empty when there is none."""
    if not component.endswith(JUCE_PRIVATE) or len(component) < len(JUCE_PRIVATE) + 16:
        return component, b""
    end = len(component) - len(JUCE_PRIVATE)
    (size,) = struct.unpack_from("<q", component, end - 8)
    start = end - 8 - size - 8
    if size < 0 or start < 0:
        return component, b""
    return component[:start], component[start:]


@dataclass(frozen=True)
class SurgePatch:
    """Surge's raw patch: the XML and everything after it (wavetables, extra blocks) kept as is."""

    xml: str
    wavetable_sizes: tuple[int, ...]
    tail: bytes
    #: Whether the stored XML ended with a NUL byte (Surge's own writer adds one).
    nul: bool = True

    @classmethod
    def parse(cls, raw: bytes) -> SurgePatch:
        if len(raw) < PATCH_HEADER_SIZE or raw[:4] != PATCH_TAG:
            raise PresetError("not a Surge XT patch (no 'sub3' header); is this a Surge XT state?")
        xml_size, *wt = struct.unpack_from("<7I", raw, 4)
        end = PATCH_HEADER_SIZE + xml_size
        if end > len(raw):
            raise PresetError("Surge XT patch is truncated (XML runs past the end)")
        xml = raw[PATCH_HEADER_SIZE:end]
        nul = xml.endswith(b"\0")
        return cls(xml.rstrip(b"\0").decode("utf-8"), tuple(wt), bytes(raw[end:]), nul)

    def to_bytes(self) -> bytes:
        xml = self.xml.encode("utf-8") + (b"\0" if self.nul else b"")
        header = PATCH_TAG + struct.pack("<7I", len(xml), *self.wavetable_sizes)
        return header + xml + self.tail

    def with_xml(self, xml: str) -> SurgePatch:
        return SurgePatch(xml, self.wavetable_sizes, self.tail, self.nul)


def fxp_bytes(raw_patch: bytes, name: str) -> bytes:
    """Surge's ``.fxp`` preset around ``raw_patch`` (as Surge's "Save Patch" writes it)."""
    SurgePatch.parse(raw_patch)  # refuse anything that is not a Surge patch
    label = name.encode("utf-8")[:27].ljust(28, b"\0")
    size = FXP_HEADER_SIZE - 8 + len(raw_patch)  # byteSize: all after magic and itself
    header = (
        b"CcnK"
        + struct.pack(">i", size)
        + b"FPCh"
        + struct.pack(">i", 1)
        + FXP_ID
        + struct.pack(">ii", 1, 1)
        + label
        + struct.pack(">i", len(raw_patch))
    )
    return header + raw_patch


def parse_fxp(data: bytes) -> bytes:
    """The raw Surge patch inside a Surge ``.fxp`` file."""
    if (
        len(data) < FXP_HEADER_SIZE
        or data[:4] != b"CcnK"
        or data[8:12] != b"FPCh"
        or data[16:20] != FXP_ID
    ):
        raise PresetError("not a Surge XT .fxp (expected CcnK/FPCh/cjs3); save it from Surge XT")
    (size,) = struct.unpack_from(">i", data, 56)
    raw = data[FXP_HEADER_SIZE : FXP_HEADER_SIZE + size]
    if len(raw) != size:
        raise PresetError("Surge XT .fxp is truncated")
    return raw
