"""seqsim: simulate a drip-campaign sequence engine on DuckDB under a virtual clock.

>>> import seqsim
>>> scn = seqsim.Scenario.from_toml("data/scenarios/baseline.toml")
>>> res = seqsim.simulate(scn)            # doctest: +SKIP
>>> res.summary["messages_sent"]          # doctest: +SKIP
"""

from __future__ import annotations

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
from seqsim.version import __version__ as __version__

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
    # seqsim.plot and seqsim.report import matplotlib: load them on first use so
    # `import seqsim` stays fast for runs that draw nothing.
    if name in ("plot", "report"):
        import importlib

        return importlib.import_module(f"seqsim.{name}")
    raise AttributeError(f"module 'seqsim' has no attribute {name!r}")

