"""Shared fixtures. Tests create their own small data; nothing is downloaded."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Subprocesses the tests start (`python -c "from a2d.cli import run"`, multiprocessing and Ray
# workers) must import the installed a2d, which holds the compiled a2d._core, not the source tree
# in the current directory: Python 3.11+ then leaves the working directory off sys.path.
os.environ["PYTHONSAFEPATH"] = "1"


def pytest_report_header(config: pytest.Config) -> list[str]:
    from a2d.kernels import _native

    return [f"a2d: {_native.describe()}"]


def pytest_sessionstart(session: pytest.Session) -> None:
    # CI sets A2D_REQUIRE_NATIVE=1: a missing a2d._core must fail the run, not fall back.
    if os.environ.get("A2D_REQUIRE_NATIVE") == "1":
        from a2d.kernels import _native

        _native.core()  # raises NativeBackendError if the extension did not build


class Procs:
    """Linux /proc views of processes, for tests that kill a parent and watch its children."""

    @staticmethod
    def children(pid: int) -> set[int]:
        path = Path(f"/proc/{pid}/task/{pid}/children")
        return {int(x) for x in path.read_text().split()} if path.exists() else set()

    @staticmethod
    def alive(pid: int) -> bool:
        """Running or sleeping; a zombie (dead, not yet reaped) counts as gone."""
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"


@pytest.fixture
def procs() -> type[Procs]:
    if not Path("/proc/self/task").exists():
        pytest.skip("needs Linux /proc to watch processes")
    return Procs


@pytest.fixture
def plugin_registered() -> Iterator:
    """Register temporary plugin objects for one test: ``plugin_registered(obj, name)``."""
    from a2d.contracts import plugins

    names: list[str] = []

    def add(obj: object, name: str) -> str:
        names.append(plugins.register(obj, name=name))
        return names[-1]

    try:
        yield add
    finally:
        for name in reversed(names):
            plugins.unregister(name)


@pytest.fixture
def a2d_cli() -> str:
    """Path of the installed ``a2d`` console script."""
    path = shutil.which("a2d")
    if path is None:
        pytest.fail(
            "the `a2d` console script is not on PATH; install the package with `pip install .`"
        )
    return path


@pytest.fixture(scope="session")
def tiny_vital_dataset(tmp_path_factory: pytest.TempPathFactory):
    """A real vital_simple dataset, made once per session: 80 rows of 1 s (mel (2, 128, 101)),
    shards of 16 rows, splits train 48 / val 16 / test 16, no audio stored."""
    from a2d.contracts.synth import RenderSettings
    from a2d.pipelines.generate import GenerateConfig, generate

    out = tmp_path_factory.mktemp("tiny_vital") / "data"
    generate(
        GenerateConfig(
            synth="vital_simple",
            num_samples=80,
            out=out,
            workers=0,
            shard_size=16,
            render=RenderSettings(duration=1.0),
            store_audio=False,
            val_fraction=0.2,
            test_fraction=0.2,
        )
    )
    return out


def _train_tiny(data, out, model: str):
    from a2d.pipelines.train import train
    from a2d.pipelines.train.config import resolve_config

    overrides = {"train.steps": 6, "train.device": "cpu", "train.val_every": 0, "train.val_rows": 8}
    config = resolve_config(
        preset="tiny", values={"model": model, "data": data, "out": out}, overrides=overrides
    )
    return train(config).checkpoint


@pytest.fixture(scope="session")
def tiny_flow_checkpoint(tiny_vital_dataset, tmp_path_factory: pytest.TempPathFactory):
    """A flow checkpoint trained for 6 tiny steps on ``tiny_vital_dataset`` (mechanics, not quality)."""
    return _train_tiny(tiny_vital_dataset, tmp_path_factory.mktemp("tiny_flow"), "flow")


@pytest.fixture(scope="session")
def tiny_feedforward_checkpoint(tiny_vital_dataset, tmp_path_factory: pytest.TempPathFactory):
    """A feed-forward checkpoint trained for 6 tiny steps on ``tiny_vital_dataset``."""
    return _train_tiny(tiny_vital_dataset, tmp_path_factory.mktemp("tiny_ff"), "feedforward")
