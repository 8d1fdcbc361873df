"""The kinds of synth parameter a spec holds: continuous, discrete (integer) and categorical.

Each kind draws a value (``sample``), encodes it into its columns of the [0, 1] vector
(``encode_into``) and decodes columns back into a synth value (``decode``). Values are in the
synth's own units.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from a2d.contracts.errors import SpecError


def _check_finite(name: str, **values: float) -> None:
    for key, v in values.items():
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise SpecError(f"parameter {name!r}: {key} must be a finite number, got {v!r}")


def _check_range(p: Continuous | Discrete) -> None:
    """Shared checks of the scalar kinds: finite, min < max, constant_p and constant_value valid."""
    _check_finite(p.name, min=p.min, max=p.max, constant_p=p.constant_p)
    if not p.max > p.min:
        raise SpecError(f"parameter {p.name!r}: max ({p.max}) must exceed min ({p.min})")
    if not 0.0 <= p.constant_p <= 1.0:
        raise SpecError(f"parameter {p.name!r}: constant_p {p.constant_p} is not in [0, 1]")
    if p.constant_value is not None:
        _check_finite(p.name, constant_value=p.constant_value)
        if not p.min <= p.constant_value <= p.max:
            raise SpecError(
                f"parameter {p.name!r}: constant_value {p.constant_value} is outside "
                f"[{p.min}, {p.max}]"
            )


class _OneColumn:
    """Scalar kinds take one encoded column named after the parameter."""

    name: str

    @property
    def width(self) -> int:
        return 1

    @property
    def columns(self) -> list[str]:
        return [self.name]


@dataclass(frozen=True)
class Continuous(_OneColumn):
    """A real-valued parameter drawn uniformly in [min, max], or ``constant_value`` with
    probability ``constant_p``. Encoded as (v - min) / (max - min)."""

    name: str
    min: float
    max: float
    constant_p: float = 0.0
    constant_value: float | None = None
    unit: str = ""
    group: str = ""
    kind: ClassVar[str] = "continuous"

    def __post_init__(self) -> None:
        _check_range(self)

    @property
    def range(self) -> tuple[float, float]:
        return (self.min, self.max)

    def sample(self, rng: np.random.Generator) -> float:
        u = rng.random()
        value = rng.uniform(self.min, self.max)
        if u < self.constant_p:
            return float(self.constant_value if self.constant_value is not None else self.min)
        return float(value)

    def encode_into(self, value: float, out: np.ndarray) -> None:
        out[0] = (value - self.min) / (self.max - self.min)

    def decode(self, cols: np.ndarray) -> float:
        x = float(np.clip(cols[0], 0.0, 1.0))
        return self.min + x * (self.max - self.min)


@dataclass(frozen=True)
class Discrete(_OneColumn):
    """An integer parameter drawn uniformly in {min..max} (or a constant with ``constant_p``).
    Encoded as (v - min) / (max - min); decoded by rounding."""

    name: str
    min: int
    max: int
    constant_p: float = 0.0
    constant_value: int | None = None
    unit: str = ""
    group: str = ""
    kind: ClassVar[str] = "discrete"

    def __post_init__(self) -> None:
        if int(self.min) != self.min or int(self.max) != self.max:
            raise SpecError(f"parameter {self.name!r}: discrete bounds must be integers")
        _check_range(self)

    @property
    def range(self) -> tuple[float, float]:
        return (float(self.min), float(self.max))

    def sample(self, rng: np.random.Generator) -> int:
        u = rng.random()
        value = int(rng.integers(self.min, self.max + 1))
        if u < self.constant_p:
            return int(self.constant_value if self.constant_value is not None else self.min)
        return value

    def encode_into(self, value: float, out: np.ndarray) -> None:
        out[0] = (value - self.min) / (self.max - self.min)

    def decode(self, cols: np.ndarray) -> int:
        x = float(np.clip(cols[0], 0.0, 1.0))
        return int(round(self.min + x * (self.max - self.min)))


@dataclass(frozen=True)
class Categorical:
    """A choice among ``labels`` whose synth values are ``values``, drawn with ``weights``.

    ``encoding="onehot"`` takes one column per label (decoded by argmax); ``"scalar"`` takes one
    column, index / (n - 1) (decoded by rounding).
    """

    name: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    weights: tuple[float, ...] | None = None
    encoding: Literal["onehot", "scalar"] = "onehot"
    group: str = ""
    unit: str = ""
    kind: ClassVar[str] = "categorical"

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))
        object.__setattr__(self, "values", tuple(float(x) for x in self.values))
        n = len(self.labels)
        if n < 2:
            raise SpecError(f"parameter {self.name!r}: a categorical needs at least 2 labels")
        if len(self.values) != n:
            raise SpecError(f"parameter {self.name!r}: {n} labels but {len(self.values)} values")
        if len(set(self.values)) != n:
            raise SpecError(f"parameter {self.name!r}: categorical values must be distinct")
        w = self.weights if self.weights is not None else (1.0,) * n
        w = tuple(float(x) for x in w)
        if len(w) != n:
            raise SpecError(f"parameter {self.name!r}: {n} labels but {len(w)} weights")
        if any((not math.isfinite(x)) or x < 0 for x in w) or sum(w) <= 0:
            raise SpecError(
                f"parameter {self.name!r}: weights must be finite, non-negative and sum to a "
                f"positive value, got {list(w)}"
            )
        object.__setattr__(self, "weights", w)
        # The cumulative distribution exactly as Generator.choice(n, p=probabilities) builds it.
        cdf = self.probabilities.cumsum()
        cdf /= cdf[-1]
        object.__setattr__(self, "_cdf", cdf.tolist())
        if self.encoding not in ("onehot", "scalar"):
            raise SpecError(
                f"parameter {self.name!r}: encoding must be 'onehot' or 'scalar', got {self.encoding!r}"
            )

    @property
    def width(self) -> int:
        return len(self.labels) if self.encoding == "onehot" else 1

    @property
    def columns(self) -> list[str]:
        if self.encoding == "onehot":
            return [f"{self.name}={label}" for label in self.labels]
        return [self.name]

    @property
    def range(self) -> tuple[float, float]:
        return (min(self.values), max(self.values))

    @property
    def probabilities(self) -> np.ndarray:
        w = np.asarray(self.weights, dtype=np.float64)
        return w / w.sum()

    def index_of(self, value: float) -> int:
        diffs = [abs(value - v) for v in self.values]
        i = int(np.argmin(diffs))
        if diffs[i] > 1e-6 * max(1.0, abs(value)):
            raise SpecError(
                f"parameter {self.name!r}: value {value} is not one of {list(self.values)}"
            )
        return i

    def sample(self, rng: np.random.Generator) -> float:
        # The draw of rng.choice(n, p=probabilities) (one rng.random() against the same cdf,
        # side="right"), without its argument checks: 2.4 us instead of 35 us per draw.
        return self.values[bisect.bisect_right(self._cdf, rng.random())]

    def encode_into(self, value: float, out: np.ndarray) -> None:
        i = self.index_of(value)
        if self.encoding == "onehot":
            out[:] = 0.0
            out[i] = 1.0
        else:
            out[0] = i / (len(self.values) - 1)

    def decode_index(self, cols: np.ndarray) -> int:
        if self.encoding == "onehot":
            return int(np.argmax(cols))
        n = len(self.values)
        return int(round(float(np.clip(cols[0], 0.0, 1.0)) * (n - 1)))

    def decode(self, cols: np.ndarray) -> float:
        return self.values[self.decode_index(cols)]

    def label_of(self, value: float) -> str:
        return self.labels[self.index_of(value)]


Param = Continuous | Discrete | Categorical
_PARAM_KINDS: dict[str, type] = {
    "continuous": Continuous,
    "discrete": Discrete,
    "categorical": Categorical,
}
