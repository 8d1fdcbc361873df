"""The HTML reports of ``a2d predict`` (one per input) and ``a2d evaluate``, built from plain data
(arrays, numbers, file names and the ``params.json`` / ``summary.json`` content) with the page
pieces of :mod:`a2d.pipelines.html`."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from a2d.pipelines.html import (
    audio_tag,
    bar_chart_png,
    colorize,
    colour_bar,
    diverging,
    fmt,
    html_page,
    img_tag,
    link,
    plot,
    swatch,
    table_html,
)

SPEC_RANGE_DB = 80.0
DIFF_RANGE_DB = 30.0
#: What the stored numbers of common spec units mean, for the params file and the report.
UNIT_WORDS = {
    "quartic s": "seconds = value^4",
    "quadratic gain": "gain = value^2",
    "quadratic %": "percent = value^2",
    "log2 Hz": "Hz = 2^value",
    "log2 s": "seconds = 2^value",
    "frame": "wavetable frame (0-256)",
    "fraction": "fraction of the destination's range",
}


def stored_value_unit(unit: str) -> str:
    """What a spec's unit says about the stored number, in words (``""`` when it has none)."""
    if "->" in unit:  # a modulation amount, e.g. "env_2->cutoff"
        return f"modulation amount {unit}, fraction of the destination's range"
    return UNIT_WORDS.get(unit, unit)


def display_mel_settings(sample_rate: int) -> Any:
    """Log-mel settings of the report's spectrograms: 46 ms windows, 10 ms hops, 80 bands from
    30 Hz, power in dB re full scale (not per-clip normalised, so clips share one scale)."""
    from a2d.kernels.features import MelSettings

    return MelSettings(
        n_fft=round(0.046 * sample_rate), hop_length=round(0.01 * sample_rate), window="hann",
        n_mels=80, fmin=30.0, fmax=sample_rate / 2, ref=1.0, top_db=None,
    )  # fmt: skip


def predict_report(
    input_audio: np.ndarray,
    sample_rate: int,
    top: Sequence[Any],
    files: dict[str, str],
    described: dict[str, Any],
) -> str:
    """The ``report.html`` of one ``a2d predict`` input, for a producer: what to load and play,
    how near the match is (in words against :mod:`a2d.pipelines.calibration`), spectrograms with
    axes on one scale plus a difference view, every value as the synth's panel shows it.

    :param input_audio: the input sound ``(C, N)`` at ``sample_rate``.
    :param top: the candidates to show, best first: each has ``rank``, ``mss`` (dB) and ``audio``
        ``(C, N)``.
    :param files: the file names written beside the report: ``preset``, ``midi`` (may be empty)
        and ``audio`` (the best candidate's render).
    :param described: the ``params.json`` content (``sound``, parameters, scores, timings).
    """
    synth_name = "Vital" if described["synth"] == "vital" else described["synth"]
    parts: list[str] = []
    if described.get("demo_model"):
        parts.append(
            '<p class="warn"><b>Demo model.</b> This prediction comes from the tiny demo model '
            f"that <code>a2d quickstart</code> trains in minutes ({described.get('model_steps')} "
            "steps on a few hundred sounds). Expect a rough match; train a real model "
            "(<code>a2d train --size small</code> or <code>paper</code>) for usable presets.</p>"
        )
    if "pitch_plan" in described:  # note analysis (a2d.kernels.analysis)
        parts.append(f"<p><b>{html.escape(described['pitch_plan']['message'])}</b></p>")
    parts += _what_to_do(synth_name, files, described)
    parts += _how_close(top[0].mss, described)
    parts += _spectrograms(input_audio, sample_rate, top)
    parts += _settings_and_details(synth_name, described)
    return html_page(f"a2d: a {synth_name} preset for {Path(described['sound']).name}", parts)


def _what_to_do(synth_name: str, files: dict[str, str], described: dict[str, Any]) -> list[str]:
    preset, midi = files["preset"], files["midi"]
    note = described["params"]["note"]
    if described["synth"] == "vital":
        load_steps = (
            "drag the file onto the synth's window, or open Vital's menu (&#9776; at the top) and "
            "choose <i>Open External Preset</i>, then pick the file. In a DAW: add Vital as an "
            "instrument on a MIDI track first, then load the file in Vital's window."
        )
    else:
        load_steps = (
            "add the synth as an instrument on a MIDI track of your DAW, then open the file from "
            "the plugin's preset menu (or the DAW's preset browser for a .vstpreset)."
        )
    return [
        "<h2>What to do</h2><ol>",
        f"<li>Load {link(preset, preset)} in {html.escape(synth_name)}: {load_steps}</li>",
        f"<li>{html.escape(note['play'][0].upper() + note['play'][1:])}: drag "
        f"{link(midi, midi)} onto that track, or play it on your keyboard.</li>",
        f"<li>Compare with the input and with a2d's own render of the preset, "
        f"{link(files['audio'], files['audio'])} (players below).</li></ol>",
        f'<p class="muted">{html.escape(note["name"])} names middle C (MIDI 60) C4; Ableton Live '
        "and FL Studio call it C3, so their name for this key is one octave lower.</p>",
    ]


