"""The retrieval index shipped with a model (:mod:`a2d.kernels.retrieval`): its features, its
nearest rows against a brute-force scan, its quantisation, its storage in a checkpoint, and
``a2d models export --index`` / ``a2d predict`` proposing from it on a real dataset."""

from __future__ import annotations

import csv
import json
import subprocess

import numpy as np
import pytest
import torch

from a2d.kernels.retrieval import LEVELS, POOL, RetrievalIndex, build_index, pooled, quantize_params


def test_pooled_averages_channels_and_runs_of_frames() -> None:
    rng = np.random.default_rng(0)
    mel = rng.normal(size=(3, 2, 5, 4 * POOL + 2)).astype(np.float32)
    out = pooled(mel)
    assert out.shape == (3, 5 * 4) and out.dtype == np.float32
    by_hand = mel[..., : 4 * POOL].mean(axis=1).reshape(3, 5, 4, POOL).mean(-1).reshape(3, -1)
    np.testing.assert_allclose(out, by_hand, rtol=1e-6)
    assert out[1, 7] == pytest.approx(float(mel[1, :, 1, 3 * POOL : 4 * POOL].mean()), rel=1e-5)


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Low-rank 'log-mels' (as real ones are: the principal components hold the differences)."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(6, 1 * 8 * 4 * POOL))
    mel = (rng.normal(size=(n, 6)) @ basis).reshape(n, 1, 8, 4 * POOL).astype(np.float32)
    return mel, rng.uniform(size=(n, 5))


def test_query_finds_the_rows_a_full_scan_finds() -> None:
    mel, params = _data(300)
    index = build_index([(mel[:128], params[:128]), (mel[128:], params[128:])], components=16)
    assert len(index) == 300 and index.keys.dtype == np.int8 and index.params.dtype == np.uint8
    queries = mel[[5, 77, 250]] + np.random.default_rng(1).normal(0, 0.01, (3, 1, 8, 4 * POOL))
    rows, got = index.query(queries.astype(np.float32), 4)
    full = ((pooled(queries)[:, None] - pooled(mel)[None]) ** 2).sum(-1)
    assert rows[:, 0].tolist() == [5, 77, 250]  # each query's own row first
    for q in range(3):
        assert set(rows[q]) == set(np.argsort(full[q])[:4])  # the same neighbours as the scan
        d = full[q, rows[q]]
        assert np.all(np.diff(d) >= -1e-3 * d.max())  # nearest first
    np.testing.assert_allclose(got, params[rows], atol=0.5 / LEVELS + 1e-12)
    with pytest.raises(ValueError, match="k must be >= 1"):
        index.query(queries, 0)
    assert index.query(queries[:1].astype(np.float32), 1000)[0].shape == (1, 300)


def test_discrete_columns_survive_quantisation_exactly() -> None:
    for steps in (2, 5, 24, 99, 127):  # encoded (v - lo) / (hi - lo) of a discrete column
        values = np.arange(steps + 1) / steps
        back = quantize_params(values).astype(np.float64) / LEVELS
        assert np.array_equal(np.rint(back * steps), np.arange(steps + 1)), steps
    cont = np.linspace(0, 1, 1001)
    assert np.abs(quantize_params(cont) / LEVELS - cont).max() <= 0.5 / LEVELS + 1e-12


def test_index_state_loads_with_weights_only(tmp_path) -> None:
    mel, params = _data(64)
    index = build_index([(mel, params)], components=8)
    torch.save({"retrieval": index.to_state()}, tmp_path / "i.pt")
    state = torch.load(tmp_path / "i.pt", weights_only=True)["retrieval"]
    back = RetrievalIndex.from_state(state)
    assert np.array_equal(back.keys, index.keys) and np.array_equal(back.params, index.params)
    assert np.array_equal(back.query(mel[:3], 5)[0], index.query(mel[:3], 5)[0])
    with pytest.raises(ValueError, match="unknown retrieval index layout"):
        RetrievalIndex.from_state({**state, "kind": "other"})


