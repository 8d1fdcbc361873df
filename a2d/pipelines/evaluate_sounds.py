"""``a2d evaluate --sounds DIR``: how well a checkpoint matches real sounds, against baselines at an
equal render budget.

Real sounds have no ground-truth parameters, so only audio metrics count. Every sound is loaded as
``a2d predict`` loads it, its note analysed (:mod:`a2d.kernels.analysis`: every method renders at the
detected note, moved by octaves into the spec's range, against the input moved as much), and every
method spends renders of the real synth on it:

========================  =======  ==============================================================
method                    renders  what
========================  =======  ==============================================================
``model_k1``              1        the model's first sample
``model_best_of_K``       K        the best of K samples
``model_own_note_K``      K        the same K samples at the model's own note (not the analysed)
``model_refine``          B        best of K, then CMA-ES from the best two for B - K renders
``predict_best_of_K+N+E`` K + N + E  the K samples, the N training rows nearest in the model's
                                   shipped retrieval index and E of them carried towards the
                                   sound by the flow (``a2d predict``'s proposals)
``predict_refine``        B        those, then CMA-ES for B - K - N - E renders: ``a2d predict``
``edit_best_of_K``        K        the K nearest index rows, each carried towards the sound by
                                   the flow (the model started from retrieval)
``edit_refine``           B        those, then CMA-ES for B - K renders
``nearest_best_of_K``     K        the K dataset rows nearest in pooled log-mel (with ``--data``)
``nearest_refine``        B        those, then CMA-ES for B - K renders
``index_best_of_K``       K        the K rows nearest in the model's shipped retrieval index
                                   (training rows: retrieval without the dataset)
``index_refine``          B        those, then CMA-ES for B - K renders
``random``                B        the best of B random patches of the spec
``cma_centre``            B        CMA-ES from the spec's centre for B renders
========================  =======  ==============================================================

Each method's best render is scored with every audio metric (:func:`a2d.kernels.metrics.audio_metrics`,
loudness-matched as for ranking). Written: ``sounds.csv`` (one row per sound and method),
``summary.json`` and ``summary.md`` (mean and standard error per method; pitch accuracy when the
folder has a dev-set ``manifest.json``), and ``report.html`` (the table, and per sound the log-mel
spectrograms of the input as matched and of every method's best render).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import AudioInputError, ConfigError, DatasetError, OutputError
from a2d.pipelines.sounds_summary import markdown_table as markdown_table  # re-exported
from a2d.pipelines.sounds_summary import report_html, sound_card, summarise, write_summary
from a2d.storage.atomic import atomic_write

#: Columns of ``sounds.csv``.
CSV_FIELDS = (
    "sound", "family", "true_pitch", "detected_pitch", "pitched", "octaves", "method", "renders",
    "mss", "wmfcc", "sot", "rms", "seconds",
)  # fmt: skip


@dataclass
class SoundsSummary:
    """What :func:`evaluate_sounds` measured: per-method means, files written."""

    table: dict[str, dict[str, float]]
    rows: list[dict[str, Any]]
    pitch_accuracy: float | None
    out: Path
    seconds: float
    failures: list[str]


def _metrics(audio: np.ndarray, target: np.ndarray, rate: int) -> dict[str, float]:
    from a2d.kernels.audio import match_loudness
    from a2d.kernels.loudness import integrated_loudness
    from a2d.kernels.metrics import audio_metrics

    ref = float(integrated_loudness(target, rate))
    pred = match_loudness(np.asarray(audio, dtype=np.float32)[None], ref, rate)
    return {k: float(v[0]) for k, v in audio_metrics(pred, target, rate).items()}


def evaluate_sounds(
    checkpoint: str | Path,
    sounds: str | Path,
    out: str | Path,
    *,
    data: str | Path | None = None,
    candidates: int = 16,
    budget: int = 64,
    seed: int = 0,
    workers: int = 0,
    limit: int | None = None,
    synth_options: dict[str, Any] | None = None,
    neighbours: int | None = None,
    edits: int | None = None,
    edit_t0: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> SoundsSummary:
    """Score a checkpoint and the baselines on every sound of ``sounds``; see the module docstring.

    :param data: a dataset (its ``train`` split) for the nearest-neighbour rows; None skips them.
    :param candidates: K. :param budget: B, renders per sound of the equal-budget methods (>= K).
    :param neighbours: N, index rows of the ``predict`` method (default: the model's);
        ``edits``: E, those it carries by the flow (default: the model's), from flow time
        ``edit_t0`` (default: the model's).
    """
    from a2d.kernels.audio import find_sounds
    from a2d.pipelines.devset import read_manifest
    from a2d.pipelines.predict import SoundMatcher
    from a2d.pipelines.refine import local_map

    if budget < candidates:
        raise ValueError(f"budget ({budget}) must be at least the candidates ({candidates})")
    # (with a retrieval index, the `predict` method's K + N proposals must fit in it too: checked
    # once the checkpoint is loaded)
    paths = find_sounds([sounds])
    if limit is not None:
        paths = paths[:limit]
    if not paths:
        raise AudioInputError(f"no sounds in {sounds}; pass a folder of audio files (a2d devset)")
    manifest = read_manifest(sounds) if Path(sounds).is_dir() else None
    truth = {e["file"]: e for e in (manifest or {}).get("sounds", [])}
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc}; choose a writable --out") from exc
    train = None
    if data is not None:
        from a2d.storage.dataset import open_dataset

        train = open_dataset(data, "train")
        if len(train) == 0:
            raise DatasetError(f"the train split of {data} is empty; nearest neighbours need it")
    clock = time.perf_counter()
    rows: list[dict[str, Any]] = []
    pitch_hits: list[bool] = []
    failures: list[str] = []
    cards: list[tuple[str, str, list[dict[str, Any]]]] = []
    with SoundMatcher(
        checkpoint, candidates=candidates, seed=seed, synth_options=synth_options,
        workers=workers, refine=budget, neighbours=neighbours, edits=edits,
        edit_t0=edit_t0,
    ) as m:  # fmt: skip
        spec, rate = m.checkpoint.spec, m.settings.sample_rate
        k = m.candidates
        if budget < m.proposals:
            raise ConfigError(
                f"--budget {budget} is below the model's {k} candidates + {m.neighbours} "
                f"retrieved rows + {m.edits} edits; pass --budget {m.proposals} or more"
            )
        map_fn = m.pool.map if m.pool is not None else local_map(m.backend)
        chunks = 2 * m.pool.lanes if m.pool is not None else 1
        ctx = _Context(m, spec, rate, map_fn, chunks, budget, seed, k, train)
        ctx.nearest = _nearest_all(ctx, paths)
        with open(out / "sounds.csv", "w", newline="") as f:  # rows as they come: a killed run
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)  # keeps the sounds it finished
            writer.writeheader()
            for n_done, path in enumerate(paths):
                try:
                    new = _one_sound(ctx, path, truth.get(path.name, {}), pitch_hits, cards)
                except AudioInputError as exc:  # a bad input fails alone; its message names it
                    failures.append(str(exc))
                    new = []
                writer.writerows(new)
                f.flush()
                rows += new
                if on_progress is not None:
                    on_progress(n_done + 1, len(paths))
    accuracy = float(np.mean(pitch_hits)) if pitch_hits else None
    table = summarise(rows)
    if not rows:
        raise AudioInputError(f"no sound of {sounds} could be evaluated: {failures[0]}")
    write_summary(out, table, accuracy, len(pitch_hits), checkpoint, sounds, budget, k, failures)
    atomic_write(out / "report.html", report_html(table, cards, accuracy, budget, k))
    return SoundsSummary(table, rows, accuracy, out, time.perf_counter() - clock, failures)


@dataclass
class _Context:
    matcher: Any
    spec: Any
    rate: int
    map_fn: Any
    chunks: int
    budget: int
    seed: int
    k: int
    train: Any
    #: The ``(k, width)`` nearest training rows of each sound (by path), from one scan.
    nearest: dict[str, np.ndarray] = field(default_factory=dict)
    #: Each sound's analysis (target, note, extra, log-mel) by path, when that scan made it.
    analysed: dict[str, tuple[Any, Any, dict[str, Any], np.ndarray]] = field(default_factory=dict)


def _nearest_all(ctx: _Context, paths: list[Path]) -> dict[str, np.ndarray]:
    """The nearest training rows of every sound, found by one scan of the train split (a scan
    per sound costs seconds to minutes on a large dataset). A sound that fails to load is left
    out here; it fails with its own message when its turn comes."""
    from a2d.kernels.analysis import analyse_input
    from a2d.kernels.audio import load_sound
    from a2d.pipelines.proposers import nearest_neighbours

    if ctx.train is None:
        return {}
    names, mels = [], []
    for path in paths:
        try:
            target, note, extra = analyse_input(
                load_sound(path, ctx.matcher.settings), ctx.spec, ctx.matcher.settings
            )
        except AudioInputError:
            continue
        names.append(str(path))
        mel = ctx.matcher.features(target.audio)
        ctx.analysed[str(path)] = (target, note, extra, mel)  # analysed once, not again per sound
        mels.append(mel.astype(np.float32))
    if not mels:
        return {}
    params = nearest_neighbours(np.stack(mels), ctx.train, ctx.k)[1]
    return dict(zip(names, params, strict=True))


def _one_sound(
    ctx: _Context,
    path: Path,
    info: dict[str, Any],
    pitch_hits: list[bool],
    html_cards: list[tuple[str, str, list[dict[str, Any]]]],
) -> list[dict[str, Any]]:
    """Every method on one sound: its ``sounds.csv`` rows."""
    from a2d.kernels.analysis import analyse_input
    from a2d.kernels.audio import load_sound
    from a2d.pipelines.refine import Objective, cma_from_centre, random_search, refine

    m, rate, budget, seed = ctx.matcher, ctx.rate, ctx.budget, ctx.seed
    done = ctx.analysed.pop(str(path), None)
    if done is None:
        target, note, extra = analyse_input(load_sound(path, m.settings), ctx.spec, m.settings)
        mel = m.features(target.audio)
    else:
        target, note, extra, mel = done
    analysis = extra["note_analysis"]
    base = {
        "sound": path.name, "family": info.get("family", ""), "true_pitch": info.get("pitch", ""),
        "detected_pitch": analysis["midi"], "pitched": analysis["pitched"],
        "octaves": extra["pitch_plan"]["octaves"],
    }  # fmt: skip
    if info.get("pitched"):
        pitch_hits.append(
            bool(analysis["pitched"]) and abs(analysis["midi_float"] - info["pitch"]) <= 1.0
        )
    rows: list[dict[str, Any]] = []
    cards = [sound_card("input", target.audio, mel)]

    def objective(own_note: bool = False) -> Objective:
        return Objective(
            ctx.spec, target.audio, rate, ctx.map_fn, chunks=ctx.chunks,
            note=None if own_note else note,
        )  # fmt: skip

    def add(method: str, renders: int, audio: np.ndarray, started: float) -> None:
        cards.append(sound_card(method, audio, m.features(audio)))
        scores = _metrics(audio, target.audio, rate)
        seconds = time.perf_counter() - started
        rows.append({**base, "method": method, "renders": renders, **scores, "seconds": seconds})

    def propose_and_refine(name: str, vectors: np.ndarray) -> None:
        t0 = time.perf_counter()
        obj = objective()
        scores, audio = obj(vectors)
        order = np.argsort(scores, kind="stable")
        if name == "model":
            add("model_k1", 1, audio[0], t0)
        add(f"{name}_best_of_{len(vectors)}", len(vectors), audio[order[0]], t0)
        top = order[:2]
        res = refine(obj, vectors[top], budget - len(vectors), seed=seed, start_scores=scores[top])
        add(
            f"{name}_refine",
            obj.renders,
            res.audio if res.audio is not None else audio[order[0]],
            t0,
        )

    proposals, _ = m.propose(mel)  # the model's samples first, then index rows and edits
    vectors = proposals[: m.candidates]
    propose_and_refine("model", vectors)
    if len(proposals) > len(vectors):  # the default `a2d predict`: plus index rows and edits
        propose_and_refine("predict", proposals)
    if m.checkpoint.index is not None and m.checkpoint.can_edit:
        propose_and_refine("edit", _edits(m, mel, ctx.k))
    t0 = time.perf_counter()
    scores, audio = objective(own_note=True)(vectors)
    add(f"model_own_note_{len(vectors)}", len(vectors), audio[int(np.argmin(scores))], t0)
    if ctx.train is not None:
        from a2d.pipelines.proposers import nearest_neighbours

        near = ctx.nearest.get(str(path))
        if near is None:
            near = nearest_neighbours(mel[None].astype(np.float32), ctx.train, ctx.k)[1][0]
        propose_and_refine("nearest", near)
    if m.checkpoint.index is not None:  # retrieval from the rows the model ships
        propose_and_refine("index", m.checkpoint.index.query(mel[None], ctx.k)[1][0])
    for name, search in (("random", random_search), ("cma_centre", cma_from_centre)):
        t0 = time.perf_counter()
        obj = objective()
        res = search(obj, budget, seed=seed)
        add(name, obj.renders, res.audio, t0)
    for card, row in zip(cards[1:], rows, strict=True):
        card["mss"] = row["mss"]
    html_cards.append((path.name, extra["pitch_plan"]["message"], cards))
    return rows


def _edits(m: Any, mel: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest index rows, each carried towards the sound by the flow (at the
    matcher's edit time, as ``a2d predict`` carries its edits)."""
    from a2d.pipelines.proposers import edit_steps

    ck, t0 = m.checkpoint, m.edit_t0
    near = ck.index.query(mel[None], k)[1][0]
    steps = edit_steps(m.sampling.get("steps", getattr(ck.model, "steps", 8)), t0)
    return ck.sample(mel, k, [m.seed, 1], starts=near, t0=t0, **{**m.sampling, "steps": steps})
