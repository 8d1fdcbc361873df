"""Self-contained HTML reports: PNG images and audio embedded as data URIs, readable offline.

PNGs are written with numpy + zlib (:func:`png_bytes`) rather than matplotlib: a report needs only
heat maps (spectrograms) and bars, which are a colormap lookup and a few filled rectangles, and this
keeps a ~40 MB plotting stack out of the install. Text (titles, axes, legends) lives in the HTML
around the images, where it stays selectable and sharp.
"""

from __future__ import annotations

import base64
import html
import io
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Viridis anchor colours (RGB 0-255) at 0, 0.25, 0.5, 0.75, 1, interpolated linearly.
_VIRIDIS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
)
#: Distinct colours for bar charts, cycled (RGB 0-255).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127),
)  # fmt: skip


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode ``(H, W, 3)`` uint8 RGB (or ``(H, W)`` grey) as a PNG file."""
    img = np.asarray(rgb)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or 0 in img.shape[:2]:
        raise ValueError(
            f"png_bytes needs a non-empty (H, W, 3) uint8 array, got {img.shape} {img.dtype}"
        )
    h, w, _ = img.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * 3)], axis=1)  # filter 0

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def colorize(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """``(H, W)`` floats -> ``(H, W, 3)`` uint8 viridis, ``vmin``/``vmax`` mapped to the ends."""
    x = np.clip((np.asarray(values, np.float64) - vmin) / max(vmax - vmin, 1e-12), 0.0, 1.0)
    x = np.nan_to_num(x) * (len(_VIRIDIS) - 1)
    lo = np.minimum(x.astype(np.int64), len(_VIRIDIS) - 2)
    frac = (x - lo)[..., None]
    return np.round(_VIRIDIS[lo] * (1 - frac) + _VIRIDIS[lo + 1] * frac).astype(np.uint8)


def spectrogram_png(
    mel_db: np.ndarray, *, vmin: float | None = None, vmax: float | None = None, size: int = 256
) -> bytes:
    """PNG of one ``(n_mels, frames)`` dB spectrogram, low frequencies at the bottom, rows and
    columns repeated to reach about ``size`` pixels each way. Default range: the top 80 dB."""
    m = np.asarray(mel_db, dtype=np.float64)
    vmax = float(m.max()) if vmax is None else vmax
    vmin = vmax - 80.0 if vmin is None else vmin
    img = colorize(m[::-1], vmin, vmax)
    img = np.repeat(img, max(1, size // m.shape[0]), axis=0)
    return png_bytes(np.repeat(img, max(1, size // m.shape[1]), axis=1))


def bar_chart_png(
    values: Sequence[float], *, width: int = 480, bar_height: int = 22, gap: int = 6
) -> bytes:
    """Horizontal bars (one per value, colours from :data:`PALETTE` in order) scaled to the largest
    value; labels go in the HTML beside it. NaN values draw no bar."""
    vals = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    if vals.size == 0:
        raise ValueError("bar_chart_png needs at least one value")
    top = max(float(np.abs(vals).max()), 1e-12)
    h = len(vals) * (bar_height + gap) + gap
    img = np.full((h, width, 3), 255, np.uint8)
    for i, v in enumerate(vals):
        y0 = gap + i * (bar_height + gap)
        img[y0 : y0 + bar_height, : max(1, round(abs(v) / top * (width - 1)))] = PALETTE[
            i % len(PALETTE)
        ]
    img[:, 0] = 0  # axis line
    return png_bytes(img)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """``(C, N)`` float audio as 16-bit PCM wav bytes (clipped to [-1, 1])."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(
        buf,
        np.clip(np.asarray(audio, np.float32), -1, 1).T,
        sample_rate,
        format="WAV",
        subtype="PCM_16",
    )
    return buf.getvalue()


def img_tag(png: bytes, alt: str) -> str:
    return f'<img src="{data_uri(png, "image/png")}" alt="{html.escape(alt)}">'


def audio_tag(audio: np.ndarray, sample_rate: int) -> str:
    return f'<audio controls src="{data_uri(wav_bytes(audio, sample_rate), "audio/wav")}"></audio>'


def swatch(index: int) -> str:
    r, g, b = PALETTE[index % len(PALETTE)]
    return f'<span class="sw" style="background:rgb({r},{g},{b})"></span>'


def fmt(value: object, digits: int = 4) -> str:
    """Numbers with ``digits`` significant digits; everything else as text (escaped)."""
    if isinstance(value, (float, np.floating)):
        return "nan" if not np.isfinite(value) else f"{float(value):.{digits}g}"
    return html.escape(str(value))


