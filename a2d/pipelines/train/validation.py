"""Validation of a training run: loss, parameter error and whether the model listens to the sound."""

from __future__ import annotations

from typing import Any

import torch

from a2d.contracts.model import Predictor, takes_keyword


@torch.no_grad()
def validate(
    model: Predictor,
    ds: Any,
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    rows: int,
    batch_size: int,
    sample_steps: int,
    seed: int,
    device: torch.device,
) -> dict[str, float]:
    """Validation loss, parameter error (MSE in [0, 1] units, one candidate per row) and
    ``cond_gain`` on the first ``rows`` rows of ``ds``. Uses its own RNG, so training randomness
    is unaffected.

    ``cond_gain`` is how much the sound lowers the loss: ``1 - loss / loss_mismatched``, where
    ``loss_mismatched`` is the same loss (same noise, times and dropout draws) with each row given
    the next row's sound. Near 0, the model ignores its input and has learned the parameters'
    prior only, whatever its loss (docs/results.md: the Dexed models sat at 0.001-0.005).
    """
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    n = min(rows, len(ds))
    losses, mismatched, sq_err, count = [], [], 0.0, 0
    for start in range(0, n, batch_size):
        part = ds.read(start, min(n, start + batch_size), fields=("mel", "params"))
        features = (torch.from_numpy(part["mel"]).to(device) - mean) / std
        params = torch.from_numpy(part["params"]).to(device)
        state = gen.get_state()
        losses.append(
            float(model.loss({"features": features, "params": params}, generator=gen).loss)
            * len(params)
        )
        if len(params) > 1:
            again = torch.Generator().set_state(state)
            other = {"features": features.roll(-1, 0), "params": params}
            loss_other = float(model.loss(other, generator=again).loss) * len(params)
            mismatched.append((losses[-1], loss_other))
        kwargs: dict[str, Any] = {"generator": gen}
        if model.stochastic and takes_keyword(model.predict, "steps"):
            kwargs["steps"] = sample_steps
        pred = model.predict(features, n_candidates=1, **kwargs)[:, 0]
        sq_err += float((pred.float() - params).pow(2).sum())
        count += params.numel()
    model.train()
    out = {"loss": sum(losses) / max(1, n), "param_mse": sq_err / max(1, count)}
    if mismatched:  # over the same rows (a last batch of one row has no other sound to swap in)
        true, other = (sum(pair[i] for pair in mismatched) for i in (0, 1))
        out["cond_gain"] = 1.0 - true / other if other > 0 else 0.0
    return out
