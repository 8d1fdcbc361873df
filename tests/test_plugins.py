"""The plugin system: registries, hook validation, env switches, `a2d plugins`."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

import a2d
from a2d.contracts import plugins
from a2d.contracts.errors import RegistryError, UnknownNameError
from a2d.contracts.registry import Registry


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


def test_registry_rejects_empty_and_duplicate_names_naming_both_plugins() -> None:
    reg: Registry[_Named] = Registry("synth")
    with reg._as_plugin("first"):
        reg.add(_Named("x"))
    with reg._as_plugin("second"), pytest.raises(RegistryError, match="'first'.*'second'"):
        reg.add(_Named("x"))
    with (
        reg._as_plugin("third"),
        pytest.raises(RegistryError, match="plugin 'third' registered a synth without a name"),
    ):
        reg.add(_Named(""))
    with pytest.raises(RegistryError, match="without a name"):
        reg.add(object())


def test_unknown_name_lists_known_ones() -> None:
    reg: Registry[_Named] = Registry("model")
    reg.add(_Named("flow"))
    reg.add(_Named("feedforward"))
    with pytest.raises(UnknownNameError, match=r"unknown model 'flw'; known: feedforward, flow"):
        reg.get("flw")


def test_builtin_plugins_register_synths_specs_models() -> None:
    regs = plugins.registries()
    assert {"vital", "surge"} <= set(regs.synths)
    assert {"vital_simple", "vital_full", "surge_simple", "surge_full"} <= set(regs.specs)
    assert {"flow", "feedforward"} <= set(regs.models)
    assert regs.specs.entry("surge_simple").plugin == "a2d_surge"
    assert regs.specs.get("surge_simple").width == 92
    assert regs.specs.get("surge_full").width == 300


def test_temporary_plugin_registers_and_unregisters(plugin_registered) -> None:
    from a2d.contracts.spec import Continuous, ParamSpec

    spec = ParamSpec("tmp_spec", "vital", (Continuous("osc_1_level", 0.0, 1.0),))
    mod = types.ModuleType("tmp_plugin")

    @a2d.hookimpl
    def a2d_register_param_specs(registry):
        registry.add(spec)

    mod.a2d_register_param_specs = a2d_register_param_specs
    plugin_registered(mod, "tmp_plugin")
    assert plugins.get_spec("tmp_spec") is spec
    assert plugins.registries().specs.entry("tmp_spec").plugin == "tmp_plugin"
    plugins.unregister("tmp_plugin")
    with pytest.raises(UnknownNameError):
        plugins.get_spec("tmp_spec")
    plugins.register(mod, name="tmp_plugin")  # the fixture unregisters it again


def test_duplicate_spec_from_second_plugin_names_both(plugin_registered) -> None:
    from a2d.contracts.spec import Continuous, ParamSpec

    mod = types.ModuleType("dup_plugin")

    @a2d.hookimpl
    def a2d_register_param_specs(registry):
        registry.add(ParamSpec("vital_simple", "vital", (Continuous("osc_1_level", 0, 1),)))

    mod.a2d_register_param_specs = a2d_register_param_specs
    plugin_registered(mod, "dup_plugin")
    with pytest.raises(RegistryError, match="'a2d_vital'.*'dup_plugin'"):
        plugins.registries()


def test_misspelled_hook_is_an_error() -> None:
    mod = types.ModuleType("typo_plugin")

    @a2d.hookimpl
    def a2d_register_synth(registry):  # missing the final "s"
        pass

    mod.a2d_register_synth = a2d_register_synth
    with pytest.raises(Exception, match="a2d_register_synth"):
        plugins.register(mod, name="typo_plugin")
    pm = plugins.get_plugin_manager()
    if pm.get_plugin("typo_plugin") is not None:
        plugins.unregister("typo_plugin")


def _run_cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from a2d.cli import run; run()", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_plugins_command_json_lists_every_registration() -> None:
    proc = _run_cli(["plugins", "--json"])
    assert proc.returncode == 0, proc.stderr
    records = {r["plugin"]: r for r in json.loads(proc.stdout)}
    assert [s["name"] for s in records["a2d_vital"]["synths"]] == ["vital"]
    assert {s["name"] for s in records["a2d_surge"]["specs"]} == {"surge_full", "surge_simple"}
    assert {m["name"] for m in records["a2d_flow"]["models"]} == {"flow"}
    assert records["a2d_vital"]["version"] == a2d.__version__


def test_env_switches_load_only_and_block() -> None:
    proc = _run_cli(["plugins", "--json"], env={"A2D_LOAD_PLUGINS": "a2d_vital"})
    assert proc.returncode == 0, proc.stderr
    assert [r["plugin"] for r in json.loads(proc.stdout)] == ["a2d_vital"]
    proc = _run_cli(["plugins", "--json"], env={"A2D_BLOCK_PLUGINS": "a2d_surge,a2d_flow"})
    names = [r["plugin"] for r in json.loads(proc.stdout)]
    assert "a2d_surge" not in names and "a2d_flow" not in names and "a2d_vital" in names
