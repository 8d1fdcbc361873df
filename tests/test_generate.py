"""`a2d generate` end to end on the real Vital synth: determinism, kill/resume, scale-out, bad input."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from a2d.cli import main
from a2d.contracts.errors import ExitCode
from a2d.contracts.plugins import get_spec
from a2d.contracts.synth import RenderSettings
from a2d.pipelines.generate import GenerateConfig, generate
from a2d.storage.dataset import open_dataset

SHORT = RenderSettings(duration=0.5)


def _config(out: Path, **kw: object) -> GenerateConfig:
    base = {"synth": "vital_simple", "num_samples": 12, "out": out, "workers": 0,
            "shard_size": 4, "render": SHORT, "seed": 5}  # fmt: skip
    return GenerateConfig(**{**base, **kw})  # type: ignore[arg-type]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from a2d.cli import run; run()", "generate", *args]


def _all(out: Path) -> dict[str, np.ndarray]:
    ds = open_dataset(out)
    return ds.read(0, len(ds), fields=ds.fields)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    out = tmp_path_factory.mktemp("clean")
    summary = generate(_config(out, num_samples=40))
    assert summary.rows_written == 40 and summary.shards_written == 10
    return out, _all(out)


def test_rows_depend_only_on_seed_and_row(clean, tmp_path: Path) -> None:
    _, ref = clean
    spec = get_spec("vital_simple")
    from a2d.runtime.workers import draw_row

    for r in (0, 7, 39):
        expected = spec.encode(draw_row(spec, 5, r, int(ref["attempt"][r])))
        np.testing.assert_array_equal(ref["params"][r], expected)
    # other shard size, two worker processes: the same rows
    generate(_config(tmp_path, num_samples=12, shard_size=5, workers=2))
    got = _all(tmp_path)
    np.testing.assert_array_equal(got["row"], np.arange(12))
    np.testing.assert_array_equal(got["params"], ref["params"][:12])
    np.testing.assert_array_equal(got["attempt"], ref["attempt"][:12])
    # and the same audio: a Vital render does not depend on the worker's earlier renders (float16
    # storage; renders agree to ~1e-7, which may flip a rounding)
    np.testing.assert_allclose(
        got["audio"].astype(np.float32), ref["audio"][:12].astype(np.float32), rtol=0, atol=2e-3
    )
    assert got["mel"].shape == (12, 2, 128, 51) and got["audio"].dtype == np.float16
    assert np.isfinite(got["mel"]).all()


def test_sigkill_then_resume_gives_exactly_the_clean_rows(clean, tmp_path: Path) -> None:
    """Kill a real `a2d generate` mid-way (shards done and one in flight), re-run, compare."""
    _, ref = clean
    out = tmp_path / "ds"
    args = _cli("--synth", "vital_simple", "--num-samples", "40", "--out", str(out),
                "--shard-size", "4", "--workers", "2", "--seed", "5", "--duration", "0.5")  # fmt: skip
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            done = list(out.glob("shard-*.h5")) if out.exists() else []
            if len(done) >= 2 and list(out.glob("*.tmp*")):
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole run: main process and its workers
        proc.wait()
    assert 2 <= len(list(out.glob("shard-*.h5"))) < 10
    with pytest.raises(Exception, match="missing"):
        open_dataset(out)
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "already there" in resumed.stdout
    assert not list(out.glob("*.tmp*"))
    got = _all(out)
    np.testing.assert_array_equal(got["row"], np.arange(40))
    np.testing.assert_array_equal(got["params"], ref["params"])
    np.testing.assert_array_equal(got["attempt"], ref["attempt"])


def test_scale_out_jobs_merge_by_copying_shards(clean, tmp_path: Path) -> None:
    _, ref = clean
    parts = [tmp_path / f"job{i}" for i in range(2)]
    for i, part in enumerate(parts):
        s = generate(_config(part, num_samples=12, shard_index=i, num_shards=2))
        assert s.shards_written == (2 if i == 0 else 1)
    manifests = [json.loads((p / "dataset.json").read_text()) for p in parts]
    assert manifests[0] == manifests[1]
    merged = tmp_path / "merged"
    shutil.copytree(parts[0], merged)
    for f in parts[1].glob("shard-*.h5"):
        shutil.copy(f, merged)
    np.testing.assert_array_equal(_all(merged)["params"], ref["params"][:12])
    assert generate(_config(merged, num_samples=12)).rows_written == 0  # nothing left to do


def _run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["generate", *args])
    return code, capsys.readouterr().err.strip().splitlines()[-1]


def test_bad_input_gives_one_line_and_exit_code(capsys, tmp_path: Path) -> None:
    common = ["--duration", "0.5", "--workers", "0", "--shard-size", "4"]
    code, err = _run_main(
        capsys, "--synth", "nope", "--num-samples", "4", "--out", str(tmp_path / "a")
    )
    assert code == ExitCode.NOT_FOUND and "vital_simple" in err
    code, err = _run_main(
        capsys, "--synth", "vital_simple", "--num-samples", "0", "--out", str(tmp_path / "a")
    )
    assert code == ExitCode.USAGE and "--num-samples" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = _run_main(
        capsys, "--synth", "vital_simple", "--num-samples", "4", "--out", str(blocker / "sub")
    )
    assert code == ExitCode.OUTPUT and "writable" in err
    code, err = _run_main(
        capsys, "--synth", "vital_simple", "--num-samples", "4", "--out", str(tmp_path), *common
    )
    assert code == ExitCode.OUTPUT and "not an a2d dataset" in err
    out = str(tmp_path / "ds")
    assert (
        main(["generate", "--synth", "vital_simple", "--num-samples", "4", "--out", out, *common])
        == 0
    )
    code, err = _run_main(
        capsys,
        "--synth",
        "vital_simple",
        "--num-samples",
        "4",
        "--out",
        out,
        "--seed",
        "9",
        *common,
    )
    assert code == ExitCode.OUTPUT and "seed" in err and "--overwrite" in err
    args = [
        "--synth",
        "vital_simple",
        "--num-samples",
        "4",
        "--out",
        out,
        "--seed",
        "9",
        "--overwrite",
    ]
    assert main(["generate", *args, *common]) == 0
    assert open_dataset(out).manifest.data["seed"] == 9


def test_dotted_overrides_set_any_config_key(capsys, tmp_path: Path) -> None:
    common = [
        "--synth",
        "vital_simple",
        "--num-samples",
        "4",
        "--workers",
        "0",
        "--shard-size",
        "4",
    ]
    out = tmp_path / "ds"
    args = ["generate", *common, "--out", str(out), "--duration", "0.5"]
    args += ["--mel.n_mels", "32", "--render.sample_rate=22050", "--compression", "lzf"]
    assert main(args) == 0
    ds = open_dataset(out)
    assert ds.render_settings.sample_rate == 22050 and ds.mel_settings.n_mels == 32
    assert ds.read(0, 4)["mel"].shape[:3] == (4, 2, 32)
    assert ds.manifest.data["config"]["compression"] == "lzf"
    code, err = _run_main(capsys, *common, "--out", str(tmp_path / "x"), "--mel.n_melz", "3")
    assert code == ExitCode.USAGE and "'mel.n_melz'" in err and "n_mels" in err
    assert not (tmp_path / "x").exists()


def test_workers_of_a_killed_main_process_stop_and_the_rerun_is_clean(
    clean, tmp_path: Path, procs
) -> None:
    """kill -9 of the main process alone (as the OOM killer does): its workers must not render on
    as orphans beside the resumed run, nor leave temp files."""
    _, ref = clean
    out = tmp_path / "ds"
    args = _cli("--synth", "vital_simple", "--num-samples", "40", "--out", str(out),
                "--shard-size", "20", "--workers", "2", "--seed", "5", "--duration", "0.5",
                "--block_rows", "2")  # fmt: skip
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out.exists() and list(out.glob("*.tmp*"))):
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.01)
        workers = procs.children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only
        proc.wait()
        assert workers, "no worker processes to watch"
        deadline = time.monotonic() + 30
        while any(procs.alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(procs.alive(w) for w in workers), "orphaned workers kept running"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
    assert not list(out.glob("*.tmp*")) and not list(out.glob("shard-*.h5"))
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    np.testing.assert_array_equal(_all(out)["params"], ref["params"])


def _limit_file_size() -> None:
    """Child: files may not grow beyond 600 kB (EFBIG), like a nearly full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, 600_000))


