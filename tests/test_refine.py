"""Search on the real synth: CMA-ES refinement, random search and CMA-ES from the centre, on Vital."""

from __future__ import annotations

import numpy as np
import pytest

from a2d.contracts.notes import Note
from a2d.contracts.plugins import create_backend, get_spec
from a2d.contracts.synth import RenderSettings
from a2d.pipelines.refine import (
    Objective,
    centre,
    cma_from_centre,
    free_columns,
    local_map,
    random_search,
    refine,
)
from a2d.runtime.synth_pool import SynthPool

SETTINGS = RenderSettings(sample_rate=22050, duration=1.0)


@pytest.fixture(scope="module")
def vital():
    spec = get_spec("vital_simple")
    backend = create_backend(spec, SETTINGS)
    yield spec, backend
    backend.close()


def target_and_start(spec, backend, seed: int = 3, noise: float = 0.2):
    rng = np.random.default_rng(seed)
    patch = spec.sample(rng)
    patch = type(patch)(patch.params, Note(60, 100, 0.0, 0.7))
    target = backend.render(patch)
    x = spec.encode(patch).astype(np.float64)
    start = x.copy()
    free = free_columns(spec)
    start[free] = np.clip(x[free] + rng.normal(0, noise, len(free)), 0, 1)
    return target, start, patch.note


def _fixed(g) -> bool:
    """Columns a search leaves as the start has them: categoricals and the note's pitch (the
    analysed input's); the note's times are searched like any continuous parameter."""
    return g.kind == "categorical" or (g.kind == "note" and g.name == "pitch")


def test_free_columns_leave_categoricals_and_the_pitch(vital) -> None:
    spec, _ = vital
    free = set(free_columns(spec).tolist())
    assert any(g.kind == "note" and g.name != "pitch" for g in spec.groups)  # times are searched
    for g in spec.groups:
        cols = set(range(g.slice.start, g.slice.stop))
        assert (cols <= free) == (not _fixed(g)), g
        assert not (cols & free) or cols <= free, g
    c = centre(spec)
    assert np.array_equal(c, spec.canonicalize(c))


def test_refine_reduces_the_distance_of_a_perturbed_vital_patch(vital) -> None:
    spec, backend = vital
    target, start, note = target_and_start(spec, backend)
    obj = Objective(spec, target, SETTINGS.sample_rate, local_map(backend), note=note)
    res = refine(obj, start[None], 40, seed=0)
    assert res.renders == obj.renders == 40
    assert res.mss < res.start_mss - 0.5, res.history  # a clear improvement in 39 renders
    scores = [s for _, s in res.history]
    assert scores == sorted(scores, reverse=True)  # best so far never worsens
    cats = [i for g in spec.groups if _fixed(g) for i in range(g.slice.start, g.slice.stop)]
    assert np.array_equal(res.vector[cats], start[cats])  # categoricals, pitch fixed per start
    # The reported score is the score of the reported vector's render.
    again, _ = obj(res.vector[None])
    assert again[0] == pytest.approx(res.mss, abs=1e-6)


def test_refine_is_deterministic_under_a_seed_and_spreads_over_a_pool(vital) -> None:
    spec, backend = vital
    target, start, note = target_and_start(spec, backend, seed=5)
    runs = []
    for seed in (7, 7):
        obj = Objective(spec, target, SETTINGS.sample_rate, local_map(backend), note=note)
        runs.append(refine(obj, start[None], 12, seed=seed, popsize=6))
    assert np.array_equal(runs[0].vector, runs[1].vector) and runs[0].mss == runs[1].mss
    with SynthPool(spec, SETTINGS, workers=2) as pool:
        obj = Objective(spec, target, SETTINGS.sample_rate, pool.map, chunks=2, note=note)
        pooled = refine(obj, start[None], 12, seed=7, popsize=6)
    assert np.array_equal(pooled.vector, runs[0].vector)
    assert pooled.mss == pytest.approx(runs[0].mss, abs=1e-9)


def test_known_start_scores_are_not_rendered_again_and_never_lost(vital) -> None:
    spec, backend = vital
    target, start, note = target_and_start(spec, backend, seed=9, noise=0.0)
    obj = Objective(spec, target, SETTINGS.sample_rate, local_map(backend), note=note)
    (score,), _ = obj(start[None])
    obj.renders = 0
    res = refine(obj, start[None], 6, seed=0, start_scores=[score], popsize=3)
    assert obj.renders == 6
    assert res.mss <= score  # the exact patch is the start: nothing beats it, nothing is lost
    none = refine(obj, start[None], 0, start_scores=[score])
    assert none.mss == score and none.audio is None and np.array_equal(none.vector, start)
    with pytest.raises(ValueError, match="budget"):
        refine(obj, start[None], -1)


def test_baselines_spend_exactly_their_budget(vital) -> None:
    spec, backend = vital
    target, _, note = target_and_start(spec, backend, seed=11)
    obj = Objective(spec, target, SETTINGS.sample_rate, local_map(backend), note=note)
    rnd = random_search(obj, 10, seed=1, batch=4)
    assert obj.renders == 10 and np.isfinite(rnd.mss) and rnd.audio is not None
    assert [r for r, _ in rnd.history] == [4, 8, 10]
    obj2 = Objective(spec, target, SETTINGS.sample_rate, local_map(backend), note=note)
    cma = cma_from_centre(obj2, 10, seed=1)
    assert obj2.renders == 10 and np.isfinite(cma.mss)