def _how_close(best_mss: float, described: dict[str, Any]) -> list[str]:
    from a2d.pipelines.calibration import scale_text

    return [
        "<h2>How close is it?</h2>",
        f'<p class="score">MSS {best_mss:.2f} dB &mdash; {html.escape(described["score"]["in_words"])}'
        "</p>",
        '<p class="muted">MSS is a multi-scale spectral distance in dB after matching loudness '
        f"(lower is nearer). Measured scale for Vital: {html.escape(scale_text())}.</p>",
    ]


def _spectrograms(input_audio: np.ndarray, sample_rate: int, top: Sequence[Any]) -> list[str]:
    """Input and matches (loudness-matched to the input, as scored) on one colour scale, then the
    best match minus the input."""
    seconds = input_audio.shape[-1] / sample_rate
    shown, spectra, mel = matched_spectra(input_audio, [c.audio for c in top], sample_rate)
    vmax = float(max(s.max() for s in spectra))
    vmin = vmax - SPEC_RANGE_DB

    def heat(v: np.ndarray) -> np.ndarray:
        return colorize(v, vmin, vmax)

    parts = [
        "<h2>Spectrograms</h2>",
        f'<p class="muted">Log-mel power in dB, input and matches on one colour scale '
        f"({vmin:.0f} to {vmax:.0f} dB); the matches are loudness-matched to the input, as "
        "scored.</p>",
        '<div class="row">',
    ]
    labels = ["input"] + [f"match #{c.rank} (MSS {c.mss:.2f} dB)" for c in top]
    cards = [
        f'<div class="card"><b>{html.escape(label)}</b>'
        f"{plot(heat(spec), label, seconds, sample_rate, mel)}"
        f"{audio_tag(audio, sample_rate)}</div>"
        for label, spec, audio in zip(labels, spectra, shown, strict=True)
    ]
    bar = colour_bar(heat, vmin, vmax, "dB", "colour scale, dB")
    parts += [*cards[:2], bar, "</div>"]
    if len(cards) > 2:
        parts += ["<h3>The next candidates</h3>", '<div class="row">', *cards[2:], bar, "</div>"]
    diff = spectra[1] - spectra[0]
    parts += [
        "<h3>Difference: best match minus input</h3>",
        '<p class="muted">Red: the match is louder there; blue: quieter; white: the same.</p>',
        '<div class="row"><div class="card">'
        + plot(diverging(diff, DIFF_RANGE_DB), "difference", seconds, sample_rate, mel, "diff")
        + "</div>"
        + colour_bar(
            lambda v: diverging(v, DIFF_RANGE_DB),
            -DIFF_RANGE_DB,
            DIFF_RANGE_DB,
            "dB",
            "difference scale, dB",
        )
        + "</div>",
    ]
    return parts


def matched_spectra(
    sound_audio: np.ndarray, renders: Sequence[np.ndarray], sample_rate: int
) -> tuple[list[np.ndarray], list[np.ndarray], Any]:
    """The input and ``renders`` loudness-matched to it (as scored), and their display log-mels
    (dB, channels averaged): ``(audio, spectra, mel_settings)``, input first."""
    from a2d.kernels.audio import match_loudness
    from a2d.kernels.loudness import integrated_loudness
    from a2d.kernels.metrics import log_mel

    mel = display_mel_settings(sample_rate)
    ref = float(integrated_loudness(sound_audio, sample_rate))
    shown = [sound_audio] + [
        match_loudness(a[None], ref, sample_rate)[0] if np.isfinite(ref) else a for a in renders
    ]
    if len({a.shape for a in shown}) == 1:  # one batched native call, on every core
        spectra = list(log_mel(np.stack(shown), sample_rate, mel).mean(axis=1))
    else:
        spectra = [log_mel(a, sample_rate, mel).mean(axis=0) for a in shown]
    return shown, spectra, mel


