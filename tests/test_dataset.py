"""The sharded dataset reader: splits, block reads across shards, per-process handles, bad files."""

from __future__ import annotations

import multiprocessing as mp
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from a2d.contracts.errors import DatasetError
from a2d.contracts.synth import RenderSettings
from a2d.pipelines.generate import GenerateConfig, generate
from a2d.storage.dataset import Dataset, open_dataset, plan_splits


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ds")
    generate(GenerateConfig(synth="vital_simple", num_samples=10, out=out, workers=0, shard_size=4,
                            render=RenderSettings(duration=0.5), block_rows=3))  # fmt: skip
    return out


@pytest.mark.parametrize(
    ("rows", "size", "expect"),
    [
        (40, 8, {"train": (0, 38), "val": (38, 39), "test": (39, 40)}),  # too few shards: rows
        (3, 8, {"train": (0, 1), "val": (1, 2), "test": (2, 3)}),
        (2, 8, {"train": (0, 1), "val": (1, 1), "test": (1, 2)}),  # train keeps a row
        (
            2050,
            10,
            {"train": (0, 2000), "val": (2000, 2040), "test": (2040, 2050)},
        ),  # 200/4/1 shards
    ],
)
def test_plan_splits(rows: int, size: int, expect: dict[str, tuple[int, int]]) -> None:
    assert plan_splits(rows, size, 0.02, 0.005) == expect


def test_block_reads_cross_shards_and_match_rows(data: Path) -> None:
    ds = open_dataset(data)
    assert len(ds) == 10 and ds.spec.name == "vital_simple"
    assert ds.render_settings.duration == 0.5 and ds.mel_settings.n_mels == 128
    block = ds.read(2, 9, fields=("mel", "params", "row"))
    np.testing.assert_array_equal(block["row"], np.arange(2, 9))
    for i in range(2, 9):
        row = ds[i]
        np.testing.assert_array_equal(block["mel"][i - 2], row["mel"])
        np.testing.assert_array_equal(block["params"][i - 2], row["params"])
    assert ds[-1]["row"] == 9
    assert ds.read(3, 3)["mel"].shape[0] == 0
    with pytest.raises(IndexError):
        ds[10]
    with pytest.raises(KeyError, match="stores"):
        ds.read(0, 1, fields=("nope",))


def test_splits_are_disjoint_views(data: Path) -> None:
    parts = {s: open_dataset(data, split=s) for s in ("train", "val", "test")}
    rows = [
        parts[s].read(0, len(parts[s]), fields=("row",))["row"] for s in ("train", "val", "test")
    ]
    assert all(len(r) > 0 for r in rows)
    np.testing.assert_array_equal(np.concatenate(rows), np.arange(10))
    with pytest.raises(DatasetError, match="unknown split"):
        open_dataset(data, split="holdout")


def _rows_in_child(ds: Dataset) -> list[int]:
    return ds.read(0, len(ds), fields=("row",))["row"].tolist()


def test_handles_are_per_process(data: Path) -> None:
    ds = open_dataset(data)
    ds.read(0, 10)  # the parent has every shard open
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._files == {}
    with mp.get_context("fork").Pool(2) as pool:
        assert pool.map(_rows_in_child, [ds, ds]) == [list(range(10))] * 2
    ds.close()


def test_missing_and_corrupt_files_name_the_file(data: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"dataset\.json is missing"):
        open_dataset(tmp_path)
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    (bad / "shard-00001.h5").unlink()
    with pytest.raises(DatasetError, match="shard-00001.h5.*missing"):
        open_dataset(bad)
    open_dataset(bad, split="test")  # other splits stay usable
    shutil.copy(data / "shard-00001.h5", bad)
    with open(bad / "shard-00002.h5", "r+b") as f:
        f.truncate(1000)
    ds = open_dataset(bad)
    with pytest.raises(DatasetError, match="shard-00002.h5.*corrupt"):
        ds.read(0, 10)
    (bad / "dataset.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not JSON"):
        open_dataset(bad)
