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

A bad input fails alone (:class:`PredictFailure`); the batch goes on.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2d.contracts.errors import (
    A2DError,
    AudioInputError,
    CheckpointError,
    ExitCode,
    RenderError,
)
from a2d.contracts.notes import note_in_words, note_name
from a2d.contracts.spec import Patch
from a2d.kernels.audio import Sound, find_sounds, load_sound, matched_mss
from a2d.kernels.metrics import log_mel
from a2d.storage.atomic import atomic_dir, atomic_write, ensure_writable_dir, output_error
from a2d.storage.midi import note_midi_bytes

#: How many of the best candidates the HTML report shows with spectrogram and player.
REPORT_TOP = 3
#: The phases of one prediction, in order, as keys of :attr:`PredictResult.timings`.
PHASES = ("load", "features", "sample", "render", "score", "write")


@dataclass
class Candidate:
    """One sampled parameter set.

    :param index: position in the sampled batch. :param rank: 1 = best score.
    :param vector: ``(width,)`` encoded model output in [0, 1].
    :param patch: decoded synth values. :param mss: distance to the input (dB, lower is better).
    :param audio: ``(C, N)`` render at the model's rate (raw synth level).
    """

    index: int
    vector: np.ndarray
    patch: Patch
    audio: np.ndarray
    mss: float = float("nan")
    rank: int = 0


@dataclass
class PredictResult:
    """What one input produced: files, ranked candidates, seconds spent per phase."""

    sound: Path
    out_dir: Path
    preset: Path
    params_json: Path
    audio: Path
    report: Path
    candidates: list[Candidate]
    timings: dict[str, float] = field(default_factory=dict)
    midi: Path | None = None

    @property
    def best(self) -> Candidate:
        return self.candidates[0]


@dataclass(frozen=True)
class PredictFailure:
    """One input that failed: its one-line error and the exit code that error has alone."""

    sound: Path
    error: str
    code: ExitCode = ExitCode.DATA


@dataclass
class PredictSummary:
    results: list[PredictResult]
    failures: list[PredictFailure]

    @property
    def exit_code(self) -> ExitCode:
        """OK, PARTIAL (some inputs failed), or when all failed: their common code (e.g. NOT_FOUND
        for missing files), else DATA."""
        if not self.failures:
            return ExitCode.OK
        if self.results:
            return ExitCode.PARTIAL
        codes = {f.code for f in self.failures}
        return codes.pop() if len(codes) == 1 else ExitCode.DATA


