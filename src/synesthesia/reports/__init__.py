"""Pages people look at: a run's gallery of every direction, the cycle's strip, and the small HTML
helpers they and the evaluation report share."""
