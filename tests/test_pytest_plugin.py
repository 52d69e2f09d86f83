"""The pytest plugin (entry point ``pytest11: seqsim``): a user's test in three lines."""

from __future__ import annotations

import json

import pytest

from seqsim.baseline import record_baseline, write_baseline
from tests.ci_helpers import TINY, burst

pytest_plugins = ["pytester"]

USER_TEST = """
def test_campaign_is_on_time(seqsim_check):
    seqsim_check("scenarios/burst.toml")
"""


@pytest.fixture(scope="module")
def tiny_baseline(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("plugin")
    return write_baseline(folder / "burst.json", record_baseline(burst(TINY))).read_text()


@pytest.fixture
def project(pytester: pytest.Pytester, tiny_baseline: str) -> pytest.Pytester:
    """A user's repository: scenarios/burst.toml (tiny) and baselines/burst.json."""
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "baselines").mkdir()
    (pytester.path / "scenarios" / "burst.toml").write_text(burst(TINY).to_toml())
    (pytester.path / "baselines" / "burst.json").write_text(tiny_baseline)
    return pytester


def test_plugin_is_registered_by_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("--fixtures")
    result.stdout.fnmatch_lines(["*fixtures defined from seqsim.pytest_plugin*"])
    result.stdout.fnmatch_lines(["seqsim_run -- *"])
    result.stdout.fnmatch_lines(["seqsim_check -- *"])
    help_text = pytester.runpytest_inprocess("--help")
    help_text.stdout.fnmatch_lines(["*--seqsim-update*"])


def test_three_line_user_test_passes(project: pytest.Pytester) -> None:
    project.makepyfile(test_user=USER_TEST)
    project.runpytest_inprocess("-q").assert_outcomes(passed=1)


def test_user_test_fails_with_the_table(project: pytest.Pytester) -> None:
    path = project.path / "baselines" / "burst.json"
    data = json.loads(path.read_text())
    data["metrics"]["summary.messages_sent"]["value"] += 10
    path.write_text(json.dumps(data))
    project.makepyfile(test_user=USER_TEST)
    result = project.runpytest_inprocess("-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FAIL: 1 of * metrics moved beyond tolerance*",
                                 "*summary.messages_sent*FAIL*"])
    assert "Traceback" not in result.stdout.str()


def test_bad_baseline_fails_with_one_line(project: pytest.Pytester) -> None:
    (project.path / "baselines" / "burst.json").write_text("{ not json")
    project.makepyfile(test_user=USER_TEST)
    result = project.runpytest_inprocess("-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*seqsim: error: *burst.json: invalid JSON*"])


def test_missing_baseline_then_update_creates_it(project: pytest.Pytester) -> None:
    (project.path / "baselines" / "burst.json").unlink()
    project.makepyfile(test_user=USER_TEST)
    result = project.runpytest_inprocess("-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no baseline for*--seqsim-update*"])
    project.runpytest_inprocess("-q", "--seqsim-update").assert_outcomes(passed=1)
    assert (project.path / "baselines" / "burst.json").exists()
    project.runpytest_inprocess("-q").assert_outcomes(passed=1)


def test_seqsim_run_asserts_invariants(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_user="""
        def test_three_devices_are_enough(seqsim_run):
            result = seqsim_run("scenarios/burst.toml", {"capacity.devices": 3})
            assert result.summary["lateness_p95_s"] < 3600

        def test_broken_engine_is_caught(seqsim_run, monkeypatch):
            from seqsim.engine import kernel_run
            original = kernel_run.final_columns

            def broken(*args):
                final = original(*args)
                done = final.rows["status"] == 1  # completed
                final.rows["status"][done] = 0  # active
                return final

            monkeypatch.setattr(kernel_run, "final_columns", broken)
            seqsim_run("scenarios/burst.toml")
        """
    )
    result = project.runpytest_inprocess("-q")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*InvariantError: invariants broken:",
                                 "*more than one active row*"])
    assert "pytest_plugin.py" not in result.stdout.str()  # the helpers' frames are hidden


def test_explicit_baseline_path_and_subdir_run(project: pytest.Pytester) -> None:
    (project.path / "tests").mkdir()
    (project.path / "tests" / "test_ci.py").write_text(
        "def test_ci(seqsim_check):\n"
        "    report = seqsim_check('scenarios/burst.toml', 'baselines/burst.json')\n"
        "    assert report.ok\n"
    )
    project.runpytest_inprocess("-q", "tests").assert_outcomes(passed=1)

