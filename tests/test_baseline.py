"""seqsim.baseline: recording, reading, validating and comparing regression baselines."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest

from seqsim import Scenario, ScenarioError, SeqsimError, simulate
from seqsim.baseline import (
    DEFAULT_TOLERANCES,
    NEW_METRICS,
    BaselineError,
    baseline_candidates,
    baseline_path_for,
    check_scenario,
    compare_to_baseline,
    default_tolerance,
    read_baseline,
    record_baseline,
    result_metrics,
    scenario_changes,
    scenario_fingerprint,
    scenario_identity,
    write_baseline,
)
from seqsim.baseline.identity import _NEW_POLICY_DEFAULTS
from seqsim.baseline.identity import fingerprint as _fingerprint
from seqsim.results.result import SUMMARY_FLAGS, SUMMARY_KEYS
from tests.ci_helpers import TINY, break_engine, burst, write_burst

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The BURST scenario's baseline, written once for the module (do not edit it)."""
    folder = tmp_path_factory.mktemp("baseline")
    return write_baseline(folder / "burst.json", record_baseline(burst()))


@pytest.fixture
def baseline_file(recorded: Path, tmp_path: Path) -> Path:
    """A private copy of the recorded baseline, for tests that edit it."""
    return Path(shutil.copy(recorded, tmp_path / "burst.json"))


def edit(path: Path, change) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))
    return path


# ------------------------------------------------------------------ recording


def test_file_is_sorted_json_one_metric_a_line(recorded: Path) -> None:
    text = recorded.read_text()
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["format"] == "seqsim-baseline" and data["version"] == 1
    assert data["seeds"] == [7] and data["overrides"] == {}
    lines = [line.strip() for line in text.splitlines()]
    for name, entry in data["metrics"].items():
        assert f"{json.dumps(name)}: {json.dumps(entry, sort_keys=True)}," in lines or (
            f"{json.dumps(name)}: {json.dumps(entry, sort_keys=True)}" in lines)
    names = [line.split('"')[1] for line in text.splitlines() if '"value": ' in line]
    assert names == sorted(data["metrics"])
    assert '"days": [1, 2, 3],' in lines
    assert "engine" not in data["scenario"]["simulation"]
    assert "seed" not in data["scenario"]["simulation"]


def test_metrics_cover_summary_steps_and_days(recorded: Path) -> None:
    metrics = json.loads(recorded.read_text())["metrics"]
    for key in SUMMARY_KEYS:
        assert (f"summary.{key}" in metrics) == (key not in SUMMARY_FLAGS)
    for day in (1, 2, 3):
        for what in ("sent", "failed", "lateness_p50_s", "lateness_p95_s", "lateness_max_s",
                     "completion_p50_h", "completion_p95_h", "completion_max_h"):
            assert f"steps.COLD.day{day}.{what}" in metrics
    assert {n for n in metrics if n.startswith("daily.")} == {
        "daily.2025-07-01.sent", "daily.2025-07-02.sent"}
    total = sum(metrics[f"daily.2025-07-0{d}.sent"]["value"] for d in (1, 2))
    assert total == metrics["summary.messages_sent"]["value"]
    steps = sum(metrics[f"steps.COLD.day{d}.sent"]["value"] for d in (1, 2, 3))
    assert steps == metrics["summary.messages_sent"]["value"]
    # completion of the last step is the contact's completion time
    assert metrics["steps.COLD.day3.completion_p50_h"]["value"] >= 18


def test_default_tolerances() -> None:
    assert default_tolerance("summary.max_active_rows_per_contact") == (0, 0.0)
    assert default_tolerance("summary.messages_sent") == (0, 0.01)
    assert default_tolerance("summary.lateness_p95_s") == (60, 0.05)
    assert default_tolerance("steps.COLD.day3.lateness_max_s") == (60, 0.05)
    assert default_tolerance("summary.mean_completion_hours") == (0.25, 0.0)
    assert default_tolerance("steps.COLD.day3.completion_p95_h") == (0.25, 0.0)
    assert default_tolerance("daily.2025-07-01.sent") == (5, 0.02)
    assert DEFAULT_TOLERANCES[-1][0] == "*"


