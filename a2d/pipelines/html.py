"""Self-contained HTML pages: PNG images and audio embedded as data URIs, readable offline.

PNGs are written with numpy + zlib (:func:`png_bytes`) rather than matplotlib: a report needs only
heat maps (spectrograms) and bars, which are a colormap lookup and a few filled rectangles, and this
keeps a ~40 MB plotting stack out of the install. Text (titles, axes, legends) lives in the HTML
around the images, where it stays selectable and sharp. The reports themselves are in
:mod:`a2d.pipelines.report` and :mod:`a2d.pipelines.evaluate_sounds`.
"""

from __future__ import annotations

import base64
import html
import io
import struct
import zlib
from collections.abc import Sequence
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
#: Frequency ticks (Hz) drawn where they fall inside the mel range.
FREQ_TICKS = (100, 200, 500, 1000, 2000, 5000, 10000, 20000)


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


def spectrogram_image(rgb: np.ndarray) -> np.ndarray:
    """``(n_mels, frames, 3)`` colours -> the :data:`SPEC_SIZE` image, low frequencies at the
    bottom."""
    return _resize(rgb[::-1], *SPEC_SIZE)


def axis_ticks(seconds: float, mel: Any) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """Tick marks of a spectrogram image as ``(position in %, label)``: frequencies (Hz, at their
    log-mel heights from the bottom, none overlapping) and times (s, from the left)."""
    from a2d.kernels.mel import hz_to_mel

    lo, hi = hz_to_mel([mel.fmin, mel.fmax], htk=mel.htk)
    freq: list[tuple[float, str]] = []
    last = -100.0
    for f in FREQ_TICKS:
        pos = float(100 * (hz_to_mel(f, htk=mel.htk) - lo) / (hi - lo))
        if mel.fmin < f < mel.fmax and pos - last >= 7:  # no overlapping labels
            last = pos
            freq.append((pos, f"{f // 1000}k" if f >= 1000 else str(f)))
    step = 0.5 if seconds <= 3 else 1.0
    times = [(float(100 * t / seconds), f"{t:g}") for t in np.arange(0.0, seconds + 1e-9, step)]
    return freq, times


def plot(
    rgb: np.ndarray, alt: str, seconds: float, sample_rate: int, mel: Any, cls: str = "spec"
) -> str:
    """An image with HTML axes: time (s) below, frequency (Hz, at log-mel positions) left."""
    img = spectrogram_image(rgb)
    freq, times = axis_ticks(seconds, mel)
    yt = [f'<span style="bottom:{pos:.1f}%">{label}</span>' for pos, label in freq]
    xt = [f'<span style="left:{pos:.1f}%">{label}</span>' for pos, label in times]
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


def link(name: str, text: str) -> str:
    return f'<a href="{html.escape(name)}" download>{html.escape(text)}</a>'
