"""The exceptions seqsim raises for bad input.

Every rejection names the field, the value received and what would be valid,
so a user can fix the input without reading a traceback.
"""

from __future__ import annotations

__all__ = ["EngineError", "OutputError", "ScenarioError", "SeqsimError", "SequenceDefinitionError"]


class SeqsimError(Exception):
    """Base class of every error seqsim raises on purpose."""


class ScenarioError(SeqsimError, ValueError):
    """A scenario file, override, CLI flag or trace has a bad value."""


class SequenceDefinitionError(ScenarioError):
    """A sequence definition cannot be loaded (bad steps, delays or chains)."""


class EngineError(SeqsimError, ValueError):
    """An engine call was given something that does not exist or cannot apply."""


class OutputError(SeqsimError, OSError):
    """A result directory cannot be written, replaced or read as one.

    Also an ``OSError``, so code that catches file-system errors still does.
    """
