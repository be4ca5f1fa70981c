"""The base class of every error synesthesia raises on purpose: a short message that says what was
wrong and what to do. The command line prints these without a traceback."""


class SynesthesiaError(ValueError):
    """Bad input, configuration or state; the message says how to fix it."""


def shorten(text: object, limit: int = 80) -> str:
    """``repr`` of ``text`` cut to about ``limit`` characters, saying how long it was: error messages
    quote what they refuse without echoing a megabyte prompt back."""
    text = str(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"
