"""Can the flow model pick better retrieved rows than mel distance does? (docs/results.md,
"`a2d evaluate --edits`")

For the first N rows of a split: the R nearest training rows (pooled log-mel, as `a2d evaluate`'s
`nearest`), every one rendered and scored (MSS) against the row; each also scored by the flow
model: its conditional flow-matching error at 16 fixed (time, noise) pairs, and that error's gain
over the unconditional field (a pointwise-mutual-information proxy). Prints best-of-16 MSS when
the 16 rows are picked by mel rank, by the model's score, and by mixes of the two ranks, paired
against mel rank; the best of all R rows is the ceiling.

    python docs/experiments/rerank_rows.py CHECKPOINT DATASET SPLIT N R
"""

import sys

import numpy as np
import torch

from a2d.contracts.plugins import create_backend
from a2d.kernels.metrics import mss
from a2d.pipelines.proposers import nearest_neighbours
from a2d.storage.checkpoint import load_checkpoint
from a2d.storage.dataset import open_dataset


def main(ckpt: str, data: str, split: str, n: int, r: int) -> None:
    ds, train = open_dataset(data, split), open_dataset(data, "train")
    ck = load_checkpoint(ckpt, spec=ds.spec)
    model, spec = ck.model, ds.spec
    block = ds.read(0, n, fields=("mel", "params"))
    _, params = nearest_neighbours(block["mel"], train, r)
    backend = create_backend(spec, ds.render_settings)
    rate = backend.settings.sample_rate
    j = 16
    times = (torch.arange(j, dtype=torch.float32) + 0.5) / j
    noise = torch.randn(j, spec.width, generator=torch.Generator().manual_seed(0))
    scores = np.zeros((n, r))
    err = {"cond": np.zeros((n, r)), "null": np.zeros((n, r))}
    for i in range(n):
        target = backend.render(spec.decode(block["params"][i]))
        cands = np.stack([spec.canonicalize(v) for v in params[i]])
        scores[i] = mss(np.stack([backend.render(spec.decode(v)) for v in cands]), target, rate)
        with torch.no_grad():
            cond = model.encode(ck.normalize(torch.from_numpy(block["mel"][i : i + 1])))
            x1 = torch.from_numpy(cands).float() * 2 - 1
            xt = (1 - times[None, :, None]) * noise[None] + times[None, :, None] * x1[:, None]
            for name, c in (("cond", cond), ("null", model.null_cond[None])):
                v = model(xt.reshape(-1, spec.width), times.repeat(r), cond=c.expand(r * j, -1))
                e = ((v.reshape(r, j, -1) - (x1[:, None] - noise[None])) ** 2).mean((1, 2))
                err[name][i] = e.numpy()
    base = scores[:, :16].min(1)
    print(f"mel rank, best of 16: {base.mean():.3f}; best of all {r}: {scores.min(1).mean():.3f}")
    mel_rank = np.arange(r)[None].repeat(n, 0)
    for name, score in (("cond error", err["cond"]), ("pmi", err["cond"] - err["null"])):
        rank = np.argsort(np.argsort(score, 1), 1)
        for mix in (None, 0.5, 1.0, 2.0):
            key = rank if mix is None else mel_rank + mix * rank
            pick = np.argsort(key, 1, kind="stable")[:, :16]
            d = np.take_along_axis(scores, pick, 1).min(1) - base
            label = "alone" if mix is None else f"mel rank + {mix} x rank"
            print(f"{name} {label}: {d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(n):.3f} dB "
                  f"(lower on {(d < 0).sum()}, higher on {(d > 0).sum()})")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
