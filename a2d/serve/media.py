"""The page's view of a finished match: spectrograms with axes, players, presets per candidate.

:func:`result_media` turns ``a2d predict``'s result (its files, its ranked candidates with their
renders) into what the page shows, drawn with the report's own spectrogram code
(:mod:`a2d.pipelines.report`) so the page and ``report.html`` agree.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

#: Shown candidates (spectrogram, player, preset): the best and the next ones.
SHOWN = 3


def result_media(matcher: Any, result: Any) -> tuple[dict[str, Any], dict[str, Path], np.ndarray]:
    """Write the page's media for a :class:`~a2d.pipelines.predict.PredictResult` of ``matcher`` (a
    :class:`~a2d.pipelines.predict.SoundMatcher`) beside its files: spectrograms on one scale, the shown
    candidates' renders and presets. Returns the job's result document (every file by its served
    name), the served names' paths, and the shown candidates' encoded vectors."""
    import json

    import soundfile as sf

    from a2d.contracts.notes import note_in_words
    from a2d.pipelines.calibration import describe as in_words
    from a2d.pipelines.html import axis_ticks, colorize, png_bytes, spectrogram_image
    from a2d.pipelines.report import SPEC_RANGE_DB, matched_spectra

    out, stem = result.out_dir, result.out_dir.name
    rate = matcher.settings.sample_rate
    doc = json.loads(result.params_json.read_text())
    files = {p.name: p for p in (result.preset, result.midi, result.audio, result.params_json)}
    files["report.html"] = result.report
    shown = result.candidates[:SHOWN]
    audio, spectra, mel = matched_spectra(result.target.audio, [c.audio for c in shown], rate)
    vmax = float(max(s.max() for s in spectra))
    vmin = vmax - SPEC_RANGE_DB

    def write(name: str, data: bytes) -> str:
        (out / name).write_bytes(data)
        files[name] = out / name
        return name

    def wav(samples: np.ndarray) -> bytes:
        buf = io.BytesIO()
        sf.write(buf, samples.T, rate, format="WAV", subtype="FLOAT")
        return buf.getvalue()

    def png(spec: np.ndarray) -> bytes:
        return png_bytes(spectrogram_image(colorize(spec, vmin, vmax)))

    input_doc = {
        "audio": write(f"{stem}-input.wav", wav(audio[0])),
        "spectrogram": write(f"{stem}-input.png", png(spectra[0])),
    }
    cands = []
    for c, spec in zip(shown, spectra[1:], strict=True):
        if c.rank == 1:
            render, preset = result.audio.name, result.preset.name
        else:
            render = write(f"{stem}-cand{c.rank}.wav", wav(c.audio))
            path = matcher.backend.write_preset(c.patch, out / f"{stem}-cand{c.rank}")
            files[path.name], preset = path, path.name
        n = c.patch.note  # each candidate plays its own note length
        cands.append({
            "rank": c.rank, "mss_db": c.mss, "in_words": in_words(c.mss), "render": render,
            "preset": preset, "spectrogram": write(f"{stem}-cand{c.rank}.png", png(spec)),
            "note": {"play": note_in_words(n), "pitch": n.pitch, "velocity": n.velocity,
                     "start_s": n.start, "end_s": n.end},
        })  # fmt: skip
    freq, times = axis_ticks(audio[0].shape[-1] / rate, mel)
    files = {name: path for name, path in files.items() if path.is_file()}
    doc = {
        "stem": stem,
        "note": doc["params"]["note"],
        "pitch_plan": doc.get("pitch_plan", {}).get("message"),
        "score": doc["score"],
        "demo_model": doc.get("demo_model", False),
        "preset": result.preset.name,
        "midi": result.midi.name,
        "render": result.audio.name,
        "report": "report.html",
        "params": result.params_json.name,
        "input": input_doc,
        "candidates": cands,
        "all_candidates": len(result.candidates),
        "axes": {"freq_hz": freq, "time_s": times, "db": [vmin, vmax]},
        "stages": doc.get("stages", {}),
        "timings_s": doc.get("timings_s", {}),
    }
    return doc, files, np.stack([c.vector for c in shown])
