"""Learning-rate schedule: linear warm-up, then cosine decay."""

from __future__ import annotations

import math


def learning_rate(
    step: int, *, lr: float, min_lr: float, warmup_steps: int, total_steps: int
) -> float:
    """Learning rate for optimizer step ``step`` (0-based): ``lr * (step + 1) / warmup_steps``
    during warm-up, then a cosine from ``lr`` down to ``min_lr`` at ``total_steps``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))
