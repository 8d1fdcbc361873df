"""Help text that reads like a command line, not like Python: arguments show their metavar
(``SOUND...``), never a Python type (``<list[Path]>``) or a brace-wrapped name."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand


class PlainHelpCommand(TyperCommand):
    """A Typer command whose positional arguments display as their metavar alone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, TyperArgument) and param.metavar:
                metavar = param.metavar
                param.display_type_rich = lambda ctx=None, **_: ""  # type: ignore[method-assign]
                param._usage_display_name = lambda m=metavar: m  # type: ignore[method-assign]
