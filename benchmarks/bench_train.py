"""Loader throughput vs training-step throughput (the loader must not be the bottleneck).

Both run on the same synthetic dataset in the real shard layout (vital_simple spec, 4 s clips:
mel (2, 128, 401)), batch 32, the ``small`` flow model on CPU. The loader should deliver rows
at least 5x faster than one training step consumes them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

ROWS, SHARD, BATCH, MEL = 256, 128, 32, (2, 128, 401)
RATES: dict[str, float] = {}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from a2d.contracts.plugins import get_spec
    from a2d.contracts.synth import RenderSettings
    from a2d.kernels.features import MelSettings
    from a2d.storage.dataset import MANIFEST_NAME, plan_splits
    from a2d.storage.shards import ShardWriter, shard_name

    spec = get_spec("vital_simple")
    root = tmp_path_factory.mktemp("bench_train")
    rng = np.random.default_rng(0)
    shards = []
    for k in range(ROWS // SHARD):
        shapes = {"mel": MEL, "params": (spec.width,)}
        with ShardWriter(root / shard_name(k), SHARD, shapes, chunk_rows=SHARD) as shard:
            shard.write(
                0,
                {
                    "mel": rng.normal(-40, 15, (SHARD, *MEL)),
                    "params": rng.random((SHARD, spec.width), dtype=np.float32),
                },
            )
            shard.finish({"rows": SHARD, "first_row": k * SHARD})
        shards.append({"file": shard_name(k), "rows": SHARD, "first_row": k * SHARD})
    manifest = {
        "format": 1,
        "num_rows": ROWS,
        "shard_size": SHARD,
        "shards": shards,
        "splits": plan_splits(ROWS, SHARD, 0.0, 0.0),
        "spec": spec.to_dict(),
        "fields": ["mel", "params"],
        "render": RenderSettings().to_dict(),
        "mel": MelSettings().to_dict(),
    }
    (root / MANIFEST_NAME).write_text(json.dumps(manifest))
    return root


def test_loader_throughput(benchmark, dataset: Path) -> None:
    from a2d.pipelines.train.loader import BatchStream

    n_batches = 16

    def run() -> int:
        stream = BatchStream(
            dataset, "train", batch_size=BATCH, workers=2, chunk_rows=32, chunks_per_block=2
        )
        rows = 0
        for i, batch in enumerate(stream):
            rows += len(batch["params"])
            if i + 1 == n_batches:
                break
        return rows

    rows = benchmark.pedantic(run, rounds=3, iterations=1)  # runs once under --benchmark-disable
    assert rows == n_batches * BATCH
    if benchmark.enabled:
        RATES["loader"] = rows / benchmark.stats.stats.median
        benchmark.extra_info.update(rows_per_s=RATES["loader"], batch=BATCH, mel=MEL, workers=2)


def test_train_step_throughput(benchmark, dataset: Path) -> None:
    from a2d.contracts.plugins import get_spec, model_class
    from a2d.pipelines.train.config import resolve_config

    args = resolve_config(preset="small").models["flow"]
    torch.manual_seed(0)
    model = model_class("flow").build(
        **model_class("flow").spec_args(get_spec("vital_simple"), MEL), **args
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = {
        "features": torch.randn(BATCH, *MEL),
        "params": torch.rand(BATCH, get_spec("vital_simple").width),
    }

    def step() -> float:
        loss = model.loss(batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.detach())

    loss = benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=1)
    assert np.isfinite(loss)
    if benchmark.enabled:
        RATES["step"] = BATCH / benchmark.stats.stats.median
        benchmark.extra_info.update(
            rows_per_s=RATES["step"],
            batch=BATCH,
            mel=MEL,
            model="flow small",
            threads=torch.get_num_threads(),
        )
        if "loader" in RATES:
            benchmark.extra_info["loader_over_step"] = RATES["loader"] / RATES["step"]
