"""SynthPool: tasks on real Vital backends in spawned worker processes, and their failures."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from a2d.contracts.errors import ConfigError, RenderError
from a2d.contracts.plugins import get_spec
from a2d.contracts.synth import RenderSettings
from a2d.runtime.synth_pool import SynthPool

SETTINGS = RenderSettings(sample_rate=22050, duration=0.5)


def where(backend, tag: int) -> tuple[int, int, str | None, str]:
    return tag, os.getpid(), os.environ.get("A2D_NUM_THREADS"), backend.spec.name


def render_seeded(backend, seed: int) -> np.ndarray:
    return backend.render(backend.spec.sample(np.random.default_rng(seed)))


def fail(backend, message: str) -> None:
    raise ValueError(message)


def die(backend) -> None:
    os._exit(3)


@pytest.mark.parametrize("workers", [0, 2])
def test_tasks_run_in_order_on_each_worker_synth(workers: int) -> None:
    spec = get_spec("vital_simple")
    with SynthPool(spec, SETTINGS, workers=workers) as pool:
        got = pool.map(where, [(i,) for i in range(6)])
        renders = pool.map(render_seeded, [(3,), (4,)])
    assert [g[0] for g in got] == list(range(6))
    assert {g[3] for g in got} == {"vital_simple"}
    pids = {g[1] for g in got}
    if workers == 0:
        assert pids == {os.getpid()}
    else:
        assert os.getpid() not in pids and {g[2] for g in got} == {"1"}  # one native thread each
    with SynthPool(spec, SETTINGS) as here:
        want = here.map(render_seeded, [(3,), (4,)])
    for a, b in zip(renders, want, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_task_error_reaches_the_caller_unchanged(workers: int) -> None:
    pool = SynthPool(get_spec("vital_simple"), SETTINGS, workers=workers)
    with pool, pytest.raises(ValueError, match="bad patch 7"):
        pool.map(fail, [("bad patch 7",)])


def test_a_dead_worker_is_one_clear_error() -> None:
    pool = SynthPool(get_spec("vital_simple"), SETTINGS, workers=1)
    with pool, pytest.raises(RenderError, match="synth worker process died.*--workers 0"):
        pool.map(die, [()])


def mel_of_render(backend, seed: int) -> tuple[str | None, np.ndarray, np.ndarray]:
    from a2d.kernels.mel import mel_spectrogram

    audio = render_seeded(backend, seed)
    mel = mel_spectrogram(audio, backend.settings.sample_rate)
    return os.environ.get("A2D_NUM_THREADS"), audio, np.asarray(mel)


def test_worker_threads_change_no_mel_of_a_real_render(monkeypatch) -> None:
    """Pool workers run their native kernels on one thread; the caller on as many as it is told.
    The log-mel of the same real Vital render is the same either way (and is a real spectrum, not
    the dB floor of silence)."""
    from a2d.kernels.mel import mel_spectrogram

    seeds = [3, 4]
    with SynthPool(get_spec("vital_simple"), SETTINGS, workers=2) as pool:
        got = pool.map(mel_of_render, [(s,) for s in seeds])
    assert [threads for threads, _, _ in got] == ["1", "1"]
    for _, audio, mel in got:
        assert float(np.sqrt(np.mean(audio**2))) > 1e-3, "render is silent: pick another seed"
        assert float(mel.max() - mel.min()) > 30.0  # dB of spread: a spectrum, not a floor
    for threads in ("2", "3", None):
        if threads is None:
            monkeypatch.delenv("A2D_NUM_THREADS", raising=False)
        else:
            monkeypatch.setenv("A2D_NUM_THREADS", threads)
        for _, audio, mel in got:
            here = np.asarray(mel_spectrogram(audio, SETTINGS.sample_rate))
            np.testing.assert_allclose(here, mel, atol=1e-4, err_msg=f"threads={threads}")
    monkeypatch.setenv("A2D_NUM_THREADS", "many")
    with pytest.raises(ConfigError, match="A2D_NUM_THREADS='many'.*integer >= 0"):
        mel_spectrogram(got[0][1], SETTINGS.sample_rate)


CALLER = """
import os, sys, time
from a2d.contracts.plugins import get_spec
from a2d.contracts.synth import RenderSettings
from a2d.runtime.synth_pool import SynthPool
if __name__ == "__main__":
    pool = SynthPool(get_spec("vital_simple"), RenderSettings(duration=0.5), workers=2)
    for f in pool._warmup:
        f.result()
    print(os.getpid(), flush=True)
    time.sleep(120)
"""


def test_workers_leave_when_their_caller_is_killed(tmp_path, procs) -> None:
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "caller.py"
    script.write_text(CALLER)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        kids = procs.children(pid)
        os.kill(pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(procs.alive(k) for k in kids):
            time.sleep(0.1)
        assert kids and not any(procs.alive(k) for k in kids), "workers outlived their caller"
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def which_backend(backend, tag: int) -> tuple[int, int, str]:
    return tag, id(backend), threading.current_thread().name


@pytest.mark.parametrize("spec_name", ["vital_simple", "dexed_simple"])
def test_render_threads_give_the_serial_renders(spec_name: str) -> None:
    """threads=2: two synths of this process render at once (both engines release the GIL), each
    task on its thread's own synth, and every render equals the one-synth render of the patch."""
    spec = get_spec(spec_name)
    settings = RenderSettings(sample_rate=22050, duration=1.0, channels=1)
    seeds = list(range(8))
    with SynthPool(spec, settings, threads=2) as pool:
        assert pool.lanes == 2 and pool.workers == 0
        got = pool.map(render_seeded, [(s,) for s in seeds])
        where_ = pool.map(which_backend, [(i,) for i in range(12)])
    assert [w[0] for w in where_] == list(range(12))
    for _, _backend, thread in where_:
        assert thread.startswith("a2d-synth")
    by_thread = {}
    for _, backend, thread in where_:
        by_thread.setdefault(thread, set()).add(backend)
    assert all(len(b) == 1 for b in by_thread.values())  # one synth per thread, kept
    with SynthPool(spec, settings) as one:
        assert one.lanes == 1
        want = one.map(render_seeded, [(s,) for s in seeds])
    assert sum(float(np.abs(w).max()) > 1e-3 for w in want) >= 6, "most seeds must sound"
    # Vital renders the same patch equal within 1e-6 whatever it rendered before (its drain
    # protocol; measured here: 3e-10 on 29 of 22,050 samples); Dexed bit for bit.
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def meet_there(backend, barrier) -> int:
    barrier.wait(30.0)
    return id(backend)


