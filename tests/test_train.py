"""End-to-end training on a real tiny vital_simple dataset: both models, exact resume, bad input."""

from __future__ import annotations

import csv
import gc
import json
import shutil
import subprocess
import weakref
from pathlib import Path

import h5py
import pytest
import torch
import torch.distributed as dist

from a2d.contracts.errors import CheckpointError, ConfigError, DatasetError, UnknownNameError
from a2d.pipelines.train import distributed
from a2d.pipelines.train.config import resolve_config
from a2d.pipelines.train.loop import train


def config(data: Path, out: Path, model: str = "flow", **overrides):
    return resolve_config(
        preset="tiny",
        values={"model": model, "data": str(data), "out": str(out)},
        overrides=overrides,
    )


def test_flow_trains_validates_and_logs(tiny_vital_dataset: Path, tmp_path: Path) -> None:
    result = train(
        config(tiny_vital_dataset, tmp_path / "run", **{"train.steps": 12, "train.val_every": 6})
    )
    assert result.step == 12 and len(result.losses) == 12
    assert result.val_param_mse is not None and 0 < result.val_param_mse < 0.5
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").read_text().splitlines()))
    assert [r["step"] for r in rows if r["split"] == "val"] == ["6", "12"]
    assert {"flow_mse", "assign_l1"} <= set(rows[0])
    assert (tmp_path / "run" / "best.pt").is_file() and result.checkpoint.is_file()


@pytest.mark.parametrize("model", ["flow", "feedforward"])
def test_resume_continues_exactly(model: str, tiny_vital_dataset: Path, tmp_path: Path) -> None:
    k = 4  # 3 steps per epoch: the resume point is inside the second epoch
    over = {"train.steps": 2 * k, "train.checkpoint_every": k, "train.val_every": 0}
    straight = train(config(tiny_vital_dataset, tmp_path / "a", model, **over))

    def interrupt(step: int, total: int, metrics: dict) -> None:
        if step == k:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config(tiny_vital_dataset, tmp_path / "b", model, **over), on_step=interrupt)
    resumed = train(
        config(
            tiny_vital_dataset,
            tmp_path / "c",
            model,
            resume=str(tmp_path / "b" / "last.pt"),
            **over,
        )
    )
    assert resumed.step == 2 * k
    assert resumed.losses == straight.losses[k:]


def test_ddp_two_gloo_processes_stay_in_sync(tiny_vital_dataset: Path, tmp_path: Path) -> None:
    a2d = shutil.which("a2d")
    cmd = [
        "torchrun",
        "--standalone",
        "--nproc_per_node",
        "2",
        "--no-python",
        a2d,
        "train",
        "--model",
        "feedforward",
        "--data",
        str(tiny_vital_dataset),
        "--size",
        "tiny",
        "--out",
        str(tmp_path / "ddp"),
        "--train.steps",
        "3",
        "--train.batch_size",
        "8",
        "--train.val_every",
        "0",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"torchrun exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2
    a, b = summary["rank_checksums"]
    assert a == b


def test_teardown_frees_the_process_group_before_interpreter_exit(tmp_path: Path) -> None:
    """A DDP wrapper sits in a reference cycle that keeps the process group alive; teardown must
    collect it, or gloo's threads die with the interpreter and the rank aborts (SIGABRT) at exit."""
    gc.disable()
    try:
        store = f"file://{tmp_path / 'store'}"
        dist.init_process_group("gloo", init_method=store, rank=0, world_size=1)

        def wrapped() -> weakref.ref:
            ddp = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(3, 2))
            ddp(torch.ones(4, 3)).sum().backward()
            return weakref.ref(ddp)

        ddp = wrapped()
        distributed.teardown(distributed.DistInfo(owns_group=True))
        assert not dist.is_initialized()
        assert ddp() is None, "the DDP wrapper (and the group it holds) outlived teardown"
    finally:
        gc.enable()
        if dist.is_initialized():
            dist.destroy_process_group()


