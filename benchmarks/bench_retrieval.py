"""Nearest training rows of one 4 s sound: the retrieval index a shipped model carries
(:mod:`a2d.kernels.retrieval`: pooled log-mel projected on 128 principal components, int8) against
the strongest baseline, an exact scan of the same pooled log-mels held in memory as float32
(``torch.cdist``, what ``a2d evaluate``'s nearest-neighbour baseline computes per chunk), in the
same run, on 15,616 rows shaped like the shipped vital_simple model's (stereo 128 x 401 log-mels;
low-rank random data: speed does not depend on the values). Also reported: the bytes each holds
and whether the index's nearest row is the scan's.

Run: ``pytest benchmarks/bench_retrieval.py --benchmark-only``. Under ``--benchmark-disable`` (CI)
it runs once on 1,024 rows.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from a2d.kernels.retrieval import build_index, pooled


def test_index_query_vs_exact_scan(benchmark) -> None:
    quick = benchmark.disabled
    rows = 1024 if quick else 15616
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(24, 2 * 128 * 401)).astype(np.float32)

    def mels(n: int) -> np.ndarray:
        return (rng.normal(size=(n, 24)).astype(np.float32) @ basis).reshape(n, 2, 128, 401)

    kept: list[np.ndarray] = []
    query = np.zeros(0)

    def chunks():  # made as consumed: 15,616 stereo log-mels are 6.4 GB as float32
        nonlocal query
        for c in range(rows // 512):
            m = mels(512)
            kept.append(pooled(m))
            if c == 1:
                query = m[7:8] + 0.01 * mels(1)
            yield m, rng.uniform(size=(512, 22))

    index = build_index(chunks(), components=128)
    table = torch.from_numpy(np.concatenate(kept))

    def scan() -> int:
        return int(torch.cdist(torch.from_numpy(pooled(query)), table).argmin())

    rounds = 1 if quick else 7
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        want = scan()
        times.append(time.perf_counter() - start)
    got = benchmark.pedantic(lambda: index.query(query, 8), rounds=rounds, iterations=1)
    assert int(got[0][0, 0]) == want == 512 + 7
    if benchmark.enabled:
        base = statistics.median(times)
        benchmark.extra_info.update({
            "rows": rows, "scan_median_s": base,
            "speedup_vs_exact_scan": base / benchmark.stats.stats.median,
            "index_bytes": index.nbytes, "scan_bytes": int(table.numel() * 4),
        })  # fmt: skip
