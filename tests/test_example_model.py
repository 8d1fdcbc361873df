"""Acceptance test for model plugin authors: the example package in docs/examples/a2d-toymodel,
installed with pip (CI does this), trains through ``a2d train`` (validation included: the loop
calls ``loss(batch, generator=...)``) and predicts through ``a2d predict`` from its checkpoint."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest


def _installed() -> bool:
    try:
        version("a2d-toymodel")
    except PackageNotFoundError:
        return False
    return True


if not _installed():
    if os.environ.get("CI"):
        pytest.fail(
            "CI must install docs/examples/a2d-toymodel (pip install ./docs/examples/a2d-toymodel)",
            pytrace=False,
        )
    pytest.skip(
        "example model plugin not installed: pip install ./docs/examples/a2d-toymodel",
        allow_module_level=True,
    )


def a2d(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from a2d.cli import run; run()", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def test_plugins_lists_the_third_party_model() -> None:
    proc = a2d("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    records = {r["plugin"]: r for r in json.loads(proc.stdout)}
    toy = records["toymodel"]
    assert toy["version"] == "0.1.0"
    assert [m["name"] for m in toy["models"]] == ["toymlp"]


@pytest.mark.slow
def test_train_and_predict_with_the_third_party_model(
    tiny_vital_dataset: Path, tmp_path: Path
) -> None:
    from a2d_toymodel.model import ToyMLP

    from a2d.storage.checkpoint import load_checkpoint

    run = tmp_path / "run"
    proc = a2d(
        "train", "--model", "toymlp", "--data", str(tiny_vital_dataset), "--size", "tiny",
        "--out", str(run), "--train.steps", "4", "--train.val_every", "2",
        "--train.checkpoint_every", "2", "--train.device", "cpu", "--models.toymlp.hidden", "16",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["step"] == 4
    assert math.isfinite(summary["val_loss"])  # validation ran: loss(batch, generator=gen)

    ck = load_checkpoint(run / "last.pt")
    assert isinstance(ck.model, ToyMLP)
    assert ck.model.net[0].out_features == 16  # the model's own argument, rebuilt from the file

    # The plugin's own command (the a2d_register_commands hook).
    info = a2d("toymlp-info", str(run / "last.pt"))
    assert info.returncode == 0, info.stderr
    size = sum(p.numel() for p in ck.model.parameters())
    assert info.stdout.strip() == f"toymlp: {size} parameters, hidden 16, trained 4 steps"

    from a2d.pipelines.demo import write_demo

    wav = write_demo(tmp_path / "demo.wav", duration=1.0)
    proc = a2d(
        "predict", str(wav), "--checkpoint", str(run / "last.pt"), "--out", str(tmp_path / "out"),
        "-k", "1", "--workers", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    params = json.loads((tmp_path / "out" / "demo" / "demo.params.json").read_text())
    assert params["model"] == "toymlp"
    assert (tmp_path / "out" / "demo" / "demo.vital").is_file()


def test_the_plugin_command_refuses_another_model_in_one_line(
    tiny_feedforward_checkpoint: Path,
) -> None:
    proc = a2d("toymlp-info", str(tiny_feedforward_checkpoint))
    assert proc.returncode == 4  # CheckpointError: invalid input data
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not toymlp" in lines[0], lines
