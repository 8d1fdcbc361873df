"""Acceptance test for plugin authors: the example package in docs/examples/a2d-toysynth, installed
with pip (CI does this), works end to end through the public CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pytest


def _installed() -> bool:
    try:
        version("a2d-toysynth")
    except PackageNotFoundError:
        return False
    return True


if not _installed():
    if os.environ.get("CI"):
        pytest.fail(
            "CI must install docs/examples/a2d-toysynth (pip install ./docs/examples/a2d-toysynth)",
            pytrace=False,
        )
    pytest.skip(
        "example plugin not installed: pip install ./docs/examples/a2d-toysynth",
        allow_module_level=True,
    )


def a2d(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from a2d.cli import run; run()", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_plugins_lists_the_third_party_synth_and_spec() -> None:
    proc = a2d("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    records = {r["plugin"]: r for r in json.loads(proc.stdout)}
    toy = records["toysynth"]
    assert toy["version"] == "0.1.0"
    assert [s["name"] for s in toy["synths"]] == ["toysynth"]
    assert toy["specs"] == [{"name": "toy_simple", "synth": "toysynth", "width": 11}]


def test_generate_a_dataset_with_the_third_party_synth(tmp_path: Path) -> None:
    from a2d.contracts.plugins import get_spec
    from a2d.storage.dataset import open_dataset

    out = tmp_path / "toy"
    proc = a2d(
        "generate", "--synth", "toy_simple", "--num-samples", "6", "--out", str(out),
        "--workers", "1", "--shard-size", "4", "--seed", "3",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ds = open_dataset(out)
    assert len(ds) == 6
    assert ds.spec.same_as(get_spec("toy_simple"))
    row = ds[5]
    assert row["params"].shape == (11,)
    assert np.all((row["params"] >= 0) & (row["params"] <= 1))
    assert row["mel"].shape[:2] == (2, 128)
    assert np.isfinite(row["audio"]).all() and np.abs(row["audio"]).max() > 0


def test_preset_round_trip(tmp_path: Path) -> None:
    from a2d.contracts.plugins import create_backend, get_spec
    from a2d.contracts.spec import Patch

    spec = get_spec("toy_simple")
    patch = spec.sample(np.random.default_rng(0))
    backend = create_backend(spec)
    path = backend.write_preset(patch, tmp_path / "sound")
    assert path.name == "sound.toy.json"
    loaded = Patch.from_dict(json.loads(path.read_text()))
    np.testing.assert_allclose(spec.encode(loaded), spec.encode(patch), atol=1e-7)
    np.testing.assert_allclose(backend.render(loaded), backend.render(patch), atol=1e-6)