def test_custom_tolerances_by_pattern() -> None:
    data = record_baseline(burst(TINY), tolerances={"steps.*.lateness_*": {"abs": 600}})
    assert data["metrics"]["steps.COLD.day1.lateness_p95_s"]["abs"] == 600
    assert data["metrics"]["summary.lateness_p95_s"]["abs"] == 60
    with pytest.raises(BaselineError, match=r"tolerances\['summary.\*'\]: .*not valid"):
        record_baseline(burst(TINY), tolerances={"summary.*": {"abs": -1}})
    with pytest.raises(BaselineError, match=r"tolerances\['stpes.\*'\]: matches no metric"):
        record_baseline(burst(TINY), tolerances={"stpes.*": {"abs": 1}})


def test_several_seeds_record_the_mean_and_widen_by_the_spread(tmp_path: Path) -> None:
    data = record_baseline(burst(TINY), seeds=[1, 2, 3])
    assert data["seeds"] == [1, 2, 3]
    runs = [simulate(burst({**TINY, "simulation.seed": s}), progress=False) for s in (1, 2, 3)]
    sent = [r.summary["messages_sent"] for r in runs]
    entry = data["metrics"]["summary.messages_sent"]
    assert entry["value"] == pytest.approx(sum(sent) / 3)
    assert entry["seed_sd"] > 0
    assert entry["abs"] >= 3 * entry["seed_sd"] / 3**0.5 - 1e-6
    exact = data["metrics"]["summary.max_active_rows_per_contact"]
    assert exact["abs"] == 0 and exact["rel"] == 0
    path = write_baseline(tmp_path / "b.json", data)
    report = check_scenario(burst(TINY), path)
    assert report.ok and report.seeds == (1, 2, 3)
    with pytest.raises(BaselineError, match=r"seeds \[1, 2, 3\]"):
        compare_to_baseline(runs[0], path)


#: A world where only some seeds finish anyone: the burst arrives too late to
#: pass day 1, so the later steps (and completion times) have a value only in
#: the seeds whose rare Poisson arrivals came early (3, 5 and 7 of 1-8).
SOME_SEEDS_FINISH = {"workload.0.count": 2, "workload.0.at": "2025-07-02T20:00:00",
                     "workload.1.rate_per_hour": 0.1}


def test_a_metric_some_seeds_lack_is_widened_by_the_seeds_that_have_it() -> None:
    name = "summary.last_contact_finished_hours"
    runs = {s: simulate(burst({**SOME_SEEDS_FINISH, "simulation.seed": s}), progress=False)
            for s in (1, 3, 5, 7)}
    present = [r.summary["last_contact_finished_hours"] for r in runs.values()]
    present = [v for v in present if v is not None]
    assert len(present) == 3  # seed 1 finishes nobody
    entry = record_baseline(burst(SOME_SEEDS_FINISH), seeds=[1, 3, 5, 7])["metrics"][name]
    sd = statistics.stdev(present)
    assert entry["value"] == pytest.approx(statistics.fmean(present), abs=1e-6)
    assert entry["seed_sd"] == pytest.approx(sd, abs=1e-6)
    # The standard error of a mean over 3 values, not 4 (the seeds run).
    assert entry["abs"] == pytest.approx(3 * sd / 3**0.5, abs=1e-6)
    assert entry["abs"] > 3 * sd / 4**0.5 + 1


def test_a_metric_one_seed_has_records_no_spread() -> None:
    entry = record_baseline(burst(SOME_SEEDS_FINISH), seeds=[1, 2, 3])["metrics"][
        "summary.last_contact_finished_hours"]
    assert entry["value"] is not None  # seed 3's value, alone
    assert "seed_sd" not in entry  # one value has no spread (not a spread of 0)
    assert (entry["abs"], entry["rel"]) == default_tolerance("summary.last_contact_finished_hours")


