"""What ``a2d evaluate`` compares: the methods that propose ``K`` encoded parameter vectors for a
row (a checkpoint's model, the nearest training rows, random patches), and the nearest-neighbour
scan behind the baseline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import DatasetError
from a2d.contracts.spec import ParamSpec

#: Time-pooling factor of the log-mels compared by the nearest-neighbour baseline.
NN_POOL = 4
#: Evaluated rows whose neighbours one streamed scan of the train split finds.
NN_QUERY_BLOCK = 512


@dataclass
class Proposer:
    """One method: a name and a function ``(row indices (B,), mels (B, C, M, F)) -> (B, K, width)``
    of encoded vectors; the result may depend only on the rows and the method's seed."""

    name: str
    propose: Callable[[np.ndarray, np.ndarray], np.ndarray]
    stochastic: bool = True


def model_proposer(
    path: str | Path, spec: ParamSpec, k: int, seed: int, label: str | None = None
) -> Proposer:
    """Proposals from a checkpoint trained on exactly ``spec`` (else CheckpointError). Sampling
    noise is seeded by ``(seed, first row)`` of each call, so a batch's proposals do not depend on
    which batches ran before it."""
    import torch

    from a2d.storage.checkpoint import load_checkpoint

    ck = load_checkpoint(path, spec=spec)
    stochastic = ck.model.stochastic

    def propose(rows: np.ndarray, mels: np.ndarray) -> np.ndarray:
        kwargs: dict[str, Any] = {}
        if stochastic:
            state = np.random.SeedSequence([seed, int(rows[0])]).generate_state(1, np.uint64)
            kwargs["generator"] = torch.Generator().manual_seed(int(state[0]) >> 1)
        out = ck.predict(torch.from_numpy(mels), n_candidates=k if stochastic else 1, **kwargs)
        return out.detach().cpu().numpy().astype(np.float64)

    return Proposer(label or ck.model_name, propose, stochastic)


def random_proposer(spec: ParamSpec, k: int, seed: int) -> Proposer:
    """``k`` patches drawn from the spec; row ``r`` draws from ``default_rng([seed, 7, r])``."""

    def propose(rows: np.ndarray, mels: np.ndarray) -> np.ndarray:
        out = []
        for r in rows:
            rng = np.random.default_rng([seed, 7, int(r)])
            out.append(spec.encode_many([spec.sample(rng) for _ in range(k)]))
        return np.stack(out).astype(np.float64)

    return Proposer("random", propose)


def _pool(mels: np.ndarray) -> np.ndarray:
    """``(B, C, M, F)`` -> ``(B, C * M * (F // NN_POOL))`` time-averaged features."""
    b, c, m, f = mels.shape
    f4 = f // NN_POOL * NN_POOL
    return mels[..., :f4].reshape(b, c, m, -1, NN_POOL).mean(-1).reshape(b, -1)


