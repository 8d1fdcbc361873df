"""``a2d evaluate`` on a real tiny dataset with real checkpoints and the real Vital synth."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time

import numpy as np
import pytest

from a2d.contracts.errors import DatasetError, OutputError
from a2d.pipelines.evaluate import evaluate


@pytest.fixture(scope="module")
def evaluated(
    tiny_vital_dataset, tiny_flow_checkpoint, tiny_feedforward_checkpoint, tmp_path_factory
):
    out = tmp_path_factory.mktemp("eval")
    summary = evaluate(
        tiny_flow_checkpoint, tiny_vital_dataset, out, candidates=2, limit=3,
        baseline_checkpoint=tiny_feedforward_checkpoint, batch_size=2,
    )  # fmt: skip
    return summary


def test_evaluate_writes_csv_summary_and_report(evaluated):
    with evaluated.samples_csv.open() as f:
        rows = list(csv.DictReader(f))
    got = sorted({(r["method"], r["k"]) for r in rows})
    expected = [("feedforward", "1"), ("flow", "1"), ("flow", "best-of-2"), ("nearest", "1")]
    expected += [("nearest", "best-of-2"), ("random", "1"), ("random", "best-of-2")]
    assert got == sorted(expected)
    assert len(rows) == 3 * len(expected)
    for r in rows:
        assert all(np.isfinite(float(r[m])) for m in ("mss", "wmfcc", "sot", "rms", "param_mse"))
    # best-of-K never scores worse than the first candidate on MSS, row by row
    by = {(r["row"], r["method"], r["k"]): float(r["mss"]) for r in rows}
    for row, method, k in by:
        if k == "best-of-2":
            assert by[(row, method, k)] <= by[(row, method, "1")] + 1e-9

    doc = json.loads(evaluated.summary_json.read_text())
    assert doc["rows"] == 3 and doc["candidates"] == 2 and doc["split"] == "test"
    flow1 = doc["methods"]["flow"]["1"]
    assert set(flow1["params"]["mse_per_group"]) >= {"note"}
    assert len(flow1["params"]["mse_per_column"]) == 22  # vital_simple's width
    assert flow1["mss"] == pytest.approx(np.mean([by[(r, "flow", "1")] for r in ("0", "1", "2")]))
    html = evaluated.report.read_text()
    assert html.count("data:image/png;base64,") == 1 and "feedforward" in html


def test_nearest_neighbour_on_training_rows_finds_the_rows_themselves(
    tiny_vital_dataset, tiny_feedforward_checkpoint, tmp_path
):
    s = evaluate(
        tiny_feedforward_checkpoint, tiny_vital_dataset, tmp_path, split="train", candidates=1,
        limit=2, random=False,
    )  # fmt: skip
    nn = s.table["nearest"]["1"]
    assert nn["param_mse"] == 0.0
    assert nn["mss"] < 0.05 and nn["rms"] > 0.999  # the same patch rendered twice


def test_evaluate_refuses_an_empty_selection(
    tiny_vital_dataset, tiny_feedforward_checkpoint, tmp_path
):
    with pytest.raises(DatasetError, match="unknown split"):
        evaluate(tiny_feedforward_checkpoint, tiny_vital_dataset, tmp_path, split="holdout")


def test_cli_prints_the_table_as_json(
    a2d_cli, tiny_vital_dataset, tiny_feedforward_checkpoint, tmp_path
):
    cmd = [
        a2d_cli,
        "evaluate",
        "-c",
        str(tiny_feedforward_checkpoint),
        "-d",
        str(tiny_vital_dataset),
    ]
    cmd += ["-o", str(tmp_path), "--limit", "1", "-k", "2", "--no-nearest", "--no-random"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    table = json.loads(proc.stdout)
    assert list(table) == ["feedforward"] and list(table["feedforward"]) == ["1"]
    assert (tmp_path / "report.html").is_file()


def _rows(summary) -> dict[tuple[str, str, str], dict[str, float]]:
    with summary.samples_csv.open() as f:
        return {
            (r["row"], r["method"], r["k"]): {m: float(r[m]) for m in ("mss", "param_mse")}
            for r in csv.DictReader(f)
        }


def test_an_interrupted_evaluation_resumes_to_the_same_table(
    tiny_vital_dataset, tiny_flow_checkpoint, tmp_path
):
    kwargs = {"candidates": 2, "limit": 5, "batch_size": 2, "nearest": True, "random": True}
    straight = evaluate(tiny_flow_checkpoint, tiny_vital_dataset, tmp_path / "a", **kwargs)

    def stop_after_first_batch(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(
            tiny_flow_checkpoint, tiny_vital_dataset, tmp_path / "b", **kwargs,
            on_progress=stop_after_first_batch,
        )  # fmt: skip
    assert len(list((tmp_path / "b" / "parts").glob("rows-*.json"))) == 1
    assert not (tmp_path / "b" / "summary.json").exists()
    resumed = evaluate(tiny_flow_checkpoint, tiny_vital_dataset, tmp_path / "b", **kwargs)
    assert resumed.resumed_rows == 2 and resumed.n == 5
    a, b = _rows(straight), _rows(resumed)
    assert a.keys() == b.keys()
    for key in a:  # same proposals; Vital renders repeat to ~1e-7, so the scores nearly exactly
        assert b[key]["param_mse"] == a[key]["param_mse"], key
        assert b[key]["mss"] == pytest.approx(a[key]["mss"], abs=1e-3), key

    # Other settings in the same folder: one clear error naming them; --overwrite starts again.
    with pytest.raises(OutputError, match=r"other settings \(candidates\).*--overwrite"):
        evaluate(
            tiny_flow_checkpoint, tiny_vital_dataset, tmp_path / "b", **{**kwargs, "candidates": 3}
        )
    again = evaluate(
        tiny_flow_checkpoint, tiny_vital_dataset, tmp_path / "b", **{**kwargs, "limit": 2},
        overwrite=True,
    )  # fmt: skip
    assert again.resumed_rows == 0 and again.n == 2


def test_worker_processes_give_the_same_table(
    tiny_vital_dataset, tiny_flow_checkpoint, tiny_feedforward_checkpoint, tmp_path
):
    kwargs = {
        "candidates": 2,
        "limit": 3,
        "batch_size": 2,
        "baseline_checkpoint": tiny_feedforward_checkpoint,
    }
    here = evaluate(tiny_flow_checkpoint, tiny_vital_dataset, tmp_path / "here", **kwargs)
    pooled = evaluate(
        tiny_flow_checkpoint, tiny_vital_dataset, tmp_path / "pool", workers=2, **kwargs
    )
    a, b = _rows(here), _rows(pooled)
    assert a.keys() == b.keys()
    for key in a:
        assert b[key]["param_mse"] == a[key]["param_mse"], key
        assert b[key]["mss"] == pytest.approx(a[key]["mss"], abs=1e-3), key
    assert json.loads(pooled.summary_json.read_text())["workers"] == 2


def test_one_scan_for_many_queries_finds_the_same_neighbours(tiny_vital_dataset):
    from a2d.pipelines.proposers import nearest_neighbours, nearest_proposer
    from a2d.storage.dataset import open_dataset

    train, test = (
        open_dataset(tiny_vital_dataset, "train"),
        open_dataset(tiny_vital_dataset, "test"),
    )
    mels = test.read(0, 6, fields=("mel",))["mel"]
    rows, params = nearest_neighbours(mels, train, k=3, chunk=7)  # chunks cut across shards
    # brute force over the whole split in memory
    whole = train.read(0, len(train), fields=("mel", "params"))
    from a2d.pipelines.proposers import _pool

    d = ((_pool(mels)[:, None] - _pool(whole["mel"])[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(rows, np.argsort(d, axis=1, kind="stable")[:, :3])
    np.testing.assert_array_equal(params, whole["params"][rows])
    blocked = nearest_proposer(train, 3, queries=test, limit=6)
    np.testing.assert_array_equal(blocked.propose(np.arange(2, 4), mels[2:4]), params[2:4])


def test_sigkill_then_resume_keeps_every_finished_row(
    a2d_cli, tiny_vital_dataset, tiny_feedforward_checkpoint, tmp_path
):
    def cmd(out):
        return [
            a2d_cli, "evaluate", "-c", str(tiny_feedforward_checkpoint), "-d",
            str(tiny_vital_dataset), "-o", str(out), "--limit", "8", "-k", "2", "--batch-size",
            "2", "--workers", "0",
        ]  # fmt: skip

    clean = subprocess.run(cmd(tmp_path / "clean"), capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not list((out / "parts").glob("rows-*.json")) and time.monotonic() < deadline:
        assert proc.poll() is None, "evaluate ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list((out / "parts").glob("rows-*.json")))
    assert 1 <= finished < 4 and not (out / "summary.json").exists()
    resumed = subprocess.run(cmd(out), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({2 * finished} resumed)" in resumed.stderr
    with (tmp_path / "clean" / "samples.csv").open() as f:
        want = list(csv.DictReader(f))
    with (out / "samples.csv").open() as f:
        got = list(csv.DictReader(f))
    assert [(r["row"], r["method"], r["k"], r["param_mse"]) for r in got] == [
        (r["row"], r["method"], r["k"], r["param_mse"]) for r in want
    ]


def test_edits_start_from_the_nearest_rows_and_stay_near_them(
    tiny_vital_dataset, tiny_flow_checkpoint, tmp_path
):
    """``edit``: the flow carries the nearest training rows; on the train split the nearest row is
    the row itself, so an edit from late in the flow is that row again, nearly, and one from early
    in the flow is not (a proposer that ignored its starts would fail both)."""
    kwargs = {"split": "train", "candidates": 2, "limit": 4, "random": False, "edits": 2}
    late = evaluate(tiny_flow_checkpoint, tiny_vital_dataset, tmp_path / "late", **kwargs,
                    edit_t0=0.98)  # fmt: skip
    early = evaluate(tiny_flow_checkpoint, tiny_vital_dataset, tmp_path / "early", **kwargs,
                     edit_t0=0.2)  # fmt: skip
    assert late.table["nearest"]["1"]["param_mse"] == 0.0
    assert late.table["edit"]["1"]["param_mse"] < 2e-3
    assert early.table["edit"]["1"]["param_mse"] > 10 * late.table["edit"]["1"]["param_mse"]
    doc = json.loads((tmp_path / "late" / "evaluate.json").read_text())
    assert doc["edits"] == 2 and doc["edit_t0"] == 0.98


def test_each_edit_is_nearest_the_row_it_started_from(tiny_vital_dataset, tiny_flow_checkpoint):
    from a2d.pipelines.proposers import Proposer, edit_proposer
    from a2d.storage.dataset import open_dataset

    test = open_dataset(tiny_vital_dataset, "test")
    mels = test.read(0, 3, fields=("mel",))["mel"]
    starts = np.random.default_rng(5).random((3, 2, test.spec.width))
    fixed = Proposer("nearest", lambda rows, mels: starts[rows])
    prop = edit_proposer(tiny_flow_checkpoint, test.spec, fixed, k=4, starts=2, t0=0.9, seed=0)
    out = prop.propose(np.arange(3), mels)
    assert out.shape == (3, 4, test.spec.width)
    for b in range(3):  # starts used in turn: candidates 0, 1 from start 0; 2, 3 from start 1
        d = ((out[b][:, None] - starts[b][None]) ** 2).sum(-1)
        np.testing.assert_array_equal(d.argmin(1), [0, 0, 1, 1])
    again = prop.propose(np.arange(1, 3), mels[1:])  # depends only on (seed, row)
    np.testing.assert_array_equal(again, out[1:])


def test_edits_need_a_flow_model_the_nearest_rows_and_a_time_in_0_1(
    tiny_vital_dataset, tiny_flow_checkpoint, tiny_feedforward_checkpoint, tmp_path
):
    from a2d.contracts.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot start from given rows.*flow model"):
        evaluate(tiny_feedforward_checkpoint, tiny_vital_dataset, tmp_path, edits=1, limit=1)
    with pytest.raises(ConfigError, match="nearest training rows; drop --no-nearest"):
        evaluate(tiny_flow_checkpoint, tiny_vital_dataset, tmp_path, edits=1, nearest=False)
    with pytest.raises(ConfigError, match=r"--edit-t0 must be between 0 and 1"):
        evaluate(tiny_flow_checkpoint, tiny_vital_dataset, tmp_path, edits=1, edit_t0=1.0)
    with pytest.raises(ConfigError, match=r"--edits must be between 1 and --candidates \(2\)"):
        evaluate(tiny_flow_checkpoint, tiny_vital_dataset, tmp_path, edits=3, candidates=2)
    with pytest.raises(ConfigError, match="edits must be >= 0"):
        evaluate(tiny_flow_checkpoint, tiny_vital_dataset, tmp_path, edits=-1)


def test_cli_evaluates_edits(a2d_cli, tiny_vital_dataset, tiny_flow_checkpoint, tmp_path):
    cmd = [a2d_cli, "evaluate", "-c", str(tiny_flow_checkpoint), "-d", str(tiny_vital_dataset)]
    cmd += ["-o", str(tmp_path), "--limit", "1", "-k", "2", "--no-random", "--edits", "1"]
    proc = subprocess.run([*cmd, "--edit-t0", "0.9"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(proc.stdout)) == ["flow", "nearest", "edit"]
    assert json.loads((tmp_path / "evaluate.json").read_text())["edit_t0"] == 0.9
    bad = subprocess.run([*cmd, "--edit-t0", "1.5"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "--edit-t0 must be between 0 and 1" in bad.stderr
