"""``a2d generate``: render a parameter spec into a sharded, resumable HDF5 dataset.

:func:`generate` plans the shards of a dataset (row ``r`` lives in shard ``r // shard_size``),
writes the manifest, skips shards that are already complete, and hands the rest to workers: one
process per worker (``executor="local"``), Ray tasks (``executor="ray"``), or the calling process
(``workers=0``). Every row's patch depends only on ``(seed, row, attempt)``, so a killed run that is
started again continues where it stopped and ends with exactly the same parameters.

Scale-out: ``shard_index=i, num_shards=n`` writes only the shards ``k`` with ``k % n == i``. Every
job writes the same manifest, so jobs may share one folder, or write separate folders whose
``shard-*.h5`` files are then copied into one folder beside any one of their ``dataset.json``.
"""

from __future__ import annotations

import fcntl
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from a2d._version import __version__
from a2d.contracts.errors import ConfigError, DatasetError, OutputError
from a2d.contracts.spec import ParamSpec
from a2d.contracts.synth import RenderSettings, SynthBackend
from a2d.kernels.features import MelSettings
from a2d.runtime import workers as _workers
from a2d.runtime.executors import Progress, Tally, run_local, run_ray
from a2d.runtime.process import release_synth
from a2d.storage.config import to_dict
from a2d.storage.dataset import FORMAT_VERSION, MANIFEST_NAME, Manifest, plan_splits
from a2d.storage.shards import shard_is_ours, shard_name

#: Config keys that define a dataset's content; a resumed run must match them all.
CONTENT_KEYS = (
    "synth", "num_samples", "seed", "min_loudness", "shard_size", "render", "mel", "store_audio",
    "val_fraction", "test_fraction", "max_attempts",
)  # fmt: skip
#: Config keys that only change how files are stored; saved in the manifest but not checked.
STORAGE_KEYS = ("compression", "chunk_rows", "block_rows")


@dataclass
class GenerateConfig:
    """Options of ``a2d generate`` (YAML: ``configs/generate/*.yaml``; CLI options win).

    :param synth: registered spec name (the spec names its backend), e.g. ``"vital_simple"``.
    :param num_samples: rows in the dataset (> 0).
    :param out: output folder.
    :param workers: worker processes (0: render in the calling process).
    :param seed: base seed; row ``r`` draws from ``default_rng([seed, r, attempt])``.
    :param min_loudness: loudness gate in LUFS (BS.1770); None keeps every render.
    :param shard_size: rows per shard file (the unit of parallel work and of crash loss).
    :param shard_index: with ``num_shards``: write only shards ``k % num_shards == shard_index``.
    :param executor: ``"local"`` processes or ``"ray"`` tasks (needs ``a2d[ray]``).
    :param ray_address: Ray cluster address (None: start or join a local instance).
    :param plugin_path: synth binary for VST3 backends (e.g. the Surge XT .vst3).
    :param resume: continue a matching dataset in ``out``; False deletes it first (``--overwrite``).
    :param render: sample rate (Hz), duration (s), channels, block size.
    :param mel: log-mel settings (reference defaults).
    :param store_audio: keep the float16 audio beside the mel.
    :param compression: HDF5 filter for audio and mel: ``none``, ``lzf`` or ``gzip``.
    :param chunk_rows: rows per HDF5 chunk of audio and mel.
    :param block_rows: rows rendered before one batched mel call and one write.
    :param val_fraction: share of rows for validation (whole shards when there are enough).
    :param test_fraction: share of rows for test (the last rows).
    :param max_attempts: draws per row before a row below the gate is an error.
    :param start_method: multiprocessing start method of local workers.
    """

    synth: str = ""
    num_samples: int = 0
    out: Path | None = None
    workers: int = 1
    seed: int = 0
    min_loudness: float | None = -55.0
    shard_size: int = 256
    shard_index: int = 0
    num_shards: int = 1
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    plugin_path: str | None = None
    resume: bool = True
    render: RenderSettings = field(default_factory=RenderSettings)
    mel: MelSettings = field(default_factory=MelSettings)
    store_audio: bool = True
    compression: Literal["none", "lzf", "gzip"] = "none"
    chunk_rows: int = 1
    block_rows: int = 8
    val_fraction: float = 0.02
    test_fraction: float = 0.005
    max_attempts: int = 100
    start_method: Literal["spawn", "forkserver"] = "spawn"

    def __post_init__(self) -> None:
        if self.num_samples <= 0:
            raise ConfigError(f"--num-samples must be > 0, got {self.num_samples}")
        if not self.synth:
            raise ConfigError("--synth is required: name a registered spec (see `a2d plugins`)")
        if self.out is None:
            raise ConfigError("--out is required: the folder to write the dataset into")
        v = self
        checks = {
            f"--workers must be >= 0, got {v.workers}": v.workers >= 0,
            f"--shard-size must be >= 1, got {v.shard_size}": v.shard_size >= 1,
            "--num-shards must be >= 1 and 0 <= --shard-index < --num-shards, got "
            f"--shard-index {v.shard_index} --num-shards {v.num_shards}": (
                v.num_shards >= 1 and 0 <= v.shard_index < v.num_shards
            ),
            "chunk_rows, block_rows and max_attempts must be >= 1, got "
            f"{v.chunk_rows}, {v.block_rows}, {v.max_attempts}": min(
                v.chunk_rows, v.block_rows, v.max_attempts
            )
            >= 1,
            "val_fraction and test_fraction must be >= 0 with a sum below 1, got "
            f"{v.val_fraction} and {v.test_fraction}": (
                v.val_fraction >= 0
                and v.test_fraction >= 0
                and v.val_fraction + v.test_fraction < 1
            ),
        }
        for message, ok in checks.items():
            if not ok:
                raise ConfigError(message)

    def content(self) -> dict[str, Any]:
        return {k: to_dict(getattr(self, k)) for k in CONTENT_KEYS}