def nearest_neighbours(
    queries: np.ndarray, train: Any, k: int, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` training rows nearest to each query in pooled log-mel L2, by one streamed scan of
    ``train`` (a dataset with ``mel`` and ``params``); never holds more than ``chunk`` train rows.

    :param queries: ``(Q, C, M, F)`` log-mels.
    :returns: ``(Q, k)`` train row indices, nearest first (the last repeated when the train split
        has fewer than ``k`` rows), and their ``(Q, k, width)`` encoded parameters.
    """
    import torch

    q = torch.from_numpy(_pool(queries))
    best_d = torch.full((len(q), 0), float("inf"), dtype=q.dtype)
    best_i = torch.zeros((len(q), 0), dtype=torch.long)
    best_p = torch.zeros((len(q), 0, train.spec.width), dtype=torch.float64)
    for start in range(0, len(train), chunk):
        block = train.read(start, min(start + chunk, len(train)), fields=("mel", "params"))
        train.check_finite(block, start)
        d = torch.cdist(q, torch.from_numpy(_pool(block["mel"])))
        n, kept = d.shape[1], best_d.shape[1]
        idx = torch.arange(start, start + n).expand(len(q), -1)
        d, i = torch.cat([best_d, d], 1), torch.cat([best_i, idx], 1)
        order = torch.argsort(d, dim=1, stable=True)[:, :k]
        best_d, best_i = torch.gather(d, 1, order), torch.gather(i, 1, order)
        # Parameters of the chosen rows only: from the kept set or from this chunk (no
        # (Q, kept + n, width) tensor: that is hundreds of MB for wide specs).
        chunk_p = torch.from_numpy(block["params"].astype(np.float64))
        if kept:
            width = chunk_p.shape[-1]
            old = best_p.gather(1, order.clamp(max=kept - 1)[..., None].expand(-1, -1, width))
            new = chunk_p[(order - kept).clamp(min=0)]
            best_p = torch.where((order < kept)[..., None], old, new)
        else:
            best_p = chunk_p[order]
    rows, params = best_i.numpy(), best_p.numpy()
    if rows.shape[1] < k:
        pad = k - rows.shape[1]
        rows = np.concatenate([rows, np.repeat(rows[:, -1:], pad, axis=1)], axis=1)
        params = np.concatenate([params, np.repeat(params[:, -1:], pad, axis=1)], axis=1)
    return rows, params


def nearest_proposer(train: Any, k: int, queries: Any = None, limit: int | None = None) -> Proposer:
    """The ``k`` training rows nearest in pooled log-mel L2.

    With ``queries`` (the evaluated dataset), one scan of ``train`` answers the next
    :data:`NN_QUERY_BLOCK` rows of ``queries`` (up to ``limit``) at once, instead of one scan per
    batch; without, each call scans for its own rows.
    """
    if len(train) == 0:
        raise DatasetError("the train split is empty; the nearest-neighbour baseline needs it")
    cache: dict[int, np.ndarray] = {}
    end = len(queries) if queries is not None else 0
    end = min(end, limit) if limit is not None else end

    def propose(rows: np.ndarray, mels: np.ndarray) -> np.ndarray:
        if queries is None or int(rows[-1]) >= end:
            return nearest_neighbours(mels, train, k)[1]
        if int(rows[0]) not in cache:
            cache.clear()
            a = int(rows[0])
            b = min(end, a + max(NN_QUERY_BLOCK, len(rows)))
            _, params = nearest_neighbours(queries.read(a, b, fields=("mel",))["mel"], train, k)
            cache.update({a + j: p for j, p in enumerate(params)})
        return np.stack([cache[int(r)] for r in rows])

    return Proposer("nearest", propose)


def edit_proposer(
    path: str | Path, spec: ParamSpec, nearest: Proposer, k: int, starts: int, t0: float, seed: int
) -> Proposer:
    """``edit``: the flow model of checkpoint ``path`` carries each of the ``starts`` nearest
    training rows (from the ``nearest`` proposer, so the same rows that baseline renders) towards
    the row's sound: noised to time ``t0`` and integrated to 1 (SDEdit for a rectified flow, as
    ``a2d predict``'s edits), ``k`` candidates in all, each start used ``k // starts`` times in
    turn. Noise is seeded by ``(seed, 3, row)``.

    :raises ConfigError: for a model that cannot start from given rows (not a flow), a ``t0``
        outside (0, 1) or a number of starts outside [1, k]."""
    from a2d.contracts.errors import ConfigError
    from a2d.storage.checkpoint import load_checkpoint

    ck = load_checkpoint(path, spec=spec)
    if not ck.can_edit:
        raise ConfigError(
            f"checkpoint {str(path)!r} holds a {ck.model_name} model, which cannot start from "
            "given rows; --edits needs a flow model (or pass --edits 0)"
        )
    if not 0.0 < t0 < 1.0:
        raise ConfigError(f"--edit-t0 must be between 0 and 1 (exclusive), got {t0}")
    if not 1 <= starts <= k:
        raise ConfigError(f"--edits must be between 1 and --candidates ({k}), got {starts}")
    steps = edit_steps(int(getattr(ck.model, "steps", 8)), t0)  # the model's step length

    def propose(rows: np.ndarray, mels: np.ndarray) -> np.ndarray:
        near = nearest.propose(rows, mels)
        return np.stack(
            [
                ck.sample(mel, k, [seed, 3, int(r)], starts=near[b, :starts], t0=t0, steps=steps)
                for b, (r, mel) in enumerate(zip(rows, mels, strict=True))
            ]
        )

    return Proposer("edit", propose)


#: Training rows ``a2d predict`` proposes from a shipped retrieval index, beside the model's K
#: samples (docs/results.md: the union beats either alone on real sounds).
NEIGHBOURS = 8


def index_rows(ck: Any, path: Any, asked: int | None) -> int:
    """The number of index rows ``a2d predict`` proposes: ``asked``, or the default of checkpoint
    ``ck`` (loaded from ``path``), or 0 when it ships no index.

    :raises ConfigError: for a negative ``asked``. :raises CheckpointError: for rows asked of a
        checkpoint without an index."""
    from a2d.contracts.errors import CheckpointError, ConfigError

    if asked is not None and asked < 0:
        raise ConfigError(f"--neighbours must be >= 0, got {asked}")
    if ck.index is None:
        if asked:
            raise CheckpointError(
                f"checkpoint {str(path)!r} has no retrieval index; pass --neighbours 0, or export "
                "the model with `a2d models export CKPT --index DATA`"
            )
        return 0
    if asked is not None:
        return asked
    return int(ck.payload.get("predict_defaults", {}).get("neighbours", NEIGHBOURS))


#: Retrieved rows the flow carries towards the input (``a2d predict``'s *edits*): each of the
#: first :data:`EDITS` index rows, noised to the flow's time :data:`EDIT_T0` and integrated to
#: 1 conditioned on the input (SDEdit for a rectified flow). On the dev set these beat the rows
#: they started from (docs/results.md, "Edits").
EDITS = 8
EDIT_T0 = 0.85


def edit_settings(
    ck: Any, neighbours: int, asked: int | None, asked_t0: float | None
) -> tuple[int, float]:
    """``(edits, t0)`` for ``a2d predict``: as asked, else the checkpoint's defaults (``a2d
    models export --edits``), else :data:`EDITS` and :data:`EDIT_T0`. Edits start from the
    nearest rows of the model's retrieval index, whether or not those rows are proposed too
    (``neighbours``); by default at most one per proposed row (none with ``--neighbours 0``: the
    model's samples only), and none for a model without an index or that cannot start from rows.

    :raises ConfigError: for a negative count or a time outside (0, 1)."""
    from a2d.contracts.errors import ConfigError

    if asked is not None and asked < 0:
        raise ConfigError(f"--edits must be >= 0, got {asked}")
    if asked_t0 is not None and not 0.0 < asked_t0 < 1.0:
        raise ConfigError(f"--edit-t0 must be between 0 and 1 (exclusive), got {asked_t0}")
    defaults = ck.payload.get("predict_defaults", {})
    t0 = float(asked_t0 if asked_t0 is not None else defaults.get("edit_t0", EDIT_T0))
    if ck.index is None or not ck.can_edit:
        if asked:
            raise ConfigError(
                "--edits needs retrieved rows to start from and a flow model: use a model that "
                "ships a retrieval index (`a2d models export --index`), or pass --edits 0"
            )
        return 0, t0
    if asked is not None:
        return int(asked), t0
    return min(int(defaults.get("edits", EDITS)), neighbours), t0  # edits of proposed rows


def edit_steps(model_steps: int, t0: float) -> int:
    """ODE steps from ``t0`` to 1: the model's step length, at least 2 steps."""
    import math

    return max(2, math.ceil(model_steps * (1.0 - t0) - 1e-9))
