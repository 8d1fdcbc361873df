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
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from a2d.audio import Sound
    from a2d.predict import PredictResult

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
.row{display:flex;flex-wrap:wrap;gap:1.5em}.card{margin-bottom:1em}.card img{display:block;max-width:100%}
.sw{display:inline-block;width:1em;height:1em;margin-right:.4em;vertical-align:middle}
.muted{color:#777;font-size:90%}
"""


def html_page(title: str, body: Sequence[str]) -> str:
    """A complete offline HTML document: ``body`` parts are inserted as given (already HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def predict_report(
    result: PredictResult,
    sound: Sound,
    input_mel: np.ndarray,
    candidate_mels: Sequence[np.ndarray],
    sample_rate: int,
    described: dict[str, Any],
) -> str:
    """The ``report.html`` of one ``a2d predict`` input.

    :param input_mel: ``(C, n_mels, frames)`` dB log-mel of the input (model features).
    :param candidate_mels: the same for the best candidates, best first (shown side by side).
    :param described: the ``params.json`` content (parameters, scores, timings).
    """
    cards = [
        f'<div class="card"><b>input</b><br>{img_tag(spectrogram_png(input_mel.mean(axis=0)), "input")}'
        f"{audio_tag(sound.audio, sample_rate)}</div>"
    ]
    for cand, mel in zip(result.candidates, candidate_mels, strict=False):
        cards.append(
            f'<div class="card"><b>candidate #{cand.rank}</b> (MSS {fmt(cand.mss)} dB)<br>'
            f"{img_tag(spectrogram_png(mel.mean(axis=0)), f'candidate {cand.rank}')}"
            f"{audio_tag(cand.audio, sample_rate)}</div>"
        )
    params = described["params"]
    rows = []
    for name, entry in params.items():
        if name == "note":
            continue
        rows.append(
            [name, entry["value"], entry.get("label", entry.get("unit", "")), entry.get("text", "")]
        )
    note = params["note"]
    cand_rows = [
        [c.rank, c.index, c.mss, c.patch.note.pitch, c.patch.note.end] for c in result.candidates
    ]
    timing_rows = [[k, v] for k, v in described["timings_s"].items()]
    body = [
        f'<p class="muted">sound {html.escape(str(sound.path))} &middot; model {html.escape(described["model"])} '
        f"&middot; synth {html.escape(described['synth'])} &middot; spec {html.escape(described['spec'])} "
        f"&middot; preset <b>{html.escape(described['preset'])}</b></p>",
        "<h2>Spectrograms (log-mel, top 80 dB)</h2>",
        '<div class="row">' + "".join(cards) + "</div>",
        f"<h2>Best parameters</h2><p>note: MIDI pitch {note['pitch']}, velocity {note['velocity']}, "
        f"on {fmt(note['start_s'])} s, off {fmt(note['end_s'])} s</p>",
        table_html(["parameter", "value", "label / unit", "synth shows"], rows),
        '<h2>All candidates</h2><p class="muted">MSS: multi-scale log-mel L1 distance to the '
        "input in dB after loudness matching; lower is better.</p>",
        table_html(["rank", "sample", "MSS (dB)", "pitch", "note off (s)"], cand_rows),
        "<h2>Time (s)</h2>",
        table_html(["phase", "seconds"], timing_rows),
    ]
    if "pitch_plan" in described:  # note analysis and search stages (a2d.analysis, a2d.refine)
        stages = [[k, v] for k, v in described.get("stages", {}).items()]
        body[4:4] = [f"<p><b>{html.escape(described['pitch_plan']['message'])}</b></p>"]
        body += ["<h2>Stages</h2>", table_html(["stage", "MSS (dB) / renders"], stages)]
    return html_page(f"a2d prediction: {sound.path.name}", body)


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
