"""Parameter specs: sampling, encoding, decoding, JSON, validation, the packaged Surge specs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from a2d.contracts.errors import SpecError
from a2d.contracts.plugins import get_spec
from a2d.contracts.spec import Categorical, Continuous, Discrete, Note, NoteSpec, ParamSpec, Patch

REFERENCE = Path(__file__).resolve().parents[1] / "plugins" / "a2d_surge" / "specs"


def small_spec(times: str = "sorted") -> ParamSpec:
    return ParamSpec(
        "toy",
        "vital",
        (
            Continuous("cutoff", 20.0, 120.0, constant_p=0.3, constant_value=60.0, unit="st"),
            Discrete("voices", 1, 8),
            Categorical("shape", ("sine", "saw", "square"), (0.0, 0.5, 1.0), (1.0, 2.0, 1.0)),
            Categorical("mode", ("a", "b", "c"), (0.0, 1.0, 2.0), encoding="scalar"),
        ),
        NoteSpec(times=times),
    )


@pytest.mark.parametrize("times", ["sorted", "release", "fixed"])
def test_sample_is_seeded_and_encodes_into_unit_range(times: str) -> None:
    spec = small_spec(times)
    a = [spec.sample(np.random.default_rng(7)) for _ in range(2)]
    assert a[0].to_dict() == a[1].to_dict()
    patches = [spec.sample(np.random.default_rng(s)) for s in range(200)]
    enc = spec.encode_many(patches)
    assert enc.shape == (200, spec.width) and enc.dtype == np.float32
    assert enc.min() >= 0.0 and enc.max() <= 1.0
    assert spec.width == 1 + 1 + 3 + 1 + {"sorted": 3, "release": 2, "fixed": 1}[times]
    cutoffs = np.array([p.params["cutoff"] for p in patches])
    assert 0.15 < np.mean(cutoffs == 60.0) < 0.45  # constant_p = 0.3


def test_column_names_and_groups() -> None:
    spec = small_spec()
    assert spec.column_names == [
        "cutoff",
        "voices",
        "shape=sine",
        "shape=saw",
        "shape=square",
        "mode",
        "pitch",
        "note_start",
        "note_end",
    ]
    groups = {g.name: g for g in spec.groups}
    assert groups["shape"].slice == slice(2, 5) and groups["shape"].onehot
    assert groups["note_times"].slice == slice(7, 9)


def test_decode_argmax_rounding_and_note_order() -> None:
    spec = small_spec()
    vec = np.array([0.5, 0.49, 0.1, 0.7, 0.2, 0.74, 0.5, 0.9, 0.1], dtype=np.float32)
    patch = spec.decode(vec)
    assert patch.params["cutoff"] == pytest.approx(70.0)
    assert patch.params["voices"] == 4  # 1 + round(0.49 * 7) = 1 + 3
    assert patch.params["shape"] == 0.5  # argmax -> "saw"
    assert patch.params["mode"] == 1.0  # round(0.74 * 2) = 1
    assert patch.note.pitch == 60
    assert patch.note.start <= patch.note.end  # swapped
    assert (patch.note.start, patch.note.end) == pytest.approx((0.4, 3.6))


def test_encode_decode_idempotent() -> None:
    spec = small_spec()
    rng = np.random.default_rng(3)
    for _ in range(50):
        x = rng.random(spec.width).astype(np.float32)
        once = spec.canonicalize(x)
        np.testing.assert_allclose(spec.canonicalize(once), once, atol=1e-6)
    patch = spec.sample(rng)
    back = spec.decode(spec.encode(patch))
    assert back.params == pytest.approx(patch.params, rel=1e-5)


def test_json_round_trip_and_fingerprint() -> None:
    for spec in (small_spec("release"), get_spec("surge_full"), get_spec("vital_full")):
        again = ParamSpec.from_json(spec.to_json())
        assert again == spec and again.fingerprint == spec.fingerprint
    assert small_spec("sorted").fingerprint != small_spec("release").fingerprint


def test_invalid_specs_name_the_parameter() -> None:
    spec = small_spec()
    with pytest.raises(SpecError, match="'cutoff'.*outside"):
        spec.validate_ranges(
            {"cutoff": (30.0, 120.0), "voices": (1, 8), "shape": (0, 1), "mode": (0, 2)}
        )
    with pytest.raises(SpecError, match="no parameter 'mode'"):
        spec.validate_ranges({"cutoff": (0.0, 200.0), "voices": (1, 8), "shape": (0, 1)})
    with pytest.raises(SpecError, match="'cutoff' appears twice"):
        ParamSpec("x", "vital", (Continuous("cutoff", 0, 1), Continuous("cutoff", 0, 2)))
    with pytest.raises(SpecError, match="'shape'.*weights"):
        Categorical("shape", ("a", "b"), (0.0, 1.0), (0.0, 0.0))
    with pytest.raises(SpecError, match="'shape'.*weights"):
        Categorical("shape", ("a", "b"), (0.0, 1.0), (1.0, -1.0))
    with pytest.raises(SpecError, match="'level'.*max"):
        Continuous("level", 1.0, 1.0)
    with pytest.raises(SpecError, match="note off"):
        Note(60, 100, 2.0, 1.0)
    with pytest.raises(SpecError, match="'pitch' is reserved"):
        ParamSpec("x", "vital", (Continuous("pitch", 0, 1),))


@pytest.mark.parametrize(("name", "width"), [("surge_simple", 92), ("surge_full", 300)])
def test_surge_specs_match_the_csvs(name: str, width: int) -> None:
    spec = get_spec(name)
    assert spec.width == width
    with (REFERENCE / f"{name}.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] in ("Continuous", "Categorical")]
    assert [p.name for p in spec.params] == [r["name"] for r in rows]
    for p, r in zip(spec.params, rows, strict=True):
        assert p.width == int(r["encoded_dims"])
        if isinstance(p, Continuous):
            assert (p.min, p.max, p.constant_p) == (
                float(r["min"]),
                float(r["max"]),
                float(r["constant_p"]),
            )
        else:
            assert p.values == tuple(float(v) for v in r["raw_values"].split("|"))
    patch = spec.sample(np.random.default_rng(0))
    assert isinstance(patch, Patch) and 48 <= patch.note.pitch <= 72


def test_categorical_draws_are_exactly_generator_choice() -> None:
    """Categorical.sample is a fast form of ``rng.choice(n, p=probabilities)``: the same values and
    the same generator state after every draw, so datasets drawn before it resume identically."""
    from a2d.contracts.plugins import registries

    specs = registries().specs
    params = [p for name in specs for p in specs.get(name).params if isinstance(p, Categorical)]
    params.append(
        Categorical("z", ("a", "b", "c", "d"), (0.0, 1.0, 2.0, 3.0), (0.0, 3.0, 0.0, 1.0))
    )
    assert len(params) > 20
    for seed, p in enumerate(params):
        fast, slow = np.random.default_rng(seed), np.random.default_rng(seed)
        for _ in range(200):
            assert p.sample(fast) == p.values[int(slow.choice(len(p.values), p=p.probabilities))]
        assert fast.random() == slow.random()


def test_column_plan_encodes_exactly_as_each_parameter() -> None:
    """ParamSpec.encode_into runs the whole-spec ColumnPlan; it must give the per-parameter
    encoding bit for bit on every registered spec (and the toy spec's scalar categorical),
    fall back to it for numpy scalars, and raise its error for a missing parameter."""
    from a2d.contracts.plugins import registries

    specs = registries().specs
    all_specs = [specs.get(name) for name in specs] + [small_spec(t) for t in ("sorted", "fixed")]
    assert len(all_specs) >= 6
    for spec in all_specs:
        for seed in range(50):
            patch = spec.sample(np.random.default_rng([3, seed]))
            fast = np.full(spec.width, np.nan, np.float32)
            spec.encode_into(patch, fast)
            each = np.full(spec.width, np.nan, np.float32)
            spec._encode_each(patch, each)
            each[spec._columns.width :] = fast[spec._columns.width :]  # the note, encoded once
            assert np.array_equal(fast, each), spec.name
        odd = Patch({k: np.float32(v) for k, v in patch.params.items()}, patch.note)
        assert not spec._columns.encode_into(odd.params, np.zeros(spec.width, np.float32))
        want = np.zeros(spec.width, np.float32)
        spec._encode_each(odd, want)
        assert np.array_equal(spec.encode(odd)[: spec._columns.width], want[: spec._columns.width])
        missing = Patch(dict(list(patch.params.items())[1:]), patch.note)
        with pytest.raises(SpecError, match="has no value for parameter"):
            spec.encode(missing)