def table_html(
    header: Sequence[str], rows: Sequence[Sequence[object]], *, raw: bool = False
) -> str:
    """An HTML table; cells are formatted with :func:`fmt` (``raw=True``: inserted as HTML)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{c if raw and isinstance(c, str) else fmt(c)}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.card{margin-bottom:1em;display:flex;flex-direction:column}.card img{display:block;max-width:100%}
.card audio{width:300px;margin-left:44px}
.sw{display:inline-block;width:1em;height:1em;margin-right:.4em;vertical-align:middle}
.muted{color:#777;font-size:90%}
.warn{background:#fff4d6;border:1px solid #e0b44c;padding:.6em .8em}
.score{font-size:120%}
.plot{position:relative;display:inline-block;margin:20px 0 34px 44px}.plot img{display:block}
.yt span{position:absolute;left:-40px;width:34px;text-align:right;font-size:11px;transform:translateY(50%)}
.xt span{position:absolute;bottom:-16px;font-size:11px;transform:translateX(-50%)}
.ylab{position:absolute;left:-42px;top:-16px;font-size:11px}
.xlab{position:absolute;bottom:-32px;left:45%;font-size:11px}
.cbar{position:relative;display:inline-block;margin:22px 40px 0 4px;height:200px}
.cbar img{display:block}.ct span{position:absolute;left:18px;font-size:11px;transform:translateY(50%)}
.cu{position:absolute;top:-16px;font-size:11px}
"""


