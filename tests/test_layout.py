"""The house: packages by layer, arrows pointing down, no cycles, small modules.

Walks the package's source with ``ast`` (imports inside functions and under
``TYPE_CHECKING`` included) rather than importing it, so a lazy import cannot
hide a cycle or an upward arrow. README.md ("Layout") describes the same map.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import seqsim
from seqsim.engine import registry
from seqsim.model.scenario import DEFAULT_ENGINE, ENGINE_NAMES

PACKAGE = Path(seqsim.__file__).resolve().parent

#: Layers, lowest first: a module may import its own layer or lower ones only.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("seqsim.beside", "seqsim.errors", "seqsim.interrupts", "seqsim.pages", "seqsim.spill",
     "seqsim.strings", "seqsim.units", "seqsim.validation", "seqsim.version"),
    ("seqsim.model",),
    ("seqsim.engine",),
    ("seqsim.checks",),
    ("seqsim.results",),
    ("seqsim.run",),
    ("seqsim.baseline",),
    ("seqsim.analysis", "seqsim.plot", "seqsim.report"),
    ("seqsim.cli",),
    ("seqsim.testing", "seqsim.pytest_plugin", "seqsim"),
)
MAX_MODULE_LINES = 500
#: Names every module of a kind defines on purpose (an interface, not a copy).
ALLOWED_TWICE = frozenset({"__all__", "T", "add_commands"})
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Return the seqsim modules ``path`` imports anywhere in its source."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from seqsim.engine import row` imports the submodule when there is one.
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES
                     else node.module for a in node.names]
        else:
            continue
        found.update(n for n in names if n == "seqsim" or n.startswith("seqsim."))
    return found


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _layer(module: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes if p != "seqsim"):
            return rank
    if module == "seqsim":
        return len(LAYERS) - 1
    raise AssertionError(f"{module} belongs to no layer; add it to LAYERS and the README map")


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_imports_point_down() -> None:
    upward = [f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
              for m, targets in GRAPH.items() for t in sorted(targets) if _layer(t) > _layer(m)]
    assert upward == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_library_modules_do_not_import_the_public_thin_layers() -> None:
    thin = {"seqsim.testing", "seqsim.pytest_plugin"}
    offenders = [m for m, targets in GRAPH.items() if targets & thin and m not in thin]
    assert offenders == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_small(module: str) -> None:
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines"


def _code_lines(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Count a function's lines of code: no blank lines, comments or docstring."""
    skip: set[int] = set()
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        skip = set(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return sum(1 for i in range(node.lineno, (node.end_lineno or node.lineno) + 1)
               if i not in skip and lines[i - 1].strip()
               and not lines[i - 1].strip().startswith("#"))


def test_functions_are_short() -> None:
    long = []
    for module, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = _code_lines(lines, node)
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {n} lines")
    assert long == []


def test_no_module_level_name_is_defined_twice() -> None:
    """A helper, constant or class lives in one module; others import it."""
    where: dict[str, list[str]] = {}
    for module, path in MODULES.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            else:
                continue
            for name in names:
                if name not in ALLOWED_TWICE:
                    where.setdefault(name, []).append(module)
    twice = {name: modules for name, modules in where.items() if len(modules) > 1}
    assert twice == {}


def test_public_namespace_is_pinned() -> None:
    assert sorted(seqsim.__all__) == [
        "CapacityConfig", "EngineError", "PolicyConfig", "Result", "Scenario", "ScenarioError",
        "SeqsimError", "SequenceConfig", "SequenceDefinitionError", "SimulationConfig",
        "WorkloadConfig", "compare", "load_result", "plot", "report", "simulate",
        "summarize", "sweep",
    ]
    for name in seqsim.__all__:
        assert getattr(seqsim, name) is not None


def test_engine_registry_is_pinned() -> None:
    assert tuple(registry.ENGINES) == ENGINE_NAMES == ("row", "batch")
    assert DEFAULT_ENGINE in registry.ENGINES
    assert registry.ENGINES["batch"].run is not None
    assert registry.ENGINES["row"].run is None


def test_unknown_engine_is_one_clear_error() -> None:
    with pytest.raises(seqsim.ScenarioError, match=r"engine: 'fast' is not valid; expected one "
                                                    r"of 'row', 'batch'"):
        registry.get("fast")
