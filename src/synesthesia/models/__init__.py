"""Model families, one folder each: ``config.py`` (typed dataclass) + ``model.py``."""
