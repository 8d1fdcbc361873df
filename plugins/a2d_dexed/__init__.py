"""Built-in a2d plugin: the ``dexed`` synth backend (the Yamaha DX7 via ``dexed-py``) and its specs.

Registers the backend :class:`~a2d_dexed.backend.DexedBackend` and the specs ``dexed_fm2``,
``dexed_simple`` and ``dexed_full`` (:mod:`a2d_dexed.specs`). Presets are DX7 sysex (``.syx``, :mod:`a2d_dexed.voice`).
Importing this package does not import ``dexed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import a2d

if TYPE_CHECKING:
    from a2d.contracts.registry import Registry


@a2d.hookimpl
def a2d_register_synths(registry: Registry) -> None:
    from a2d_dexed.backend import DexedBackend

    registry.add(DexedBackend)


@a2d.hookimpl
def a2d_register_param_specs(registry: Registry) -> None:
    from a2d_dexed.specs import dexed_fm2, dexed_full, dexed_simple

    registry.add(dexed_fm2())
    registry.add(dexed_simple())
    registry.add(dexed_full())
