"""Errors of the data layer: a dataset that cannot be used as given, and why."""

from __future__ import annotations

from synesthesia.errors import SynesthesiaError


class DataError(SynesthesiaError):
    """The data given for training or evaluation is unusable; the message says how to fix it."""


class DataLayoutError(DataError):
    """A dataset's metadata is not in the layout expected: the message names the file, what was
    expected there and what was found (the columns or keys present, the nearest name)."""


class TooManyRejected(DataError):
    """More samples were bad than ``data.max_rejected`` allows; the message names the first few."""


class SampleError(Exception):
    """One sample (or one of its files) cannot be used: it is skipped and written to
    ``rejected.jsonl`` with this message as the reason. Never reaches the user as an error."""

    def __init__(self, reason: str, path: str = "") -> None:
        super().__init__(reason)
        self.reason, self.path = reason, path
