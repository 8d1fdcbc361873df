"""Regression tests of issue 11 ("Trust") below the CLI: the atomic-write helper, unique output
folders, shard checksums, metrics.csv on resume, the exit-code table, the Python-fallback warning and
synth release in worker processes. The CLI battery is ``tests/test_bad_inputs.py``."""

from __future__ import annotations

import csv
import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from a2d.contracts.errors import ExitCode, OutputError
from a2d.pipelines.predict import output_names
from a2d.storage.atomic import atomic_dir, atomic_save, atomic_write

ROOT = Path(__file__).resolve().parents[1]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".a2d-tmp-"))


def test_atomic_write_keeps_the_old_file_when_the_disk_is_full(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "a.json", '{"done": 1}')
    assert target.read_text() == '{"done": 1}'

    def full(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="disk full while writing .*a.json"):
        atomic_save(target, full)
    assert target.read_text() == '{"done": 1}'  # the finished file is untouched
    assert _leftovers(tmp_path) == []


def test_atomic_dir_is_complete_or_absent(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
    assert [p.name for p in out.iterdir()] == ["a.txt"]
    with pytest.raises(OutputError, match="disk full"), atomic_dir(out) as tmp:
        (tmp / "b.txt").write_text("2")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert [p.name for p in out.iterdir()] == ["a.txt"]  # the earlier folder survives whole
    with pytest.raises(KeyboardInterrupt), atomic_dir(tmp_path / "new") as tmp:
        (tmp / "c.txt").write_text("3")
        raise KeyboardInterrupt
    assert not (tmp_path / "new").exists() and _leftovers(tmp_path) == []
    with atomic_dir(out) as tmp:  # a rerun replaces the folder as a whole
        (tmp / "c.txt").write_text("3")
    assert [p.name for p in out.iterdir()] == ["c.txt"] and _leftovers(tmp_path) == []


def test_no_hand_rolled_atomic_writes_are_left() -> None:
    """One helper (a2d/storage/atomic.py) owns temp-name-and-rename, the shard writer included
    (it writes HDF5 through a guarded file object under ``atomic_path``)."""
    users = sorted(
        str(p.relative_to(ROOT))
        for p in [*ROOT.joinpath("a2d").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")]
        if re.search(
            r"os\.(replace|rename)\(|\.replace\(tmp|tmp\w*\.replace\(|\.rename\(", p.read_text()
        )
    )
    assert users == ["a2d/storage/atomic.py"]


def test_output_names_are_unique_even_against_other_stems() -> None:
    paths = [Path("a.wav"), Path("x/a_good.wav"), Path("y/a_good.wav"), Path("z/a_good-2.wav")]
    names = output_names(paths)
    assert len(set(names)) == 4, names
    assert names[:2] == ["a", "a_good"] and names[3] == "a_good-2"
    many = output_names([Path(f"d{i}/s.wav") for i in range(5)] + [Path("S-2.wav")])
    assert len({n.casefold() for n in many}) == 6, many


def test_shards_carry_fletcher32_checksums(tiny_vital_dataset: Path) -> None:
    with h5py.File(tiny_vital_dataset / "shard-00000.h5", "r") as f:
        assert all(f[name].fletcher32 for name in f), {n: f[n].fletcher32 for n in f}


def test_metrics_log_drops_rows_past_the_resumed_step(tmp_path: Path) -> None:
    from a2d.pipelines.train.logs import MetricsLog

    log = MetricsLog(tmp_path, tensorboard=False)
    for step in range(1, 7):
        log.write({"step": step, "split": "train", "loss": 1.0 / step})
    log.close()
    log = MetricsLog(tmp_path, tensorboard=False, start_step=4)  # resumed from step 4
    for step in (5, 6):
        log.write({"step": step, "split": "train", "loss": 0.5})
    log.close()
    with open(tmp_path / "metrics.csv", newline="") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [1, 2, 3, 4, 5, 6]


def test_readme_exit_code_table_is_the_exit_code_enum() -> None:
    text = (ROOT / "README.md").read_text()
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", text, flags=re.M))
    assert {int(k) for k in table} == {int(c) for c in ExitCode}
    assert "not exist" in table["3"] and "disk full" in table["6"] and "interrupted" in table["130"]


def _python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONSAFEPATH", "A2D_IMPLEMENTATION", "A2D_REQUIRE_NATIVE")
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**environ, **env},
    )  # fmt: skip


def test_a_missing_extension_says_so_once_on_stderr() -> None:
    """Python started in the checkout imports the source a2d/ (no compiled _core)."""
    if list(ROOT.joinpath("a2d").glob("_core*.so")):
        pytest.skip("this checkout has a compiled a2d._core in place")
    code = "import a2d, a2d.kernels._native as n; print(a2d.__file__); n.select(); n.select(); n.available()"
    proc = _python(code, ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(str(ROOT / "a2d")), proc.stdout  # the source tree
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: a2d's compiled extension"), lines
    asked = _python(code, ROOT, A2D_IMPLEMENTATION="python")
    assert asked.returncode == 0 and asked.stderr == "", asked.stderr
    installed = _python(code, ROOT, PYTHONSAFEPATH="1")  # the installed package: no warning
    assert installed.stderr == "", installed.stderr


def test_synth_workers_release_their_synths(tmp_path: Path) -> None:
    """A synth alive at interpreter exit makes nanobind print leak reports (73 lines per run)."""
    code = (
        "from a2d.contracts.plugins import get_spec\n"
        "from a2d.contracts.synth import RenderSettings\n"
        "from a2d.runtime.synth_pool import SynthPool\n"
        "from a2d.pipelines.predict import render_patches\n"
        "import numpy as np\n"
        "spec = get_spec('vital_simple')\n"
        "patch = spec.sample(np.random.default_rng(0))\n"
        "with SynthPool(spec, RenderSettings(duration=0.5), workers=1) as pool:\n"
        "    assert pool.map(render_patches, [([patch],)])[0][0].shape[0] == 2\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr
    assert "nanobind" not in proc.stderr and "leaked" not in proc.stderr, proc.stderr
    generate = subprocess.run(
        [sys.executable, "-c", "from a2d.cli import run; run()", "generate", "--synth",
         "vital_simple", "--num-samples", "4", "--out", "g", "--workers", "1", "--shard-size", "4",
         "--duration", "0.5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert generate.returncode == 0, generate.stderr
    assert "nanobind" not in generate.stderr and "leaked" not in generate.stderr, generate.stderr
