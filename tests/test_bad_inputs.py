"""A battery of bad inputs and faults through the real ``a2d`` command, each in its own process.

The README promises: an expected error prints ONE line ``error: <problem>; <fix>`` on stderr, exits
with the documented code, and loses nothing; a killed run keeps its finished work and resumes.
Every case below builds its own inputs (real wav files, real checkpoints and datasets made by a2d,
then damaged), runs the CLI in a subprocess, and checks the exit code, the stderr, and that
finished results are intact. Faults are real: a full disk is a small tmpfs where this machine lets
us mount one (root), and a file-size limit (``ulimit -f``, the kernel's EFBIG) everywhere; Ctrl-C is
SIGINT to the command's whole process group, as a terminal sends it.

The cases run concurrently (three at a time) in one session fixture; each test then checks one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch

from a2d.contracts.errors import ExitCode

CLI = [sys.executable, "-c", "from a2d.cli import run; run()"]
#: Starts a command as a terminal does, with SIGINT at its default disposition. A test run started
#: in the background (``nohup``, ``&`` in a script) ignores SIGINT, every child inherits that, and
#: Python installs its KeyboardInterrupt handler only where SIGINT is not ignored at start-up: a
#: Ctrl-C would then not reach a2d at all. This shim puts SIGINT back to its default and replaces
#: itself with the command (``exec``: same pid and process group), so the command's own start-up
#: and its handling of the real signal are what the Ctrl-C cases test, wherever pytest runs.
AS_FROM_A_TERMINAL = [
    sys.executable, "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
]  # fmt: skip
PARALLEL = 3
TIMEOUT = 240


@dataclass
class Assets:
    """Finished results every case may use (cases copy what they damage)."""

    root: Path
    data: Path
    checkpoint: Path
    demo: Path
    can_mount: bool


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    extra: dict = field(default_factory=dict)

    @property
    def lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]


@dataclass
class Case:
    """``run(dir, assets) -> Outcome``; ``expect`` the exit code; ``check(dir, assets, outcome)``
    asserts that nothing finished was lost or corrupted (and the case's own promise)."""

    name: str
    run: Callable[[Path, Assets], Outcome]
    expect: int
    check: Callable[[Path, Assets, Outcome], None] | None = None
    one_line: bool = True  # stderr is exactly one `error: ...` line (else: no traceback only)
    needs_mount: bool = False


def cli(cwd: Path, *args: str | Path, ulimit_kb: int | None = None) -> Outcome:
    argv = [*CLI, *map(str, args)]
    if ulimit_kb is not None:  # the kernel refuses writes past the limit (EFBIG), no root needed
        argv = ["bash", "-c", f"ulimit -f {ulimit_kb} && exec {shlex.join(argv)}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "A2D_NUM_THREADS": "1"}
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def interrupt(
    cwd: Path, args: list[str | Path], when: Callable[[], bool], settle: float = 0.0
) -> Outcome:
    """Start the command, send SIGINT to its process group once ``when()`` holds, collect it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "A2D_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [*AS_FROM_A_TERMINAL, *CLI[1:], *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    while not when() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(settle)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT)
    return Outcome(proc.returncode, out, err)


def tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return proc.returncode == 0


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def digest(path: Path) -> str:
    """Content hash of a file or a folder tree (names and bytes)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        h.update(str(p.relative_to(path.parent)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


# ---- inputs -------------------------------------------------------------------------------------
def wav(path: Path, audio: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(audio, np.float32).T, rate, subtype=subtype)
    return path


def tone(seconds: float, rate: int = 44100, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * np.exp(-2 * t)
    return np.repeat(x[None], channels, axis=0)


def put(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def torch_file(path: Path, obj: object) -> Path:
    torch.save(obj, path)
    return path


class Evil:
    """A pickle that would create a file when loaded without ``weights_only``."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def ckpt_with(assets: Assets, path: Path, **changes: object) -> Path:
    payload = torch.load(assets.checkpoint, weights_only=True)
    payload.update(changes)
    return torch_file(path, payload)


def copy_data(assets: Assets, d: Path) -> Path:
    out = d / "data"
    shutil.copytree(assets.data, out)
    return out


def poke_nan(data: Path, shard: str, row: int, fieldname: str = "mel") -> None:
    """Write NaN into one row of a shard through HDF5 (checksums stay valid: the data is bad)."""
    with h5py.File(data / shard, "r+") as f:
        x = f[fieldname][row]
        x[...] = np.nan
        f[fieldname][row] = x


def scribble(path: Path, offset: int, size: int) -> None:
    """Overwrite ``size`` bytes of a file in place (a damaged disk or copy)."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())


# ---- checks -------------------------------------------------------------------------------------
def assets_intact(d: Path, a: Assets, o: Outcome) -> None:
    assert digest(a.data) == a.root.joinpath("data.sha").read_text()
    assert digest(a.checkpoint) == a.root.joinpath("ckpt.sha").read_text()


def prior_result_intact(d: Path, a: Assets, o: Outcome) -> None:
    assets_intact(d, a, o)
    assert digest(d / "out" / "prior") == (d / "prior.sha").read_text()


def complete_or_absent(out: Path) -> None:
    """Every predict folder holds its five files, and nothing else is left anywhere."""
    for sub in [p for p in out.iterdir() if p.is_dir()] if out.exists() else []:
        names = {p.name for p in sub.iterdir()}
        assert names == {f"{sub.name}.vital", f"{sub.name}.wav", f"{sub.name}.params.json",
                         f"{sub.name}.mid", "report.html"}, (sub, names)  # fmt: skip
        json.loads((sub / f"{sub.name}.params.json").read_text())
    leftovers = [p for p in out.rglob(".*")] if out.exists() else []
    assert not leftovers, leftovers


def with_prior(d: Path) -> Path:
    """An output folder that already holds one finished prediction (must survive the case)."""
    prior = d / "out" / "prior"
    prior.mkdir(parents=True)
    for name in ("prior.vital", "prior.wav", "prior.params.json", "prior.mid", "report.html"):
        (prior / name).write_text(json.dumps({"finished": name}))
    (d / "prior.sha").write_text(digest(prior))
    return d / "out"


def predict_case(make_args: Callable[[Path, Assets], list], **kw) -> Callable:
    def run(d: Path, a: Assets) -> Outcome:
        out = with_prior(d)
        return cli(d, "predict", "-c", a.checkpoint, "-o", out, "-k", "2", "--workers", "0",
                   *make_args(d, a), **kw)  # fmt: skip

    return run


def predict_sound(make_sound: Callable[[Path, Assets], Path]) -> Callable:
    return predict_case(lambda d, a: [make_sound(d, a)])


def predict_ckpt(make_ckpt: Callable[[Path, Assets], Path]) -> Callable:
    def run(d: Path, a: Assets) -> Outcome:
        out = with_prior(d)
        return cli(d, "predict", a.demo, "-c", make_ckpt(d, a), "-o", out, "-k", "2")

    return run


def predict_checks(d: Path, a: Assets, o: Outcome) -> None:
    prior_result_intact(d, a, o)
    complete_or_absent(d / "out")
    assert not (d / "PWNED").exists()
    assert "Warning" not in o.stderr and "Traceback" not in o.stderr


def gen(d: Path, *extra: str | Path, out: str | Path = "g", **kw) -> Outcome:
    base = ["generate", "--synth", "vital_simple", "--num-samples", "8", "--out", out,
            "--workers", "0", "--shard-size", "4", "--duration", "0.5", "--seed", "3"]  # fmt: skip
    return cli(d, *base, *extra, **kw)


def gen_cfg(text: str | bytes) -> Callable:
    def run(d: Path, a: Assets) -> Outcome:
        p = d / "cfg.yaml"
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return gen(d, "--config", p)

    return run


def shards_verify(folder: Path, present_only: bool = False) -> None:
    from a2d.storage.dataset import Manifest
    from a2d.storage.shards import verify_shard

    m = Manifest.read(folder)
    for entry in m.shards:
        if present_only and not (folder / entry["file"]).exists():
            continue
        assert verify_shard(folder / entry["file"], entry, m.fields) is None, entry
    assert not [p.name for p in folder.iterdir() if ".tmp" in p.name or ".lock" in p.name]


def train_args(data: Path | str, *extra: str | Path) -> list:
    return ["train", "--data", data, "--size", "tiny", "--out", "run", "--train.steps", "2",
            "--train.device", "cpu", "--train.val_every", "0", *extra]  # fmt: skip


def evaluate_args(ckpt: Path, data: Path, *extra: str | Path) -> list:
    return ["evaluate", "-c", ckpt, "-d", data, "-o", "ev", "-k", "2", "--limit", "4",
            "--workers", "0", "--no-nearest", "--no-random", *extra]  # fmt: skip


# ---- the cases ----------------------------------------------------------------------------------
def _disk_full_predict(d: Path, a: Assets) -> Outcome:
    mnt = d / "mnt"
    if not tmpfs(mnt, "700k"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        o = cli(d, "predict", a.demo, "-c", a.checkpoint, "-o", mnt / "out", "-k", "2")
        o.extra["files"] = files_under(mnt)
        return o
    finally:
        umount(mnt)


def _disk_full_generate(d: Path, a: Assets) -> Outcome:
    mnt = d / "mnt"
    if not tmpfs(mnt, "1800k"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        o = gen(d, "--num-samples", "24", "--shard-size", "8", out=mnt / "g")
        o.extra["files"] = files_under(mnt / "g")
        if o.code == ExitCode.OUTPUT:
            shards_verify(mnt / "g", present_only=True)  # what is there is complete
        return o
    finally:
        umount(mnt)


def _efbig_generate(d: Path, a: Assets) -> Outcome:
    o = gen(d, "--num-samples", "12", "--shard-size", "4", ulimit_kb=60)
    o.extra["files"] = files_under(d / "g") if (d / "g").exists() else []
    return o


def _interrupted_generate(d: Path, a: Assets) -> Outcome:
    args = ["generate", "--synth", "vital_simple", "--num-samples", "48", "--out", "g",
            "--workers", "2", "--shard-size", "4", "--duration", "0.5"]  # fmt: skip
    o = interrupt(d, args, lambda: len(list((d / "g").glob("shard-*.h5"))) >= 2)
    kept = {p.name: digest(p) for p in (d / "g").glob("shard-*.h5")}
    o.extra["kept"] = kept
    shards_ok = [p for p in (d / "g").glob("shard-*.h5")]
    for p in shards_ok:  # every shard under a final name is complete
        from a2d.storage.dataset import Manifest
        from a2d.storage.shards import verify_shard

        m = Manifest.read(d / "g")
        entry = m.shards[int(p.name[6:11])]
        assert verify_shard(p, entry, m.fields) is None
    return o


def _interrupted_train(d: Path, a: Assets) -> Outcome:
    args = train_args(a.data, "--train.steps", "100000", "--train.checkpoint_every", "2")
    return interrupt(d, args, lambda: (d / "run" / "last.pt").exists(), settle=0.5)


def _interrupted_predict(d: Path, a: Assets) -> Outcome:
    out = with_prior(d)
    sounds = [wav(d / f"in{i}.wav", tone(1.0), 44100) for i in range(40)]
    args = ["predict", *sounds, "-c", a.checkpoint, "-o", out, "-k", "2", "--workers", "0"]
    return interrupt(d, args, lambda: len(list(out.iterdir())) >= 2)


def _interrupted_evaluate(d: Path, a: Assets) -> Outcome:
    args = evaluate_args(a.checkpoint, a.data, "--batch-size", "1", "--split", "train")
    args[args.index("--limit") + 1] = "40"
    return interrupt(d, args, lambda: len(list((d / "ev").rglob("rows-*.json"))) >= 1)


def _locked_generate(d: Path, a: Assets) -> Outcome:
    import fcntl

    (d / "g").mkdir()
    with open(d / "g" / ".a2d-generate-0-of-1.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        return gen(d)


def _resume_corrupt_shard(d: Path, a: Assets) -> Outcome:
    first = gen(d)
    assert first.code == 0, first.stderr
    shard = d / "g" / "shard-00001.h5"
    size = shard.stat().st_size
    scribble(shard, size // 3, size // 3)  # a third of the file, in the data
    o = gen(d)
    o.extra["stdout"] = o.stdout
    return o


def _resume_nan_shard(d: Path, a: Assets) -> Outcome:
    first = gen(d)
    assert first.code == 0, first.stderr
    poke_nan(d / "g", "shard-00000.h5", 2)
    return gen(d)


def _regenerated(d: Path, a: Assets, o: Outcome) -> None:
    assert "(4 rendered now, 4 already there)" in o.stdout, o.stdout
    shards_verify(d / "g")


def _overwrite_sibling(d: Path, a: Assets) -> Outcome:
    base = ["--num-samples", "16", "--shard-size", "4", "--num-shards", "2"]
    assert gen(d, *base, "--shard-index", "1").code == 0
    sibling = {p.name: digest(p) for p in (d / "g").glob("shard-*.h5")}
    o = gen(d, *base, "--shard-index", "0", "--overwrite")
    o.extra["sibling"] = sibling
    return o


def _sibling_kept(d: Path, a: Assets, o: Outcome) -> None:
    for name, h in o.extra["sibling"].items():
        assert digest(d / "g" / name) == h, name
    shards_verify(d / "g")


def _resume_train_metrics(d: Path, a: Assets) -> Outcome:
    assert cli(d, *train_args(a.data, "--train.steps", "4", "--train.log_every", "1",
                              "--train.checkpoint_every", "2")).code == 0  # fmt: skip
    shutil.copy(d / "run" / "last.pt", d / "step4.pt")
    o = cli(d, *train_args(a.data, "--train.steps", "6", "--train.log_every", "1",
                           "--resume", d / "step4.pt"))  # fmt: skip
    return o


def _metrics_once(d: Path, a: Assets, o: Outcome) -> None:
    import csv

    with open(d / "run" / "metrics.csv", newline="") as f:
        steps = [int(float(r["step"])) for r in csv.DictReader(f) if r["split"] == "train"]
    assert steps == [1, 2, 3, 4, 5, 6], steps


def _unique_folders(d: Path, a: Assets) -> Outcome:
    sounds = [shutil.copy(a.demo, d / "a.wav")]
    for sub, stem in (("x", "a_good"), ("y", "a_good"), ("z", "a_good-2")):
        (d / sub).mkdir()
        sounds.append(shutil.copy(a.demo, d / sub / f"{stem}.wav"))
    return cli(d, "predict", *sounds, "-c", a.checkpoint, "-o", "out", "-k", "1",
               "--workers", "0")  # fmt: skip


def _four_folders(d: Path, a: Assets, o: Outcome) -> None:
    folders = sorted(p.name for p in (d / "out").iterdir())
    assert len(folders) == 4, folders
    complete_or_absent(d / "out")


def _one_good_one_missing(d: Path, a: Assets) -> Outcome:
    out = with_prior(d)
    return cli(d, "predict", a.demo, d / "missing.wav", "-c", a.checkpoint, "-o", out,
               "-k", "1", "--workers", "0")  # fmt: skip


def _good_folder_written(d: Path, a: Assets, o: Outcome) -> None:
    predict_checks(d, a, o)
    assert (d / "out" / a.demo.stem / f"{a.demo.stem}.vital").is_file()
    assert any("missing.wav" in ln for ln in o.lines)


def _ok_predict(d: Path, a: Assets, o: Outcome) -> None:
    predict_checks(d, a, o)
    assert len([p for p in (d / "out").iterdir() if p.is_dir()]) == 2  # prior + new


def _bad_manifest(d: Path, a: Assets) -> Outcome:
    data = copy_data(a, d)
    (data / "dataset.json").write_text("{not json")
    return cli(d, *train_args(data))


def _damaged_shard_train(d: Path, a: Assets) -> Outcome:
    data = copy_data(a, d)
    shard = data / "shard-00000.h5"
    size = shard.stat().st_size
    scribble(shard, size // 2, 4096)
    return cli(d, *train_args(data))


def _nan_train(d: Path, a: Assets) -> Outcome:
    data = copy_data(a, d)
    poke_nan(data, "shard-00001.h5", 5)
    return cli(d, *train_args(data))


def _nan_evaluate(d: Path, a: Assets) -> Outcome:
    data = copy_data(a, d)
    first = int(json.loads((data / "dataset.json").read_text())["splits"]["test"][0])
    shard = f"shard-{first // 16:05d}.h5"
    poke_nan(data, shard, first % 16 + 1)
    return cli(d, *evaluate_args(a.checkpoint, data))


def _names_shard_and_row(shard: str, row: int | None = None) -> Callable:
    def check(d: Path, a: Assets, o: Outcome) -> None:
        assets_intact(d, a, o)
        assert shard in o.stderr, o.stderr
        if row is not None:
            assert f"row {row}" in o.stderr, o.stderr

    return check


def _nan_eval_check(d: Path, a: Assets, o: Outcome) -> None:
    assets_intact(d, a, o)
    first = int(json.loads((a.data / "dataset.json").read_text())["splits"]["test"][0])
    assert f"shard-{first // 16:05d}.h5" in o.stderr and f"row {first + 1}" in o.stderr, o.stderr


def _foreign_kept(d: Path, a: Assets, o: Outcome) -> None:
    assert (d / "mine" / "notes.txt").read_text() == "mine"
    assert [p.name for p in (d / "mine").iterdir()] == ["notes.txt"]


def _gen_resume_other(d: Path, a: Assets) -> Outcome:
    assert gen(d).code == 0
    (d / "g.sha").write_text(digest(d / "g"))
    return gen(d, "--seed", "4")


def _gen_untouched(d: Path, a: Assets, o: Outcome) -> None:
    assert digest(d / "g") == (d / "g.sha").read_text()


def _efbig_files(d: Path, a: Assets, o: Outcome) -> None:
    leftovers = [f for f in o.extra["files"] if ".tmp" in f or f.startswith(".")]
    assert not leftovers, leftovers


def _disk_full_predict_check(d: Path, a: Assets, o: Outcome) -> None:
    assets_intact(d, a, o)
    assert o.extra["files"] == [], o.extra["files"]  # no partial file, no temp file


def _disk_full_generate_check(d: Path, a: Assets, o: Outcome) -> None:
    files = o.extra["files"]
    assert "shard-00000.h5" in files, files  # finished work kept
    assert not [f for f in files if ".tmp" in f or ".lock" in f], files


def _resume_after_interrupt(d: Path, a: Assets, o: Outcome) -> None:
    for name, h in o.extra["kept"].items():
        assert digest(d / "g" / name) == h, name
    again = cli(d, "generate", "--synth", "vital_simple", "--num-samples", "48", "--out", "g",
                "--workers", "2", "--shard-size", "4", "--duration", "0.5")  # fmt: skip
    assert again.code == 0, again.stderr
    assert not [ln for ln in again.stderr.splitlines() if "nanobind" in ln or "leak" in ln]
    shards_verify(d / "g")


def _train_resumable(d: Path, a: Assets, o: Outcome) -> None:
    from a2d.storage.checkpoint import read_payload

    assert read_payload(d / "run" / "last.pt")["step"] >= 2  # a checkpoint, complete


def _evaluate_resumes(d: Path, a: Assets, o: Outcome) -> None:
    args = evaluate_args(a.checkpoint, a.data, "--batch-size", "1", "--split", "train")
    args[args.index("--limit") + 1] = "40"
    parts = len(list((d / "ev").rglob("rows-*.json")))
    assert parts >= 1
    again = cli(d, *args)
    assert again.code == 0, again.stderr
    assert "resumed" in again.stderr


def _predict_interrupt_check(d: Path, a: Assets, o: Outcome) -> None:
    prior_result_intact(d, a, o)
    complete_or_absent(d / "out")


CASES: list[Case] = [
    # predict: inputs
    Case("predict-missing-sound", predict_sound(lambda d, a: d / "nope.wav"), 3, predict_checks),
    Case(
        "predict-empty-file",
        predict_sound(lambda d, a: put(d / "e.wav", b"")),
        4,
        predict_checks,
    ),
    Case(
        "predict-text-as-wav",
        predict_sound(lambda d, a: put(d / "t.wav", "hello")),
        4,
        predict_checks,
    ),
    Case(
        "predict-wrong-suffix",
        predict_sound(lambda d, a: shutil.copy(a.demo, d / "s.txt")),
        4,
        predict_checks,
    ),
    Case(
        "predict-folder-without-sounds",
        predict_sound(lambda d, a: (d / "empty").mkdir() or d / "empty"),
        4,
        predict_checks,
    ),
    Case(
        "predict-one-sample",
        predict_sound(lambda d, a: wav(d / "one.wav", np.full((1, 1), 0.5), 44100)),
        4,
        predict_checks,
    ),
    Case(
        "predict-too-short-0.1s",
        predict_sound(lambda d, a: wav(d / "short.wav", tone(0.1), 44100)),
        4,
        predict_checks,
    ),
    Case(
        "predict-silent",
        predict_sound(lambda d, a: wav(d / "silent.wav", np.zeros((2, 44100)), 44100)),
        4,
        predict_checks,
    ),
    Case(
        "predict-nan-samples",
        predict_sound(
            lambda d, a: wav(
                d / "nan.wav",
                np.where(np.arange(44100) % 100 == 0, np.nan, tone(1.0)),
                44100,
                "FLOAT",
            )
        ),
        4,
        predict_checks,
    ),
    Case(
        "predict-truncated-wav",
        predict_sound(lambda d, a: put(d / "cut.wav", a.demo.read_bytes()[:30])),
        4,
        predict_checks,
    ),
    Case(
        "predict-too-long-601s",
        predict_sound(lambda d, a: wav(d / "long.wav", np.full((1, 601 * 8000), 0.1), 8000)),
        4,
        predict_checks,
    ),
    Case(
        "predict-8khz-mono",
        predict_sound(lambda d, a: wav(d / "lo.wav", tone(1.0, 8000), 8000)),
        0,
        _ok_predict,
        one_line=False,
    ),
    Case(
        "predict-96khz-6ch-24bit",
        predict_sound(lambda d, a: wav(d / "hi.wav", tone(1.0, 96000, 6), 96000, "PCM_24")),
        0,
        _ok_predict,
        one_line=False,
    ),
    Case("predict-same-stems-unique-folders", _unique_folders, 0, _four_folders, one_line=False),
    Case(
        "predict-one-good-one-missing",
        _one_good_one_missing,
        8,
        _good_folder_written,
        one_line=False,
    ),
    # predict: checkpoints
    Case("predict-missing-checkpoint", predict_ckpt(lambda d, a: d / "nope.pt"), 3, predict_checks),
    Case(
        "predict-checkpoint-is-text",
        predict_ckpt(lambda d, a: put(d / "t.pt", "x")),
        4,
        predict_checks,
    ),
    Case(
        "predict-checkpoint-truncated",
        predict_ckpt(lambda d, a: put(d / "h.pt", a.checkpoint.read_bytes()[:5000])),
        4,
        predict_checks,
    ),
    Case(
        "predict-checkpoint-format-string",
        predict_ckpt(lambda d, a: ckpt_with(a, d / "f.pt", format="1")),
        4,
        predict_checks,
    ),
    Case(
        "predict-checkpoint-format-future",
        predict_ckpt(lambda d, a: ckpt_with(a, d / "f.pt", format=99)),
        4,
        predict_checks,
    ),
    Case(
        "predict-checkpoint-no-state",
        predict_ckpt(lambda d, a: torch_file(d / "n.pt", {"format": 1})),
        4,
        predict_checks,
    ),
    Case(
        "predict-checkpoint-a-list",
        predict_ckpt(lambda d, a: torch_file(d / "l.pt", [1, 2])),
        4,
        predict_checks,
    ),
    Case(
        "predict-checkpoint-bad-spec",
        predict_ckpt(lambda d, a: ckpt_with(a, d / "s.pt", spec="{}")),
        4,
        predict_checks,
    ),
    Case(
        "predict-checkpoint-bad-weights",
        predict_ckpt(lambda d, a: ckpt_with(a, d / "w.pt", model_state={"x": torch.zeros(1)})),
        4,
        predict_checks,
    ),
    Case(
        "predict-checkpoint-malicious-pickle",
        predict_ckpt(lambda d, a: torch_file(d / "evil.pt", Evil())),
        4,
        predict_checks,
    ),
    Case("predict-checkpoint-is-folder", predict_ckpt(lambda d, a: d), 3, predict_checks),
    # predict: usage and output
    Case("predict-candidates-0", predict_case(lambda d, a: [a.demo, "-k", "0"]), 2, predict_checks),
    Case(
        "predict-candidates-abc",
        predict_case(lambda d, a: [a.demo, "-k", "abc"]),
        2,
        predict_checks,
    ),
    Case(
        "predict-workers-negative",
        predict_case(lambda d, a: [a.demo, "--workers", "-1"]),
        2,
        predict_checks,
    ),
    Case(
        "predict-unknown-option",
        predict_case(lambda d, a: [a.demo, "--frobnicate"]),
        2,
        predict_checks,
    ),
    Case(
        "predict-no-sounds",
        lambda d, a: cli(d, "predict", "-c", a.checkpoint, "-o", "out"),
        2,
        assets_intact,
    ),
    Case(
        "predict-out-is-a-file",
        lambda d, a: cli(
            d, "predict", a.demo, "-c", a.checkpoint, "-o", (d / "f").write_text("") or d / "f"
        ),
        6,
        assets_intact,
    ),
    Case(
        "predict-out-under-a-file",
        lambda d, a: cli(
            d,
            "predict",
            a.demo,
            "-c",
            a.checkpoint,
            "-o",
            (d / "f").write_text("") or d / "f" / "sub",
        ),
        6,
        assets_intact,
    ),
    Case(
        "predict-disk-full-tmpfs", _disk_full_predict, 6, _disk_full_predict_check, needs_mount=True
    ),
    Case(
        "predict-file-size-limit",
        predict_case(lambda d, a: [a.demo], ulimit_kb=200),
        6,
        predict_checks,
    ),
    Case("predict-ctrl-c", _interrupted_predict, 130, _predict_interrupt_check),
    # generate
    Case("generate-workers-negative", lambda d, a: gen(d, "--workers", "-1"), 2),
    Case("generate-num-samples-0", lambda d, a: gen(d, "--num-samples", "0"), 2),
    Case("generate-unknown-synth", lambda d, a: gen(d, "--synth", "nope"), 3),
    Case(
        "generate-synth-unavailable",
        lambda d, a: gen(d, "--synth", "surge_simple", "--plugin-path", d / "no.vst3"),
        5,
    ),
    Case("generate-missing-config", lambda d, a: gen(d, "--config", "nope.yaml"), 3),
    Case("generate-config-bad-yaml", gen_cfg("seed: [1, 2\nworkers: {"), 2),
    Case("generate-config-not-mapping", gen_cfg("- 1\n- 2\n"), 2),
    Case("generate-config-unknown-key", gen_cfg("bogus_key: 1\n"), 2),
    Case("generate-config-wrong-type", gen_cfg("min_loudness: loud\n"), 2),
    Case("generate-config-binary", gen_cfg(bytes(range(256))), 2),
    Case("generate-unknown-override", lambda d, a: gen(d, "--mel.bogus", "3"), 2),
    Case("generate-bad-compression", lambda d, a: gen(d, "--compression", "zip"), 2),
    Case("generate-bad-duration", lambda d, a: gen(d, "--duration", "-1"), 2),
    Case(
        "generate-shard-index-out-of-range",
        lambda d, a: gen(d, "--shard-index", "3", "--num-shards", "2"),
        2,
    ),
    Case("generate-out-is-a-file", lambda d, a: gen(d, out=(d / "f").write_text("") or d / "f"), 6),
    Case(
        "generate-out-holds-foreign-files",
        lambda d, a: gen(
            d,
            out=((d / "mine").mkdir(), (d / "mine" / "notes.txt").write_text("mine"))[1]
            and d / "mine",
        ),
        6,
        _foreign_kept,
    ),
    Case("generate-resume-other-options", _gen_resume_other, 6, _gen_untouched),
    Case("generate-locked-by-another-run", _locked_generate, 6),
    Case("generate-resume-corrupt-shard", _resume_corrupt_shard, 0, _regenerated, one_line=False),
    Case("generate-resume-nan-shard", _resume_nan_shard, 0, _regenerated, one_line=False),
    Case(
        "generate-overwrite-keeps-sibling-shards",
        _overwrite_sibling,
        0,
        _sibling_kept,
        one_line=False,
    ),
    Case(
        "generate-disk-full-tmpfs",
        _disk_full_generate,
        6,
        _disk_full_generate_check,
        needs_mount=True,
    ),
    Case("generate-file-size-limit", _efbig_generate, 6, _efbig_files),
    Case("generate-ctrl-c", _interrupted_generate, 130, _resume_after_interrupt),
    # train
    Case("train-missing-data", lambda d, a: cli(d, *train_args(d / "nope")), 3),
    Case("train-data-without-manifest", lambda d, a: cli(d, *train_args(d)), 3),
    Case(
        "train-missing-config",
        lambda d, a: cli(d, *train_args(a.data, "--config", "nope.yaml")),
        3,
        assets_intact,
    ),
    Case(
        "train-missing-resume",
        lambda d, a: cli(d, *train_args(a.data, "--resume", "nope.pt")),
        3,
        assets_intact,
    ),
    Case(
        "train-resume-format-string",
        lambda d, a: cli(d, *train_args(a.data, "--resume", ckpt_with(a, d / "f.pt", format="1"))),
        4,
        assets_intact,
    ),
    Case(
        "train-resume-no-train-state",
        lambda d, a: cli(
            d, *train_args(a.data, "--resume", ckpt_with(a, d / "f.pt", train_state={}, step=1))
        ),
        4,
        assets_intact,
    ),
    Case(
        "train-unknown-model",
        lambda d, a: cli(d, *train_args(a.data, "--model", "nope")),
        3,
        assets_intact,
    ),
    Case(
        "train-unknown-preset",
        lambda d, a: cli(d, "train", "--data", a.data, "--size", "huge"),
        3,
        assets_intact,
    ),
    Case(
        "train-steps-not-a-number",
        lambda d, a: cli(d, *train_args(a.data, "--train.steps", "abc")),
        2,
        assets_intact,
    ),
    Case("train-manifest-not-json", _bad_manifest, 4, assets_intact),
    Case("train-damaged-shard", _damaged_shard_train, 4, _names_shard_and_row("shard-00000.h5")),
    Case("train-nan-row", _nan_train, 4, _names_shard_and_row("shard-00001.h5", 21)),
    Case(
        "train-out-is-a-file",
        lambda d, a: cli(d, *train_args(a.data, "--out", (d / "f").write_text("") or d / "f")),
        6,
        assets_intact,
    ),
    Case(
        "train-resume-drops-later-metrics", _resume_train_metrics, 0, _metrics_once, one_line=False
    ),
    Case("train-ctrl-c", _interrupted_train, 130, _train_resumable),
    # evaluate
    Case(
        "evaluate-missing-checkpoint",
        lambda d, a: cli(d, *evaluate_args(d / "nope.pt", a.data)),
        3,
        assets_intact,
    ),
    Case(
        "evaluate-missing-data",
        lambda d, a: cli(d, *evaluate_args(a.checkpoint, d / "nope")),
        3,
        assets_intact,
    ),
    Case(
        "evaluate-unknown-split",
        lambda d, a: cli(d, *evaluate_args(a.checkpoint, a.data, "--split", "holdout")),
        3,
        assets_intact,
    ),
    Case("evaluate-nan-row", _nan_evaluate, 4, _nan_eval_check),
    Case(
        "evaluate-out-is-a-file",
        lambda d, a: cli(
            d, *evaluate_args(a.checkpoint, a.data, "-o", (d / "f").write_text("") or d / "f")
        ),
        6,
        assets_intact,
    ),
    Case(
        "evaluate-candidates-0",
        lambda d, a: cli(d, *evaluate_args(a.checkpoint, a.data, "-k", "0")),
        2,
        assets_intact,
    ),
    Case("evaluate-ctrl-c", _interrupted_evaluate, 130, _evaluate_resumes),
    # the command itself
    Case("unknown-command", lambda d, a: cli(d, "frobnicate"), 2),
    Case("forced-missing-native-backend", lambda d, a: forced_backend(d), 7),
]


def forced_backend(d: Path) -> Outcome:
    proc = subprocess.run([*CLI, "--version"], cwd=d, capture_output=True, text=True,
                          env={**os.environ, "A2D_IMPLEMENTATION": "fortran"}, timeout=TIMEOUT)  # fmt: skip
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def assets(tiny_vital_dataset, tiny_flow_checkpoint, tmp_path_factory) -> Assets:
    from a2d.pipelines.demo import write_demo

    root = tmp_path_factory.mktemp("battery")
    demo = write_demo(root / "demo.wav", 44100, 1.0)
    (root / "data.sha").write_text(digest(tiny_vital_dataset))
    (root / "ckpt.sha").write_text(digest(tiny_flow_checkpoint))
    can_mount = os.geteuid() == 0 and tmpfs(root / "probe", "64k")
    if can_mount:
        umount(root / "probe")
    return Assets(root, tiny_vital_dataset, tiny_flow_checkpoint, demo, can_mount)


@pytest.fixture(scope="session")
def outcomes(assets: Assets, request: pytest.FixtureRequest) -> dict[str, Outcome | BaseException]:
    """Run every selected case once (concurrently); a case's exception is its outcome."""
    chosen = {  # this file's selected cases (other files name parameters "case" too)
        item.callspec.params["case"].name
        for item in request.session.items
        if hasattr(item, "callspec") and isinstance(item.callspec.params.get("case"), Case)
    }
    cases = [c for c in CASES if c.name in chosen]

    def one(case: Case) -> Outcome | BaseException:
        d = assets.root / case.name
        d.mkdir()
        if case.needs_mount and not assets.can_mount:
            return pytest.skip.Exception("cannot mount a tmpfs here (needs root)")
        t = time.perf_counter()
        try:
            o = case.run(d, assets)
        except BaseException as exc:
            return exc
        o.extra["seconds"] = time.perf_counter() - t
        return o

    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(zip([c.name for c in cases], pool.map(one, cases), strict=True))


def test_the_battery_is_big_enough() -> None:
    assert len(CASES) >= 50
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, assets: Assets, outcomes: dict) -> None:
    o = outcomes[case.name]
    if isinstance(o, BaseException):
        raise o
    d = assets.root / case.name
    assert "Traceback" not in o.stderr, o.stderr
    assert not [ln for ln in o.stderr.splitlines() if "nanobind" in ln], o.stderr
    assert o.code == case.expect, f"exit {o.code}, expected {case.expect}; stderr: {o.stderr}"
    if case.one_line:
        assert len(o.lines) == 1, o.stderr
        assert o.lines[0].startswith("error: "), o.stderr
    elif case.expect != 0:
        assert len([ln for ln in o.lines if ln.startswith("error:")]) <= 1, o.stderr
    if case.check is not None:
        case.check(d, assets, o)