def test_bad_inputs_are_one_line_errors(tiny_vital_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="unknown model 'nope'; known: feedforward, flow"):
        train(config(tiny_vital_dataset, tmp_path / "x", "nope"))
    with pytest.raises(ConfigError, match="'train.bogus'"):
        config(tiny_vital_dataset, tmp_path / "x", **{"train.bogus": 1})
    with pytest.raises(ConfigError, match="unknown training size 'huge'"):
        resolve_config(preset="huge")

    # A resumed checkpoint against a dataset of another spec.
    first = train(config(tiny_vital_dataset, tmp_path / "r", "feedforward", **{"train.steps": 1}))
    other = tmp_path / "other"
    shutil.copytree(tiny_vital_dataset, other)
    manifest = json.loads((other / "dataset.json").read_text())
    manifest["spec"]["params"][0]["max"] = manifest["spec"]["params"][0]["max"] * 0.5
    (other / "dataset.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="cannot resume.*resume on the same dataset"):
        train(config(other, tmp_path / "r2", "feedforward", resume=str(first.checkpoint)))

    # A corrupt shard inside the train split.
    broken = tmp_path / "broken"
    shutil.copytree(tiny_vital_dataset, broken)
    (broken / "shard-00001.h5").write_bytes(b"not hdf5")
    with pytest.raises(DatasetError, match="shard-00001.h5.*corrupt") as err:
        train(config(broken, tmp_path / "r3", "feedforward", **{"train.steps": 6}))
    assert "\n" not in str(err.value)

    # An empty shard (no rows where the manifest promises some).
    empty = tmp_path / "empty"
    shutil.copytree(tiny_vital_dataset, empty)
    with h5py.File(empty / "shard-00000.h5", "r+") as f:
        f.attrs["rows"] = 0
    with pytest.raises(DatasetError, match="shard-00000.h5"):
        train(config(empty, tmp_path / "r4", "feedforward"))


def test_cli_train_prints_result_and_one_line_errors(
    tiny_vital_dataset: Path, tmp_path: Path, a2d_cli: str
) -> None:
    ok = subprocess.run(
        [
            a2d_cli,
            "train",
            "--model",
            "feedforward",
            "--data",
            str(tiny_vital_dataset),
            "--size",
            "tiny",
            "--out",
            str(tmp_path / "cli"),
            "--train.steps",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["step"] == 2
    bad = subprocess.run(
        [
            a2d_cli,
            "train",
            "--data",
            str(tiny_vital_dataset),
            "--size",
            "tiny",
            "--out",
            str(tmp_path / "cli2"),
            "--loader.nope",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "'loader.nope'" in bad.stderr


def _validate(ckpt, data: Path, split: str) -> dict:
    from a2d.pipelines.train.validation import validate
    from a2d.storage.dataset import open_dataset

    ds = open_dataset(data, split)
    return validate(
        ckpt.model, ds, ckpt.mean, ckpt.std, rows=len(ds), batch_size=8, sample_steps=2, seed=0,
        device=torch.device("cpu"),
    )  # fmt: skip


def test_cond_gain_is_zero_for_a_model_deaf_to_the_sound(
    tiny_flow_checkpoint: Path, tiny_vital_dataset: Path
) -> None:
    """With the encoder's weights at zero every row gets the same conditioning: the loss with
    another row's sound is the very same number (same noise, times and dropout draws)."""
    from a2d.storage.checkpoint import load_checkpoint

    ckpt = load_checkpoint(tiny_flow_checkpoint)
    listening = _validate(ckpt, tiny_vital_dataset, "val")["cond_gain"]
    with torch.no_grad():
        for p in ckpt.model.encoder.parameters():
            p.zero_()
    assert _validate(ckpt, tiny_vital_dataset, "val")["cond_gain"] == 0.0
    assert listening != 0.0


def test_cond_gain_is_large_for_a_model_that_learned_its_rows(
    tiny_vital_dataset: Path, tmp_path: Path
) -> None:
    """A feed-forward model trained until it knows its 48 training rows: on those rows the
    sound explains most of the loss, and the validation run logged the column."""
    from a2d.storage.checkpoint import load_checkpoint

    result = train(
        config(
            tiny_vital_dataset, tmp_path / "run", "feedforward",
            **{"train.steps": 150, "train.val_every": 150, "train.lr": 3e-3},
        )
    )  # fmt: skip
    assert result.val_cond_gain is not None
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").read_text().splitlines()))
    assert float(rows[-1]["cond_gain"]) == pytest.approx(result.val_cond_gain)
    gain = _validate(load_checkpoint(result.checkpoint), tiny_vital_dataset, "train")["cond_gain"]
    assert gain > 0.3
