"""``a2d quickstart --train`` at toy sizes: every stage runs for real, and a re-run reuses the finished work."""

from __future__ import annotations

import json

from a2d.contracts.synth import RenderSettings
from a2d.kernels.features import MelSettings
from a2d.pipelines.quickstart import QuickstartConfig, quickstart


def test_quickstart_runs_end_to_end_and_resumes(tmp_path):
    config = QuickstartConfig(
        num_samples=24, steps=3, batch_size=8, candidates=2, workers=0,
        render=RenderSettings(sample_rate=22050, duration=1.0),
        mel=MelSettings(n_fft=551, hop_length=220, n_mels=32),
    )  # fmt: skip
    stages: list[str] = []
    first = quickstart(tmp_path / "qs", config, train=True, on_stage=stages.append)
    assert first.reused == []
    assert [s.split()[0] for s in stages] == ["generating", "training", "predicting"]
    p = first.prediction
    assert p.preset.is_file() and p.preset.suffix == ".vital"
    assert p.report.is_file() and p.audio.is_file() and first.demo.is_file()
    doc = json.loads(p.params_json.read_text())
    assert doc["spec"] == "vital_simple" and len(doc["candidates"]) == 2
    trained = first.checkpoint.stat().st_mtime_ns

    stages.clear()
    again = quickstart(tmp_path / "qs", config, train=True, on_stage=stages.append)
    assert again.reused == ["dataset", "checkpoint"]
    assert [s.split()[0] for s in stages] == ["checking", "predicting"]
    assert again.checkpoint.stat().st_mtime_ns == trained  # not retrained
