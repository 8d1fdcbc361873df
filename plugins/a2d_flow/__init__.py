"""Built-in a2d plugin: ``flow``, rectified flow matching with classifier-free guidance.

Registration stays cheap (``a2d plugins`` does not import torch): the registry holds a stand-in
whose :meth:`load` imports :class:`a2d_flow.model.FlowModel`.
"""

from __future__ import annotations

from typing import Any

import a2d


class Flow:
    """Registry stand-in for :class:`a2d_flow.model.FlowModel` (``Flow(**args)`` builds one)."""

    name = "flow"
    stochastic = True

    @staticmethod
    def load() -> Any:
        from a2d_flow.model import FlowModel

        return FlowModel

    @staticmethod
    def load_numpy() -> Any:
        """The torch-free sampler (:class:`a2d_flow.numpy_model.NumpyFlow`)."""
        from a2d_flow.numpy_model import NumpyFlow

        return NumpyFlow

    def __new__(cls, **model_args: Any) -> Any:  # type: ignore[misc]
        return cls.load().build(**model_args)


@a2d.hookimpl
def a2d_register_models(registry: Any) -> None:
    registry.add(Flow)
