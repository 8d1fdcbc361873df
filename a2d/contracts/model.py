"""The model contract shared by every architecture (flow matching, feed-forward, third-party).

A model maps features (log-mel ``(B, C, n_mels, frames)``) to encoded parameter vectors
``(B, width)`` in [0, 1] for one :class:`~a2d.contracts.spec.ParamSpec`.
"""

from __future__ import annotations

import inspect
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from a2d._moved import moved_name
from a2d.contracts.errors import ConfigError, RegistryError

if TYPE_CHECKING:
    from a2d.contracts.spec import ParamSpec


@dataclass
class LossOutput:
    """What :meth:`Predictor.loss` returns.

    :param loss: scalar tensor to minimise.
    :param metrics: detached scalars for logging (e.g. ``{"mse_continuous": 0.01}``).
    """

    loss: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


class Predictor(nn.Module):
    """Base class of registered models.

    Subclasses set :attr:`name` and implement :meth:`loss` and :meth:`predict`. Their constructor
    takes only JSON-able keyword arguments (plus the spec width / feature shape) so checkpoints can
    rebuild them from ``model_args``.
    """

    #: Registered name, e.g. ``"flow"``.
    name: ClassVar[str] = ""
    #: Whether :meth:`predict` draws several distinct candidates (flow) or one (feed-forward).
    stochastic: ClassVar[bool] = False

    #: The JSON-able keyword arguments the model was built with (saved in checkpoints).
    model_args: dict[str, Any]

    @classmethod
    def spec_args(cls, spec: ParamSpec, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """Constructor arguments that follow from the data: ``width`` and ``input_shape``
        ``(C, n_mels, frames)``; subclasses add what they need from ``spec`` (e.g. one-hot groups)."""
        return {"width": spec.width, "input_shape": list(input_shape)}

    @classmethod
    def build(cls, **model_args: Any) -> Predictor:
        """Instantiate from ``model_args``; a wrong argument is a :class:`ConfigError`, a model
        class that breaks the contract (:func:`contract_problems`) a :class:`RegistryError`."""
        problems = contract_problems(cls)
        if problems:
            raise RegistryError(
                f"model {cls.name!r} ({cls.__module__}.{cls.__qualname__}) breaks the model "
                f"contract: {'; '.join(problems)}; see docs/writing-plugins.md"
            )
        try:
            model = cls(**model_args)
        except TypeError as exc:
            raise ConfigError(
                f"invalid arguments for model {cls.name!r}: {exc}; check the model section of "
                "the config"
            ) from exc
        model.model_args = dict(model_args)
        return model

    @abstractmethod
    def loss(
        self, batch: dict[str, torch.Tensor], *, generator: torch.Generator | None = None
    ) -> LossOutput:
        """Training loss for a batch with ``features (B, C, M, T)`` (normalised) and
        ``params (B, width)`` in [0, 1].

        :param generator: where every random draw of the loss (noise, times, dropout) comes from
            when given: validation passes one so that its loss is the same at every evaluation;
            training passes none (the global RNG, seeded by the run). A deterministic loss ignores it.
        """

    @abstractmethod
    def predict(
        self,
        features: torch.Tensor,
        *,
        n_candidates: int = 1,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Encoded parameter predictions ``(B, n_candidates, width)`` in [0, 1] for normalised
        ``features (B, C, M, T)``.

        :param generator: where a :attr:`stochastic` model draws its candidates from.
        :param options: the model's own sampling settings (the flow model's ``steps``, ``method``,
            ``guidance_weight``), passed through from the caller; training's validation passes
            ``steps`` to a stochastic model that names it.
        """


def contract_problems(cls: type[Predictor]) -> list[str]:
    """What keeps ``cls`` from being called the way a2d calls a model (empty when nothing):
    ``loss(batch, generator=...)`` and ``predict(features, n_candidates=..., generator=...)``."""
    problems = []
    if not takes_keyword(cls.loss, "generator"):
        problems.append("loss() takes no generator= keyword")
    for name in ("n_candidates", "generator"):
        if not takes_keyword(cls.predict, name):
            problems.append(f"predict() takes no {name}= keyword")
    return problems


def takes_keyword(fn: Any, name: str) -> bool:
    """Whether ``fn`` accepts the keyword argument ``name`` (by name or through ``**kwargs``)."""
    params = inspect.signature(fn).parameters.values()
    return any(
        (p.name == name and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        or p.kind is p.VAR_KEYWORD
        for p in params
    )


def __getattr__(name: str) -> Any:
    # model_class moved to the plugin layer (name lookup), which imports this module, not back.
    return moved_name(__name__, name)
