"""``a2d plugins``: what every installed plugin provides."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer


def list_plugins() -> list[dict[str, Any]]:
    """One record per plugin: name, version, and the synths, specs and models it registers."""
    from a2d.contracts.plugins import get_plugin_manager, plugin_version, registries

    pm = get_plugin_manager()
    regs = registries()
    records: dict[str, dict[str, Any]] = {}
    for plugin_name, _plugin in pm.list_name_plugin():
        records[plugin_name] = {
            "plugin": plugin_name,
            "version": plugin_version(plugin_name),
            "synths": [],
            "specs": [],
            "models": [],
        }
    for key, reg in (("synths", regs.synths), ("specs", regs.specs), ("models", regs.models)):
        for entry in reg.entries():
            rec = records.setdefault(
                entry.plugin,
                {
                    "plugin": entry.plugin,
                    "version": "unknown",
                    "synths": [],
                    "specs": [],
                    "models": [],
                },
            )
            item: dict[str, Any] = {"name": entry.name}
            if key == "specs":
                item.update(synth=entry.obj.synth, width=entry.obj.width)
            rec[key].append(item)
    return list(records.values())


def register(app: typer.Typer) -> None:
    @app.command("plugins")
    def plugins_cmd(
        as_json: Annotated[
            bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")
        ] = False,
    ) -> None:
        """List installed plugins and the synths, parameter specs and models they provide."""
        records = list_plugins()
        if as_json:
            typer.echo(json.dumps(records, indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="a2d plugins")
        for col in ("plugin", "version", "synths", "specs (width)", "models"):
            table.add_column(col)
        for r in records:
            table.add_row(
                r["plugin"],
                r["version"],
                ", ".join(s["name"] for s in r["synths"]),
                ", ".join(f"{s['name']} ({s['width']})" for s in r["specs"]),
                ", ".join(m["name"] for m in r["models"]),
            )
        Console().print(table)
