"""Errors rfkit raises on purpose. The CLI prints their message as one line
and exits non-zero; anything else is a bug and keeps its traceback."""
from __future__ import annotations


class RfkitError(Exception):
    exit_code = 2


class ModelLoadError(RfkitError):
    """A MODEL argument that names nothing loadable."""


class TraceError(RfkitError):
    """The model's forward failed (or could not start); `partial` holds the trace up to the failure."""

    exit_code = 1

    def __init__(self, message: str, partial=None, cause: BaseException | None = None):
        super().__init__(message)
        self.partial = partial
        self.cause = cause


def one_line(exc: BaseException) -> str:
    """'ValueError: first line of the message', for errors raised by user code."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