class SoundMatcher:
    """A loaded checkpoint plus a live synth, reused across inputs.

    :param checkpoint: path of the checkpoint.
    :param spec: if given, the registered spec name the checkpoint must have been trained on.
    :param synth: if given, the synth the checkpoint must be for.
    :param candidates: K, candidates sampled per input (1 for deterministic models).
    :param seed: seeds the model's sampling noise (same seed, same candidates).
    :param synth_options: backend options (e.g. ``plugin_path`` for Surge XT).
    :param workers: synth worker processes that render the candidates (0: render here). They
        start loading their synths at once, while the model loads and samples.
    :param refine: renders spent refining the best candidates on the synth (:mod:`a2d.pipelines.refine`);
        0: none.
    :param analyse: find the input's note (:mod:`a2d.kernels.analysis`), render every candidate at it
        (moved by octaves into the spec's pitch range) and match against the input moved as much.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        spec: str | None = None,
        synth: str | None = None,
        candidates: int = 1,
        seed: int = 0,
        synth_options: dict[str, Any] | None = None,
        workers: int = 0,
        refine: int = 0,
        analyse: bool = True,
    ) -> None:
        from a2d.contracts.plugins import create_backend
        from a2d.runtime.synth_pool import SynthPool
        from a2d.storage.checkpoint import load_checkpoint

        if candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {candidates}")
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if refine < 0:
            raise ValueError(f"refine must be >= 0 renders, got {refine}")
        self.refine_budget, self.analyse = refine, analyse
        self.checkpoint = load_checkpoint(checkpoint)
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
        self.candidates = candidates if ck.model.stochastic else 1
        self.seed = seed
        self.settings = ck.render_settings
        self.backend = create_backend(ck.spec, ck.render_settings, **(synth_options or {}))
        self.pool = None
        if workers > 0 and (self.candidates > 1 or refine > 0):
            self.pool = SynthPool(
                ck.spec, ck.render_settings, workers=min(workers, max(self.candidates, refine)),
                synth_options=synth_options,
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
        kwargs: dict[str, Any] = {}
        if self.checkpoint.model.stochastic:
            kwargs["generator"] = torch.Generator().manual_seed(self.seed)
        out = self.checkpoint.predict(
            torch.from_numpy(mel)[None], n_candidates=self.candidates, **kwargs
        )
        return out[0].detach().cpu().numpy().astype(np.float64)

    def render(self, vectors: np.ndarray, note: Any = None) -> list[Candidate]:
        """Decode and render ``(K, width)`` vectors (spread over the workers when there are),
        each playing ``note`` when given (a :class:`a2d.contracts.notes.Note`)."""
        spec = self.checkpoint.spec
        patches = [spec.decode(v) for v in vectors]
        if note is not None:
            patches = [replace(p, note=note) for p in patches]
        if self.pool is None:
            audio = [self.backend.render(p) for p in patches]
        else:
            parts = np.array_split(np.arange(len(patches)), 2 * self.pool.workers)
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

    def match(self, path: str | Path, out_dir: str | Path) -> PredictResult:
        """Predict one input and write its files into ``out_dir`` (created)."""
        t: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            t[name] = now - clock
            clock = now

        sound = load_sound(path, self.settings)
        lap("load")
        note, extra = None, {}
        if self.analyse:
            from a2d.kernels.analysis import analyse_input

            sound, note, extra = analyse_input(sound, self.checkpoint.spec, self.settings)
            lap("analyse")
        mel = self.features(sound.audio)
        lap("features")
        vectors = self.sample(mel)
        lap("sample")
        cands = self.render(vectors, note)
        lap("render")
        ranked = self.score(sound, cands)
        lap("score")
        extra["stages"] = {
            "model_k1_mss_db": cands[0].mss,
            f"best_of_{len(cands)}_mss_db": ranked[0].mss,
        }
        if self.refine_budget > 0:
            from a2d.pipelines.refine import refine_candidates

            ranked = refine_candidates(self, sound, ranked, note, extra["stages"])
            lap("refine")
        self.extra = extra
        result = self._write(sound, ranked, Path(out_dir), t, lambda: lap("write"))
        result.timings = t
        return result

    def _write(
        self,
        sound: Sound,
        ranked: list[Candidate],
        out_dir: Path,
        t: dict[str, float],
        lap_write: Callable[[], None],
    ) -> PredictResult:
        """Write the input's folder: built under a temporary name, renamed when complete, so that
        ``out_dir`` is whole or absent (a full disk or a kill leaves no partial result)."""
        import soundfile as sf

        from a2d.pipelines.report import predict_report

        name = out_dir.name
        try:
            out_dir.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(out_dir.parent, exc, fix="; or choose another --out") from None
        best = ranked[0]
        rate = self.settings.sample_rate
        with atomic_dir(out_dir) as tmp:
            preset = out_dir / self.backend.write_preset(best.patch, tmp / name).name
            wav = out_dir / f"{name}.wav"
            buf = io.BytesIO()
            sf.write(buf, best.audio.T, rate, format="WAV", subtype="FLOAT")
            atomic_write(tmp / wav.name, buf.getvalue())
            params_json = out_dir / f"{name}.params.json"
            result = PredictResult(
                sound.path, out_dir, preset, params_json, wav, out_dir / "report.html", ranked
            )
            result.midi = out_dir / f"{name}.mid"
            atomic_write(tmp / result.midi.name, note_midi_bytes(best.patch.note, name))
            files = {"preset": preset.name, "midi": result.midi.name, "audio": wav.name}
            top = ranked[:REPORT_TOP]
            html = predict_report(sound.audio, rate, top, files, self.describe(result, sound, t))
            atomic_write(tmp / result.report.name, html)
            lap_write()  # params.json's timings include the write phase (all but this last file)
            doc = self.describe(result, sound, t)
            atomic_write(tmp / params_json.name, json.dumps(doc, indent=2, default=float))
        return result

    def describe(
        self, result: PredictResult, sound: Sound, timings: dict[str, float]
    ) -> dict[str, Any]:
        """The ``params.json`` content: best patch with labels/units/display text, all scores."""
        from a2d.pipelines.calibration import describe as in_words
        from a2d.pipelines.report import stored_value_unit

        ck, best = self.checkpoint, result.best
        display = self.backend.param_display(best.patch)
        params: dict[str, Any] = {}
        for name, entry in ck.spec.describe(best.patch).items():
            if name == "note":
                continue
            shown = display.get(name, {})
            unit = shown.get("value_unit") or stored_value_unit(entry.get("unit", ""))
            params[name] = {
                **{k: v for k, v in shown.items() if k != "value_unit"},
                **({"choice": entry["label"]} if "label" in entry else {}),
                "value": entry["value"],
                **({"value_unit": unit} if unit else {}),
            }
            if "text" not in params[name]:
                params[name]["text"] = entry.get("label", f"{entry['value']:.4g}")
        note = best.patch.note
        params["note"] = {
            "play": note_in_words(note),
            "name": note_name(note.pitch),
            "pitch": note.pitch,
            "velocity": note.velocity,
            "start_s": note.start,
            "end_s": note.end,
            "midi_file": result.midi.name if result.midi else None,
        }
        size = ck.config.get("preset")
        return {
            "sound": str(sound.path),
            "checkpoint": str(ck.path),
            "model": ck.model_name,
            "model_size": size,
            "model_steps": ck.step,
            "demo_model": size == "tiny",
            "synth": ck.synth,
            "spec": ck.spec.name,
            "spec_fingerprint": ck.spec.fingerprint,
            "preset": result.preset.name,
            "midi": result.midi.name if result.midi else None,
            "render": result.audio.name,
            "score": {"mss_db": best.mss, "in_words": in_words(best.mss)},
            "params": params,
            "encoded": best.vector.round(6).tolist(),
            "input": {
                "source_rate": sound.source_rate,
                "source_seconds": sound.source_seconds,
                "trimmed_seconds": sound.trimmed_seconds,
                "gain_db": sound.gain_db,
            },
            "candidates": [
                {"rank": c.rank, "index": c.index, "mss_db": c.mss, "in_words": in_words(c.mss)}
                for c in result.candidates
            ],
            "timings_s": dict(timings),
            **getattr(self, "extra", {}),
        }


def render_patches(backend: Any, patches: list[Patch]) -> list[np.ndarray]:
    """Render ``patches`` in order (a synth-pool task)."""
    return [backend.render(p) for p in patches]


def output_names(paths: list[Path]) -> list[str]:
    """A distinct folder name per input: the file stem, with ``-2``, ``-3``... on repeats, skipping
    suffixes that another input's stem already is (``a`` ``a`` ``a-2`` -> ``a`` ``a-3`` ``a-2``).
    Names differing only in case count as equal (case-insensitive file systems)."""
    stems = [p.stem or "sound" for p in paths]
    taken = {s.casefold() for s in stems}
    used: set[str] = set()
    names = []
    for stem in stems:
        name, n = stem, 1
        while name.casefold() in used or (n > 1 and name.casefold() in taken):
            n += 1
            name = f"{stem}-{n}"
        used.add(name.casefold())
        names.append(name)
    return names


def predict(
    sounds: Iterable[str | Path],
    checkpoint: str | Path,
    out: str | Path,
    *,
    candidates: int = 1,
    spec: str | None = None,
    synth: str | None = None,
    seed: int = 0,
    synth_options: dict[str, Any] | None = None,
    workers: int = 0,
    refine: int = 0,
    analyse: bool = True,
    on_done: Callable[[Path, PredictResult | PredictFailure], None] | None = None,
) -> PredictSummary:
    """Predict a preset for every sound (files or folders); see the module docstring.

    :param workers: synth worker processes rendering the candidates (0: render here).
    :param refine: renders spent refining the best candidates on the synth (0: none).
    :param analyse: render candidates at the input's analysed note (see :class:`SoundMatcher`).
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
        workers=workers,
        refine=refine,
        analyse=analyse,
    )
    with matcher:
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
    _write_banks(matcher.backend, results, out)
    return PredictSummary(results, failures)


def _write_banks(backend: Any, results: list[PredictResult], out: Path) -> None:
    """Synths with banks (``write_bank(patches, path, names)``, e.g. the DX7's 32-voice ``.syx``)
    also get the presets of a batch as ``OUT/bank-01`` ... (``bank_size`` voices each)."""
    size = getattr(backend, "bank_size", 0)
    if len(results) < 2 or not size or not hasattr(backend, "write_bank"):
        return
    for k in range(0, len(results), size):
        chunk = results[k : k + size]
        backend.write_bank(
            [r.best.patch for r in chunk],
            out / f"bank-{k // size + 1:02d}",
            [r.out_dir.name for r in chunk],
        )
