"""The package version: one definition, read by pyproject and recorded in baselines."""

__all__ = ["__version__"]

__version__ = "0.1.0"