def html_page(title: str, body: Sequence[str]) -> str:
    """A complete offline HTML document: ``body`` parts are inserted as given (already HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n"
    )


#: Spectrogram size in the report, pixels (width, height).
SPEC_SIZE = (440, 200)
#: dB range of the shared spectrogram colour scale, and the +- range of the difference view.
SPEC_RANGE_DB = 80.0
DIFF_RANGE_DB = 30.0
#: Frequency ticks (Hz) drawn where they fall inside the mel range.
FREQ_TICKS = (100, 200, 500, 1000, 2000, 5000, 10000, 20000)
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


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    rows = np.minimum((np.arange(height) * img.shape[0]) // height, img.shape[0] - 1)
    cols = np.minimum((np.arange(width) * img.shape[1]) // width, img.shape[1] - 1)
    return img[rows][:, cols]


def diverging(values: np.ndarray, limit: float) -> np.ndarray:
    """``(H, W)`` -> RGB: blue (negative) through white (0) to red (positive), +-``limit``."""
    x = np.clip(np.asarray(values, np.float64) / limit, -1.0, 1.0)[..., None]
    white, red, blue = np.array([255.0] * 3), np.array([180.0, 20, 30]), np.array([30.0, 60, 170])
    out = np.where(x >= 0, white + (red - white) * x, white + (blue - white) * (-x))
    return np.round(out).astype(np.uint8)


def _plot(
    rgb: np.ndarray, alt: str, seconds: float, sample_rate: int, mel: Any, cls: str = "spec"
) -> str:
    """An image with HTML axes: time (s) below, frequency (Hz, at log-mel positions) left."""
    import librosa

    img = _resize(rgb[::-1], *SPEC_SIZE)  # low frequencies at the bottom
    lo, hi = librosa.hz_to_mel([mel.fmin, mel.fmax], htk=mel.htk)
    yt, last = [], -100.0
    for f in FREQ_TICKS:
        pos = 100 * (librosa.hz_to_mel(f, htk=mel.htk) - lo) / (hi - lo)
        if mel.fmin < f < mel.fmax and pos - last >= 7:  # no overlapping labels
            last = pos
            label = f"{f // 1000}k" if f >= 1000 else str(f)
            yt.append(f'<span style="bottom:{pos:.1f}%">{label}</span>')
    step = 0.5 if seconds <= 3 else 1.0
    xt = [
        f'<span style="left:{100 * t / seconds:.1f}%">{t:g}</span>'
        for t in np.arange(0.0, seconds + 1e-9, step)
    ]
    return (
        f'<div class="plot"><div class="ylab">Hz</div><div class="yt">{"".join(yt)}</div>'
        f'<img class="{cls}" src="{data_uri(png_bytes(img), "image/png")}" '
        f'alt="{html.escape(alt)}" width="{SPEC_SIZE[0]}" height="{SPEC_SIZE[1]}">'
        f'<div class="xt">{"".join(xt)}</div><div class="xlab">time (s)</div></div>'
    )


def colour_bar(rgb_of: Any, low: float, high: float, unit: str, alt: str) -> str:
    """A vertical colour bar (``rgb_of`` maps ``(H, W)`` values to RGB) with 5 labels."""
    h = SPEC_SIZE[1]
    ramp = np.repeat(np.linspace(high, low, h)[:, None], 14, axis=1)
    labels = "".join(
        f'<span style="bottom:{100 * i / 4:.0f}%">{low + (high - low) * i / 4:+.0f}</span>'
        for i in range(5)
    )
    return (
        f'<div class="cbar"><img src="{data_uri(png_bytes(rgb_of(ramp)), "image/png")}" '
        f'alt="{html.escape(alt)}" width="14" height="{h}"><div class="ct">{labels}</div>'
        f'<div class="cu">{html.escape(unit)}</div></div>'
    )


def _link(name: str, text: str) -> str:
    return f'<a href="{html.escape(name)}" download>{html.escape(text)}</a>'


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
    from a2d.kernels.audio import match_loudness
    from a2d.kernels.loudness import integrated_loudness
    from a2d.kernels.metrics import log_mel
    from a2d.pipelines.calibration import scale_text

    mel = display_mel_settings(sample_rate)
    seconds = input_audio.shape[-1] / sample_rate
    ref = float(integrated_loudness(input_audio, sample_rate))
    shown = [input_audio] + [
        match_loudness(c.audio[None], ref, sample_rate)[0] if np.isfinite(ref) else c.audio
        for c in top
    ]
    spectra = [log_mel(a, sample_rate, mel).mean(axis=0) for a in shown]
    vmax = float(max(s.max() for s in spectra))
    vmin = vmax - SPEC_RANGE_DB

    def heat(v: np.ndarray) -> np.ndarray:
        return colorize(v, vmin, vmax)

    note = described["params"]["note"]
    preset, midi = files["preset"], files["midi"]
    synth_name = "Vital" if described["synth"] == "vital" else described["synth"]
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
    best = top[0]
    parts: list[str] = []
    if described.get("demo_model"):
        parts.append(
            '<p class="warn"><b>Demo model.</b> This prediction comes from the tiny demo model '
            f"that <code>a2d quickstart</code> trains in minutes ({described.get('model_steps')} "
            "steps on a few hundred sounds). Expect a rough match; train a real model "
            "(<code>a2d train --size small</code> or <code>paper</code>) for usable presets.</p>"
        )
    parts += [
        "<h2>What to do</h2><ol>",
        f"<li>Load {_link(preset, preset)} in {html.escape(synth_name)}: {load_steps}</li>",
        f"<li>{html.escape(note['play'][0].upper() + note['play'][1:])}: drag "
        f"{_link(midi, midi)} onto that track, or play it on your keyboard.</li>",
        f"<li>Compare with the input and with a2d's own render of the preset, "
        f"{_link(files['audio'], files['audio'])} (players below).</li></ol>",
        f'<p class="muted">{html.escape(note["name"])} names middle C (MIDI 60) C4; Ableton Live '
        "and FL Studio call it C3, so their name for this key is one octave lower.</p>",
        "<h2>How close is it?</h2>",
        f'<p class="score">MSS {best.mss:.2f} dB &mdash; {html.escape(described["score"]["in_words"])}'
        "</p>",
        '<p class="muted">MSS is a multi-scale spectral distance in dB after matching loudness '
        f"(lower is nearer). Measured scale for Vital: {html.escape(scale_text())}.</p>",
        "<h2>Spectrograms</h2>",
        f'<p class="muted">Log-mel power in dB, input and matches on one colour scale '
        f"({vmin:.0f} to {vmax:.0f} dB); the matches are loudness-matched to the input, as "
        "scored.</p>",
        '<div class="row">',
    ]
    labels = ["input"] + [f"match #{c.rank} (MSS {c.mss:.2f} dB)" for c in top]
    cards = [
        f'<div class="card"><b>{html.escape(label)}</b>'
        f"{_plot(heat(spec), label, seconds, sample_rate, mel)}"
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
        + _plot(diverging(diff, DIFF_RANGE_DB), "difference", seconds, sample_rate, mel, "diff")
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
    cand_rows = [[c["rank"], f"{c['mss_db']:.2f}", c["in_words"]] for c in described["candidates"]]
    timing_rows = [[k, v] for k, v in described["timings_s"].items()]
    parts += [
        f"<h2>The preset's settings (as {html.escape(synth_name)}'s panel shows them)</h2>",
        table_html(["control", "panel shows", "meaning", "stored in the file"], rows, raw=True),
        "<h2>All candidates</h2>",
        table_html(["rank", "MSS (dB)", "in words"], cand_rows),
        '<h2>Details</h2><p class="muted">'
        f"sound {html.escape(described['sound'])} &middot; model {html.escape(described['model'])} "
        f"({html.escape(str(described.get('model_size')))}, step {described.get('model_steps')}) "
        f"&middot; spec {html.escape(described['spec'])} &middot; checkpoint "
        f"{html.escape(described['checkpoint'])}</p>",
        table_html(["phase", "seconds"], timing_rows),
    ]
    if (
        "pitch_plan" in described
    ):  # note analysis and search stages (a2d.kernels.analysis, a2d.pipelines.refine)
        stages = [[k, v] for k, v in described.get("stages", {}).items()]
        at = next(i for i, part in enumerate(parts) if part.startswith("<h2>What to do"))
        parts[at:at] = [f"<p><b>{html.escape(described['pitch_plan']['message'])}</b></p>"]
        parts += ["<h2>Stages</h2>", table_html(["stage", "MSS (dB) / renders"], stages)]
    return html_page(f"a2d: a {synth_name} preset for {Path(described['sound']).name}", parts)


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
