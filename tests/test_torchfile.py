"""a2d.storage.torchfile reads what torch.save writes, without torch, as torch.load(weights_only=True)
reads it; refuses what that loader refuses. a2d.storage.inference picks the torch-free path only
where it covers the checkpoint."""

from __future__ import annotations

import math
import pathlib
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from a2d.contracts.errors import CheckpointError, CheckpointNotFoundError
from a2d.storage.pretrained import MODELS_DIR, shipped_models
from a2d.storage.torchfile import Skipped, UnsupportedTorchFile, read_torch_file

#: Every shipped model, so a new one is checked without editing this file.
SHIPPED = [m.name for m in shipped_models()]


def assert_same(got: object, want: object, path: str = "") -> None:
    """``got`` (read_torch_file) equals ``want`` (torch.load), tensors as arrays of the same dtype."""
    if isinstance(want, torch.Tensor):
        assert isinstance(got, np.ndarray), path
        ref = want.numpy()
        assert got.dtype == ref.dtype and got.shape == ref.shape, path
        assert got.flags.c_contiguous and got.flags.writeable, path
        np.testing.assert_array_equal(got, ref, err_msg=path)
    elif isinstance(want, dict):
        assert type(got) is type(want) and list(got) == list(want), path
        for key in want:
            assert_same(got[key], want[key], f"{path}/{key}")
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want), path
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(want, float) and math.isnan(want):
        assert isinstance(got, float) and math.isnan(got), path
    else:
        assert type(got) is type(want) and got == want, path


def test_reads_every_supported_dtype_layout_and_container(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(6, 5, generator=gen)
    shared = torch.arange(20, dtype=torch.int64)
    payload = {
        "float32": base, "float64": base.double(), "float16": base.half(),
        "int64": shared, "int32": shared.int(), "int16": shared.short(), "int8": shared.to(torch.int8),
        "uint8": shared.to(torch.uint8), "bool": shared > 7,
        "transposed": base.t(), "offset_view": shared[5:15:2], "same_storage": shared[3:9].view(2, 3),
        "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 4), "expanded": torch.ones(3).expand(4, 3),
        "plain": [1, 2.5, "s", None, True, float("nan"), (1, "a")],
        "ordered": OrderedDict([("b", 1), ("a", torch.ones(2))]),
        "nested": {"x": {"y": [base[0], shared[:2]]}},
    }  # fmt: skip
    path = tmp_path / "ck.pt"
    torch.save(payload, path)
    assert_same(read_torch_file(path), torch.load(path, weights_only=True))


@pytest.mark.parametrize("name", SHIPPED)
def test_reads_the_shipped_models_as_torch_does(name: str) -> None:
    path = MODELS_DIR / f"{name}.pt"
    assert_same(read_torch_file(path), torch.load(path, weights_only=True))


def test_arrays_false_reads_the_plain_data_and_only_describes_tensors(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    torch.save({"step": 7, "w": torch.zeros(3, 4, dtype=torch.float16), "card": {"a": [1]}}, path)
    got = read_torch_file(path, arrays=False)
    assert got["step"] == 7 and got["card"] == {"a": [1]}
    assert isinstance(got["w"], Skipped)
    assert got["w"].shape == (3, 4) and got["w"].dtype == np.float16


def test_refuses_what_the_weights_only_loader_refuses(tmp_path: Path) -> None:
    path = tmp_path / "code.pt"
    torch.save({"path": pathlib.PurePosixPath("/etc")}, path)  # a pickled class, not plain data
    with pytest.raises(Exception):  # noqa: B017 - torch's own refusal, whatever its type
        torch.load(path, weights_only=True)
    with pytest.raises(UnsupportedTorchFile, match="PurePosixPath"):
        read_torch_file(path)
    bf16 = tmp_path / "bf16.pt"
    torch.save({"w": torch.ones(2, dtype=torch.bfloat16)}, bf16)  # a dtype NumPy lacks
    with pytest.raises(UnsupportedTorchFile, match="BFloat16Storage"):
        read_torch_file(bf16)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip")
    with pytest.raises(zipfile.BadZipFile):
        read_torch_file(junk)


def test_a_truncated_storage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    torch.save({"w": torch.ones(100)}, path)
    cut = tmp_path / "cut.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(cut, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[:40] if "/data/" in item.filename else data)
    with pytest.raises(UnsupportedTorchFile, match="truncated"):
        read_torch_file(cut)


# -- a2d.storage.inference: which checkpoints load without torch -------------------------------


def test_flow_checkpoints_load_without_torch_and_others_with_it(
    tiny_flow_checkpoint: Path, tiny_feedforward_checkpoint: Path, monkeypatch
) -> None:
    from a2d.storage.checkpoint import Checkpoint
    from a2d.storage.inference import NumpyCheckpoint, load_for_inference

    flow = load_for_inference(tiny_flow_checkpoint)
    assert isinstance(flow, NumpyCheckpoint) and flow.stochastic
    assert flow.spec.name == "vital_simple" and flow.input_shape == (2, 128, 101)
    ff = load_for_inference(tiny_feedforward_checkpoint)
    assert type(ff) is Checkpoint and not ff.stochastic  # no torch-free sampler: torch loads it
    monkeypatch.setenv("A2D_TORCH_INFERENCE", "1")
    assert type(load_for_inference(tiny_flow_checkpoint)) is Checkpoint


def test_inference_loading_errors_are_one_line(tmp_path: Path, tiny_flow_checkpoint: Path) -> None:
    from a2d.contracts.spec import ParamSpec
    from a2d.storage.inference import load_for_inference

    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        load_for_inference(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="cannot be read") as info:
        load_for_inference(junk)
    assert "\n" not in str(info.value)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.ones(2)}, plain)
    with pytest.raises(CheckpointError, match="not an a2d checkpoint"):
        load_for_inference(plain)
    from a2d.contracts.plugins import get_spec

    other = get_spec("dexed_simple")
    assert isinstance(other, ParamSpec)
    with pytest.raises(CheckpointError, match="trained for spec 'vital_simple'"):
        load_for_inference(tiny_flow_checkpoint, spec=other)


def test_the_reader_imports_no_torch() -> None:
    import subprocess

    code = (
        "import sys; from a2d.storage.inference import load_for_inference;"
        "ck = load_for_inference(sys.argv[1]); print(type(ck).__name__, 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(MODELS_DIR / "vital_simple.pt")],
        capture_output=True, text=True, check=True, cwd="/",
    )  # fmt: skip
    assert out.stdout.split() == ["NumpyCheckpoint", "False"]