def test_full_disk_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    args = _cli("--synth", "vital_simple", "--num-samples", "9", "--out", str(out),
                "--shard-size", "4", "--workers", "0", "--duration", "1.0")  # fmt: skip
    full = subprocess.run(
        args, capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size
    )
    assert full.returncode == ExitCode.OUTPUT, full.stderr
    assert "disk full" in full.stderr and "Traceback" not in full.stderr
    assert not list(out.glob("*.tmp*"))
    for f in out.glob("shard-*.h5"):  # whatever was completed is intact
        with h5py.File(f) as h:
            assert h["row"].shape[0] == h.attrs["rows"]
    ok = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert len(open_dataset(out)) == 9


@pytest.mark.ray
def test_ray_executor_on_a_local_instance(clean, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip(
        "ray", reason="the optional ray extra is not installed (pip install 'a2d[ray]')"
    )
    # Ray puts the driver's working directory on its workers' sys.path: run from outside the
    # source checkout so workers import the installed a2d (with a2d._core), as users' would.
    monkeypatch.chdir(tmp_path)
    _, ref = clean
    summary = generate(_config(tmp_path, num_samples=8, workers=2, executor="ray"))
    assert summary.executor == "ray" and summary.rows_written == 8
    np.testing.assert_array_equal(_all(tmp_path)["params"], ref["params"][:8])
