"""The one error type the command line turns into a one-line message."""


class WordspotError(ValueError):
    """Bad input: a file, an option or a model that cannot be used. The message says which and why."""
