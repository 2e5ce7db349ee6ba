"""Learning-rate schedules by name: the rate at a point of a stage (0 at its start, 1 at its end)."""

from __future__ import annotations

import math
from typing import Callable


def warmup_cosine(base: float, progress: float) -> float:
    """Short linear warm-up, then cosine decay to 5% of the base rate (every figure in benchmarks/ used it)."""
    if progress < 0.02:
        return base * (0.1 + 0.9 * progress / 0.02)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def constant(base: float, progress: float) -> float:
    """The base rate throughout (for fine-tuning a little further)."""
    return base


SCHEDULES: dict[str, Callable[[float, float], float]] = {"cosine": warmup_cosine, "constant": constant}
lr_at = warmup_cosine  # the name it had before schedules had names
