"""The one progress-bar style of every long-running command: on stderr, so stdout stays
machine-readable; count, rate fields and ETA."""

from __future__ import annotations

from typing import Any


def progress_bar(*fields: str, transient: bool = False) -> Any:
    """A :class:`rich.progress.Progress` showing ``description``, a bar, ``done/total``, then each
    of ``fields`` (rich format strings over the task, e.g. ``"{task.fields[rate]:.1f} rows/s"``),
    elapsed time and ETA, printed on stderr. Only on a terminal: on a pipe or file (logs, CI) a
    bar is neither live nor readable, and its last frame (or the blank line rich ends it with)
    would stand before an error line."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *(TextColumn(f) for f in fields),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=not console.is_terminal,
    )