def test_overrides_are_stored_and_reapplied(tmp_path: Path) -> None:
    scenario_file = write_burst(tmp_path)
    data = record_baseline(scenario_file, overrides=TINY)
    assert data["overrides"] == TINY
    assert data["metrics"]["summary.contacts_enrolled"]["value"] < 30
    path = write_baseline(tmp_path / "b.json", data)
    report = check_scenario(scenario_file, path)
    assert report.ok and not report.scenario_changed


# ------------------------------------------------------------------ comparing


def test_same_baseline_passes_on_a_second_run(recorded: Path) -> None:
    report = check_scenario(burst(), recorded)
    assert report.ok, report.format()
    assert not report.scenario_changed
    # a metric without data (nothing left unsent, say) is null both times: no change
    assert all(row.change in (0, 0.0) or row.baseline is row.now is None
               for row in report.rows)
    assert "PASS" in report.format()


def test_row_engine_gives_identical_metrics(tmp_path: Path) -> None:
    path = write_baseline(tmp_path / "tiny.json", record_baseline(burst(TINY)))
    row_scenario = burst({**TINY, "simulation.engine": "row"})
    assert scenario_fingerprint(row_scenario) == scenario_fingerprint(burst(TINY))
    report = check_scenario(row_scenario, path)
    assert report.ok, report.format()
    assert not report.scenario_changed
    assert report.engine == "row"
    assert all(row.change in (0, 0.0, None) for row in report.rows)
    batch = simulate(burst(TINY), progress=False)
    row = simulate(burst(TINY), engine="row", progress=False)
    assert result_metrics(batch) == result_metrics(row)


def test_step_delay_one_hour_later_fails(recorded: Path) -> None:
    report = check_scenario(burst({"sequences.COLD.delay_hours": [0, 7, 12]}), recorded)
    assert not report.ok
    failed = {row.name for row in report.failures}
    assert "summary.mean_completion_hours" in failed
    assert "steps.COLD.day2.completion_p50_h" in failed
    assert "steps.COLD.day3.completion_p50_h" in failed
    assert report.scenario_changes == ["sequences.COLD.delay_hours: [0, 6, 12] -> [0, 7, 12]"]
    text = report.format()
    assert "scenario changed since baseline" in text
    assert "steps.COLD.day2.completion_p50_h" in text
    row = next(r for r in report.rows if r.name == "steps.COLD.day2.completion_p50_h")
    assert row.change == pytest.approx(1, abs=0.01)


def test_one_device_removed_fails(recorded: Path) -> None:
    report = check_scenario(burst({"capacity.devices": 3}), recorded)
    assert not report.ok
    failed = {row.name for row in report.failures}
    assert "summary.lateness_max_s" in failed
    assert "summary.peak_backlog" in failed
    assert report.scenario_changes == ["capacity.devices: 4 -> 3"]
    text = report.format()
    for column in ("metric", "baseline", "now", "change", "tolerance"):
        assert column in text
    assert "summary.lateness_max_s" in text


