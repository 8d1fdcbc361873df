"""Search on the real synth: refine candidate patches by rendering them, without gradients.

A model proposes; the synth decides. :func:`refine` improves one or more starting patches with
CMA-ES (the ``cma`` package) on the very distance that ranks candidates: the multi-scale spectral
distance (:func:`a2d.kernels.metrics.mss`) between the loudness-matched render and the target
(:class:`Objective`). The search runs in the spec's encoded space ``[0, 1]^width`` with those bounds,
over the continuous and discrete columns only; categorical columns (one-hot groups or not) and the
note columns stay as each start has them, so every start explores one combination of choices
(categoricals fixed per start) and the note is whatever the caller sets (:class:`Objective`
``note``). The budget counts renders: every start gets an equal share, each generation is one batch
of renders (spread over a :class:`a2d.runtime.synth_pool.SynthPool` when one is given), and a generation
that would pass the budget is cut to fit and not told to the optimiser. Under one ``seed`` the
result is the same on every run (CMA-ES draws from its own seeded generator).

:func:`random_search` and :func:`cma_from_centre` are the baselines at the same budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from a2d.contracts.notes import Note
from a2d.contracts.spec import ParamSpec, Patch

#: Default CMA-ES step size in the encoded [0, 1] space (a tenth of each column's range).
SIGMA0 = 0.1


def render_and_score(
    backend: Any, patches: list[Patch], target: np.ndarray, rate: int, target_lufs: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Render ``patches`` and score each against ``target`` (a synth-pool task).

    :returns: ``(B,)`` MSS in dB (:func:`a2d.kernels.audio.matched_mss`: ``inf`` for a silent render) and the raw
        ``(C, N)`` renders.
    """
    from a2d.kernels.audio import matched_mss

    audio = [backend.render(p) for p in patches]
    if not audio:
        return np.zeros(0), []
    return matched_mss(np.stack(audio), target, target_lufs, rate), audio


