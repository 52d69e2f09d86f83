"""The baseline errors, and the file prefix every baseline error message starts with."""

from __future__ import annotations

from pathlib import Path

from seqsim.errors import ScenarioError

__all__ = ["BaselineError", "BaselineMismatch", "where"]


class BaselineError(ScenarioError):
    """A baseline file is missing or invalid, or does not fit the results given."""


class BaselineMismatch(AssertionError):
    """A run moved beyond a baseline's tolerances or broke an invariant."""


def where(path: Path | None) -> str:
    """Return ``"PATH: "``, the prefix of an error about baseline file ``path``
    (empty for baseline data that came from no file)."""
    return f"{path}: " if path is not None else ""
