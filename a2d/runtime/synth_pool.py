"""Synth work spread over worker processes, one synth backend per process.

Rendering is the slow step of ``a2d predict`` (K candidates per input) and ``a2d evaluate`` (K
candidates per row and method, then their metrics): a 4 s Vital render costs about 0.14 s of one
core. A :class:`SynthPool` runs picklable task functions ``fn(backend, *args)`` in ``workers``
processes, each holding its own backend, created once when the process starts and reused for every
task. Workers are spawned (no torch or OpenMP state is forked) and start warming up as soon as the
pool exists, so the caller can load a model or sample while they load their synths. Each worker's
native kernels and torch use one thread (``a2d.runtime.process.start_worker``): the processes are the
parallelism.

``workers=0`` runs the tasks in the calling process on one backend, with the same interface; with
``threads=N`` (N > 1) on N backends in N threads of the calling process instead, for synths whose
engines render in parallel (:attr:`a2d.contracts.synth.SynthBackend.parallel_threads`: they release
the GIL while rendering and share no state between instances). Threads cost nothing to start,
where a worker process costs about 2 s (imports, its synth), so one input's 16-88 renders spread
over the cores without that wait.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import (
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from a2d.contracts.errors import RenderError
from a2d.contracts.plugins import backend_class
from a2d.contracts.spec import ParamSpec
from a2d.contracts.synth import RenderSettings, SynthBackend
from a2d.runtime.process import current_synth, process_synth, start_worker


def _init_worker(
    cls: type[SynthBackend], spec: ParamSpec, settings: RenderSettings, options: dict[str, Any]
) -> None:
    # A killed caller must not leave workers holding synths; Ctrl-C: the caller stops the pool;
    # one native thread each: the processes are the parallelism.
    start_worker(native_threads=1)
    process_synth("pool", lambda: cls(spec, settings, **options))


def _run(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return fn(current_synth(), *args)


def _ready(backend: SynthBackend) -> bool:
    return True


class SynthPool:
    """Run ``fn(backend, *args)`` tasks on synth backends in worker processes.

    :param spec: the spec the backends render (its base patch is restored before every render).
    :param settings: render settings of every backend.
    :param workers: worker processes; 0 runs tasks in this process.
    :param threads: with ``workers=0``: backends rendering in this many threads of this process
        (used only when the synth's backend allows it, see the module docstring; else 1).
    :param synth_options: backend options (e.g. ``plugin_path``), checked here, before any worker
        starts, so a missing synth is one clear error in the caller.
    :param local: with ``workers=0``, a backend of this process to use as the first one (the
        caller's own), instead of creating one.

    :attr:`lanes` is the number of tasks that run at once (processes or threads).
    """

    def __init__(
        self,
        spec: ParamSpec,
        settings: RenderSettings,
        *,
        workers: int = 0,
        threads: int = 1,
        synth_options: dict[str, Any] | None = None,
        local: SynthBackend | None = None,
    ) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        cls, options = backend_class(spec, **(synth_options or {}))
        self.spec, self.settings, self.workers = spec, settings, workers
        self._local: SynthBackend | None = None
        self._owns_local = local is None
        self._executor: Executor | None = None
        self._backends: list[SynthBackend] = []
        self._thread_backend = threading.local()
        self._init_error: BaseException | None = None  # why a render thread has no synth
        self._warmup: list[Future] = []
        self._barrier: threading.Barrier | None = None  # the render threads' warm-up
        self.lanes = max(workers, 1)
        if workers == 0:
            self._local = local if local is not None else cls(spec, settings, **options)
            if threads > 1 and getattr(cls, "parallel_threads", False):
                self.lanes = threads
                free = [self._local]

                def init() -> None:  # each thread's own backend: the caller's first, then new
                    try:
                        with lock:
                            backend = free.pop() if free else None
                        if backend is None:
                            backend = cls(spec, settings, **options)
                            with lock:
                                self._backends.append(backend)
                        self._thread_backend.backend = backend
                    except BaseException as exc:
                        # Recorded, not raised: submit() raises it before any task is queued.
                        # Raised, ThreadPoolExecutor would drain its work queue when the thread
                        # exits (_initializer_failed), swallowing the sentinel a close() that
                        # ran first had put there, and close() would wait forever for the
                        # other threads (seen under load in CI).
                        self._init_error = self._init_error or exc
                        barrier.abort()  # the other threads stop waiting; the pool is broken

                lock = threading.Lock()
                barrier = self._barrier = threading.Barrier(threads)
                self._executor = ThreadPoolExecutor(
                    max_workers=threads, thread_name_prefix="a2d-synth", initializer=init
                )
                # Start every thread now: they create their synths while the caller works.
                self._warmup = [self._executor.submit(barrier.wait, 60.0) for _ in range(threads)]
            return
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(cls, spec, settings, options),
        )
        # One no-op per worker: each submit past the idle ones starts a process, so all of them
        # begin importing and creating their synth now, while the caller does other work.
        self._warmup = [self._executor.submit(_run, _ready, ()) for _ in range(workers)]

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Schedule ``fn(backend, *args)``; ``fn`` must be a module-level function (picklable)."""
        if isinstance(self._executor, ThreadPoolExecutor):
            if self._warmup:  # every thread has its synth, or one failed to create it
                for f in self._warmup:
                    f.exception()
                self._warmup = []
            if self._init_error is not None:
                raise _broken(self._init_error)
            try:
                return self._executor.submit(lambda: fn(self._thread_backend.backend, *args))
            except BrokenExecutor as exc:
                raise _broken(self._init_error or exc) from None
        if self._executor is None:
            future: Future = Future()
            try:
                future.set_result(fn(self._local, *args))
            except Exception as exc:  # delivered through the future, as from a worker
                future.set_exception(exc)
            return future
        try:
            return self._executor.submit(_run, fn, args)
        except (BrokenExecutor, RuntimeError) as exc:
            raise _broken(exc) from None

    def map(self, fn: Callable[..., Any], items: Iterable[tuple[Any, ...]]) -> list[Any]:
        """``[fn(backend, *item) for item in items]``, computed in parallel, in order."""
        futures = [self.submit(fn, *item) for item in items]
        try:
            return [result(f) for f in futures]
        except RenderError:
            if self._init_error is not None:
                raise _broken(self._init_error) from None
            raise

    def close(self) -> None:
        """Stop the workers (pending tasks are cancelled) and release the local synth."""
        if self._barrier is not None:  # closed before every render thread had its synth: a
            self._barrier.abort()  # thread at the barrier would wait for one that never comes
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        for backend in self._backends:
            backend.close()
        self._backends = []
        if self._local is not None:
            if self._owns_local:
                self._local.close()
            self._local = None

    def __enter__(self) -> SynthPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def render_pool(
    spec: ParamSpec,
    settings: RenderSettings,
    renders: int,
    *,
    workers: int = 0,
    threads: int | None = None,
    synth_options: dict[str, Any] | None = None,
    local: SynthBackend | None = None,
) -> SynthPool | None:
    """The pool that renders ``renders`` candidates of one input at a time (``a2d predict``), or
    None to render on ``local`` alone: ``workers`` processes when asked (at most ``renders``);
    else one synth per core in threads (:func:`a2d.runtime.threads.render_threads`, or
    ``threads``) when the synth renders in threads, with ``local`` as the first of them."""
    if renders <= 1:
        return None
    if workers > 0:
        return SynthPool(spec, settings, workers=min(workers, renders), synth_options=synth_options)
    from a2d.runtime.threads import render_threads

    n = min(render_threads() if threads is None else threads, renders)
    cls, _ = backend_class(spec, **(synth_options or {}))
    if n <= 1 or not getattr(cls, "parallel_threads", False):
        return None
    return SynthPool(
        spec, settings, threads=n, synth_options=synth_options, local=local
    )  # fmt: skip


def result(future: Future) -> Any:
    """``future.result()``, with a dead worker process turned into one clear :class:`RenderError`."""
    try:
        return future.result()
    except BrokenExecutor as exc:
        raise _broken(exc) from None


def _broken(exc: BaseException) -> RenderError:
    if not isinstance(exc, BrokenProcessPool):  # a render thread could not create its synth
        return RenderError(
            f"a synth could not start in a render thread ({type(exc).__name__}: {exc}); "
            "re-run with A2D_NUM_THREADS=1 to render on one synth"
        )
    return RenderError(
        f"a synth worker process died ({exc}); re-run with --workers 0 to render in this "
        "process and see the synth's own error"
    )
