"""Real-sound matching end to end: note analysis and refinement in ``a2d predict``, and
``a2d evaluate --sounds`` with its equal-budget baselines (tiny real checkpoint, real Vital)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from a2d.contracts.errors import ExitCode
from a2d.pipelines.predict import predict

RATE = 44100


def saw(path: Path, midi: int, seconds: float = 1.0, on: float = 0.7) -> Path:
    hz = 440 * 2 ** ((midi - 69) / 12)
    t = np.arange(round(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * k * hz * t) / k for k in range(1, int(RATE / 2 / hz)))
    x = 0.3 * x / np.abs(x).max() * np.clip(np.minimum(t / 0.005, (on - t) / 0.005), 0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.stack([x, x]).T, RATE, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def low_saw(tmp_path_factory) -> Path:
    return saw(tmp_path_factory.mktemp("in") / "low.wav", 40)  # E2: below vital_simple's 48-72


def test_predict_plays_the_detected_note_and_refines(tiny_flow_checkpoint, low_saw, tmp_path):
    summary = predict(
        [low_saw], tiny_flow_checkpoint, tmp_path / "a", candidates=3, seed=1, refine=8
    )
    (res,) = summary.results
    doc = json.loads(res.params_json.read_text())
    assert doc["note_analysis"]["midi"] == 40 and doc["note_analysis"]["pitched"]
    plan = doc["pitch_plan"]
    assert (plan["input_midi"], plan["render_midi"], plan["octaves"]) == (40, 52, 1)
    assert "play E2" in plan["message"] and plan["play"] == "E2"
    assert doc["params"]["note"]["pitch"] == 52  # rendered at the moved note
    assert all(c.patch.note.pitch == 52 for c in res.candidates)
    stages = doc["stages"]
    assert stages["refine_renders"] == 8
    assert stages["refine_seconds"] > 0
    assert stages["refine_renders_per_s"] == pytest.approx(8 / stages["refine_seconds"])
    assert stages["refine_mss_db"] <= stages["best_of_3_mss_db"] <= stages["model_k1_mss_db"]
    assert doc["score"]["mss_db"] == pytest.approx(stages["refine_mss_db"])
    assert set(doc["timings_s"]) >= {"analyse", "refine"}
    assert "play E2" in res.report.read_text()
    # The written render is the best candidate's, and scoring it again gives its score.
    again = predict([low_saw], tiny_flow_checkpoint, tmp_path / "b", candidates=3, seed=1, refine=8)
    doc2 = json.loads(again.results[0].params_json.read_text())
    assert doc2["score"] == doc["score"] and doc2["encoded"] == doc["encoded"]  # seeded


def test_refine_zero_and_no_analysis_keep_the_model_alone(tiny_flow_checkpoint, low_saw, tmp_path):
    summary = predict([low_saw], tiny_flow_checkpoint, tmp_path, candidates=2, refine=0)
    doc = json.loads(summary.results[0].params_json.read_text())
    assert "refine_mss_db" not in doc["stages"] and len(doc["candidates"]) == 2
    plain = predict([low_saw], tiny_flow_checkpoint, tmp_path / "p", candidates=2, analyse=False)
    doc = json.loads(plain.results[0].params_json.read_text())
    assert "pitch_plan" not in doc and "analyse" not in doc["timings_s"]
    with pytest.raises(ValueError, match="refine"):
        predict([low_saw], tiny_flow_checkpoint, tmp_path / "x", refine=-1)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from a2d.cli import run; run()", *args],
        capture_output=True, text=True, env=dict(os.environ), timeout=600,
    )  # fmt: skip


def test_evaluate_sounds_compares_methods_at_an_equal_budget(
    tiny_flow_checkpoint, tiny_vital_dataset, tmp_path
):
    folder = tmp_path / "sounds"
    saw(folder / "a.wav", 57)
    saw(folder / "b.wav", 76, on=0.4)
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "sounds": [
                    {"file": "a.wav", "family": "synth_lead", "pitch": 57, "pitched": True},
                    {"file": "b.wav", "family": "synth_lead", "pitch": 76, "pitched": True},
                ]
            }
        )
    )
    out = tmp_path / "eval"
    proc = cli(
        "evaluate", "--checkpoint", str(tiny_flow_checkpoint), "--sounds", str(folder),
        "--data", str(tiny_vital_dataset), "--out", str(out), "-k", "3", "--budget", "7",
        "--workers", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "pitch within a semitone: 100.0%" in proc.stderr
    methods = [
        "model_k1", "model_best_of_3", "model_refine", "model_own_note_3", "nearest_best_of_3",
        "nearest_refine", "random", "cma_centre",
    ]  # fmt: skip
    for m in methods:
        assert f"| {m} |" in proc.stdout
    rows = list(csv.DictReader((out / "sounds.csv").read_text().splitlines()))
    assert len(rows) == 2 * len(methods)
    by = {(r["sound"], r["method"]): r for r in rows}
    for s in ("a.wav", "b.wav"):
        for m in ("model_refine", "nearest_refine", "random", "cma_centre"):
            assert int(by[s, m]["renders"]) == 7  # equal budget
        assert int(by[s, "model_best_of_3"]["renders"]) == 3
        assert float(by[s, "model_refine"]["mss"]) <= float(by[s, "model_best_of_3"]["mss"]) + 1e-9
        assert float(by[s, "model_best_of_3"]["mss"]) <= float(by[s, "model_k1"]["mss"]) + 1e-9
        assert (
            float(by[s, "nearest_refine"]["mss"]) <= float(by[s, "nearest_best_of_3"]["mss"]) + 1e-9
        )
    assert by["b.wav", "model_k1"]["octaves"] == "-1"  # 76 moved down into 48-72
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pitch_accuracy"] == 1.0 and set(summary["methods"]) == set(methods)
    assert "| method |" in (out / "summary.md").read_text()
    report = (out / "report.html").read_text()
    assert report.count("<img") == 2 * (1 + len(methods))  # input + every method, per sound
    assert all(f"<b>{m}</b>" in report for m in methods) and "play A3" in report


def test_evaluate_needs_data_or_sounds(tiny_flow_checkpoint, tmp_path):
    proc = cli("evaluate", "--checkpoint", str(tiny_flow_checkpoint), "--out", str(tmp_path / "o"))
    assert proc.returncode == ExitCode.USAGE
    assert proc.stderr.strip().splitlines() == [
        "error: evaluate needs --data DIR (a dataset) or --sounds DIR (real sounds)"
    ]
    proc = cli(
        "evaluate", "--checkpoint", str(tiny_flow_checkpoint), "--out", str(tmp_path / "o"),
        "--sounds", str(tmp_path), "-k", "8", "--budget", "4",
    )  # fmt: skip
    assert proc.returncode == ExitCode.USAGE
    assert proc.stderr.startswith("error: --budget 4 is below --candidates 8")


def test_predict_cli_refines_and_says_which_key_to_play(tiny_flow_checkpoint, low_saw, tmp_path):
    proc = cli(
        "predict", str(low_saw), "-c", str(tiny_flow_checkpoint), "-o", str(tmp_path), "-k", "2",
        "--refine", "4", "--workers", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "low.wav: detected E2 (MIDI 40)" in proc.stderr and "play E2" in proc.stderr
    doc = json.loads((tmp_path / "low" / "low.params.json").read_text())
    assert doc["stages"]["refine_renders"] == 4
    proc = cli("predict", str(low_saw), "-c", str(tiny_flow_checkpoint), "-o", str(tmp_path / "z"),
               "--refine", "0")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "z" / "low" / "low.params.json").read_text())
    assert "refine_renders" not in doc["stages"]


def test_a_bad_sound_fails_alone(tiny_flow_checkpoint, tmp_path):
    from a2d.contracts.errors import AudioInputError
    from a2d.pipelines.evaluate_sounds import evaluate_sounds

    folder = tmp_path / "s"
    saw(folder / "good.wav", 60)
    (folder / "bad.wav").write_bytes(b"RIFF not really a wav")
    summary = evaluate_sounds(
        tiny_flow_checkpoint, folder, tmp_path / "o", candidates=2, budget=2, workers=0
    )
    assert {r["sound"] for r in summary.rows} == {"good.wav"}
    assert len(summary.failures) == 1 and "bad.wav" in summary.failures[0]
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["failures"] == summary.failures
    (folder / "good.wav").unlink()
    with pytest.raises(AudioInputError, match="could be evaluated"):
        evaluate_sounds(tiny_flow_checkpoint, folder, tmp_path / "p", candidates=2, budget=2)
