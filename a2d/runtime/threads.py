"""How many threads torch's intra-op pool uses in each a2d process.

torch starts one OpenMP thread per core and its threads spin while they wait for work. Two jobs on
one machine (two ``a2d train`` runs, or a training run beside ``a2d generate``) then hold more
spinning threads than there are cores, and each slows the other down several times over (measured
in docs/results.md, "Speed (issue 17)"). a2d therefore decides the count itself:

- ``A2D_NUM_THREADS=N`` (N >= 1) caps torch's threads, a2d's native kernels and the synths that
  render one input's candidates in threads (:func:`render_threads`) alike;
- else an ``OMP_NUM_THREADS`` the user set is left to torch;
- else a command takes the cores that are free when it starts: the cores minus the busy ones, where
  busy is the smaller of the 1-minute load average and the processes running right now (the first
  lags after a job ends, the second jumps with short processes), and at least one.

Every a2d command applies this before torch is imported (:func:`configure_command`, from the CLI's
root callback), so ``OMP_NUM_THREADS`` reaches torch, MKL and the OpenMP runtime at once, and
processes the command spawns inherit it. Worker processes (synth pools, generation workers) use one
thread (:func:`configure_worker`): the processes are the parallelism. ``OMP_WAIT_POLICY=PASSIVE``
(unless set) makes idle OpenMP threads sleep instead of spinning, so that a job which took all the
cores of a quiet machine yields them when a second job starts.
"""

from __future__ import annotations

import os
import sys

from a2d.kernels._native import num_threads

__all__ = [
    "busy_cores",
    "command_threads",
    "configure_command",
    "configure_worker",
    "cores",
    "render_threads",
]


def cores() -> int:
    """Cores this process may run on (its affinity mask, which containers and ``taskset`` set)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def busy_cores() -> int:
    """Cores other processes keep busy now: min(1-minute load average, running processes - 1)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return 0
    running = None
    try:
        with open("/proc/loadavg", encoding="ascii") as fh:
            running = int(fh.read().split()[3].split("/")[0]) - 1  # not counting this process
    except (OSError, ValueError, IndexError):
        pass
    busy = round(load) if running is None else min(round(load), running)
    return max(0, busy)


def command_threads() -> int:
    """torch threads for a command's main process: ``A2D_NUM_THREADS``, else ``OMP_NUM_THREADS``,
    else the free cores (at least 1)."""
    n = num_threads()  # validates A2D_NUM_THREADS; 0 means "not set"
    if n > 0:
        return n
    user = os.environ.get("OMP_NUM_THREADS", "").strip()
    if user.isdigit() and int(user) > 0:
        return int(user)
    total = cores()
    return max(1, min(total, total - busy_cores()))


def render_threads() -> int:
    """Synths rendering one input's candidates in threads (``a2d predict``): ``A2D_NUM_THREADS``,
    else every core. Not the free cores, as for torch: a render thread does not spin while it
    waits, so on a busy machine two of them only share the cores, while one alone would leave a
    core idle whenever the other jobs pause (and the load average lags: it still counts the
    previous ``a2d predict`` seconds after it ended)."""
    n = num_threads()
    return n if n > 0 else cores()


def _apply(n: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(n)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch = sys.modules.get("torch")
    if torch is not None:  # already imported: the environment came too late for it
        torch.set_num_threads(n)


def configure_command() -> int:
    """Set this process's torch threads for one command (see the module docstring); returns it."""
    n = command_threads()
    _apply(n)
    return n


def configure_worker(n: int = 1) -> None:
    """``n`` torch and native threads in a worker process (call first thing in its initializer;
    :func:`a2d.runtime.process.start_worker` does)."""
    os.environ["A2D_NUM_THREADS"] = str(n)
    _apply(n)
