"""Errors shown to users: each says what was wrong, where, and what was expected."""

from __future__ import annotations

from pathlib import Path


class EmocauseError(Exception):
    """Base class for errors that the CLI and service report as a message, not a traceback."""


class DataError(EmocauseError):
    """A dataset file is missing, malformed or holds something other than what its format promises."""

    def __init__(
        self, path: Path | str, problem: str, *, where: str | None = None, expected: str | None = None
    ):
        self.path = Path(path)
        self.problem = problem
        self.where = where
        self.expected = expected
        parts = [f"{self.path}"]
        if where:
            parts[0] += f" ({where})"
        parts.append(problem)
        if expected:
            parts.append(f"expected {expected}")
        super().__init__(": ".join(parts))


class ModelError(EmocauseError):
    """A model name or folder could not be resolved or loaded."""


class ConfigError(EmocauseError):
    """A configuration file or option is invalid."""