def _settings_and_details(synth_name: str, described: dict[str, Any]) -> list[str]:
    """Every setting as the panel shows it, all candidates, the run's details and stages."""
    rows = []
    for name, entry in described["params"].items():
        if name == "note":
            continue
        stored = f"{entry['value']:.6g}"
        if entry.get("value_unit"):
            stored += f" ({entry['value_unit']})"
        label = entry.get("label", name)
        rows.append(
            [
                f"{html.escape(label)}<br><span class='muted'>{html.escape(name)}</span>",
                f"<b>{html.escape(entry.get('text', ''))}</b>",
                html.escape(entry.get("hint", "")),
                f"<span class='muted'>{html.escape(stored)}</span>",
            ]
        )
    cand_rows = [
        [c["rank"], c.get("source", "model"), f"{c['mss_db']:.2f}", c["in_words"]]
        for c in described["candidates"]
    ]
    timing_rows = [[k, v] for k, v in described["timings_s"].items()]
    parts = [
        f"<h2>The preset's settings (as {html.escape(synth_name)}'s panel shows them)</h2>",
        table_html(["control", "panel shows", "meaning", "stored in the file"], rows, raw=True),
        "<h2>All candidates</h2>",
        table_html(["rank", "from", "MSS (dB)", "in words"], cand_rows),
        '<p class="muted">from: <b>model</b> sampled by the model from your sound; <b>index</b> '
        "the patch of the training sound most like yours; <b>edit</b> such a patch moved towards "
        "your sound by the model; <b>refine</b> found by searching on the synth from the best.</p>",
        '<h2>Details</h2><p class="muted">'
        f"sound {html.escape(described['sound'])} &middot; model {html.escape(described['model'])} "
        + (
            f"(shipped model {html.escape(str(shipped))}, "
            if (shipped := described.get("shipped_model"))
            else "("
        )
        + f"{html.escape(str(described.get('model_size')))}, step {described.get('model_steps')}) "
        f"&middot; spec {html.escape(described['spec'])} &middot; checkpoint "
        f"{html.escape(described['checkpoint'])}</p>",
        table_html(["phase", "seconds"], timing_rows),
    ]
    if "pitch_plan" in described:  # the search stages (a2d.pipelines.refine)
        stages = [[k, v] for k, v in described.get("stages", {}).items()]
        parts += ["<h2>Stages</h2>", table_html(["stage", "MSS (dB) / renders"], stages)]
    return parts


def evaluate_report(doc: dict[str, Any]) -> str:
    """The ``report.html`` of ``a2d evaluate`` from its ``summary.json`` content."""
    metrics = list(doc["higher_is_better"])
    rows, bars, groups = (
        [],
        [],
        sorted(
            {
                g
                for m in doc["methods"].values()
                for e in m.values()
                for g in e["params"]["mse_per_group"]
            }
        ),
    )
    group_rows = []
    for method, by_k in doc["methods"].items():
        for k, e in by_k.items():
            i = len(bars)
            bars.append(e["mss"])
            label = f"{swatch(i)}{html.escape(method)}"
            cells = [f"{fmt(e[m])} &plusmn; {fmt(e[m + '_se'], 2)}" for m in metrics]
            rows.append([label, html.escape(k), *cells, fmt(e["params"]["accuracy_mean"])])
            group_rows.append(
                [
                    label,
                    html.escape(k),
                    *[fmt(e["params"]["mse_per_group"].get(g, float("nan"))) for g in groups],
                ]
            )
    arrows = {m: ("&uarr;" if up else "&darr;") for m, up in doc["higher_is_better"].items()}
    header = ["method", "k", *[f"{m} {arrows[m]}" for m in metrics], "categorical accuracy"]
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    ghead = "".join(f"<th>{html.escape(h)}</th>" for h in ["method", "k", *groups])
    gbody = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in group_rows)
    parts = [
        f'<p class="muted">checkpoint {html.escape(doc["checkpoint"])} &middot; data '
        f"{html.escape(doc['data'])} ({html.escape(doc['split'])}, {doc['rows']} rows) &middot; "
        f"K = {doc['candidates']}</p>",
        "<p>mss: multi-scale log-mel L1 (dB); wmfcc: DTW-aligned MFCC L1; sot: spectral "
        "Wasserstein-1 (fraction of Nyquist); rms: RMS-envelope cosine; param_mse: encoded "
        "parameters. Mean &plusmn; standard error over rows.</p>",
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
        "<h2>MSS by method (shorter is better)</h2>",
        img_tag(bar_chart_png(bars), "mean MSS per method"),
        "<h2>Parameter MSE per group</h2>",
        f"<table><thead><tr>{ghead}</tr></thead><tbody>{gbody}</tbody></table>",
    ]
    return html_page("a2d evaluation", parts)
