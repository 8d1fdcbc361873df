"""Checkpoints: self-describing, weights_only loading, wrong spec / corrupt file errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from a2d.contracts.errors import CheckpointError
from a2d.contracts.plugins import get_spec
from a2d.pipelines.train.config import resolve_config
from a2d.pipelines.train.loop import train
from a2d.storage.checkpoint import load_checkpoint
from a2d.storage.dataset import open_dataset


@pytest.fixture(scope="module")
def ff_run(tiny_vital_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ckpt") / "run"
    cfg = resolve_config(
        preset="tiny",
        values={"model": "feedforward", "data": str(tiny_vital_dataset), "out": str(out)},
        overrides={"train.steps": 6},
    )
    return train(cfg)


def test_checkpoint_is_self_describing(ff_run, tiny_vital_dataset: Path) -> None:
    raw = torch.load(ff_run.checkpoint, weights_only=True)
    for key in (
        "format",
        "a2d_version",
        "model",
        "model_args",
        "spec",
        "synth",
        "render_settings",
        "mel_settings",
        "normalization",
        "config",
        "model_state",
        "train_state",
        "step",
    ):
        assert key in raw
    ckpt = load_checkpoint(ff_run.checkpoint)
    ds = open_dataset(tiny_vital_dataset, "test")
    assert ckpt.spec.same_as(ds.spec) and ckpt.synth == "vital"
    assert ckpt.render_settings == ds.render_settings and ckpt.mel_settings == ds.mel_settings
    assert ckpt.step == 6 and not ckpt.model.training
    assert ckpt.config["train"]["steps"] == 6 and ckpt.mean.shape == (2, 128, 1)
    mel = torch.from_numpy(ds.read(0, 3)["mel"])
    pred = ckpt.predict(mel, n_candidates=2)
    assert pred.shape == (3, 2, ds.spec.width)
    assert torch.equal(pred, ckpt.model.predict(ckpt.normalize(mel), n_candidates=2))
    ds.spec.decode(pred[0, 0].numpy())  # decodes into synth values


def test_wrong_spec_and_bad_files_are_checkpoint_errors(ff_run, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="trained for spec 'vital_simple'.*vital_full"):
        load_checkpoint(ff_run.checkpoint, spec=get_spec("vital_full"))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(ff_run.checkpoint.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
    ckpt = load_checkpoint(ff_run.checkpoint)
    with pytest.raises(CheckpointError, match="expects"):
        ckpt.normalize(torch.zeros(1, 2, 128, 50))