def test_broken_engine_fails_naming_metric_and_invariant(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_engine(monkeypatch)
    report = check_scenario(burst(), recorded)
    assert not report.ok
    assert not report.scenario_changed
    row = next(r for r in report.rows if r.name == "summary.max_active_rows_per_contact")
    assert not row.ok and row.baseline == 1 and row.now >= 2
    assert any("more than one active row" in p for p in report.invariant_violations)
    text = report.format()
    assert "summary.max_active_rows_per_contact" in text
    assert "INVARIANT BROKEN" in text and "more than one active row" in text


def test_edited_tolerance_lets_a_change_pass(baseline_file: Path) -> None:
    def widen(data):
        for entry in data["metrics"].values():
            entry["abs"] = 1e9

    report = check_scenario(burst({"capacity.devices": 3}), edit(baseline_file, widen))
    assert report.ok
    assert report.scenario_changed
    assert "scenario changed since baseline" in report.format()


def test_update_rewrites_and_keeps_edited_tolerances(baseline_file: Path) -> None:
    def loosen(data):
        data["metrics"]["summary.lateness_max_s"]["abs"] = 12345

    edit(baseline_file, loosen)
    report = check_scenario(burst({"capacity.devices": 3}), baseline_file, update=True)
    assert not report.ok  # what moved is still reported
    data = json.loads(baseline_file.read_text())
    assert data["scenario"]["capacity"]["devices"] == 3
    assert data["metrics"]["summary.lateness_max_s"]["abs"] == 12345
    assert check_scenario(burst({"capacity.devices": 3}), baseline_file).ok
    fresh = baseline_file.with_name("new.json")
    assert check_scenario(burst(TINY), fresh, update=True).rows == []
    assert read_baseline(fresh).seeds == (7,)


def test_changed_scenario_with_other_metrics_still_compared(recorded: Path) -> None:
    scenario = burst({"sequences.COLD.days": [1, 2, 3, 4],
                      "sequences.COLD.delay_hours": [0, 6, 12, 1]})
    report = check_scenario(scenario, recorded)
    assert not report.ok
    assert report.scenario_changed
    new = [r for r in report.rows if r.note == "not in baseline"]
    assert {r.name for r in new} >= {"steps.COLD.day4.sent", "steps.COLD.day4.lateness_p50_s"}
    assert all(not r.ok for r in new)
    assert any(r.name == "summary.messages_sent" and not r.ok for r in report.rows)
    assert "not in baseline" in report.format()


def test_null_metric_only_matches_null(baseline_file: Path) -> None:
    def null(data):
        data["metrics"]["summary.lateness_p50_s"]["value"] = None

    report = check_scenario(burst(), edit(baseline_file, null))
    row = next(r for r in report.rows if r.name == "summary.lateness_p50_s")
    assert not row.ok and row.note == "no data in baseline"


# ------------------------------------------------------------------ bad files


def _drop_summary(data):
    del data["metrics"]["summary.lateness_p95_s"]


def _string_value(data):
    data["metrics"]["summary.messages_sent"]["value"] = "447"


def _bool_value(data):
    data["metrics"]["summary.messages_sent"]["value"] = True


def _negative_abs(data):
    data["metrics"]["summary.messages_sent"]["abs"] = -1


def _no_rel(data):
    del data["metrics"]["steps.COLD.day1.sent"]["rel"]


def _metric_not_object(data):
    data["metrics"]["summary.peak_backlog"] = 43


def _typo_key(data):
    data["metrics"]["summary.peak_backlog"]["tol"] = 1


def _version(data):
    data["version"] = 2


def _format(data):
    data["format"] = "something-else"


def _unknown_top(data):
    data["extra"] = 1


def _seeds(data):
    data["seeds"] = ["seven"]


def _nested_seeds(data):
    data["seeds"] = [[]]


def _no_seeds(data):
    del data["seeds"]


def _scenario_edited(data):
    data["scenario"]["capacity"]["devices"] = 5


def _metrics_list(data):
    data["metrics"] = []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop_summary, "metrics.summary.lateness_p95_s: missing"),
        (_string_value, 'metrics.summary.messages_sent.value: "447" is not valid; expected a '
                        "finite number"),
        (_bool_value, "metrics.summary.messages_sent.value: true is not valid"),
        (_negative_abs, "metrics.summary.messages_sent.abs: -1 is not valid; expected a finite "
                        "number >= 0"),
        (_no_rel, "metrics.steps.COLD.day1.sent.rel: missing"),
        (_metric_not_object, "metrics.summary.peak_backlog: 43 is not valid; expected an object"),
        (_typo_key, "metrics.summary.peak_backlog.tol: unknown key"),
        (_version, "version: 2 is not valid; expected 1"),
        (_format, 'format: "something-else" is not valid'),
        (_unknown_top, "extra: unknown key"),
        (_seeds, 'seeds: ["seven"] is not valid'),
        (_nested_seeds, "seeds: [[]] is not valid"),
        (_no_seeds, "seeds: missing"),
        (_scenario_edited, "scenario: does not match the fingerprint"),
        (_metrics_list, "metrics: [] is not valid"),
    ],
)
def test_hand_edited_file_is_rejected(baseline_file: Path, change, message: str) -> None:
    edit(baseline_file, change)
    with pytest.raises(BaselineError) as info:
        read_baseline(baseline_file)
    assert str(info.value).startswith(f"{baseline_file}: ")
    assert message in str(info.value)
    assert isinstance(info.value, ScenarioError) and isinstance(info.value, SeqsimError)
    with pytest.raises(BaselineError):
        check_scenario(burst(), baseline_file)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "seqsim-baseline",', "invalid JSON at line 1 column"),
        ("", "invalid JSON at line 1 column 1"),
        ("[1, 2]", "baseline: \"list\" is not valid"),
        ("{}", "format: missing"),
    ],
)
def test_not_a_baseline_is_rejected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(BaselineError, match=r"bad\.json: ") as info:
        read_baseline(path)
    assert message in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="file not found"):
        read_baseline(tmp_path / "none.json")