class Objective:
    """The distance of encoded vectors to one target, by rendering them; counts renders.

    :param spec: decodes the vectors. :param target: ``(C, N)`` audio at ``rate``.
    :param map_fn: ``map_fn(task, items)`` runs ``task(backend, *item)`` for each item, in order:
        :meth:`a2d.runtime.synth_pool.SynthPool.map`, or :func:`local_map` around one backend.
    :param chunks: how many tasks one batch is split into (the pool's workers).
    :param note: if given, every patch plays this note's pitch (the analysed input's), whatever
        its pitch column says; its note times stay its own (:func:`a2d.kernels.analysis.at_pitch`).
    """

    def __init__(
        self,
        spec: ParamSpec,
        target: np.ndarray,
        rate: int,
        map_fn: Callable[[Callable[..., Any], list[tuple[Any, ...]]], list[Any]],
        *,
        chunks: int = 1,
        note: Note | None = None,
    ) -> None:
        from a2d.kernels.loudness import integrated_loudness

        self.spec, self.target, self.rate = spec, np.asarray(target, dtype=np.float32), rate
        self.map_fn, self.chunks, self.note = map_fn, max(1, chunks), note
        self.target_lufs = float(integrated_loudness(self.target, rate))
        self.renders = 0

    def patch(self, vector: np.ndarray) -> Patch:
        from a2d.kernels.analysis import at_pitch

        return at_pitch(self.spec.decode(np.clip(vector, 0.0, 1.0)), self.note)

    def __call__(self, vectors: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """``(B, width)`` -> ``(B,)`` MSS (dB) and the ``B`` renders."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        patches = [self.patch(v) for v in vectors]
        parts = [p for p in np.array_split(np.arange(len(patches)), self.chunks) if len(p)]
        items = [
            ([patches[i] for i in part], self.target, self.rate, self.target_lufs) for part in parts
        ]
        results = self.map_fn(render_and_score, items)
        self.renders += len(patches)
        scores = np.concatenate([r[0] for r in results]) if results else np.zeros(0)
        audio = [a for r in results for a in r[1]]
        return scores, audio


def local_map(backend: Any) -> Callable[[Callable[..., Any], list[tuple[Any, ...]]], list[Any]]:
    """A ``map_fn`` that runs every task here, on ``backend``."""
    return lambda fn, items: [fn(backend, *item) for item in items]


@dataclass
class SearchResult:
    """The best vector a search found.

    :param vector: ``(width,)`` encoded, in [0, 1]. :param mss: its distance (dB).
    :param audio: its ``(C, N)`` render. :param renders: renders spent.
    :param start_mss: the best start's distance before the search (NaN when it had no start).
    :param history: best distance so far after each batch of renders, with the renders spent.
    """

    vector: np.ndarray
    mss: float
    audio: np.ndarray | None
    renders: int
    start_mss: float = float("nan")
    history: list[tuple[int, float]] = field(default_factory=list)


def free_columns(spec: ParamSpec) -> np.ndarray:
    """Indices of the columns a search moves: continuous and discrete parameters, and the note's
    times (its first column, the pitch, is the analysed input's or fixed per start)."""
    cols = [
        i
        for g in spec.groups
        if g.kind != "categorical" and not (g.kind == "note" and g.name == "pitch")
        for i in range(g.slice.start, g.slice.stop)
    ]
    return np.asarray(cols, dtype=np.int64)


class _Best:
    def __init__(self) -> None:
        self.vector: np.ndarray | None = None
        self.mss, self.audio = math.inf, None
        self.history: list[tuple[int, float]] = []

    def update(self, vectors: np.ndarray, scores: np.ndarray, audio: list, renders: int) -> None:
        if len(scores):
            i = int(np.argmin(scores))
            if self.vector is None or scores[i] < self.mss:
                self.vector, self.mss, self.audio = vectors[i].copy(), float(scores[i]), audio[i]
        self.history.append((renders, self.mss))


def _import_cma() -> Any:
    """``cma``, without its warning that matplotlib (only for its plots) is missing, and without
    ``scipy.stats``: cma imports it only for the Kendall tau of its surrogate models (unused here)
    and has its own when scipy is absent. That import cost ``a2d predict`` 0.4-0.9 s of start-up.
    ``scipy.stats`` is hidden only while cma loads, and only when nothing has imported it yet."""
    import sys
    import warnings

    if "cma" in sys.modules:
        return sys.modules["cma"]
    hide = "scipy.stats" not in sys.modules
    if hide:
        sys.modules["scipy.stats"] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*matplotlib", category=UserWarning)
            import cma
    finally:
        if hide and sys.modules.get("scipy.stats", 0) is None:
            del sys.modules["scipy.stats"]
    return cma


def refine(
    objective: Objective,
    starts: np.ndarray,
    budget: int,
    *,
    seed: int = 0,
    sigma0: float = SIGMA0,
    start_scores: Sequence[float] | None = None,
    popsize: int | None = None,
) -> SearchResult:
    """CMA-ES from each start (categoricals fixed per start), ``budget`` renders in all.

    :param starts: ``(S, width)`` encoded starting vectors (e.g. the model's best candidates).
    :param budget: renders to spend (the starts' own renders are not counted when their scores
        are given; otherwise each start is rendered first, out of the budget).
    :param start_scores: the starts' known MSS, to skip rendering them again.
    :param popsize: CMA-ES population (default ``4 + 3 ln n``, at most the start's share).
    :returns: the best vector seen, starts included: never worse than the best start (its
        ``audio`` is None when that is a start whose render the caller holds).
    """
    cma = _import_cma()
    starts = np.atleast_2d(np.clip(np.asarray(starts, dtype=np.float64), 0.0, 1.0))
    if budget < 0:
        raise ValueError(f"budget must be >= 0 renders, got {budget}")
    best = _Best()
    if start_scores is None:
        take = starts[: max(1, min(len(starts), budget))]
        scores, audio = objective(take)
        best.update(take, scores, audio, objective.renders)
        budget -= len(take)
        starts, start_scores = take, list(scores)
    else:
        start_scores = list(start_scores)
        i = int(np.argmin(start_scores))
        best.vector, best.mss = starts[i].copy(), float(start_scores[i])
    start_mss = best.mss
    free = free_columns(objective.spec)
    if budget <= 0 or len(free) == 0:
        return SearchResult(
            best.vector, best.mss, best.audio, objective.renders, start_mss, best.history
        )
    shares = np.array_split(np.arange(budget), len(starts))
    for s, (x0, share) in enumerate(zip(starts, shares, strict=True)):
        left = len(share)
        if left == 0:
            continue
        n = len(free)
        pop = popsize or min(left, 4 + int(3 * math.log(n)))
        opts = {
            "bounds": [0.0, 1.0], "popsize": max(2, pop), "seed": 1 + seed * 1009 + s,
            "verbose": -9, "verb_log": 0, "verb_disp": 0, "CMA_diagonal": False,
        }  # fmt: skip
        es = cma.CMAEvolutionStrategy(x0[free], sigma0, opts)
        while left > 0:
            xs = es.ask()
            cut = xs[:left]
            vectors = np.repeat(x0[None], len(cut), axis=0)
            vectors[:, free] = np.clip(np.asarray(cut), 0.0, 1.0)
            scores, audio = objective(vectors)
            left -= len(cut)
            best.update(vectors, scores, audio, objective.renders)
            if len(cut) < len(xs):
                break
            es.tell(xs, [s if np.isfinite(s) else 1e6 for s in scores])
    return SearchResult(
        best.vector, best.mss, best.audio, objective.renders, start_mss, best.history
    )


def random_search(
    objective: Objective, budget: int, *, seed: int = 0, batch: int = 16
) -> SearchResult:
    """The best of ``budget`` random patches of the spec (baseline)."""
    rng = np.random.default_rng(seed)
    spec, best = objective.spec, _Best()
    left = budget
    while left > 0:
        n = min(batch, left)
        vectors = spec.encode_many([spec.sample(rng) for _ in range(n)]).astype(np.float64)
        scores, audio = objective(vectors)
        best.update(vectors, scores, audio, objective.renders)
        left -= n
    return SearchResult(best.vector, best.mss, best.audio, objective.renders, history=best.history)


def centre(spec: ParamSpec) -> np.ndarray:
    """The spec's centre, canonical: every column at 0.5 (categoricals: the first choice)."""
    return spec.canonicalize(np.full(spec.width, 0.5)).astype(np.float64)


def cma_from_centre(objective: Objective, budget: int, *, seed: int = 0) -> SearchResult:
    """CMA-ES from :func:`centre` with ``budget`` renders (baseline), larger steps (0.25)."""
    return refine(objective, centre(objective.spec)[None], budget, seed=seed, sigma0=0.25)


#: How many of the model's best candidates ``a2d predict --refine`` starts from.
REFINE_STARTS = 2


def refine_candidates(
    matcher: Any,
    sound: Any,
    ranked: list[Any],
    note: Note | None,
    stages: dict[str, Any],
    budget: int | None = None,
) -> list[Any]:
    """``a2d predict``'s refine stage: CMA-ES from the :data:`REFINE_STARTS` best candidates with
    ``matcher.refine_budget`` renders on the matcher's synth (its worker pool when it has one).

    :param matcher: a :class:`a2d.pipelines.predict.SoundMatcher`. :param sound: the matched target.
    :param ranked: scored candidates, best first. :param stages: gets ``refine_mss_db``,
        ``refine_renders``, ``refine_seconds`` and ``refine_renders_per_s``.
    :param budget: renders to spend (default ``matcher.refine_budget``).
    :returns: the candidates, best first, with the refined patch first when it scores better
        (a copy of the best candidate's type carrying the refined values).
    """
    pool = matcher.pool
    map_fn = pool.map if pool is not None else local_map(matcher.backend)
    obj = Objective(
        matcher.checkpoint.spec, sound.audio, matcher.settings.sample_rate, map_fn,
        chunks=2 * pool.lanes if pool is not None else 1, note=note,
    )  # fmt: skip
    top = [c for c in ranked if np.isfinite(c.mss)][:REFINE_STARTS]
    if not top:
        return ranked
    started = time.perf_counter()
    res = refine(
        obj, np.stack([c.vector for c in top]),
        matcher.refine_budget if budget is None else budget, seed=matcher.seed,
        start_scores=[c.mss for c in top],
    )  # fmt: skip
    seconds = time.perf_counter() - started
    stages["refine_mss_db"] = res.mss
    stages["refine_renders"] = res.renders
    stages["refine_seconds"] = seconds
    # What the budget buys: renders (each scored) per second of the whole refine stage, search
    # overhead included; the synth's own render rate is the ceiling.
    stages["refine_renders_per_s"] = res.renders / seconds if seconds > 0 else float("nan")
    if res.audio is None or not res.mss < ranked[0].mss:
        return ranked
    best = replace(
        ranked[0], index=len(ranked), vector=res.vector, patch=obj.patch(res.vector),
        audio=res.audio, mss=res.mss, source="refine",
    )  # fmt: skip
    out = [best, *ranked]
    for r, c in enumerate(out, start=1):
        c.rank = r
    return out