def test_threads_use_the_callers_synth_and_leave_it_open() -> None:
    from a2d.contracts.plugins import create_backend

    spec = get_spec("vital_simple")
    mine = create_backend(spec, SETTINGS)
    meet = threading.Barrier(2)  # two tasks that wait for each other run on both threads
    with SynthPool(spec, SETTINGS, threads=2, local=mine) as pool:
        ids = set(pool.map(meet_there, [(meet,), (meet,)]))
    assert id(mine) in ids and len(ids) == 2
    assert mine.render(spec.sample(np.random.default_rng(0))).shape[-1] > 0  # still open
    mine.close()


def test_closing_before_the_threads_have_their_synths_does_not_wait(monkeypatch) -> None:
    """A pool closed at once (an input that failed to load, a matcher made and dropped) does not
    leave a render thread waiting at the warm-up barrier for a thread whose task was cancelled:
    that wait ran out its 60 s timeout before this was fixed."""
    from a2d_vital.backend import VitalBackend

    made = threading.Event()
    slow = VitalBackend.__init__

    def slow_init(self, *args, **kwargs):  # the second thread's synth comes after close()
        made.wait(5.0)
        slow(self, *args, **kwargs)

    monkeypatch.setattr(VitalBackend, "__init__", slow_init)
    made.set()  # the caller's own synth, made here
    from a2d.contracts.plugins import create_backend

    mine = create_backend(get_spec("vital_simple"), SETTINGS)
    made.clear()
    pool = SynthPool(get_spec("vital_simple"), SETTINGS, threads=2, local=mine)
    closer = threading.Thread(target=pool.close)
    closer.start()
    made.set()
    closer.join(30.0)  # a hang check, not a timing: the bug held it for 60 s
    assert not closer.is_alive(), "close() waited at the render threads' warm-up barrier"
    mine.close()


def test_a_synth_that_cannot_render_in_threads_gets_one_lane(monkeypatch) -> None:
    from a2d_vital.backend import VitalBackend

    monkeypatch.setattr(VitalBackend, "parallel_threads", False)
    with SynthPool(get_spec("vital_simple"), SETTINGS, threads=4) as pool:
        assert pool.lanes == 1
        assert {t for _, _, t in pool.map(which_backend, [(0,), (1,)])} == {"MainThread"}


def test_a_synth_failing_in_a_render_thread_is_one_clear_error(monkeypatch) -> None:
    from a2d.contracts.plugins import create_backend
    from a2d_vital.backend import VitalBackend

    spec = get_spec("vital_simple")
    mine = create_backend(spec, SETTINGS)

    def broken(self, *args, **kwargs):
        raise OSError("no licence for a second instance")

    monkeypatch.setattr(VitalBackend, "__init__", broken)
    pool = SynthPool(spec, SETTINGS, threads=2, local=mine)  # the second thread's synth fails
    with pool, pytest.raises(RenderError, match="could not start in a render thread.*"
                             "OSError: no licence.*A2D_NUM_THREADS=1"):  # fmt: skip
        pool.map(which_backend, [(i,) for i in range(4)])
    mine.close()


def test_closing_after_a_render_thread_failed_does_not_hang(monkeypatch) -> None:
    """A render thread whose synth fails must not raise into ThreadPoolExecutor: an initializer
    that raises makes the executor drain its work queue when that thread exits, and a close()
    that came first (the failing thread still logging, as under load in CI) lost its shutdown
    sentinel and waited forever. The failure is recorded instead (nothing reaches the executor's
    logger) and close() returns."""
    import concurrent.futures.thread as cft
    import threading

    from a2d.contracts.plugins import create_backend
    from a2d_vital.backend import VitalBackend

    spec = get_spec("vital_simple")
    mine = create_backend(spec, SETTINGS)

    def broken(self, *args, **kwargs):
        raise OSError("no licence for a second instance")

    logged: list[str] = []
    monkeypatch.setattr(VitalBackend, "__init__", broken)
    monkeypatch.setattr(cft._base.LOGGER, "critical", lambda msg, *a, **k: logged.append(msg))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with SynthPool(spec, SETTINGS, threads=2, local=mine) as pool:
                pool.map(which_backend, [(i,) for i in range(4)])
        except BaseException as exc:  # the pool's one clear error, expected
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)  # close() joined every render thread
    assert not worker.is_alive(), "SynthPool.close() hung after a render thread's synth failed"
    assert logged == []  # no initializer raised into the executor
    assert len(errors) == 1 and isinstance(errors[0], RenderError)
    assert "could not start in a render thread" in str(errors[0])
    mine.close()
