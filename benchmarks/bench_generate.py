"""`a2d generate` throughput, scaling, storage and loader speed.

- rows/s per core end to end (render + loudness + mel + write, one in-process worker) for
  vital_simple and vital_full, beside the bare render rate (overhead) and the reference protocol
  (per-sample state reload + flushes) on the same synth in the same run; the same for Dexed
  (dexed_full, dexed_simple) in wall and CPU time, per storage mode, with bytes per 1,000 rows;
- 1 -> 2 worker processes;
- size on disk per 1,000 rows and block-read speed per chunking/compression choice;
- the batched mel per block of rows beside one call per row.

Run: ``pytest benchmarks/bench_generate.py --benchmark-only``. Under ``--benchmark-disable`` the
sizes shrink and the (slow, ~8 s per sample) reference protocol is skipped.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from a2d.contracts.plugins import create_backend, get_spec
from a2d.contracts.synth import RenderSettings
from a2d.kernels.features import MelSettings
from a2d.kernels.mel import mel_spectrogram
from a2d.pipelines.generate import GenerateConfig, generate
from a2d.storage.dataset import open_dataset


def _timed(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def _bare_and_a2d_render(backend, patches) -> dict[str, float]:
    """Seconds per voice, wall and this process's CPU: the engine's own render call on each voice
    (loaded by an untimed a2d render first: ``render_bare``), and a2d's whole render of it (for
    Vital: drain, warm-up, drain, reset, apply, play; for Dexed: voice bytes, load, play)."""
    out = dict.fromkeys(("bare_wall", "bare_cpu", "a2d_wall", "a2d_cpu"), 0.0)
    for p in patches:
        c0, t0 = time.process_time(), time.perf_counter()
        backend.render(p)
        out["a2d_cpu"] += (time.process_time() - c0) / len(patches)
        out["a2d_wall"] += (time.perf_counter() - t0) / len(patches)
        c0, t0 = time.process_time(), time.perf_counter()
        backend.render_bare(p.note)
        out["bare_cpu"] += (time.process_time() - c0) / len(patches)
        out["bare_wall"] += (time.perf_counter() - t0) / len(patches)
    return out


@pytest.mark.parametrize("spec_name", ["vital_simple", "vital_full"])
def test_generate_rows_per_core(benchmark, tmp_path: Path, spec_name: str) -> None:
    """`a2d generate` with one in-process worker (its writer thread featurises and stores one
    block while the next renders) against the bare engine calls on the same drawn voices in the
    same run: ``overhead_ratio`` in wall time, ``overhead_ratio_cpu`` in this process's CPU
    time (all its threads; the machine may be shared), and a2d's own render (the determinism
    protocol) beside both. The first round, which pays the process's one-off start-up (imports,
    caches), is a warm-up outside the timed rounds."""
    quick = benchmark.disabled
    render = RenderSettings(duration=1.0 if quick else 4.0)
    rows = 4 if quick else 32
    runs = iter(range(100))
    cpu: list[float] = []

    def run() -> None:
        cfg = GenerateConfig(synth=spec_name, num_samples=rows, out=tmp_path / f"r{next(runs)}",
                             workers=0, shard_size=rows, render=render)  # fmt: skip
        c0 = time.process_time()
        benchmark.extra_info["last"] = generate(cfg).to_dict()
        cpu.append(time.process_time() - c0)

    benchmark.pedantic(run, rounds=1 if quick else 3, iterations=1, warmup_rounds=0 if quick else 1)
    spec = get_spec(spec_name)
    backend = create_backend(spec, render)
    patches = [spec.sample(np.random.default_rng([0, i, 0])) for i in range(2 if quick else 8)]
    t = _bare_and_a2d_render(backend, patches)
    per_row = benchmark.stats.stats.median / rows if benchmark.stats else float("nan")
    per_row_cpu = float(np.median(cpu[-3:])) / rows
    info = benchmark.extra_info
    info.update(spec=spec_name, synth=backend.name, version=backend.version, rows=rows,
                seconds_of_audio=render.duration, rows_per_s_per_core=1 / per_row,
                rows_per_cpu_s=1 / per_row_cpu, bare_renders_per_s=1 / t["bare_wall"],
                bare_renders_per_cpu_s=1 / t["bare_cpu"], overhead_ratio=per_row / t["bare_wall"],
                overhead_ratio_cpu=per_row_cpu / t["bare_cpu"],
                a2d_render_vs_bare_cpu=t["a2d_cpu"] / t["bare_cpu"],
                cores_used=per_row_cpu / per_row, load_average=os.getloadavg()[0],
                rejection_rate=info["last"]["rejection_rate"])  # fmt: skip
    if not quick:
        ref = _timed(lambda: backend.render_reference_protocol(patches[0]), 2)
        info.update(reference_rows_per_s=1 / ref, speedup_vs_reference=ref / per_row)
    ds = open_dataset(tmp_path / "r0")
    assert len(ds) == rows and np.isfinite(ds.read(0, rows)["mel"]).all()


@pytest.mark.parametrize(
    ("spec_name", "channels", "store_audio", "compression"),
    [
        ("dexed_full", 2, True, "none"),
        ("dexed_full", 1, False, "none"),
        ("dexed_full", 1, False, "lzf"),  # configs/generate/dexed_full.yaml's storage
        ("dexed_simple", 1, False, "none"),
    ],
)
def test_generate_dexed_rows_per_core(
    benchmark, tmp_path: Path, spec_name: str, channels: int, store_audio: bool, compression: str
) -> None:
    """Dexed renders 4 s in ~4 ms, so what surrounds the render decides generation speed: rows/s
    of one in-process worker beside the bare engine calls of the same run, in wall time and in
    this process's CPU time (the machine may be shared), the loudness gate's rejection rate and
    the bytes per 1,000 rows of the storage mode (stereo with audio, or mono mel only; lzf).
    The writer thread stores one block while the next renders: `cores_used` says how much of a
    second core that took (CPU time over wall time)."""
    quick = benchmark.disabled
    render = RenderSettings(duration=1.0 if quick else 4.0, channels=channels)
    rows = 8 if quick else 256
    runs = iter(range(100))
    cpu: list[float] = []

    def run() -> None:
        cfg = GenerateConfig(synth=spec_name, num_samples=rows, out=tmp_path / f"r{next(runs)}",
                             workers=0, shard_size=rows, render=render,
                             store_audio=store_audio, compression=compression)  # fmt: skip
        c0 = time.process_time()
        benchmark.extra_info["last"] = generate(cfg).to_dict()
        cpu.append(time.process_time() - c0)

    benchmark.pedantic(run, rounds=1 if quick else 3, iterations=1, warmup_rounds=0 if quick else 1)
    spec = get_spec(spec_name)
    backend = create_backend(spec, render)
    patches = [spec.sample(np.random.default_rng([0, i, 0])) for i in range(64)]
    t = _bare_and_a2d_render(backend, patches)
    render_cpu, render_wall, bare_cpu, bare_wall = (
        t["a2d_cpu"],
        t["a2d_wall"],
        t["bare_cpu"],
        t["bare_wall"],
    )
    per_row = benchmark.stats.stats.median / rows if benchmark.stats else float("nan")
    per_row_cpu = float(np.median(cpu[-3:])) / rows
    size = sum(f.stat().st_size for f in (tmp_path / "r0").glob("shard-*.h5"))
    info = benchmark.extra_info
    info.update(spec=spec_name, synth=backend.name, version=backend.version, rows=rows,
                channels=channels, store_audio=store_audio, compression=compression,
                seconds_of_audio=render.duration,
                rows_per_s_per_core=1 / per_row, rows_per_cpu_s=1 / per_row_cpu,
                bare_renders_per_s=1 / bare_wall, bare_renders_per_cpu_s=1 / bare_cpu,
                a2d_renders_per_cpu_s=1 / render_cpu, a2d_renders_per_s=1 / render_wall,
                overhead_ratio=per_row / bare_wall, overhead_ratio_cpu=per_row_cpu / bare_cpu,
                rejection_rate=info["last"]["rejection_rate"], cores_used=per_row_cpu / per_row,
                load_average=os.getloadavg()[0], mb_per_1000_rows=size / rows * 1000 / 1e6)  # fmt: skip
    ds = open_dataset(tmp_path / "r0")
    assert len(ds) == rows and np.isfinite(ds.read(0, rows)["mel"]).all()
    assert ds.read(0, 1)["mel"].shape[1] == channels


def test_generate_scaling_1_to_2_workers(benchmark, tmp_path: Path) -> None:
    quick = benchmark.disabled
    rows, render = (
        (8, RenderSettings(duration=0.5)) if quick else (32, RenderSettings(duration=2.0))
    )
    seconds = {}
    for workers in (1, 2):
        cfg = GenerateConfig(synth="vital_simple", num_samples=rows, out=tmp_path / f"w{workers}",
                             workers=workers, shard_size=rows // 4, render=render)  # fmt: skip
        if workers == 2:
            seconds[2] = benchmark.pedantic(lambda c=cfg: generate(c), rounds=1).seconds
        else:
            seconds[1] = generate(cfg).seconds
    benchmark.extra_info.update(rows=rows, seconds_of_audio=render.duration,
                                seconds_1_worker=seconds[1], seconds_2_workers=seconds[2],
                                speedup=seconds[1] / seconds[2])  # fmt: skip
    np.testing.assert_array_equal(
        open_dataset(tmp_path / "w1").read(0, rows)["params"],
        open_dataset(tmp_path / "w2").read(0, rows)["params"],
    )


@pytest.fixture(scope="module")
def real_rows(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, np.ndarray]:
    """16 real 4 s rows (8 under --benchmark-disable)."""
    rows = 8 if request.config.getoption("benchmark_disable") else 16
    out = tmp_path_factory.mktemp("rows")
    generate(GenerateConfig(synth="vital_simple", num_samples=rows, out=out, workers=0,
                            shard_size=16))  # fmt: skip
    block = open_dataset(out).read(0, rows, fields=("audio", "mel", "params"))
    reps = 16 // rows
    return {k: np.concatenate([v] * reps) for k, v in block.items()}


@pytest.mark.parametrize(
    ("compression", "chunk_rows"), [("none", 1), ("none", 8), ("lzf", 1), ("gzip", 1)]
)
def test_storage_and_block_reads(
    benchmark, tmp_path: Path, real_rows, compression: str, chunk_rows: int
) -> None:
    """Rewrite 16 real 4 s rows x 8 (128 rows) with one layout; read blocks of 8 rows of mel+params."""
    path = tmp_path / "s.h5"
    comp = None if compression == "none" else compression
    n = 128
    with h5py.File(path, "w") as f:
        for name, arr in real_rows.items():
            big = arr.ndim > 2
            d = f.create_dataset(name, shape=(n, *arr.shape[1:]), dtype=arr.dtype,
                                 chunks=(chunk_rows, *arr.shape[1:]) if big else None,
                                 compression=comp if big else None)  # fmt: skip
            for i in range(0, n, 16):
                d[i : i + 16] = arr
    size = path.stat().st_size

    def read_all() -> int:
        with h5py.File(path, "r") as f:
            total = 0
            for i in range(0, n, 8):
                total += f["mel"][i : i + 8].shape[0] + f["params"][i : i + 8].shape[0] // 2
            return total

    assert benchmark(read_all) == n * 3 // 2
    median = benchmark.stats.stats.median if benchmark.stats else float("nan")
    benchmark.extra_info.update(compression=compression, chunk_rows=chunk_rows,
                                mb_per_1000_rows=size / n * 1000 / 1e6,
                                mel_rows_per_s=n / median)  # fmt: skip
    shutil.rmtree(tmp_path)


@pytest.mark.parametrize("how", ["block", "per_row"])
def test_mel_per_block_vs_per_row(benchmark, real_rows, how: str) -> None:
    audio = real_rows["audio"][:8].astype(np.float32)
    s = MelSettings()
    if how == "block":
        out = benchmark(lambda: mel_spectrogram(audio, 44100, s))
    else:
        out = benchmark(lambda: np.stack([mel_spectrogram(a, 44100, s) for a in audio]))
    benchmark.extra_info.update(rows=8, how=how)
    assert out.shape == (8, 2, 128, 401)


#: The seed's Surge XT generation cost, seconds per row per core (as the seed quotes it; docs/design.md).
SEED_SURGE_S_PER_ROW = 2.6


@pytest.mark.surge
@pytest.mark.parametrize("spec_name", ["surge_simple", "surge_full"])
def test_generate_surge_rows_per_core(benchmark, tmp_path: Path, spec_name: str) -> None:
    """`a2d generate` on the real Surge XT, one in-process worker, beside the bare render call
    and the seed's 2.6 s per row per core. The plugin load (5-10 s, once per worker) is timed
    apart, so the steady per-row cost is what a long run pays."""
    from a2d.contracts.errors import SynthUnavailableError
    from a2d_surge.backend import SurgeBackend

    try:
        SurgeBackend.check_available()
    except SynthUnavailableError as exc:
        pytest.skip(str(exc))
    quick = benchmark.disabled
    rows = 8 if quick else 96
    render = RenderSettings(duration=1.0 if quick else 4.0)
    spec = get_spec(spec_name)
    t0 = time.perf_counter()
    backend = create_backend(spec, render)
    load = time.perf_counter() - t0
    cfg = GenerateConfig(synth=spec_name, num_samples=rows, out=tmp_path / "g", workers=0,
                         shard_size=rows // 2, render=render)  # fmt: skip
    summary = benchmark.pedantic(lambda: generate(cfg), rounds=1, iterations=1)
    patches = [spec.sample(np.random.default_rng([0, i])) for i in range(8)]
    backend.render(patches[0])
    bare = _timed(lambda: [backend.render_bare(p.note) for p in patches], 1) / len(patches)
    ours = _timed(lambda: [backend.render(p) for p in patches], 1) / len(patches)
    steady = (summary.seconds - load) / rows
    benchmark.extra_info.update(
        spec=spec_name, synth="surge", version=backend.version, rows=rows,
        seconds_of_audio=render.duration, load_s=load,
        rows_per_s_per_core_with_load=rows / summary.seconds,
        steady_rows_per_s_per_core=1 / steady, steady_s_per_row=steady,
        a2d_render_s=ours, bare_render_s=bare, overhead_ratio=steady / bare,
        seed_s_per_row=SEED_SURGE_S_PER_ROW, speedup_vs_seed=SEED_SURGE_S_PER_ROW / steady,
        rejection_rate=summary.rejection_rate,
    )  # fmt: skip
    ds = open_dataset(tmp_path / "g")
    assert len(ds) == rows and np.isfinite(ds.read(0, rows)["mel"]).all()
