"""A figure that should stay up (sample diversity, codebook usage) watched for collapse.

Plain Python so models can use it as well as the Lightning wrappers in ``training/``.
"""

from __future__ import annotations

import math


class CollapseMonitor:
    """Tracks a diversity figure and says when it falls below ``fraction`` of its best value so
    far (after ``patience`` measurements); re-arms when it recovers above that level."""

    def __init__(self, fraction: float = 0.3, patience: int = 2) -> None:
        self.fraction, self.patience = fraction, patience
        self.best, self.seen, self.alarmed = 0.0, 0, False

    def update(self, value: float) -> bool:
        """Record ``value``; True when this measurement starts a collapse."""
        self.seen += 1
        if math.isfinite(value):
            self.best = max(self.best, value)
        low = self.seen > self.patience and self.best > 0 and value < self.fraction * self.best
        started = low and not self.alarmed
        self.alarmed = low
        return started
