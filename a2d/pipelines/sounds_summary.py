"""What ``a2d evaluate --sounds`` writes besides ``sounds.csv``: the per-method summary
(``summary.json``, ``summary.md``), the Markdown table the command prints, and ``report.html``
with each sound's spectrograms (:mod:`a2d.pipelines.evaluate_sounds` measures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from a2d.storage.atomic import atomic_write


def sound_card(method: str, audio: np.ndarray, mel: np.ndarray) -> dict[str, Any]:
    """A spectrogram (PNG bytes, no audio kept) for the report."""
    from a2d.pipelines.html import spectrogram_png

    return {"method": method, "png": spectrogram_png(mel.mean(axis=0), size=128), "mss": None}


def report_html(
    table: dict[str, dict[str, float]],
    cards: list[tuple[str, str, list[dict[str, Any]]]],
    accuracy: float | None,
    budget: int,
    k: int,
) -> str:
    """``report.html``: the summary table, then per sound the input's and every method's best
    render's log-mel spectrogram with its MSS."""
    import html

    from a2d.pipelines.html import fmt, html_page, img_tag, table_html

    head = ["method", "renders", "MSS (dB)", "wMFCC", "SOT", "RMS cos", "s / sound"]
    rows = [
        [name, e["renders"], *[f"{fmt(e[m])} ± {fmt(e[m + '_se'], 2)}" for m in ("mss", "wmfcc", "sot", "rms")], fmt(e["seconds"], 3)]
        for name, e in table.items()
    ]  # fmt: skip
    body = [
        f"<p>budget {budget} renders per sound, K = {k}"
        + (f"; pitch within a semitone: {accuracy:.1%}" if accuracy is not None else "")
        + "</p>",
        table_html(head, rows),
        "<h2>Spectrograms (model log-mel; the input as matched)</h2>",
    ]
    for name, message, sound_cards in cards:
        body.append(f"<h3>{html.escape(name)}</h3><p class='muted'>{html.escape(message)}</p>")
        divs = [
            f'<div class="card"><b>{html.escape(c["method"])}</b>'
            + (f" (MSS {fmt(c['mss'])} dB)" if c["mss"] is not None else "")
            + f"<br>{img_tag(c['png'], c['method'])}</div>"
            for c in sound_cards
        ]
        body.append('<div class="row">' + "".join(divs) + "</div>")
    return html_page("a2d evaluate --sounds", body)


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    methods: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        methods.setdefault(r["method"], []).append(r)
    table = {}
    for name, rs in methods.items():
        entry: dict[str, float] = {
            "n": len(rs),
            "renders": float(np.mean([r["renders"] for r in rs])),
        }
        for metric in ("mss", "wmfcc", "sot", "rms", "seconds"):
            v = np.array([r[metric] for r in rs], dtype=np.float64)
            entry[metric] = float(v.mean())
            entry[f"{metric}_se"] = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
        table[name] = entry
    return table


def markdown_table(table: dict[str, dict[str, float]]) -> str:
    """The summary as a Markdown table (mean +- standard error)."""
    lines = [
        "| method | renders | MSS (dB) | wMFCC | SOT | RMS cos | s / sound |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in table.items():
        cells = [f"{e[m]:.3f} ± {e[m + '_se']:.3f}" for m in ("mss", "wmfcc", "sot", "rms")]
        lines.append(f"| {name} | {e['renders']:.0f} | {' | '.join(cells)} | {e['seconds']:.2f} |")
    return "\n".join(lines) + "\n"


def write_summary(
    out: Path, table: dict[str, dict[str, float]],
    accuracy: float | None, n_pitched: int, checkpoint: Any, sounds: Any, budget: int, k: int,
    failures: list[str],
) -> None:  # fmt: skip
    doc = {
        "checkpoint": str(checkpoint), "sounds": str(sounds), "budget": budget, "candidates": k,
        "pitch_accuracy": accuracy, "pitched_sounds": n_pitched, "methods": table, "failures": failures,
    }  # fmt: skip
    atomic_write(out / "summary.json", json.dumps(doc, indent=2))
    head = f"budget {budget} renders per sound, K = {k}"
    if accuracy is not None:
        head += f"; pitch within a semitone on {accuracy:.1%} of {n_pitched} pitched sounds"
    atomic_write(out / "summary.md", f"{head}\n\n{markdown_table(table)}")
