from __future__ import annotations

import pytest

from seqsim.errors import ScenarioError, SeqsimError, SequenceDefinitionError
from seqsim.model.sequence import SequenceConfig, check_chains, default_delay_hours, step_trigger


def test_default_delays_are_day_gaps_times_24() -> None:
    assert default_delay_hours((1, 3, 6, 9)) == (0, 48, 72, 72)
    assert default_delay_hours((2, 5, 10)) == (0, 72, 120)
    assert SequenceConfig("S", "s", [1, 3, 6, 9]).delay_hours == (0, 48, 72, 72)


def test_explicit_delays_and_step_triggers() -> None:
    seq = SequenceConfig("T", "test", (0, 1, 2, 3), delay_hours=[0, 12, 12, 12])
    assert seq.days == (0, 1, 2, 3)
    assert seq.delay_hours == (0, 12, 12, 12)
    assert seq.step_triggers == ("test_day0", "test_day1", "test_day2", "test_day3")
    assert step_trigger("cold", 3) == "cold_day3"


def test_whole_float_delays_are_accepted_as_ints() -> None:
    assert SequenceConfig("S", "s", (1, 2), delay_hours=(0.0, 24.0)).delay_hours == (0, 24)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"days": ()}, r"sequences\.S\.days: \[\] is not valid; a sequence needs at least one"),
        ({"days": (1, 3, 3)}, r"sequences\.S\.days: \[1, 3, 3\] .*strictly increasing"),
        ({"days": (3, 1)}, r"strictly increasing \(day 1 follows day 3\)"),
        ({"days": (-1, 2)}, r"sequences\.S\.days\[0\]: -1 .*day number from 0 to 3,650"),
        ({"days": (1, 100_000_000)},
         r"^sequences\.S\.days\[1\]: 100000000 is not valid; expected a day number from 0 to "
         r"3,650$"),
        ({"days": (1, "3")}, r"sequences\.S\.days\[1\]: '3' is not valid"),
        ({"days": "1,3"}, r"sequences\.S\.days: '1,3' is not valid; expected a list"),
        ({"delay_hours": (0, -24)}, r"sequences\.S\.delay_hours\[1\]: -24 .*hours from 0 to"),
        ({"delay_hours": (0, 2**31)},
         r"^sequences\.S\.delay_hours\[1\]: 2147483648 is not valid; expected hours from 0 to "
         r"87,600$"),
        ({"days": (1, 2, 3), "delay_hours": (0, 50_000, 50_000)},
         r"^sequences\.S\.delay_hours: \[0, 50000, 50000\] is not valid; expected hours adding "
         r"up to at most 87,600 \(10 years\), not 100,000$"),
        ({"delay_hours": (0, 1.5)}, r"sequences\.S\.delay_hours\[1\]: 1\.5 .*whole numbers"),
        ({"delay_hours": (0,)}, r"sequences\.S\.delay_hours: \[0\] .*one value per step"),
        ({"trigger": ""}, r"sequences\.S\.trigger: '' is not valid"),
        ({"trigger": "a,b"}, r"sequences\.S\.trigger: 'a,b' .*without commas"),
        ({"min_delay_seconds": -1}, r"sequences\.S\.min_delay_seconds: -1 .*seconds from 0"),
        ({"min_delay_seconds": 1e12, "max_delay_seconds": 1e12},
         r"^sequences\.S\.min_delay_seconds: 1000000000000\.0 is not valid; expected seconds "
         r"from 0 to 86,400 \(a day\)$"),
        ({"max_delay_seconds": 86_401},
         r"^sequences\.S\.max_delay_seconds: 86401 is not valid; expected seconds from 0 to "
         r"86,400 \(a day\)$"),
        ({"min_delay_seconds": 20}, r"min_delay_seconds: 20 .*<= max_delay_seconds"),
        ({"next": ""}, r"sequences\.S\.next: '' is not valid"),
        ({"is_active": "yes"}, r"sequences\.S\.is_active: 'yes'"),
    ],
)
def test_bad_definitions_name_the_field(kwargs: dict, match: str) -> None:
    args = {"name": "S", "trigger": "s", "days": (1, 2)} | kwargs
    with pytest.raises(SequenceDefinitionError, match=match) as info:
        SequenceConfig(**args)
    assert isinstance(info.value, ScenarioError)
    assert isinstance(info.value, SeqsimError)
    assert isinstance(info.value, ValueError)


def test_empty_name_rejected() -> None:
    with pytest.raises(SequenceDefinitionError, match=r"\.name: '' is not valid"):
        SequenceConfig("", "s", (1,))


def test_chain_to_missing_sequence() -> None:
    cold = SequenceConfig("COLD", "cold", (1, 3), next="WARM")
    with pytest.raises(SequenceDefinitionError, match=r"sequences\.COLD\.next: 'WARM' .*no such"):
        check_chains([cold])


def test_chain_cycle() -> None:
    seqs = [
        SequenceConfig("COLD", "cold", (1,), next="WARM"),
        SequenceConfig("WARM", "warm", (1,), next="HOT"),
        SequenceConfig("HOT", "hot", (1,), next="COLD"),
    ]
    with pytest.raises(SequenceDefinitionError, match=r"cycle \(COLD -> WARM -> HOT -> COLD\)"):
        check_chains(seqs)


def test_self_chain_is_a_cycle() -> None:
    with pytest.raises(SequenceDefinitionError, match=r"cycle \(A -> A\)"):
        check_chains([SequenceConfig("A", "a", (1,), next="A")])


def test_duplicate_names_and_triggers() -> None:
    with pytest.raises(SequenceDefinitionError, match=r"sequences\.A\.name: 'A' .*unique"):
        check_chains([SequenceConfig("A", "a", (1,)), SequenceConfig("A", "b", (1,))])
    with pytest.raises(SequenceDefinitionError, match=r"sequences\.B\.trigger: 'a' .*already"):
        check_chains([SequenceConfig("A", "a", (1,)), SequenceConfig("B", "a", (1,))])


def test_valid_chain_passes() -> None:
    check_chains(
        [
            SequenceConfig("COLD", "cold", (1, 3), next="WARM"),
            SequenceConfig("WARM", "warm", (1, 2), next="HOT"),
            SequenceConfig("HOT", "hot", (1,)),
        ]
    )
