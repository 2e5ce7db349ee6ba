"""The one error type the command line turns into a one-line message."""


class WordspotError(ValueError):
    """Bad input: a file, an option or a model that cannot be used. The message says which and why."""


class ConfigError(WordspotError):
    """A setting out of range: `field` names it, the message says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.detail = field, message


def require(ok: bool, field: str, allowed: str, value: object) -> None:
    """Raise ConfigError for `field` unless `ok`; `allowed` says the range, e.g. 'at least 1'."""
    if not ok:
        raise ConfigError(field, f"must be {allowed}, got {value!r}")


class TrainingInterrupted(Exception):
    """Ctrl-C during training; the state was saved to last.pt."""
