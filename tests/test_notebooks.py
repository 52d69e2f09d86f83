"""The analyst notebooks run top to bottom at test size, and are committed clean.

Each notebook has one code cell tagged ``parameters``; the test replaces its
source with the small values below and executes the notebook with nbclient on
the ``python3`` kernel, with ``notebooks/`` as the working directory (the
notebooks use relative paths such as ``../data/scenarios``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TIMEOUT_S = 120     # per cell and per notebook (nbclient's timeout is per cell)

#: Test-size parameters per notebook: replaces the cell tagged "parameters".
TEST_PARAMETERS = {
    "01_quickstart.ipynb": 'SCALE = 0.1\nDURATION = "12d"',
    "02_step_spacing.ipynb": 'SCALE = 0.1\nDURATION = "12d"\nTIGHT_DEVICES = 2',
    "03_capacity_planning.ipynb": (
        'SCALE = 0.05\nDURATION = "11d"\nRATE_PER_HOUR = 40\nDEVICE_OPTIONS = [1, 2, 4]\n'
        "TARGET_P95_S = 3600"
    ),
    "04_sql_on_results.ipynb": 'SCALE = 0.1\nDURATION = "16d"',
    "05_policy_comparison.ipynb": "SCALE = 0.25",
    "06_sweeps.ipynb": "RATE_PER_HOUR = 1\nSEEDS = 3\nDEVICES = [1, 2]\nWORKERS = 1",
    "07_failure_modes.ipynb": "COUNT = 5",
}

#: What a notebook may import: the public API and the analysis libraries.
ALLOWED_IMPORTS = {"seqsim", "pandas", "duckdb", "pathlib", "numpy"}


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "exactly one cell must be tagged 'parameters'"
    return cells[0]


def test_every_notebook_has_test_parameters() -> None:
    assert sorted(p.name for p in notebook_paths()) == sorted(TEST_PARAMETERS)


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_notebook_is_committed_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), \
        "commit notebooks without outputs (Kernel > Restart and Clear Outputs)"
    # It tells a story: text between the code cells.
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= len(code) // 2
    # The parameters cell only assigns names, and the test overrides the same names.
    names = {t.id for node in ast.parse(parameters_cell(nb).source).body
             for t in node.targets}
    test_names = {t.id for node in ast.parse(TEST_PARAMETERS[path.name]).body
                  for t in node.targets}
    assert names == test_names
    # Only the public API: seqsim's top level and its plot/compare, no private modules.
    for cell in code:
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
                assert node.module != "seqsim" or {a.name for a in node.names} <= {
                    "plot", "compare", "Scenario", "Result", "simulate", "load_result"}
            else:
                continue
            assert roots <= ALLOWED_IMPORTS, roots
        assert "seqsim._" not in cell.source


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    parameters_cell(nb).source = TEST_PARAMETERS[path.name]
    client = NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the charts should display inline"