@pytest.mark.parametrize("which", ["steps.COLD.day2.sent", "daily.2025-07-02.sent"])
def test_deleted_metric_of_unchanged_scenario_is_bad_input(baseline_file: Path, which) -> None:
    edit(baseline_file, lambda data: data["metrics"].pop(which))
    read_baseline(baseline_file)  # a valid file on its own
    with pytest.raises(BaselineError, match=f"metrics.{which}: missing; the scenario is "
                                            "unchanged"):
        check_scenario(burst(), baseline_file)


def test_invented_metric_of_unchanged_scenario_is_bad_input(baseline_file: Path) -> None:
    def invent(data):
        data["metrics"]["steps.COLD.day9.sent"] = {"value": 1, "abs": 0, "rel": 0}

    with pytest.raises(BaselineError, match=r"steps\.COLD\.day9\.sent: unknown metric"):
        check_scenario(burst(), edit(baseline_file, invent))


# ------------------------------------------------------------------ identity, lookup


def test_fingerprint_ignores_engine_seed_and_trace_location(tmp_path: Path) -> None:
    assert scenario_fingerprint(burst()) == scenario_fingerprint(
        burst({"simulation.engine": "row", "simulation.seed": 99}))
    assert scenario_fingerprint(burst()) != scenario_fingerprint(burst({"capacity.devices": 3}))
    trace = ROOT / "data" / "traces" / "sample.csv"
    fingerprints = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(trace, folder / "sample.csv")
        fingerprints.append(scenario_fingerprint(Scenario.from_dict({
            "simulation": {"start": "2025-07-01T00:00:00", "duration": "3d"},
            "sequences": [{"name": "COLD", "trigger": "cold", "days": [1, 2]},
                          {"name": "WARM", "trigger": "warm", "days": [1]}],
            "workload": [{"kind": "trace", "path": str(folder / "sample.csv")}],
        })))
    assert fingerprints[0] == fingerprints[1]