@dataclass
class GenerateSummary:
    """What a :func:`generate` call did (``rows_per_second`` counts only rows rendered now)."""

    out: str
    num_rows: int
    rows_written: int
    rows_existing: int
    shards_written: int
    shards_existing: int
    shards_total: int
    attempts: int
    rejected: int
    prechecked: int
    seconds: float
    workers: int
    executor: str
    backend_version: str

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.attempts if self.attempts else 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows_written / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "rejection_rate": self.rejection_rate,
            "rows_per_second": self.rows_per_second,
        }


def generate(
    config: GenerateConfig, progress: Callable[[Progress], None] | None = None
) -> GenerateSummary:
    """Write (or finish) the dataset that ``config`` describes; see the module docstring."""
    from a2d.contracts.plugins import create_backend, get_spec, get_synth

    t0 = time.perf_counter()
    spec = get_spec(config.synth)
    backend_cls = get_synth(spec.synth)
    options = {"plugin_path": config.plugin_path} if config.plugin_path else {}
    out = Path(config.out)  # type: ignore[arg-type]
    _prepare_folder(out)
    with _lock(out, config):
        preflight = create_backend(spec, config.render, **options)
        version = preflight.version
        manifest = _manifest(config, spec, version)
        _check_existing(out, manifest, config)
        manifest.write(out)
        jobs, existing = _plan_jobs(out, manifest, config, spec, backend_cls, options)
        rows_total = sum(j.rows for j in jobs) + sum(e["rows"] for e in existing)
        tally = Tally(progress, sum(e["rows"] for e in existing), rows_total)
        tally.emit()
        if not jobs:
            preflight.close()
        elif config.workers == 0:
            _workers.adopt_backend(jobs[0], preflight)
            try:
                for job in jobs:
                    tally.add_result(_workers.write_shard(job, progress=tally.add_rows))
            finally:
                release_synth()
        else:
            preflight.close()
            run = run_ray if config.executor == "ray" else run_local
            run(jobs, config, tally)
    return GenerateSummary(
        out=str(out),
        num_rows=config.num_samples,
        rows_written=sum(j.rows for j in jobs),
        rows_existing=sum(e["rows"] for e in existing),
        shards_written=len(jobs),
        shards_existing=len(existing),
        shards_total=len(jobs) + len(existing),
        attempts=tally.attempts,
        rejected=tally.rejected,
        prechecked=tally.prechecked,
        seconds=time.perf_counter() - t0,
        workers=config.workers,
        executor="inline" if config.workers == 0 else config.executor,
        backend_version=version,
    )


# ---- planning ---------------------------------------------------------------------------------
def _manifest(config: GenerateConfig, spec: ParamSpec, backend_version: str) -> Manifest:
    n, size = config.num_samples, config.shard_size
    splits = plan_splits(n, size, config.val_fraction, config.test_fraction)
    shards = []
    for k in range(math.ceil(n / size)):
        first, rows = k * size, min(size, n - k * size)
        inside = [s for s, (a, b) in splits.items() if a < first + rows and first < b]
        shards.append({"file": shard_name(k), "first_row": first, "rows": rows,
                       "split": inside[0] if len(inside) == 1 else "mixed"})  # fmt: skip
    fields = ["audio"] if config.store_audio else []
    fields += ["mel", "params", "note", "row", "attempt"]
    return Manifest(
        {
            "format": FORMAT_VERSION,
            "a2d_version": __version__,
            "synth": config.synth,
            "backend": spec.synth,
            "backend_version": backend_version,
            "spec": spec.to_dict(),
            "spec_fingerprint": spec.fingerprint,
            "seed": config.seed,
            "num_rows": n,
            "shard_size": size,
            "min_loudness": config.min_loudness,
            "render": config.render.to_dict(),
            "mel": config.mel.to_dict(),
            "fields": fields,
            "columns": spec.column_names,
            "shards": shards,
            "splits": {k: list(v) for k, v in splits.items()},
            "config": {**config.content(), **{k: getattr(config, k) for k in STORAGE_KEYS}},
        }
    )


