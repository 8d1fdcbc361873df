"""What ``a2d predict`` produces for an input: the ranked candidates and result records, the
input's folder (preset, render, MIDI file, ``report.html``, ``params.json``) and, for synths with
banks, the presets of a batch. See :mod:`a2d.pipelines.predict` for the matching itself."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import ExitCode
from a2d.contracts.notes import note_in_words, note_name
from a2d.contracts.spec import Patch
from a2d.kernels.audio import Sound
from a2d.storage.atomic import atomic_dir, atomic_write, output_error
from a2d.storage.midi import note_midi_bytes

#: How many of the best candidates the HTML report shows with spectrogram and player.
REPORT_TOP = 3


@dataclass
class Candidate:
    """One sampled parameter set.

    :param index: position in the sampled batch. :param rank: 1 = best score.
    :param vector: ``(width,)`` encoded model output in [0, 1].
    :param patch: decoded synth values. :param mss: distance to the input (dB, lower is better).
    :param audio: ``(C, N)`` render at the model's rate (raw synth level).
    :param source: ``model`` (a sample), ``index`` (a retrieved training row), ``edit`` (a
        retrieved row carried towards the input by the flow), ``start`` (given
        by the caller) or ``refine`` (found by the search on the synth).
    """

    index: int
    vector: np.ndarray
    patch: Patch
    audio: np.ndarray
    mss: float = float("nan")
    rank: int = 0
    source: str = "model"


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
    #: The input as matched: shaped, loudness-normalised, moved by octaves when analysed.
    target: Sound | None = None

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


def write_result(
    matcher: Any,
    sound: Sound,
    ranked: list[Candidate],
    out_dir: Path,
    t: dict[str, float],
    lap_write: Callable[[], None],
) -> PredictResult:
    """Write the input's folder for ``matcher`` (a :class:`a2d.pipelines.predict.SoundMatcher`): built under a temporary name, renamed when complete, so that
    ``out_dir`` is whole or absent (a full disk or a kill leaves no partial result)."""
    import soundfile as sf

    from a2d.pipelines.report import predict_report

    name = out_dir.name
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(out_dir.parent, exc, fix="; or choose another --out") from None
    best = ranked[0]
    rate = matcher.settings.sample_rate
    with atomic_dir(out_dir) as tmp:
        preset = out_dir / matcher.backend.write_preset(best.patch, tmp / name).name
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
        html = predict_report(sound.audio, rate, top, files, describe(matcher, result, sound, t))
        atomic_write(tmp / result.report.name, html)
        lap_write()  # params.json's timings include the write phase (all but this last file)
        doc = describe(matcher, result, sound, t)
        atomic_write(tmp / params_json.name, json.dumps(doc, indent=2, default=float))
    return result


def describe(
    matcher: Any, result: PredictResult, sound: Sound, timings: dict[str, float]
) -> dict[str, Any]:
    """The ``params.json`` content: best patch with labels/units/display text, all scores."""
    from a2d.pipelines.calibration import describe as in_words
    from a2d.pipelines.report import stored_value_unit

    ck, best = matcher.checkpoint, result.best
    display = matcher.backend.param_display(best.patch)
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
        "shipped_model": shipped_name(ck.path),
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
            {
                "rank": c.rank,
                "index": c.index,
                "source": c.source,
                "mss_db": c.mss,
                "in_words": in_words(c.mss),
            }
            for c in result.candidates
        ],
        "timings_s": dict(timings),
        **getattr(matcher, "extra", {}),
    }


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


def write_banks(backend: Any, results: list[PredictResult], out: Path) -> None:
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


def shipped_name(path: Path) -> str | None:
    """The shipped model's name when ``path`` is one (:mod:`a2d.storage.pretrained`), else
    ``None``."""
    from a2d.storage.pretrained import MODELS_DIR

    return path.stem if Path(path).resolve().parent == MODELS_DIR else None


def proposal_stages(cands: list[Candidate], ranked: list[Candidate]) -> dict[str, Any]:
    """Scores of each proposal stage for ``params.json``: the first sample, the best of each
    source (model, index) and the best of all."""
    stages: dict[str, Any] = {"model_k1_mss_db": cands[0].mss}
    for source in ("model", "index", "edit"):
        mine = [c.mss for c in cands if c.source == source]
        if mine and len(mine) < len(cands):
            stages[f"{source}_best_of_{len(mine)}_mss_db"] = min(mine)
    stages[f"best_of_{len(cands)}_mss_db"] = ranked[0].mss
    return stages
