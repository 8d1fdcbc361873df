"""The sampling sweep on a real tiny flow checkpoint, real Vital renders and a real sound file."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from a2d.pipelines.sampling_sweep import GridPoint, markdown, sweep


def test_sweep_measures_each_point_against_the_reference(
    tiny_flow_checkpoint, tiny_vital_dataset, tmp_path
) -> None:
    from a2d.contracts.plugins import create_backend
    from a2d.storage.checkpoint import load_checkpoint

    ck = load_checkpoint(tiny_flow_checkpoint)
    backend = create_backend(ck.spec, ck.render_settings)
    try:
        audio = backend.render(ck.spec.sample(np.random.default_rng(3)))
    finally:
        backend.close()
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    sf.write(sounds / "one.wav", audio.T, ck.render_settings.sample_rate)
    grid = [GridPoint("rk4", 6, True), GridPoint("euler", 2, True), GridPoint("midpoint", 3, False)]
    report = sweep(
        tiny_flow_checkpoint, data=tiny_vital_dataset, sounds=sounds, rows=2, candidates=3,
        grid=grid, render_grid=grid[:2], reference_steps=6, workers=0, timing_repeats=1,
    )  # fmt: skip
    rows = {(r["set"], r["method"], r["steps"], r["guided"]): r for r in report["results"]}
    assert set(rows) == {
        (s, p.method, p.steps, p.guided) for s in ("in_domain", "devset") for p in grid
    }
    for s in ("in_domain", "devset"):
        ref, euler, mid = (
            rows[(s, "rk4", 6, True)],
            rows[(s, "euler", 2, True)],
            rows[(s, "midpoint", 3, False)],
        )
        assert ref["ode_err"] == 0.0 and euler["ode_err"] > 0 and mid["ode_err"] > 0
        assert (ref["nfe"], euler["nfe"], mid["nfe"]) == (24, 2, 6)
        assert len(ref["mss_best_each"]) == (2 if s == "in_domain" else 1)
        for r in (ref, euler):
            assert all(np.isfinite(r["mss_best_each"]))
            assert all(np.less_equal(r["mss_best_each"], r["mss_k1_each"]))
        assert "mss_best" not in mid  # not in the render grid
    assert markdown(report).count("\n") == 2 + len(report["results"]) - 1
