"""The native build: a2d._core is importable and active, the CLI reports it, the env switches work,
and the CUDA twin was installed whenever the build found nvcc."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from a2d.contracts.errors import ExitCode, NativeBackendError
from a2d.kernels import _native


def run_version(**env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("A2D_")} | env
    code = "import sys; from a2d.cli import main; sys.exit(main(['--version']))"
    return subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.native
def test_core_imports_and_exposes_the_kernels() -> None:
    core = _native.core()
    if core is None:
        pytest.skip("a2d._core did not build (CI sets A2D_REQUIRE_NATIVE=1 to make this a failure)")
    assert callable(core.mel_spectrogram) and callable(core.ode_sample)
    assert core.default_num_threads() >= 1
    assert "cpp" in _native.built()


@pytest.mark.skipif(
    os.environ.get("A2D_REQUIRE_NATIVE") != "1", reason="CI-only: A2D_REQUIRE_NATIVE=1"
)
def test_required_native_backend_is_active() -> None:
    assert _native.select() in ("cpp", "cuda")
    assert _native.build_info(), "a2d/_build_info.json missing from the install"


def test_version_names_the_active_backend() -> None:
    default = run_version()
    assert default.returncode == 0, default.stderr
    assert f"native backend: {_native.select()}" in default.stdout
    forced = run_version(A2D_IMPLEMENTATION="python")
    assert "native backend: python" in forced.stdout


def test_invalid_implementation_is_a_clear_error() -> None:
    result = run_version(A2D_IMPLEMENTATION="fortran")
    assert result.returncode == ExitCode.NATIVE
    assert "A2D_IMPLEMENTATION='fortran' is not one of python, cpp, cuda" in result.stderr
    assert "Traceback" not in result.stderr


def test_forcing_and_validation_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A2D_IMPLEMENTATION", "python")
    assert _native.select() == "python"
    assert (
        _native.select("cpp" if "cpp" in _native.available() else "python") in _native.available()
    )
    monkeypatch.setenv("A2D_IMPLEMENTATION", "CUDA " if "cuda" not in _native.available() else "x")
    with pytest.raises(NativeBackendError):
        _native.select()


def test_cuda_module_installed_when_the_build_found_nvcc() -> None:
    info = _native.build_info()
    if not info:
        pytest.skip("a2d._core did not build, so there is no build record")
    assert info["cuda_requested"] in ("AUTO", "ON", "OFF")
    core_dir = Path(_native.core().__file__).parent
    cuda_files = list(core_dir.glob("_core_cuda*"))
    assert bool(cuda_files) == info["cuda_built"], (info, cuda_files)
    if info["cuda_built"]:
        assert _native.core_cuda() is not None  # links and imports even without a GPU
        assert "cuda" in _native.built()


def test_timed_benchmarks_refuse_the_checkouts_pure_python_kernels() -> None:
    """``python -m pytest benchmarks --benchmark-only`` in the checkout imports the source ``a2d``;
    without a compiled ``_core`` there it must stop with what to do, not time the fallback."""
    repo = Path(__file__).resolve().parents[1]
    # a user's shell: no CI switch that would refuse the checkout's kernels at import already
    drop = ("PYTHONSAFEPATH", "PYTHONPATH", "A2D_REQUIRE_NATIVE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    cmd = [sys.executable, "-m", "pytest", "benchmarks/bench_ode.py", "--collect-only", "-q",
           "-p", "no:cacheprovider"]  # fmt: skip
    built_here = any((repo / "a2d").glob("_core*.so"))
    timed = subprocess.run([*cmd, "--benchmark-only"], cwd=repo, env=env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    untimed = subprocess.run([*cmd, "--benchmark-disable"], cwd=repo, env=env,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert untimed.returncode == 0, untimed.stdout + untimed.stderr
    if built_here:  # an in-place build: the checkout's kernels are the native ones
        assert timed.returncode == 0, timed.stdout + timed.stderr
    else:
        assert timed.returncode == 4, timed.stdout + timed.stderr
        assert "a2d._core is missing" in timed.stdout + timed.stderr
