"""seqsim: simulate a drip-campaign sequence engine on DuckDB under a virtual clock.

>>> import seqsim
>>> scn = seqsim.Scenario.from_toml("data/scenarios/baseline.toml")
>>> res = seqsim.simulate(scn)            # doctest: +SKIP
>>> res.summary["messages_sent"]          # doctest: +SKIP

The public names are loaded on first use (PEP 562): ``import seqsim`` itself
loads nothing heavy, so a light module of the package (the ``seqsim``
command's entry, the pytest plugin) starts without numpy, pandas, DuckDB and
numba, and the command can hold a Ctrl-C while it loads them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from seqsim.version import __version__ as __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time, __getattr__
    from seqsim import plot, report
    from seqsim.analysis.compare import compare
    from seqsim.analysis.summarize import summarize
    from seqsim.analysis.sweep import sweep
    from seqsim.errors import EngineError, ScenarioError, SeqsimError, SequenceDefinitionError
    from seqsim.model.capacity import CapacityConfig
    from seqsim.model.policy import PolicyConfig
    from seqsim.model.scenario import Scenario, SimulationConfig
    from seqsim.model.sequence import SequenceConfig
    from seqsim.model.workload import WorkloadConfig
    from seqsim.results.result import Result, load_result
    from seqsim.run.simulate import simulate

#: Where each public name lives (a module named after itself is the module).
_HOMES = {
    "CapacityConfig": "seqsim.model.capacity",
    "EngineError": "seqsim.errors",
    "PolicyConfig": "seqsim.model.policy",
    "Result": "seqsim.results.result",
    "Scenario": "seqsim.model.scenario",
    "ScenarioError": "seqsim.errors",
    "SeqsimError": "seqsim.errors",
    "SequenceConfig": "seqsim.model.sequence",
    "SequenceDefinitionError": "seqsim.errors",
    "SimulationConfig": "seqsim.model.scenario",
    "WorkloadConfig": "seqsim.model.workload",
    "compare": "seqsim.analysis.compare",
    "load_result": "seqsim.results.result",
    "plot": "seqsim.plot",
    "report": "seqsim.report",
    "simulate": "seqsim.run.simulate",
    "summarize": "seqsim.analysis.summarize",
    "sweep": "seqsim.analysis.sweep",
}

__all__ = [
    "CapacityConfig",
    "EngineError",
    "PolicyConfig",
    "Result",
    "Scenario",
    "ScenarioError",
    "SeqsimError",
    "SequenceConfig",
    "SequenceDefinitionError",
    "SimulationConfig",
    "WorkloadConfig",
    "compare",
    "load_result",
    "plot",
    "report",
    "simulate",
    "summarize",
    "sweep",
]


def __getattr__(name: str) -> object:
    """Return public ``name``, importing its module the first time.

    Raises:
        AttributeError: ``name`` is not a public name of seqsim.
    """
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'seqsim' has no attribute {name!r}")
    module = importlib.import_module(home)
    value = module if home == f"seqsim.{name}" else getattr(module, name)
    globals()[name] = value  # found directly from now on
    return value

# No __dir__ listing the names not loaded yet: freezegun's start (the virtual
# clock) reads every attribute dir() lists of every module, and importing pandas
# from inside it crashed the process.
