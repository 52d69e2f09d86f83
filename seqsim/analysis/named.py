"""Results by name: the two shapes the presentation functions accept.

The charts and the report take *a Result or a dict of named Results*
(:func:`named_results`; a single Result is named ``""``, which the charts read
as "no panel title suffix"). :func:`seqsim.compare` takes more: a dict or a
list whose items may also be saved result directories, loaded here and named
after the directory (:func:`load_named`). They stay two functions because they
accept different inputs and say so in different error messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from seqsim.errors import SeqsimError
from seqsim.results.result import Result, load_result

__all__ = ["load_named", "named_results"]

_RESULTS_EXPECTED = "a seqsim.Result or a dict of name -> seqsim.Result"
_LOADABLE_EXPECTED = ("a dict of name -> seqsim.Result (or a saved result directory), or a "
                      "list of them")


def named_results(results: Any) -> dict[str, Result]:
    """Return a Result or a dict of Results as an ordered {name: Result} dict.

    A single Result is returned as ``{"": result}``; names are made ``str``.

    Raises:
        SeqsimError: ``results`` is neither, is an empty dict, or holds a value
            that is not a Result (the first such key is named).
    """
    if isinstance(results, Result):
        return {"": results}
    if not isinstance(results, Mapping):
        raise SeqsimError(
            f"results: {type(results).__name__} is not valid; expected {_RESULTS_EXPECTED}"
        )
    if not results:
        raise SeqsimError(f"results: an empty dict is not valid; expected {_RESULTS_EXPECTED}")
    named: dict[str, Result] = {}
    for name, value in results.items():
        if not isinstance(value, Result):
            raise SeqsimError(
                f"results[{name!r}]: {type(value).__name__} is not valid; expected a seqsim.Result"
            )
        named[str(name)] = value
    return named


def _load(where: str, value: Any) -> Result:
    if isinstance(value, Result):
        return value
    if isinstance(value, (str, os.PathLike)):
        return load_result(value)
    raise SeqsimError(
        f"{where}: {type(value).__name__} is not valid; expected a seqsim.Result or the path "
        "of a saved result directory"
    )


def load_named(results: Any) -> dict[str, Result]:
    """Return {name: Result} from a mapping or a sequence of Results / result directories.

    A list names its items ``run 1``, ``run 2``... or, for a directory, by the
    directory's name (by the path as given when two names clash).

    Raises:
        SeqsimError: ``results`` is empty, is neither a mapping nor a list, or
            holds something that is neither a Result nor a result directory.
    """
    if isinstance(results, Mapping):
        items = [(str(name), _load(f"results[{name!r}]", value))
                 for name, value in results.items()]
    elif isinstance(results, Sequence) and not isinstance(results, (str, bytes)):
        items = []
        for i, value in enumerate(results):
            name = Path(value).name if isinstance(value, (str, os.PathLike)) else f"run {i + 1}"
            items.append((name, _load(f"results[{i}]", value)))
        names = [n for n, _ in items]
        if len(set(names)) < len(names):  # two directories with the same name
            items = [(str(v) if isinstance(v, (str, os.PathLike)) else n, r)
                     for (n, r), v in zip(items, results, strict=True)]
    else:
        raise SeqsimError(
            f"results: {type(results).__name__} is not valid; expected {_LOADABLE_EXPECTED}"
        )
    if not items:
        raise SeqsimError(
            f"results: an empty collection is not valid; expected {_LOADABLE_EXPECTED}"
        )
    return dict(items)
