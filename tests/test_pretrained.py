"""Shipped pretrained models (:mod:`a2d.storage.pretrained`): listed, self-describing, small, used by
``a2d predict`` without ``--checkpoint``, and written by ``a2d models export``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from a2d.contracts.errors import CheckpointNotFoundError
from a2d.storage.checkpoint import load_checkpoint, read_payload
from a2d.storage.pretrained import DEFAULTS, MODELS_DIR, resolve_checkpoint, shipped_models

MB = 1_000_000


def test_every_shipped_model_is_small_self_describing_and_loads_safely() -> None:
    models = shipped_models()
    assert {m.name for m in models} >= {"vital_simple"}
    assert sum(m.size_bytes for m in models) < 60 * MB
    for m in models:
        assert m.path.parent == MODELS_DIR and m.size_bytes <= 25 * MB
        payload = read_payload(m.path)  # torch.load(weights_only=True)
        assert payload["train_state"] == {}, "optimizer state does not ship"
        card = payload["card"]
        for key in ("summary", "data", "commands", "training", "limits", "evaluations"):
            assert card.get(key), f"{m.name}: the card has no {key!r}"
        assert {"test", "dev"} <= set(card["evaluations"]), "in-domain and real-sound figures"
        ckpt = load_checkpoint(m.path)
        assert ckpt.spec.name == m.spec and ckpt.synth == m.synth
        assert all(p.dtype == torch.float32 for p in ckpt.model.parameters())
    for synth, name in DEFAULTS.items():  # each default is shipped, and the only one of its synth
        assert [m.name for m in models if m.default and m.synth == synth] == [name]


def test_resolve_checkpoint_names_paths_and_defaults(tmp_path) -> None:
    default = resolve_checkpoint(None)
    assert default == MODELS_DIR / "vital_simple.pt"
    assert resolve_checkpoint(None, synth="vital") == default
    assert resolve_checkpoint(None, spec="vital_simple") == default
    assert resolve_checkpoint("vital_simple") == default
    path = tmp_path / "mine.pt"
    assert resolve_checkpoint(str(path)) == path  # a path is a path, even a missing one
    with pytest.raises(CheckpointNotFoundError, match=r"'nope' is neither a checkpoint file"):
        resolve_checkpoint("nope")
    with pytest.raises(CheckpointNotFoundError, match=r"no shipped model for synth 'surge'"):
        resolve_checkpoint(None, synth="surge")
    with pytest.raises(CheckpointNotFoundError, match=r"no shipped model is trained on spec"):
        resolve_checkpoint(None, spec="vital_full")


def test_export_stores_and_keeps_the_predict_defaults(tiny_flow_checkpoint, tmp_path, a2d_cli):
    first, second = tmp_path / "a.pt", tmp_path / "b.pt"
    for src, dst, extra in (
        (tiny_flow_checkpoint, first, ["--neighbours", "5", "--edits", "3", "--edit-t0", "0.9"]),
        (first, second, ["--edits", "2"]),  # the source's other defaults stay
    ):
        run = subprocess.run(
            [a2d_cli, "models", "export", str(src), "--out", str(dst), *extra],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
    assert read_payload(first)["predict_defaults"] == {"neighbours": 5, "edits": 3, "edit_t0": 0.9}
    got = read_payload(second)
    assert got["predict_defaults"] == {"neighbours": 5, "edits": 2, "edit_t0": 0.9}
    assert got["card"]["retrieval"]["predict_edits"] == 2
    assert got["card"]["source_step"] == read_payload(first)["card"]["source_step"]  # card kept


@pytest.mark.slow
def test_predict_without_a_checkpoint_uses_the_shipped_default(a2d_cli, tmp_path) -> None:
    from a2d.pipelines.demo import write_demo

    sound = write_demo(tmp_path / "pluck.wav", 44100, 2.0)
    run = subprocess.run(
        [a2d_cli, "predict", str(sound), "--out", str(tmp_path / "out"), "-k", "4",
         "--refine", "0"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    folder = tmp_path / "out" / "pluck"
    doc = json.loads((folder / "pluck.params.json").read_text())
    assert doc["checkpoint"] == str(MODELS_DIR / "vital_simple.pt")
    assert doc["spec"] == "vital_simple"
    # the model's 4 samples, the shipped index's nearest training rows (NEIGHBOURS by default)
    # and EDITS of them carried by the flow
    from a2d.pipelines.predict import NEIGHBOURS
    from a2d.pipelines.proposers import EDITS

    sources = sorted(c["source"] for c in doc["candidates"])
    assert sources == ["edit"] * EDITS + ["index"] * NEIGHBOURS + ["model"] * 4
    assert (folder / "pluck.vital").is_file() and (folder / "report.html").is_file()


def test_predict_names_a_missing_shipped_model_in_one_line(a2d_cli, tmp_path) -> None:
    from a2d.pipelines.demo import write_demo

    sound = write_demo(tmp_path / "pluck.wav", 44100, 1.0)
    run = subprocess.run(
        [a2d_cli, "predict", str(sound), "--synth", "surge", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert run.returncode == 3, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no shipped model for synth 'surge'")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_models_command_lists_the_shipped_models(a2d_cli) -> None:
    run = subprocess.run([a2d_cli, "models", "--json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    records = {r["name"]: r for r in json.loads(run.stdout)}
    assert records["vital_simple"]["default"] and records["vital_simple"]["synth"] == "vital"
    assert records["vital_simple"]["card"]["evaluations"]["dev"]["methods"]
    table = subprocess.run([a2d_cli, "models"], capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and "vital_simple" in table.stdout


@pytest.mark.slow
def test_export_keeps_the_model_and_drops_the_training_state(
    tiny_flow_checkpoint, tmp_path, a2d_cli
) -> None:
    (tmp_path / "card.yaml").write_text("summary: a test model\nlimits: none tested\n")
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    (eval_dir / "summary.json").write_text(
        json.dumps({"split": "test", "rows": 8, "candidates": 4,
                    "methods": {"flow": {"1": {"n": 8, "mss": 9.5, "extra": [1]},
                                         "4": {"n": 8, "mss": 7.25}}}})
    )  # fmt: skip
    out = tmp_path / "m.pt"
    run = subprocess.run(
        [a2d_cli, "models", "export", str(tiny_flow_checkpoint), "--out", str(out),
         "--card", str(tmp_path / "card.yaml"), "--evaluation", f"test={eval_dir}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    source, exported = read_payload(tiny_flow_checkpoint), read_payload(out)
    assert source["train_state"] and exported["train_state"] == {}
    assert out.stat().st_size < tiny_flow_checkpoint.stat().st_size
    card = exported["card"]
    assert card["summary"] == "a test model" and card["storage"] == "float32"
    assert card["evaluations"]["test"]["methods"]["flow"] == {
        "1": {"n": 8, "mss": 9.5}, "4": {"n": 8, "mss": 7.25}
    }  # fmt: skip

    mel = torch.randn(2, *load_checkpoint(out).input_shape)

    def sample(path):
        g = torch.Generator().manual_seed(3)
        return load_checkpoint(path).predict(
            mel, n_candidates=3, generator=g, steps=8, method="rk4"
        )

    assert torch.equal(sample(tiny_flow_checkpoint), sample(out))

    half = tmp_path / "h.pt"
    bad = subprocess.run(
        [a2d_cli, "models", "export", str(tiny_flow_checkpoint), "--out", str(half), "--half",
         "--evaluation", "test"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode != 0 and bad.stderr.startswith("error: --evaluation 'test' is not")
    bad = subprocess.run(
        [a2d_cli, "models", "export", str(tiny_flow_checkpoint), "--out", str(half),
         "--solver", "rk5"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error: --solver must be")
    run = subprocess.run(
        [a2d_cli, "models", "export", str(tiny_flow_checkpoint), "--out", str(half), "--half",
         "--steps", "8", "--solver", "midpoint"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    exported_half = read_payload(half)
    assert exported_half["card"]["storage"] == "float16"
    assert exported_half["card"]["sampling"] == {"steps": 8, "method": "midpoint"}
    assert exported_half["model_args"]["steps"] == 8
    assert load_checkpoint(half).model.method == "midpoint"
    again = tmp_path / "h2.pt"  # a shipped model re-exported with its card: storage as stored
    run = subprocess.run(
        [a2d_cli, "models", "export", str(half), "--out", str(again), "--card",
         str(tmp_path / "card.yaml")], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert read_payload(again)["card"]["storage"] == "float16"
    diff = (sample(half) - sample(out)).abs().max().item()
    assert 0 < diff < 0.05, diff  # float16 storage moves candidates by rounding only
    guided = tmp_path / "g.pt"
    run = subprocess.run(
        [a2d_cli, "models", "export", str(tiny_flow_checkpoint), "--out", str(guided),
         "--guidance", "3.5"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert read_payload(guided)["card"]["sampling"] == {"guidance_weight": 3.5}
    assert load_checkpoint(guided).model.guidance_weight == 3.5
    assert (sample(guided) - sample(out)).abs().max().item() > 1e-3  # it samples differently


@pytest.mark.slow
def test_quickstart_predicts_two_demo_sounds_with_the_shipped_model(tmp_path) -> None:
    from a2d.pipelines.quickstart import quickstart

    stages: list[str] = []
    result = quickstart(tmp_path / "qs", on_stage=stages.append)
    assert result.dataset is None and result.checkpoint == MODELS_DIR / "vital_simple.pt"
    assert [p.sound.name for p in result.predictions] == ["demo.wav", "bass.wav"]
    for p in result.predictions:
        assert p.preset.is_file() and p.report.is_file() and p.midi is not None
        doc = json.loads(p.params_json.read_text())
        assert doc["checkpoint"] == str(result.checkpoint)
    # The analysed notes are the demo sounds' own (A3 and A2), whatever the model proposes.
    notes = [
        json.loads(p.params_json.read_text())["params"]["note"]["pitch"] for p in result.predictions
    ]
    assert [n % 12 for n in notes] == [9, 9]  # A, moved by octaves into the spec when needed
    assert np.isfinite([p.best.mss for p in result.predictions]).all()
    assert len(stages) == 1 and "shipped model vital_simple" in stages[0]


def test_models_folder_ships_in_the_wheel() -> None:
    """The models are package data: the installed package holds them (no download)."""
    out = subprocess.run(
        [sys.executable, "-c", "import a2d.storage.pretrained as p; print(p.MODELS_DIR)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert (MODELS_DIR / "vital_simple.pt").is_file()
    assert "site-packages" in out.stdout or "dist-packages" in out.stdout
