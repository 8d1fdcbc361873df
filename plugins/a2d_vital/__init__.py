"""Built-in a2d plugin: the ``vital`` synth backend (Vital via ``vita``) and its specs.

Registers the backend :class:`~a2d_vital.backend.VitalBackend` and the specs ``vital_simple`` and
``vital_full`` (:mod:`a2d_vital.specs`). Importing this package does not import ``vita``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import a2d

if TYPE_CHECKING:
    from a2d.contracts.registry import Registry


@a2d.hookimpl
def a2d_register_synths(registry: Registry) -> None:
    from a2d_vital.backend import VitalBackend

    registry.add(VitalBackend)


@a2d.hookimpl
def a2d_register_param_specs(registry: Registry) -> None:
    from a2d_vital.specs import vital_full, vital_simple

    registry.add(vital_simple())
    registry.add(vital_full())
