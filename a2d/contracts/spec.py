"""Parameter specs: which synth settings a2d predicts, how they are drawn, and how they are encoded.

A :class:`ParamSpec` is a list of parameters (:class:`Continuous`, :class:`Discrete`,
:class:`Categorical`) plus a :class:`NoteSpec` (pitch and note on/off times). It draws random
:class:`Patch` es (``sample``), encodes a patch as a fixed-width float32 vector in [0, 1]
(``encode``), decodes model output back into synth values (``decode``), names every encoded column,
and round-trips through JSON so datasets and checkpoints carry their exact spec.

Values are in the synth's own units: normalized VST3 ``raw_value`` for Surge XT, each control's
native range for Vital. Encoded values are always in [0, 1].
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.encoder import ColumnPlan
from a2d.contracts.errors import SpecError
from a2d.contracts.notes import Note, NoteSpec, NoteTimes
from a2d.contracts.params import _PARAM_KINDS, Categorical, Continuous, Discrete, Param

__all__ = [
    "SPEC_FORMAT_VERSION",
    "Categorical",
    "ColumnGroup",
    "Continuous",
    "Discrete",
    "Note",
    "NoteSpec",
    "NoteTimes",
    "Param",
    "ParamSpec",
    "Patch",
    "read_spec_csv",
]

SPEC_FORMAT_VERSION = 1


@dataclass
class Patch:
    """Synth settings for one render: parameter values in synth units, and the note to play."""

    params: dict[str, float]
    note: Note

    def to_dict(self) -> dict[str, Any]:
        return {"params": dict(self.params), "note": asdict(self.note)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Patch:
        return cls(
            params={k: float(v) for k, v in data["params"].items()}, note=Note(**data["note"])
        )


@dataclass(frozen=True)
class ColumnGroup:
    """The encoded columns of one parameter: ``vec[slice]``."""

    name: str
    kind: str  # "continuous" | "discrete" | "categorical" | "note"
    slice: slice
    group: str = ""
    onehot: bool = False


@dataclass(frozen=True)
class ParamSpec:
    """A named list of synth parameters plus the note, for one synth backend.

    :param name: registered name, e.g. ``"vital_simple"``.
    :param synth: name of the backend that renders it, e.g. ``"vital"``.
    :param params: the predicted parameters, in encoding order.
    :param note: how the note is drawn and encoded (columns come after the params).
    :param base: backend-specific base-patch settings (JSON-able), applied before every render.
    """

    name: str
    synth: str
    params: tuple[Param, ...]
    note: NoteSpec = field(default_factory=NoteSpec)
    description: str = ""
    base: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        if not self.name or not self.synth:
            raise SpecError("a parameter spec needs a non-empty name and synth")
        seen: set[str] = set()
        for p in self.params:
            if not isinstance(p, (Continuous, Discrete, Categorical)):
                raise SpecError(
                    f"spec {self.name!r}: {p!r} is not a Continuous/Discrete/Categorical"
                )
            if not p.name:
                raise SpecError(f"spec {self.name!r}: a parameter has an empty name")
            if p.name in seen:
                raise SpecError(f"spec {self.name!r}: parameter {p.name!r} appears twice")
            if p.name in ("pitch", "note_start", "note_end"):
                raise SpecError(f"spec {self.name!r}: {p.name!r} is reserved for the note columns")
            seen.add(p.name)
        if not self.params:
            raise SpecError(f"spec {self.name!r} has no parameters")

    # ---- shape -------------------------------------------------------------------------------
    @property
    def width(self) -> int:
        """Number of encoded columns (parameters, then the note)."""
        return self._columns.width + self.note.width

    @property
    def column_names(self) -> list[str]:
        return [c for p in self.params for c in p.columns] + self.note.columns

    @property
    def groups(self) -> list[ColumnGroup]:
        """Column slice of every parameter (and of ``pitch`` / ``note_times``), in order."""
        out, i = [], 0
        for p in self.params:
            onehot = isinstance(p, Categorical) and p.encoding == "onehot"
            out.append(ColumnGroup(p.name, p.kind, slice(i, i + p.width), p.group, onehot))
            i += p.width
        out.append(ColumnGroup("pitch", "note", slice(i, i + 1), "note"))
        if self.note.width > 1:
            out.append(ColumnGroup("note_times", "note", slice(i + 1, i + self.note.width), "note"))
        return out

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise SpecError(f"spec {self.name!r} has no parameter {name!r}")

    # ---- sampling / coding -------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Patch:
        """Draw one patch. Reproducible: the same generator state gives the same patch."""
        params = {p.name: p.sample(rng) for p in self.params}
        return Patch(params=params, note=self.note.sample(rng))

    def encode(self, patch: Patch) -> np.ndarray:
        """``(width,)`` float32 in [0, 1]."""
        out = np.zeros(self.width, dtype=np.float32)
        self.encode_into(patch, out)
        return out

    @cached_property
    def _columns(self) -> ColumnPlan:
        return ColumnPlan(self.params)

    def encode_into(self, patch: Patch, out: np.ndarray) -> None:
        i = self._columns.width
        if not self._columns.encode_into(patch.params, out):
            self._encode_each(patch, out)
        note = np.zeros(self.note.width, dtype=np.float64)
        self.note.encode_into(patch.note, note)
        out[i:] = note

    def _encode_each(self, patch: Patch, out: np.ndarray) -> None:
        """The parameter columns one parameter at a time (the reference of ColumnPlan)."""
        i = 0
        buf = np.zeros(max(p.width for p in self.params), dtype=np.float64)
        for p in self.params:
            try:
                value = patch.params[p.name]
            except KeyError:
                raise SpecError(
                    f"patch has no value for parameter {p.name!r} of spec {self.name!r}"
                ) from None
            view = buf[: p.width]
            p.encode_into(value, view)
            out[i : i + p.width] = view
            i += p.width

    def encode_many(self, patches: Sequence[Patch]) -> np.ndarray:
        """``(N, width)`` float32."""
        out = np.zeros((len(patches), self.width), dtype=np.float32)
        for row, patch in zip(out, patches, strict=True):
            self.encode_into(patch, row)
        return out

    def decode(self, vec: np.ndarray) -> Patch:
        """Synth values from one encoded vector ``(width,)`` (values outside [0, 1] are clipped;
        one-hot groups take the argmax; integers are rounded; note on <= off is enforced)."""
        vec = np.asarray(vec, dtype=np.float64)
        if vec.shape != (self.width,):
            raise SpecError(
                f"spec {self.name!r} decodes vectors of width {self.width}, got shape {vec.shape}"
            )
        if not np.all(np.isfinite(vec)):
            raise SpecError(f"spec {self.name!r}: cannot decode a vector with NaN or inf")
        params, i = {}, 0
        for p in self.params:
            params[p.name] = p.decode(vec[i : i + p.width])
            i += p.width
        return Patch(params=params, note=self.note.decode(vec[i:]))

    def decode_many(self, arr: np.ndarray) -> list[Patch]:
        return [self.decode(row) for row in np.asarray(arr)]

    def canonicalize(self, vec: np.ndarray) -> np.ndarray:
        """``encode(decode(vec))``: snap a model output to the nearest valid encoding."""
        return self.encode(self.decode(vec))

    def describe(self, patch: Patch) -> dict[str, Any]:
        """Human-readable values: labels for categoricals, units where known."""
        out: dict[str, Any] = {}
        for p in self.params:
            v = patch.params[p.name]
            if isinstance(p, Categorical):
                out[p.name] = {"value": v, "label": p.label_of(v)}
            else:
                out[p.name] = {"value": v, "unit": p.unit} if p.unit else {"value": v}
        n = patch.note
        out["note"] = {"pitch": n.pitch, "velocity": n.velocity, "start_s": n.start, "end_s": n.end}
        return out

    # ---- validation --------------------------------------------------------------------------
    def validate_ranges(self, synth_ranges: Mapping[str, tuple[float, float]]) -> None:
        """Check every parameter exists in the synth and lies inside the synth's range.

        :param synth_ranges: ``name -> (lo, hi)`` as the synth reports them.
        """
        for p in self.params:
            if p.name not in synth_ranges:
                raise SpecError(f"spec {self.name!r}: the synth has no parameter {p.name!r}")
            lo, hi = synth_ranges[p.name]
            plo, phi = p.range
            tol = 1e-6 * max(1.0, abs(hi - lo))
            if plo < lo - tol or phi > hi + tol:
                raise SpecError(
                    f"spec {self.name!r}: parameter {p.name!r} range [{plo}, {phi}] is outside "
                    f"the synth's [{lo}, {hi}]"
                )

    # ---- serialization -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        params = []
        for p in self.params:
            d = {"kind": p.kind, **asdict(p)}
            params.append(d)
        return {
            "format": SPEC_FORMAT_VERSION,
            "name": self.name,
            "synth": self.synth,
            "description": self.description,
            "params": params,
            "note": asdict(self.note),
            "base": dict(self.base),
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParamSpec:
        try:
            if data.get("format", SPEC_FORMAT_VERSION) > SPEC_FORMAT_VERSION:
                raise SpecError(
                    f"spec format {data['format']} is newer than this a2d supports "
                    f"({SPEC_FORMAT_VERSION}); upgrade a2d"
                )
            params = []
            for d in data["params"]:
                d = dict(d)
                kind = d.pop("kind")
                if kind not in _PARAM_KINDS:
                    raise SpecError(f"parameter {d.get('name')!r}: unknown kind {kind!r}")
                for key in ("labels", "values", "weights"):
                    if d.get(key) is not None:
                        d[key] = tuple(d[key])
                params.append(_PARAM_KINDS[kind](**d))
            note = data.get("note", {})
            note = NoteSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in note.items()})
            return cls(
                name=data["name"],
                synth=data["synth"],
                params=tuple(params),
                note=note,
                description=data.get("description", ""),
                base=data.get("base", {}),
            )
        except (KeyError, TypeError) as exc:
            raise SpecError(f"invalid spec JSON: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str) -> ParamSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"spec is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @property
    def fingerprint(self) -> str:
        """Short hash of the canonical JSON: equal specs have equal fingerprints."""
        canon = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:16]

    def same_as(self, other: ParamSpec) -> bool:
        return self.fingerprint == other.fingerprint


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split("|"))


def read_spec_csv(
    path: str | Path,
    *,
    name: str,
    synth: str,
    description: str = "",
    base: Mapping[str, Any] | None = None,
    groups: Mapping[str, str] | None = None,
) -> ParamSpec:
    """Load a spec from the reference CSV format (``name,kind,encoded_dims,min,max,constant_p,
    constant_value,choices,raw_values,weights,encoding``; kinds ``Continuous``, ``Categorical``,
    ``DiscreteLiteral`` for pitch and ``NoteDuration`` for note on/off)."""
    path = Path(path)
    params: list[Param] = []
    pitch_range, times = (48, 72), "fixed"
    with path.open(newline="") as f:
        for lineno, row in enumerate(csv.DictReader(f), start=2):
            kind, pname = row["kind"], row["name"]
            where = f"{path.name}:{lineno} ({pname})"
            try:
                if kind == "Continuous":
                    constant_p = float(row["constant_p"] or 0.0)
                    params.append(
                        Continuous(
                            pname,
                            float(row["min"]),
                            float(row["max"]),
                            constant_p=constant_p,
                            # The CSV writes 0.0 for "no constant"; keep it only where used.
                            constant_value=float(row["constant_value"] or 0.0)
                            if constant_p
                            else None,
                            group=(groups or {}).get(pname, ""),
                        )
                    )
                elif kind == "Categorical":
                    params.append(
                        Categorical(
                            pname,
                            labels=tuple(row["choices"].split("|")),
                            values=_floats(row["raw_values"]),
                            weights=_floats(row["weights"]),
                            encoding=row["encoding"] or "onehot",
                            group=(groups or {}).get(pname, ""),
                        )
                    )
                elif kind == "DiscreteLiteral" and pname == "pitch":
                    pitch_range = (int(float(row["min"])), int(float(row["max"])))
                elif kind == "NoteDuration":
                    times = "sorted"
                else:
                    raise SpecError(f"unknown kind {kind!r}")
            except (ValueError, SpecError) as exc:
                raise SpecError(f"{where}: {exc}") from exc
            if (
                kind in ("Continuous", "Categorical")
                and int(row["encoded_dims"]) != params[-1].width
            ):
                raise SpecError(
                    f"{where}: encoded_dims says {row['encoded_dims']} but the parameter "
                    f"encodes to {params[-1].width} columns"
                )
    note = NoteSpec(pitch_range=pitch_range, times=times)
    return ParamSpec(name, synth, tuple(params), note, description, dict(base or {}))
