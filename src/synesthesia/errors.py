"""The base class of every error synesthesia raises on purpose: a short message that says what was
wrong and what to do. The command line prints these without a traceback."""


class SynesthesiaError(ValueError):
    """Bad input, configuration or state; the message says how to fix it."""
