"""The family's errors and the check every ``generate`` starts with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from synesthesia.errors import ModelInputError, SynesthesiaError

__all__ = ["CodebookCollapseError", "ModelInputError", "check_given"]


class CodebookCollapseError(SynesthesiaError, RuntimeError):
    """Training drove the tokenizer onto a handful of codes; the message says what to try."""


def check_given(given: Mapping, targets: Sequence[str], directions: Sequence[tuple[tuple[str, ...], str]],
                modalities: Mapping, unconditional: Sequence[str] = ()) -> None:
    """Fail clearly unless every target is served from ``given`` (or, with nothing given, is in
    ``unconditional``)."""
    unknown = [m for m in given if m not in modalities]
    if unknown:
        raise ModelInputError(f"this model has no modality {unknown}; it has {list(modalities)}")
    if not targets:
        raise ModelInputError("name at least one target modality")
    served = {t: [list(g) for g, tt in directions if tt == t] for t in modalities}
    for t in targets:
        if t in given:
            raise ModelInputError(f"{t!r} is both given and asked for")
        if not given:
            if t not in unconditional:
                raise ModelInputError(
                    f"this model cannot generate {t!r} from nothing"
                    + (f"; it samples {list(unconditional)} unconditionally" if unconditional else
                       f"; give one of {served.get(t) or 'its sources'}"))
            continue
        if not served.get(t) or not any(set(g) <= set(given) for g in served[t]):
            what = "; ".join(f"{'+'.join(g)} -> {tt}" for g, tt in directions)
            raise ModelInputError(f"this model cannot generate {t!r} from {'+'.join(given)}; it serves {what}")