def _prepare_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".a2d-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(
            f"cannot write to {str(out)!r} ({exc.strerror or exc}); choose a writable --out folder"
        ) from None


@contextmanager
def _lock(out: Path, config: GenerateConfig) -> Iterator[None]:
    """One writer per (folder, shard set): a second run of the same job fails fast. The lock file
    is removed on release (while still locked; a run that opened the removed file sees that its
    inode is no longer the path's and fails as if locked), so a finished folder holds none."""
    path = out / f".a2d-generate-{config.shard_index}-of-{config.num_shards}.lock"
    busy = OutputError(
        f"another `a2d generate` is writing {str(out)!r}; wait for it or stop it first"
    )
    for _ in range(3):
        fh = open(path, "w")  # noqa: SIM115 - closed below, after the unlink
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise busy from None
        try:
            same = os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        fh.close()  # the holder finished and removed the file between our open and flock: retry
    else:
        raise busy
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        fh.close()


def _is_ours(p: Path) -> bool:
    return p.name == MANIFEST_NAME or p.name.startswith(("shard-", ".a2d-", f".{MANIFEST_NAME}"))


def _shard_owner(name: str, num_shards: int) -> int | None:
    """Which job of ``num_shards`` owns file ``name`` (a shard or its temp file); None: no shard."""
    if not name.startswith("shard-"):
        return None
    digits = name[len("shard-") :].split(".", 1)[0]
    return int(digits) % num_shards if digits.isdigit() else None


def _check_existing(out: Path, manifest: Manifest, config: GenerateConfig) -> None:
    """Refuse a folder holding something else; with ``resume=False`` delete our old files."""
    foreign = [p.name for p in out.iterdir() if not _is_ours(p)]
    if foreign:
        raise OutputError(
            f"{str(out)!r} holds files that are not an a2d dataset ({', '.join(sorted(foreign)[:3])}); "
            "choose an empty or new --out folder"
        )
    if not (out / MANIFEST_NAME).exists():
        return
    if not config.resume:  # only this job's shards: a sibling job may be writing its own
        for p in out.iterdir():
            if _shard_owner(p.name, config.num_shards) == config.shard_index:
                p.unlink(missing_ok=True)
        return
    try:
        old = Manifest.read(out)
    except DatasetError as exc:
        raise OutputError(f"{exc}; or pass --overwrite to replace it") from None
    theirs, ours = old.data.get("config", {}), manifest.data["config"]
    diff = [k for k in CONTENT_KEYS if theirs.get(k) != ours.get(k)]
    if (
        old.data.get("spec_fingerprint") != manifest.data["spec_fingerprint"]
        and "synth" not in diff
    ):
        diff.insert(0, "spec")
    if diff:
        shown = ", ".join(f"{k}={theirs.get(k, '?')!r} (asked {ours.get(k)!r})" for k in diff[:3])
        raise OutputError(
            f"{str(out)!r} holds a different dataset: {shown}; use another --out, or --overwrite "
            "to delete it (--resume only continues a dataset made with the same options)"
        )


def _plan_jobs(
    out: Path,
    manifest: Manifest,
    config: GenerateConfig,
    spec: ParamSpec,
    backend_cls: type[SynthBackend],
    options: dict[str, Any],
) -> tuple[list[_workers.ShardJob], list[dict[str, Any]]]:
    """Shards of this job still to write, and the ones already complete and valid."""
    jobs, existing = [], []
    for k, entry in enumerate(manifest.shards):
        if k % config.num_shards != config.shard_index:
            continue
        final = out / entry["file"]
        for tmp in out.glob(f"{entry['file']}.tmp*"):  # left by a killed run
            tmp.unlink(missing_ok=True)
        if final.exists():
            if shard_is_ours(
                final, entry, seed=config.seed, spec_fingerprint=spec.fingerprint,
                fields=manifest.data["fields"],
            ):  # fmt: skip
                existing.append(entry)
                continue
            final.unlink()
        job = _workers.ShardJob(
            out=str(out), index=k, first_row=entry["first_row"], rows=entry["rows"],
            seed=config.seed, spec=spec, backend_cls=backend_cls, backend_options=options,
            render=config.render, mel=config.mel, min_loudness=config.min_loudness,
            max_attempts=config.max_attempts, store_audio=config.store_audio,
            block_rows=config.block_rows, chunk_rows=config.chunk_rows,
            compression=config.compression,
        )  # fmt: skip
        jobs.append(job)
    return jobs, existing
