"""A spec's parameter encoding as a few array operations (what ``ParamSpec.encode_into`` runs).

Encoding one parameter at a time costs a Python call, a slice and a small array per parameter:
about 0.2 ms for the 145 parameters of ``dexed_full``, more than a twentieth of a Dexed render.
:class:`ColumnPlan` does the same arithmetic for all scalar parameters at once and sets the one-hot
columns by index, with results bit-identical to the per-parameter path (the same float64
operations, then the same cast to the output's dtype; ``tests/test_spec.py`` compares them). It
takes only plain Python ``int`` / ``float`` values, which is what specs draw and decode; anything
else (numpy scalars, whose arithmetic may round differently) is left to the per-parameter path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from a2d.contracts.params import Categorical, Param

_PLAIN = (int, float)


class ColumnPlan:
    """Column positions and constants of every parameter of a spec, in encoding order."""

    def __init__(self, params: Sequence[Param]) -> None:
        self.names = [p.name for p in params]
        scalar_at, scalar_cols, mins, spans = [], [], [], []
        self.categoricals: list[tuple[int, int, Categorical, dict[float, int]]] = []
        col = 0
        for k, p in enumerate(params):
            if isinstance(p, Categorical):
                self.categoricals.append((k, col, p, {v: i for i, v in enumerate(p.values)}))
            else:
                scalar_at.append(k)
                scalar_cols.append(col)
                mins.append(p.min)
                spans.append(p.max - p.min)  # as the parameter computes it (ints stay exact)
            col += p.width
        self.scalar_at = scalar_at
        self.scalar_cols = np.asarray(scalar_cols, dtype=np.intp)
        self.mins = np.asarray(mins, dtype=np.float64)
        self.spans = np.asarray(spans, dtype=np.float64)
        self.width = col

    def encode_into(self, values: Mapping[str, float], out: np.ndarray) -> bool:
        """Write the parameter columns of ``values`` into ``out[:width]``; False (nothing
        written) when a value is missing or not a plain ``int`` / ``float``."""
        try:
            row = [values[n] for n in self.names]
        except KeyError:
            return False
        if not all(type(v) in _PLAIN for v in row):
            return False
        if self.scalar_at:
            x = np.array([row[k] for k in self.scalar_at], dtype=np.float64)
            out[self.scalar_cols] = (x - self.mins) / self.spans
        for k, col, p, lookup in self.categoricals:
            value = row[k]
            i = lookup.get(value)
            if i is None:
                i = p.index_of(value)  # the per-parameter match (tolerance, or the error)
            if p.encoding == "onehot":
                out[col : col + p.width] = 0.0
                out[col + i] = 1.0
            else:
                out[col] = i / (len(p.values) - 1)
        return True
