"""The errors synesthesia raises on purpose: short messages that say what was wrong and what to
do. The command line prints them without a traceback and exits with status 2.

Each layer keeps its own subclasses (``ConfigError`` in :mod:`synesthesia.config`, ``DataError``
in :mod:`synesthesia.data`, ...); the few that every layer shares live here.
"""

from __future__ import annotations

MAX_SHOWN = 80          # characters of a user's input quoted back in a message


class SynesthesiaError(ValueError):
    """Bad input, configuration or state; the message says how to fix it."""


class ModelInputError(SynesthesiaError):
    """A request a model cannot serve (a modality it lacks, an option it does not take); the
    message says what it can do."""


class OutputError(SynesthesiaError):
    """Writing an output would replace something it must not (a run, a dataset, a user's file);
    the message names it and the option that allows what may be allowed."""


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """``repr`` of a user's input cut to ``limit`` characters, for error messages: an error never
    echoes a megabyte of prompt back."""
    if not isinstance(value, str):
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + f" … ({len(text):,} characters)"
    if len(value) <= limit:
        return repr(value)
    return repr(value[:limit]) + f" … ({len(value):,} characters)"