def test_baseline_path_lookup(tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    scenario = scenarios / "x.toml"
    assert baseline_path_for(scenario) is None
    assert baseline_path_for(scenario, existing=False) == scenarios / "x.baseline.json"
    (tmp_path / "baselines").mkdir()
    assert baseline_path_for(scenario, existing=False) == tmp_path / "baselines" / "x.json"
    (tmp_path / "baselines" / "x.json").write_text("{}")
    assert baseline_path_for(scenario) == tmp_path / "baselines" / "x.json"
    (scenarios / "x.baseline.json").write_text("{}")
    assert baseline_path_for(scenario) == scenarios / "x.baseline.json"
    assert baseline_path_for(scenario, tmp_path / "elsewhere") is None
    assert baseline_path_for(scenario, tmp_path / "elsewhere", existing=False) == (
        tmp_path / "elsewhere" / "x.json")


@pytest.mark.parametrize(
    ("scenario", "shared"),
    [
        ("data/scenarios/x.toml", "data/baselines/x.json"),
        ("scenarios/x.toml", "baselines/x.json"),
        ("x.toml", "../baselines/x.json"),
        ("../x.toml", "../../baselines/x.json"),
        ("/abs/scenarios/x.toml", "/abs/baselines/x.json"),
    ],
)
def test_baseline_candidates_relative_paths(scenario: str, shared: str) -> None:
    beside, found = baseline_candidates(scenario)
    assert found == Path(shared)
    assert beside == Path(scenario).with_name("x.baseline.json")


def test_bad_stored_override_names_the_file(baseline_file: Path) -> None:
    edit(baseline_file, lambda data: data.update(overrides={"capacity.devics": 3}))
    with pytest.raises(BaselineError, match=r"burst\.json: overrides: capacity\.devics: unknown"):
        check_scenario(burst(), baseline_file)


# ------------------------------------------------------------------ older baselines


def test_new_metric_tolerances() -> None:
    assert default_tolerance("summary.early_sends") == (0, 0.0)
    assert default_tolerance("summary.drift_hours_p50") == (0.25, 0.0)
    assert default_tolerance("summary.drift_hours_max") == (0.25, 0.0)
    assert default_tolerance("summary.max_messages_per_contact_per_hour") == (0, 0.01)
    assert default_tolerance("summary.skipped_steps") == (0, 0.01)
    assert set(NEW_METRICS) <= {f"summary.{key}" for key in SUMMARY_KEYS}


def _drop_new_metrics(data):
    for name in NEW_METRICS:
        del data["metrics"][name]


def test_old_baseline_without_the_new_metrics_still_passes(baseline_file: Path) -> None:
    edit(baseline_file, _drop_new_metrics)
    assert not set(NEW_METRICS) & set(read_baseline(baseline_file).metrics)
    report = check_scenario(burst(), baseline_file)
    assert report.ok, report.format()
    assert not report.scenario_changed
    new = {r.name: r for r in report.rows if r.name in NEW_METRICS}
    assert set(new) == set(NEW_METRICS)
    assert all(r.ok and r.note == "new metric; re-record to track it" and r.baseline is None
               for r in new.values())
    assert new["summary.early_sends"].now == 0
    assert "new metric; re-record to track it" in report.format(verbose=True)
    # an old metric deleted by hand is still bad input
    edit(baseline_file, lambda data: data["metrics"].pop("summary.peak_backlog"))
    with pytest.raises(BaselineError, match=r"metrics\.summary\.peak_backlog: missing"):
        check_scenario(burst(), baseline_file)


def test_update_adds_the_new_metrics(baseline_file: Path) -> None:
    edit(baseline_file, _drop_new_metrics)
    check_scenario(burst(), baseline_file, update=True)
    metrics = read_baseline(baseline_file).metrics
    assert set(NEW_METRICS) <= set(metrics)
    assert metrics["summary.early_sends"].abs == 0


def test_identity_leaves_out_new_policy_keys_at_their_default() -> None:
    policy = scenario_identity(burst())["policy"]
    assert policy == {"strategy": "one_by_one", "delay_from": "next_step",
                      "progress_on": "delivery"}
    # the defaults left out are what Scenario.to_dict() writes for them
    written = burst().to_dict()["policy"]
    assert {key: written[key] for key in _NEW_POLICY_DEFAULTS} == _NEW_POLICY_DEFAULTS
    assert scenario_fingerprint(burst()) == _fingerprint({
        **scenario_identity(burst()), "policy": policy})


def test_identity_keeps_new_policy_keys_that_are_set(recorded: Path) -> None:
    changed = burst({"policy.catch_up": "skip_stale", "policy.stale_after": "12h",
                     "policy.outages": [{"start": "2025-07-01T06:00:00", "duration": "2h"}]})
    policy = scenario_identity(changed)["policy"]
    assert policy["catch_up"] == "skip_stale" and policy["stale_after"] == "12h"
    assert policy["outages"] == [{"start": "2025-07-01T06:00:00", "end": "2025-07-01T08:00:00"}]
    assert "daily_cap" not in policy
    assert scenario_fingerprint(changed) != scenario_fingerprint(burst())
    assert scenario_changes(scenario_identity(burst()), scenario_identity(changed)) == [
        'policy.catch_up: (absent) -> "skip_stale"',
        'policy.outages.0.end: (absent) -> "2025-07-01T08:00:00"',
        'policy.outages.0.start: (absent) -> "2025-07-01T06:00:00"',
        'policy.stale_after: (absent) -> "12h"',
    ]
    # explicitly set to the default: the same scenario as before
    assert scenario_fingerprint(burst({"policy.catch_up": "burst"})) == scenario_fingerprint(
        burst())
    report = check_scenario(burst({"policy.daily_cap": "rolling"}), recorded)
    assert report.ok and not report.scenario_changed


# ------------------------------------------------------------------ hostile files


def _text_edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def test_deeply_nested_json_is_one_error(baseline_file: Path) -> None:
    _text_edit(baseline_file, '"overrides": {}', '"overrides": ' + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(BaselineError, match=r"burst\.json: invalid JSON: nested too deeply; "
                       r"expected a seqsim baseline"):
        read_baseline(baseline_file)


@pytest.mark.parametrize("field", ["value", "abs"])
def test_a_400_digit_number_is_one_short_error(baseline_file: Path, field: str) -> None:
    edit(baseline_file, lambda data: data["metrics"]["summary.peak_backlog"].update(
        {field: int("9" * 400)}))
    with pytest.raises(BaselineError, match=rf"burst\.json: metrics\.summary\.peak_backlog\."
                       rf"{field}: 9{{60}}… is not valid; expected a finite number") as info:
        read_baseline(baseline_file)
    assert len(str(info.value)) - len(str(baseline_file)) < 200


def test_an_integer_too_long_to_parse_is_one_error(baseline_file: Path) -> None:
    _text_edit(baseline_file, '"seeds": [', '"seeds": [' + "9" * 5000 + ", ")
    with pytest.raises(BaselineError, match=r"burst\.json: invalid JSON: .*digits"):
        read_baseline(baseline_file)


def test_duplicate_keys_are_an_error_not_the_last_one_wins(baseline_file: Path) -> None:
    _text_edit(baseline_file, '"seeds": [', '"seeds": [1], "seeds": [')
    with pytest.raises(BaselineError, match=r"burst\.json: invalid JSON: key 'seeds' appears "
                       r"twice in one object; expected each key once"):
        read_baseline(baseline_file)


def test_a_seed_beyond_int64_is_rejected(baseline_file: Path) -> None:
    edit(baseline_file, lambda data: data.update(seeds=[2**70]))
    with pytest.raises(BaselineError, match=r"seeds: \[1180591620717411303424\] is not valid; "
                       r"expected a non-empty list of distinct integers from 0 to 2\*\*63 - 1"):
        read_baseline(baseline_file)


@pytest.mark.parametrize(
    ("override", "message"),
    [({"capacity.hourly_limit": 2**31}, r"capacity\.hourly_limit: 2147483648 is not valid; "
      r"expected a whole number from 0 to 2,147,483,647"),
     ({"capacity.devices": 10**30}, r"capacity\.devices: 10{30} is not valid; expected a whole "
      r"number of devices from 1 to 100,000"),
     ({"simulation.poll_interval": "0.000001s"}, r"simulation\.poll_interval: '0\.000001s' is "
      r"not valid; expected at most 10,000,000 polls")],
)
def test_overrides_out_of_range_are_one_error(baseline_file: Path, override, message) -> None:
    edit(baseline_file, lambda data: data.update(overrides=override))
    with pytest.raises(BaselineError, match=rf"burst\.json: overrides: {message}"):
        check_scenario(burst(), baseline_file)
