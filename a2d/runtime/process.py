"""What every a2d worker process is, whoever starts it (the synth pool of ``predict`` and
``evaluate``, the shard workers of ``generate``): one synth kept for the process's life and closed
at exit, a watch on the parent process, a Ctrl-C policy, and a cap on the native kernels' threads
(the processes are the parallelism).

A pool worker of ``concurrent.futures`` whose parent is killed alone (``kill -9 PID``, the OOM
killer) is not told: its task queue has writers left (the workers' own inherited handles), so it
waits for the next task forever, holding its synth and its memory. :func:`watch_parent` starts a
daemon thread that polls the parent's pid and ends the process once the parent is gone and the
worker is not in the middle of work it must clean up itself.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from a2d.contracts.synth import SynthBackend
from a2d.runtime.threads import configure_worker

#: Seconds between checks of the parent's pid.
POLL_SECONDS = 0.5

#: This process's synth and the key it was made for (see :func:`process_synth`).
_SYNTH: tuple[Hashable, SynthBackend] | None = None


def start_worker(
    *,
    native_threads: int = 0,
    on_interrupt: Any = signal.SIG_IGN,
    busy: Callable[[], bool] = lambda: False,
) -> int:
    """Make this process a worker (call it first in a pool initializer): close its synth at exit,
    handle Ctrl-C with ``on_interrupt`` (default: ignore it, the caller stops the pool), cap the
    native kernels and torch at ``native_threads`` (0 leaves them alone) and watch the parent
    (:func:`watch_parent` with ``busy``). Returns the parent's pid."""
    atexit.register(release_synth)
    signal.signal(signal.SIGINT, on_interrupt)
    if native_threads > 0:  # torch too (a2d.runtime.threads)
        configure_worker(native_threads)
    return watch_parent(busy)


def watch_parent(busy: Callable[[], bool] = lambda: False) -> int:
    """Exit this process (status 1) soon after its parent dies, unless ``busy()`` says it is in
    work that checks the parent itself; returns the parent's pid."""
    parent = os.getppid()

    def run() -> None:
        while True:
            time.sleep(POLL_SECONDS)
            if os.getppid() != parent and not busy():
                os._exit(1)

    threading.Thread(target=run, name="a2d-parent-watch", daemon=True).start()
    return parent


def process_synth(key: Hashable, make: Callable[[], SynthBackend]) -> SynthBackend:
    """This process's synth for ``key`` (what it renders and how): created by ``make()`` once and
    reused while the key stays the same; a different key closes the old synth first."""
    global _SYNTH
    if _SYNTH is not None and _SYNTH[0] == key:
        return _SYNTH[1]
    release_synth()
    backend = make()
    _SYNTH = (key, backend)
    return backend


def adopt_synth(key: Hashable, backend: SynthBackend) -> None:
    """Use an already created ``backend`` as this process's synth for ``key``."""
    global _SYNTH
    if _SYNTH is not None and _SYNTH[1] is not backend:
        _SYNTH[1].close()
    _SYNTH = (key, backend)


def current_synth() -> SynthBackend:
    """The synth :func:`process_synth` made in this process (a task needs one)."""
    if _SYNTH is None:
        raise RuntimeError("a synth task ran in a process without a synth")
    return _SYNTH[1]


def release_synth() -> None:
    """Close this process's synth (at the end of a run, and at exit of a worker process: a synth
    alive at interpreter exit makes nanobind print leak warnings)."""
    global _SYNTH
    if _SYNTH is not None:
        backend, _SYNTH = _SYNTH[1], None
        backend.close()
