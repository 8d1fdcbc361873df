"""``a2d quickstart``: from nothing to presets in seconds, or to your own trained model in minutes.

By default, on the embedded default synth (Vital): synthesise two demo sounds (:mod:`a2d.pipelines.demo`,
made here in numpy: a 4 s saw pluck at A3 and a 1.5 s low pluck at A2), predict a preset for each
with the shipped pretrained model (:mod:`a2d.storage.pretrained`) and write the reports.

With ``train=True`` it walks the whole research path instead: generate a small ``vital_simple``
dataset, train a tiny flow model on it, and predict the demo sound with that model. Every stage is
resumable: a finished dataset is reused (``generate`` resumes), a finished training run is reused
(its ``last.pt`` already at the final step), and an interrupted run continues from its
``last.pt``. Clips are 2 s at 22.05 kHz with 64 mel bands there (the reference's 4 s / 44.1 kHz /
128 bands would triple the time); ``a2d generate`` / ``a2d train`` use the full settings.

Layout of ``OUT``: ``demo.wav``, ``bass.wav``, ``prediction/`` (one folder per sound); with
training also ``data/`` (dataset) and ``run/`` (checkpoints, logs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from a2d.contracts.synth import RenderSettings
from a2d.kernels.features import MelSettings


@dataclass(frozen=True)
class QuickstartConfig:
    """Sizes of the quickstart (defaults: about 4 minutes of CPU; 218 s measured, 8 min of wall
    time on a 2-core machine shared with other jobs).

    :param spec: registered spec name. :param num_samples: dataset rows.
    :param steps: training steps of the tiny flow model. :param candidates: K at prediction.
    :param workers: generation worker processes.
    """

    spec: str = "vital_simple"
    num_samples: int = 512
    steps: int = 250
    batch_size: int = 32
    candidates: int = 8
    workers: int = 2
    seed: int = 0
    render: RenderSettings = field(
        default_factory=lambda: RenderSettings(sample_rate=22050, duration=2.0)
    )
    mel: MelSettings = field(
        default_factory=lambda: MelSettings(n_fft=551, hop_length=220, n_mels=64)
    )


@dataclass
class QuickstartResult:
    """:param predictions: one result per demo sound (``prediction`` is the first's);
    :param dataset: the generated dataset (``None`` without training)."""

    out: Path
    dataset: Path | None
    checkpoint: Path
    demo: Path
    prediction: Any  # a2d.pipelines.predict.PredictResult
    reused: list[str] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)


#: Candidates and refinement renders per sound with the shipped model.
SHIPPED_CANDIDATES = 16
SHIPPED_REFINE = 32


def quickstart(
    out: str | Path = "a2d-quickstart",
    config: QuickstartConfig | None = None,
    *,
    train: bool = False,
    on_stage: Callable[[str], None] | None = None,
    on_step: Callable[[int, int, dict[str, float]], None] | None = None,
) -> QuickstartResult:
    """Run (or finish) the quickstart in ``out``; see the module docstring.

    :param train: generate a dataset and train a tiny model (``config``) instead of using the
        shipped model.
    :param on_stage: called with a one-line description when each stage starts.
    :param on_step: training progress ``(step, total, metrics)``.
    """
    if not train:
        return _with_shipped_model(Path(out), on_stage or (lambda _msg: None))
    return _with_trained_model(Path(out), config or QuickstartConfig(), on_stage, on_step)


def _with_shipped_model(out: Path, stage: Callable[[str], None]) -> QuickstartResult:
    from a2d.pipelines.demo import BASS, write_demo
    from a2d.pipelines.predict import predict
    from a2d.storage.pretrained import resolve_checkpoint

    model = resolve_checkpoint(None)
    demo = write_demo(out / "demo.wav")
    bass = write_demo(out / "bass.wav", **BASS)
    stage(f"predicting presets for {demo.name} and {bass.name} with the shipped model {model.stem}")
    result = predict(
        [demo, bass], model, out / "prediction", candidates=SHIPPED_CANDIDATES,
        refine=SHIPPED_REFINE,
    )  # fmt: skip
    if result.failures:
        raise result_error(result.failures[0].error)
    first = result.results[0]
    return QuickstartResult(out, None, model, demo, first, [], list(result.results))


def _with_trained_model(
    out: Path,
    cfg: QuickstartConfig,
    on_stage: Callable[[str], None] | None,
    on_step: Callable[[int, int, dict[str, float]], None] | None,
) -> QuickstartResult:
    from a2d.contracts.errors import A2DError
    from a2d.pipelines.demo import write_demo
    from a2d.pipelines.generate import GenerateConfig, generate
    from a2d.pipelines.predict import predict
    from a2d.pipelines.train import train
    from a2d.pipelines.train.config import resolve_config
    from a2d.storage.checkpoint import read_payload

    stage = on_stage or (lambda _msg: None)
    reused: list[str] = []

    data = out / "data"
    if _dataset_finished(data, cfg.num_samples):
        stage(f"checking the finished dataset in {data}")
    else:
        stage(f"generating {cfg.num_samples} {cfg.spec} sounds in {data}")
    gen = GenerateConfig(
        synth=cfg.spec, num_samples=cfg.num_samples, out=data, workers=cfg.workers,
        seed=cfg.seed, render=cfg.render, mel=cfg.mel, store_audio=False,
    )  # fmt: skip
    summary = generate(gen)
    if summary.rows_written == 0:
        reused.append("dataset")

    run = out / "run"
    last = run / "last.pt"
    done_steps = 0
    if last.is_file():
        try:
            done_steps = int(read_payload(last)["step"])
        except A2DError:  # a damaged checkpoint: train again from scratch
            last.unlink()
    if done_steps >= cfg.steps:
        reused.append("checkpoint")
    else:
        stage(f"training a tiny flow model for {cfg.steps} steps in {run}")
        tc = resolve_config(
            preset="tiny",
            values={"model": "flow", "data": data, "out": run, "resume": last if done_steps else None},
            overrides={
                "train.steps": cfg.steps, "train.batch_size": cfg.batch_size, "train.device": "cpu",
                "train.seed": cfg.seed, "train.val_every": 0, "train.checkpoint_every": 100,
                "train.warmup_steps": 20, "train.stats_rows": 256, "train.val_rows": 64,
                "models.flow.guidance_weight": 2.0,
            },
        )  # fmt: skip
        train(tc, on_step=on_step)

    demo = write_demo(out / "demo.wav", cfg.render.sample_rate, cfg.render.duration)
    stage(f"predicting a preset for {demo} ({cfg.candidates} candidates)")
    result = predict(
        [demo], last, out / "prediction", candidates=cfg.candidates, spec=cfg.spec, seed=cfg.seed
    )
    if result.failures:
        raise result_error(result.failures[0].error)
    return QuickstartResult(out, data, last, demo, result.results[0], reused, list(result.results))


def _dataset_finished(data: Path, num_samples: int) -> bool:
    """Whether ``data`` already holds every shard of a ``num_samples``-row dataset (cheap: no
    shard is opened; :func:`~a2d.pipelines.generate.generate` verifies them)."""
    from a2d.contracts.errors import A2DError
    from a2d.storage.dataset import Manifest

    try:
        manifest = Manifest.read(data)
    except A2DError:
        return False
    return manifest.num_rows == num_samples and all(
        (data / s["file"]).is_file() for s in manifest.shards
    )


def result_error(message: str) -> Exception:
    from a2d.contracts.errors import RenderError

    return RenderError(f"the quickstart prediction failed: {message}")