@pytest.mark.slow
def test_export_with_index_and_predict_proposes_training_rows(
    tiny_flow_checkpoint, tiny_vital_dataset, tmp_path, a2d_cli
) -> None:
    from a2d.storage.checkpoint import load_checkpoint
    from a2d.storage.dataset import open_dataset

    out = tmp_path / "m.pt"
    run = subprocess.run(
        [a2d_cli, "models", "export", str(tiny_flow_checkpoint), "--out", str(out),
         "--index", str(tiny_vital_dataset)], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    ckpt = load_checkpoint(out)
    train = open_dataset(tiny_vital_dataset, "train")
    assert ckpt.index is not None and len(ckpt.index) == len(train) == 48
    assert ckpt.payload["card"]["retrieval"]["rows"] == 48
    block = train.read(0, len(train), fields=("mel", "params"))
    rows, params = ckpt.index.query(block["mel"][[3, 40]], 2)
    assert rows[:, 0].tolist() == [3, 40]  # a training row's own sound finds that row
    np.testing.assert_allclose(params[:, 0], block["params"][[3, 40]], atol=0.5 / LEVELS + 1e-6)

    # A training row's own render as input: predict proposes that row, and it scores best.
    import soundfile as sf

    from a2d.contracts.plugins import create_backend

    with create_backend(ckpt.spec, ckpt.render_settings) as backend:
        audio = backend.render(ckpt.spec.decode(block["params"][3].astype(np.float64)))
    sf.write(tmp_path / "row3.wav", audio.T, ckpt.render_settings.sample_rate)
    pred = subprocess.run(
        [a2d_cli, "predict", str(tmp_path / "row3.wav"), "--checkpoint", str(out), "-k", "2",
         "--neighbours", "3", "--edits", "0", "--refine", "0", "--out", str(tmp_path / "p")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert pred.returncode == 0, pred.stderr
    doc = json.loads((tmp_path / "p" / "row3" / "row3.params.json").read_text())
    sources = [c["source"] for c in doc["candidates"]]
    assert sorted(sources) == ["index"] * 3 + ["model"] * 2
    assert doc["candidates"][0]["source"] == "index" and doc["candidates"][0]["mss_db"] < 1.0
    assert {"model_best_of_2_mss_db", "index_best_of_3_mss_db"} <= set(doc["stages"])

    # `a2d evaluate --sounds` has retrieval from the shipped index as a baseline (no dataset
    # needed), beside retrieval from the dataset; both find the row's own sound.
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    (tmp_path / "row3.wav").rename(sounds / "row3.wav")
    ev = subprocess.run(
        [a2d_cli, "evaluate", "--checkpoint", str(out), "--sounds", str(sounds), "--data",
         str(tiny_vital_dataset), "-k", "2", "--neighbours", "2", "--budget", "6", "--workers",
         "0", "--out", str(tmp_path / "ev")], capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert ev.returncode == 0, ev.stderr
    lines = (tmp_path / "ev" / "sounds.csv").read_text().splitlines()
    got = {r["method"]: r for r in csv.DictReader(lines)}
    assert {"index_best_of_2", "index_refine", "nearest_best_of_2", "predict_refine"} <= set(got)
    assert int(got["index_best_of_2"]["renders"]) == 2 and int(got["index_refine"]["renders"]) == 6
    assert float(got["index_refine"]["mss"]) <= float(got["index_best_of_2"]["mss"]) + 1e-9
    assert (
        float(got["index_best_of_2"]["mss"]) < 1.0 and float(got["nearest_best_of_2"]["mss"]) < 1.0
    )

    bad = subprocess.run(
        [a2d_cli, "predict", str(tmp_path / "row3.wav"), "--checkpoint", str(tiny_flow_checkpoint),
         "--neighbours", "2", "--out", str(tmp_path / "q")], capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode != 0 and len(lines) == 1 and "has no retrieval index" in lines[0]
