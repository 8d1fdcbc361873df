"""Typed configs: YAML + dotted overrides, unknown keys are errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from a2d.contracts.errors import ConfigError
from a2d.pipelines.generate import GenerateConfig
from a2d.pipelines.train.config import resolve_config
from a2d.storage._resources import configs_dir
from a2d.storage.config import parse_overrides, resolve, to_dict


@dataclass
class Optim:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.99)


@dataclass
class Cfg:
    model: str = "flow"
    steps: int = 10
    kind: Literal["a", "b"] = "a"
    out: Path | None = None
    optim: Optim = field(default_factory=Optim)


def test_defaults_yaml_values_and_overrides_layer_in_order(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model: feedforward\nsteps: 5\noptim:\n  lr: 0.01\n")
    cfg = resolve(
        Cfg,
        path=path,
        values={"steps": 7, "out": None},
        overrides=parse_overrides(["--optim.lr", "3e-4", "--kind=b"]),
    )
    assert cfg.model == "feedforward" and cfg.steps == 7 and cfg.kind == "b"
    assert cfg.optim.lr == pytest.approx(3e-4) and cfg.optim.betas == (0.9, 0.99)
    assert to_dict(cfg)["optim"] == {"lr": 3e-4, "betas": [0.9, 0.99]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["--optim.lrr", "1"], r"unknown config key\(s\) 'optim.lrr'.*valid keys: betas, lr"),
        (["--steps", "ten"], "steps: expected an integer, got 'ten'"),
        (["--kind", "c"], r"kind: 'c' is not one of \['a', 'b'\]"),
        (["--steps"], "override '--steps' has no value"),
        (["steps", "3"], "unexpected argument 'steps'"),
    ],
)
def test_bad_overrides_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(Cfg, overrides=parse_overrides(overrides))


def test_missing_and_malformed_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(Cfg, path=tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve(Cfg, path=bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        resolve(Cfg, path=lst)


@pytest.mark.parametrize(
    "path",
    sorted((configs_dir() / "generate").glob("*.yaml"))
    + sorted((configs_dir() / "train").glob("*.yaml")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_every_shipped_config_resolves(path: Path) -> None:
    if path.parent.name == "generate":
        cfg = resolve(GenerateConfig, path=path, values={"out": "data/x"})
        assert cfg.synth and cfg.num_samples > 0
    else:
        preset = path.stem if path.stem in ("tiny", "small", "paper") else "small"
        extra = None if path.stem == preset else path
        cfg = resolve_config(preset=preset, config=extra, values={"model": "flow", "data": "d"})
        assert cfg.train.steps > 0


def test_merge_drops_the_arguments_of_a_replaced_component() -> None:
    from a2d.storage.config import merge

    base = {"flow": {"encoder": "cnn", "encoder_args": {"channels": [8], "pool_input": 2},
                     "cond_dim": 64}}  # fmt: skip
    same = merge(base, {"flow": {"encoder": "cnn", "encoder_args": {"pool_input": 4}}})
    assert same["flow"]["encoder_args"] == {"channels": [8], "pool_input": 4}  # merged
    other = merge(base, {"flow": {"encoder": "pooled", "encoder_args": {"hidden": 32}}})
    assert other["flow"] == {"encoder": "pooled", "encoder_args": {"hidden": 32}, "cond_dim": 64}
    bare = merge(base, {"flow": {"encoder": "pooled"}})
    assert bare["flow"] == {"encoder": "pooled", "cond_dim": 64}
