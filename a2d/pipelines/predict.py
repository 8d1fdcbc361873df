"""From a sound to a preset: ``a2d predict``.

For each input: load and shape it (:mod:`a2d.kernels.audio`), compute the model's log-mel features, sample
``K`` candidate parameter vectors in one batch (a deterministic model gives one), decode and render
each with the real synth, score each render against the input with the multi-scale spectral distance
(:func:`a2d.kernels.metrics.mss`, after matching the render's loudness to the input's: the model's features
are gain-invariant, so level is not part of the match), keep the best, and write

``OUT/<name>/<name>.vital`` (or the backend's preset suffix), ``<name>.mid`` (the note to play, a
standard MIDI file), ``<name>.params.json`` (each value as the synth's panel shows it, with the
stored number as a detail; the note in words; every candidate's score, in dB and in words against
the measured scale of :mod:`a2d.pipelines.calibration`; timings), ``<name>.wav`` (the best render, as the
synth made it) and ``report.html`` (offline: spectrograms, players, scores, loading steps).

A bad input fails alone (:class:`PredictFailure`); the batch goes on. What is written, and the
result records, are in :mod:`a2d.pipelines.predict_output`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import (
    A2DError,
    AudioInputError,
    CheckpointError,
    ConfigError,
    RenderError,
)
from a2d.contracts.spec import Patch
from a2d.kernels.audio import Sound, find_sounds, load_sound, matched_mss
from a2d.kernels.metrics import log_mel
from a2d.pipelines.predict_output import (
    Candidate,
    PredictFailure,
    PredictResult,
    PredictSummary,
    output_names,
    proposal_stages,
    write_banks,
    write_result,
)
from a2d.pipelines.proposers import NEIGHBOURS as NEIGHBOURS  # the default, re-exported
from a2d.pipelines.proposers import index_rows
from a2d.storage.atomic import ensure_writable_dir

#: The phases of one prediction, in order, as keys of :attr:`PredictResult.timings`.
PHASES = ("load", "features", "sample", "render", "score", "write")


class SoundMatcher:
    """A loaded checkpoint plus a live synth, reused across inputs.

    :param checkpoint: path of a checkpoint, the name of a shipped model
        (:mod:`a2d.storage.pretrained`), or ``None``: the shipped model of ``spec``, else of
        ``synth`` (Vital when neither is given).
    :param spec: if given, the registered spec name the checkpoint must have been trained on.
    :param synth: if given, the synth the checkpoint must be for.
    :param candidates: K, candidates sampled per input (1 for deterministic models).
    :param seed: seeds the model's sampling noise (same seed, same candidates).
    :param synth_options: backend options (e.g. ``plugin_path`` for Surge XT).
    :param workers: synth worker processes that render the candidates (0: render here). They
        start loading their synths at once, while the model loads and samples.
    :param threads: with ``workers=0``, render on this many synths in threads of this process,
        for synths that allow it (:attr:`a2d.contracts.synth.SynthBackend.parallel_threads`;
        Vital and Dexed do); default: :func:`a2d.runtime.threads.render_threads` (the cores, or
        ``A2D_NUM_THREADS``); 1: render on one synth.
    :param refine: renders spent refining the best candidates on the synth (:mod:`a2d.pipelines.refine`);
        0: none; None: the synth's default
        (:attr:`~a2d.contracts.synth.SynthBackend.refine_renders`).
    :param analyse: find the input's note (:mod:`a2d.kernels.analysis`), render every candidate at it
        (moved by octaves into the spec's pitch range) and match against the input moved as much.
    :param steps: ODE steps of a flow model's sampler (default: the checkpoint's).
    :param solver: its ODE solver, ``euler``, ``midpoint``, ``heun`` or ``rk4`` (default: the
        checkpoint's).
    :param neighbours: training rows proposed beside the model's samples, the nearest to the
        input in the checkpoint's retrieval index (:mod:`a2d.kernels.retrieval`); default
        the model's own default (``a2d models export --neighbours``), else :data:`NEIGHBOURS`,
        when the checkpoint ships an index; 0 when it has none.
    :param edits: retrieved rows the flow model carries towards the input, proposed beside them
        (:func:`a2d.pipelines.proposers.edit_settings`; default the model's, else
        :data:`a2d.pipelines.proposers.EDITS` when there are index rows); ``edit_t0``: the flow
        time they start from (closer to 1: closer to the retrieved rows).
    """

    def __init__(
        self,
        checkpoint: str | Path | None,
        *,
        spec: str | None = None,
        synth: str | None = None,
        candidates: int = 1,
        seed: int = 0,
        synth_options: dict[str, Any] | None = None,
        workers: int = 0,
        refine: int | None = 0,
        analyse: bool = True,
        steps: int | None = None,
        solver: str | None = None,
        neighbours: int | None = None,
        threads: int | None = None,
        edits: int | None = None,
        edit_t0: float | None = None,
    ) -> None:
        from a2d.contracts.plugins import create_backend
        from a2d.pipelines.proposers import edit_settings
        from a2d.runtime.synth_pool import render_pool
        from a2d.storage.inference import load_for_inference
        from a2d.storage.pretrained import resolve_checkpoint

        if candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {candidates}")
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if refine is not None and refine < 0:
            raise ValueError(f"refine must be >= 0 renders, got {refine}")
        self.analyse = analyse
        from a2d.kernels.ode import METHODS

        if steps is not None and steps < 1:
            raise ConfigError(f"--steps must be >= 1, got {steps}")
        if solver is not None and solver not in METHODS:
            raise ConfigError(f"--solver must be one of {', '.join(METHODS)}, got {solver!r}")
        self.sampling = {k: v for k, v in (("steps", steps), ("method", solver)) if v is not None}
        checkpoint = resolve_checkpoint(checkpoint, synth=synth, spec=spec)
        self.checkpoint = load_for_inference(checkpoint)
        ck = self.checkpoint
        if synth is not None and synth != ck.synth:
            raise CheckpointError(
                f"checkpoint {str(checkpoint)!r} is for synth {ck.synth!r}, not {synth!r}; "
                f"use a checkpoint trained for {synth!r}"
            )
        if spec is not None and spec != ck.spec.name:
            raise CheckpointError(
                f"checkpoint {str(checkpoint)!r} was trained on spec {ck.spec.name!r}, not {spec!r}; "
                f"use a checkpoint trained on {spec!r}"
            )
        self.candidates = candidates if ck.stochastic else 1
        self.neighbours = index_rows(ck, checkpoint, neighbours)
        self.edits, self.edit_t0 = edit_settings(ck, self.neighbours, edits, edit_t0)
        self.seed = seed
        self.settings = ck.render_settings
        self.synth_options = synth_options
        self.backend = create_backend(ck.spec, ck.render_settings, **(synth_options or {}))
        if refine is None:
            refine = type(self.backend).refine_renders
        self.refine_budget = refine
        self.proposals = self.candidates + self.neighbours + self.edits
        self.renders = max(self.proposals, refine)  # at most, per input
        self.pool = render_pool(
            ck.spec, ck.render_settings, self.renders, workers=workers, threads=threads,
            synth_options=synth_options, local=self.backend,
        )  # fmt: skip

    def start_workers(self, workers: int) -> None:
        """Render on ``workers`` synth worker processes from now on (0: here, on one synth)."""
        from a2d.runtime.synth_pool import render_pool

        if self.pool is not None:
            self.pool.close()
        ck = self.checkpoint
        self.pool = render_pool(
            ck.spec, ck.render_settings, self.renders, workers=workers, threads=1,
            synth_options=self.synth_options,
        )  # fmt: skip

    def close(self) -> None:
        """Release the synth and stop the workers."""
        if self.pool is not None:
            self.pool.close()
        self.backend.close()

    def __enter__(self) -> SoundMatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def features(self, audio: np.ndarray) -> np.ndarray:
        """``(C, N)`` -> ``(C, n_mels, frames)`` log-mel as in training."""
        return log_mel(audio, self.settings.sample_rate, self.checkpoint.mel_settings)

    def sample(self, mel: np.ndarray) -> np.ndarray:
        """``(C, M, F)`` -> ``(K, width)`` encoded candidates (one batch through the model)."""
        return self.checkpoint.sample(mel, self.candidates, self.seed, **self.sampling)

    def propose(self, mel: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """``(C, M, F)`` -> the candidates to render, ``(K + N + E, width)``, and where each came
        from: the model's K samples (``model``), the N nearest training rows of the shipped
        index (``index``), and E of those rows carried towards the input by the flow
        (``edit``)."""
        from a2d.pipelines.proposers import edit_steps

        vectors, ck = self.sample(mel), self.checkpoint
        parts, sources = [vectors], ["model"] * len(vectors)
        if self.neighbours or self.edits:
            near = ck.index.query(mel[None], max(self.neighbours, self.edits))[1][0]
            parts.append(near[: self.neighbours])
            sources += ["index"] * self.neighbours
        if self.edits:
            t0, starts = self.edit_t0, near[: self.edits]
            steps = edit_steps(self.sampling.get("steps", getattr(ck.model, "steps", 8)), t0)
            options = {**self.sampling, "steps": steps, "starts": starts, "t0": t0}
            parts.append(ck.sample(mel, self.edits, [self.seed, 1], **options))
            sources += ["edit"] * self.edits
        return np.concatenate(parts), sources

    def render(self, vectors: np.ndarray, note: Any = None) -> list[Candidate]:
        """Decode and render ``(K, width)`` vectors (spread over the workers when there are),
        each playing ``note`` when given (a :class:`a2d.contracts.notes.Note`)."""
        from a2d.kernels.analysis import at_pitch

        spec = self.checkpoint.spec
        patches = [at_pitch(spec.decode(v), note) for v in vectors]
        if self.pool is None:
            audio = [self.backend.render(p) for p in patches]
        else:
            parts = np.array_split(np.arange(len(patches)), 2 * self.pool.lanes)
            chunks = [([patches[i] for i in part],) for part in parts if len(part)]
            audio = [a for chunk in self.pool.map(render_patches, chunks) for a in chunk]
        triples = zip(vectors, patches, audio, strict=True)
        return [Candidate(i, v, p, a) for i, (v, p, a) in enumerate(triples)]

    def score(self, sound: Sound, cands: list[Candidate]) -> list[Candidate]:
        """Fill in ``mss`` and ``rank``; return the candidates best first."""
        from a2d.kernels.loudness import integrated_loudness

        rate = self.settings.sample_rate
        renders = np.stack([c.audio for c in cands])
        ref = float(integrated_loudness(sound.audio, rate))
        scores = matched_mss(renders, sound.audio, ref, rate)
        for c, s in zip(cands, scores, strict=True):
            c.mss = float(s)
        ranked = sorted(cands, key=lambda c: (not np.isfinite(c.mss), c.mss))
        for r, c in enumerate(ranked, start=1):
            c.rank = r
        return ranked

    def match(
        self,
        path: str | Path,
        out_dir: str | Path,
        *,
        on_phase: Callable[[str], None] | None = None,
        start: np.ndarray | None = None,
        refine: int | None = None,
    ) -> PredictResult:
        """Predict one input and write its files into ``out_dir`` (created).

        :param on_phase: called with each phase's name (:data:`PHASES`, ``analyse``, ``refine``)
            as it begins (progress display); an exception it raises stops the match there.
        :param start: ``(K, width)`` encoded vectors to render and refine instead of sampling the
            model (refining an earlier result further).
        :param refine: this input's refine budget (renders) instead of the matcher's.
        """
        t: dict[str, float] = {}
        clock = time.perf_counter()
        begin = on_phase or (lambda name: None)
        budget = self.refine_budget if refine is None else refine

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            t[name] = now - clock
            clock = now

        begin("load")
        sound = load_sound(path, self.settings)
        lap("load")
        note, extra = None, {}
        if self.analyse:
            from a2d.kernels.analysis import analyse_input

            begin("analyse")
            sound, note, extra = analyse_input(sound, self.checkpoint.spec, self.settings)
            lap("analyse")
        if start is None:
            begin("features")
            mel = self.features(sound.audio)
            lap("features")
            begin("sample")
            vectors, sources = self.propose(mel)
            lap("sample")
        else:
            vectors = np.atleast_2d(np.asarray(start, np.float64))
            sources = ["start"] * len(vectors)
        begin("render")
        cands = self.render(vectors, note)
        for c, source in zip(cands, sources, strict=True):
            c.source = source
        lap("render")
        begin("score")
        ranked = self.score(sound, cands)
        lap("score")
        extra["stages"] = proposal_stages(cands, ranked)
        if budget > 0:
            from a2d.pipelines.refine import refine_candidates

            begin("refine")
            ranked = refine_candidates(self, sound, ranked, note, extra["stages"], budget)
            lap("refine")
        begin("write")
        self.extra = extra
        result = write_result(self, sound, ranked, Path(out_dir), t, lambda: lap("write"))
        result.timings, result.target = t, sound
        return result


def render_patches(backend: Any, patches: list[Patch]) -> list[np.ndarray]:
    """Render ``patches`` in order (a synth-pool task)."""
    return [backend.render(p) for p in patches]


def predict(
    sounds: Iterable[str | Path],
    checkpoint: str | Path | None,
    out: str | Path,
    *,
    candidates: int = 1,
    spec: str | None = None,
    synth: str | None = None,
    seed: int = 0,
    synth_options: dict[str, Any] | None = None,
    workers: int | None = 0,
    refine: int | None = 0,
    analyse: bool = True,
    steps: int | None = None,
    solver: str | None = None,
    neighbours: int | None = None,
    edits: int | None = None,
    on_done: Callable[[Path, PredictResult | PredictFailure], None] | None = None,
) -> PredictSummary:
    """Predict a preset for every sound (files or folders); see the module docstring.

    :param workers: synth worker processes rendering the candidates (0: render here, on one
        synth per core in threads where the synth allows it); None: 0, except for several
        inputs with a synth that cannot render in threads, which get one worker per core
        (a worker's start, about 2 s, pays off over several inputs).
    :param refine: renders spent refining the best candidates on the synth (0: none; None: the
        synth's default, :attr:`~a2d.contracts.synth.SynthBackend.refine_renders`).
    :param analyse: render candidates at the input's analysed note (see :class:`SoundMatcher`).
    :param steps: ODE steps, :param solver: ODE solver of a flow model (default: the checkpoint's).
    :param neighbours, edits: retrieved rows proposed, and carried by the flow (SoundMatcher).
    :param on_done: called after each input with its result or failure (progress display).
    """
    paths = find_sounds(sounds)
    if not paths:
        raise AudioInputError("no input sounds found; pass audio files or folders holding them")
    ensure_writable_dir(out)  # before the model loads and anything renders
    matcher = SoundMatcher(
        checkpoint,
        spec=spec,
        synth=synth,
        candidates=candidates,
        seed=seed,
        synth_options=synth_options,
        workers=0 if workers is None else workers,
        refine=refine,
        analyse=analyse,
        steps=steps,
        solver=solver,
        neighbours=neighbours,
        edits=edits,
    )
    with matcher:
        if workers is None and len(paths) > 1 and matcher.pool is None:
            matcher.start_workers(os.cpu_count() or 1)
        return _predict_all(matcher, paths, Path(out), on_done)


def _predict_all(
    matcher: SoundMatcher,
    paths: list[Path],
    out: Path,
    on_done: Callable[[Path, PredictResult | PredictFailure], None] | None,
) -> PredictSummary:
    results, failures = [], []
    for path, name in zip(paths, output_names(paths), strict=True):
        item: PredictResult | PredictFailure
        try:
            item = matcher.match(path, out / name)
            results.append(item)
        except AudioInputError as exc:  # its message names the file
            item = PredictFailure(path, str(exc), exc.exit_code)
            failures.append(item)
        except RenderError as exc:
            item = PredictFailure(path, f"{path}: {exc}", exc.exit_code)
            failures.append(item)
        except A2DError:
            raise
        if on_done is not None:
            on_done(path, item)
    write_banks(matcher.backend, results, out)
    return PredictSummary(results, failures)
