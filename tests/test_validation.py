"""Tests of seqsim.validation: how every rejection shows values and keys."""

from __future__ import annotations

import re

import pytest

from seqsim.cli.main import main
from seqsim.errors import ScenarioError
from seqsim.model.scenario import Scenario
from seqsim.validation import SHOW_LIMIT, fail, show, show_key
from tests.test_scenario import base_dict, with_key


def test_show_cuts_a_long_value_and_keeps_a_short_one() -> None:
    assert show("cold") == "'cold'"
    long = show("x" * 5000)
    assert long == "'" + "x" * (SHOW_LIMIT - 1) + "…"
    assert show(list(range(3))) == "[0, 1, 2]"


@pytest.mark.parametrize(
    ("name", "shown"),
    [("capacity.devices", "capacity.devices"), ("workload[0].end", "workload[0].end"),
     (" ", "' '"), ("", "''"), ("a key", "'a key'"), ("k" * 100, "'" + "k" * 59 + "…")],
)
def test_show_key_quotes_what_is_not_a_bare_key(name: str, shown: str) -> None:
    assert show_key(name) == shown


def test_fail_message_of_a_huge_value_is_one_short_line() -> None:
    message = str(fail("capacity.devices", "x" * 5000, "a whole number"))
    assert len(message) < 150
    assert message.startswith("capacity.devices: 'xxx")
    assert message.endswith("… is not valid; expected a whole number")


def test_a_huge_value_in_a_scenario_is_shortened() -> None:
    with pytest.raises(ScenarioError, match=r"^sequences\.COLD\.next: 'y+… is not valid") as e:
        Scenario.from_dict(with_key("sequences", "next", "y" * 5000))
    assert len(str(e.value)) < 200


def test_a_huge_sequence_name_is_shortened_in_its_key() -> None:
    with pytest.raises(ScenarioError, match=r"^sequences\.'N+…\.days") as e:
        Scenario.from_dict(
            base_dict(sequences=[{"name": "N" * 5000, "trigger": "cold", "days": "x"}]))
    assert len(str(e.value)) < 250


@pytest.mark.parametrize(("table", "shown"), [(None, "' '"), ("capacity", "capacity.' '")])
def test_a_blank_key_reads_as_a_quoted_key(table: str | None, shown: str) -> None:
    d = base_dict()
    (d if table is None else d.setdefault(table, {}))[" "] = 3
    with pytest.raises(ScenarioError, match=rf"^{shown}: unknown key; expected one of "):
        Scenario.from_dict(d)


def test_cli_prints_one_short_line_for_a_5000_character_value(capsys) -> None:
    status = main(["run", "data/scenarios/baseline.toml", "--set",
                   "capacity.devices=" + "x" * 5000])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and len(err) < 200
    assert err.startswith("seqsim: error: capacity.devices: 'xxx")


@pytest.mark.parametrize(
    ("flag", "message"),
    [("0\n0=1", r"'0\\n0': unknown key; expected one of 'simulation', "),
     ("capacity.dev ices=1", r"'capacity\.dev ices': unknown key; did you mean 'devices'\?"),
     ("k" * 500 + "=1", r"'k{59}…: unknown key")],
)
def test_cli_shows_a_strange_set_key_quoted_on_one_line(flag: str, message: str,
                                                        capsys) -> None:
    # Found by the --set fuzz: a key with a newline printed a two-line error.
    assert main(["run", "data/scenarios/baseline.toml", "--set", flag]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.match("seqsim: error: " + message, err)
