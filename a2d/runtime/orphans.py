"""Worker processes that leave when the process that started them dies.

A pool worker of ``concurrent.futures`` whose parent is killed alone (``kill -9 PID``, the OOM
killer) is not told: its task queue has writers left (the workers' own inherited handles), so it
waits for the next task forever, holding its synth and its memory. :func:`watch_parent` starts a
daemon thread that polls the parent's pid and ends the process once the parent is gone and the
worker is not in the middle of work it must clean up itself.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

#: Seconds between checks of the parent's pid.
POLL_SECONDS = 0.5


def watch_parent(busy: Callable[[], bool] = lambda: False) -> int:
    """Exit this process (status 1) soon after its parent dies, unless ``busy()`` says it is in
    work that checks :func:`parent_gone` itself; returns the parent's pid."""
    parent = os.getppid()

    def run() -> None:
        while True:
            time.sleep(POLL_SECONDS)
            if os.getppid() != parent and not busy():
                os._exit(1)

    threading.Thread(target=run, name="a2d-parent-watch", daemon=True).start()
    return parent
