"""Random sequences driven by random enrolments, clock moves and completions.

A hypothesis state machine keeps a plain-Python model of where every contact
should be and checks the engine's tables against it, and the invariants,
after every operation.
"""

from __future__ import annotations

import os
from datetime import timedelta

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from seqsim.engine import row, row_send
from seqsim.model.sequence import SequenceConfig
from seqsim.testing import invariant_violations
from tests.conftest import T0, make_db, table
from tests.strategies import day_numbers


@st.composite
def sequence_sets(draw: st.DrawFn) -> list[SequenceConfig]:
    n = draw(st.integers(1, 3))
    seqs = []
    for i in range(n):
        days = draw(day_numbers(max_steps=8, max_gap=5, max_first=3))
        steps = len(days)
        delays = draw(st.lists(st.integers(0, 72), min_size=steps, max_size=steps))
        chain = i + 1 < n and draw(st.booleans())
        seqs.append(
            SequenceConfig(f"S{i}", f"s{i}", days, delay_hours=delays,
                           next=f"S{i + 1}" if chain else None)
        )
    return seqs


class RowEngine(RuleBasedStateMachine):
    @initialize(seqs=sequence_sets())
    def setup(self, seqs: list[SequenceConfig]) -> None:
        self.seqs = seqs
        self.con = make_db(seqs)
        self.now = T0
        self.leads = 0
        # (phone, sequence index) -> step index reached, or "done"/"failed"
        self.model: dict[tuple[str, int], object] = {}
        self.due_at: dict[tuple[str, int], object] = {}

    def _enter(self, phone: str, i: int) -> None:
        if (phone, i) not in self.model:
            self.model[(phone, i)] = 0
            self.due_at[(phone, i)] = self.now

    @rule(which=st.integers(0, 2), trigger_all=st.booleans())
    def add_lead(self, which: int, trigger_all: bool) -> None:
        self.leads += 1
        phone = f"+{self.leads:04d}"
        idx = [i for i in range(len(self.seqs)) if trigger_all or i == which % len(self.seqs)]
        from seqsim.engine import schema

        schema.add_lead(self.con, phone, ",".join(self.seqs[i].trigger for i in idx),
                        device_id="dev-001", created_at=self.now)
        got = row.enroll_lead(self.con, phone, now=self.now)
        assert all(e.enrolled for e in got) and len(got) == len(idx)
        for i in idx:
            self._enter(phone, i)

    @rule(phone_no=st.integers(1, 50), which=st.integers(0, 2))
    def reenrol(self, phone_no: int, which: int) -> None:
        if phone_no > self.leads:
            return
        seq = self.seqs[which % len(self.seqs)]
        phone = f"+{phone_no:04d}"
        result = row.enroll(self.con, seq.name, phone, now=self.now)
        key = (phone, which % len(self.seqs))
        assert result.enrolled == (key not in self.model)
        if result.enrolled:
            self._enter(*key)

    @rule(hours=st.integers(0, 80), minutes=st.integers(0, 59))
    def advance(self, hours: int, minutes: int) -> None:
        self.now += timedelta(hours=hours, minutes=minutes)

    @rule(batch=st.integers(1, 20), actions=st.lists(st.sampled_from("ccfsd"), max_size=20),
          max_retries=st.integers(0, 2))
    def poll(self, batch: int, actions: list[str], max_retries: int) -> None:
        due = row_send.due_rows(self.con, batch, now=self.now)
        expected = sorted(
            (d, k[1], k[0]) for k, d in self.due_at.items()
            if isinstance(self.model[k], int) and d <= self.now
        )[:batch]
        assert [(r.next_trigger_time, r.sequence_id - 1, r.contact_phone) for r in due] == expected
        for r, action in zip(due, actions, strict=False):
            key = (r.contact_phone, r.sequence_id - 1)
            if action == "s":
                continue
            assert row_send.claim(self.con, r.id, "dev-001", now=self.now)
            assert not row_send.claim(self.con, r.id, "dev-001", now=self.now)
            if action == "d":  # claimed, still sending: stays out of later polls
                self.due_at[key] = None
                self.model[key] = ("claimed", self.model[key], r.id)
                continue
            if action == "f":
                status = row_send.fail_step(self.con, r.id, "boom", max_retries, now=self.now)
                if status == "failed":
                    self.model[key] = "failed"
                continue
            self._complete(key, r.id)

    @rule()
    def deliver_claimed(self) -> None:
        for key, state in list(self.model.items()):
            if isinstance(state, tuple):
                self.model[key] = state[1]
                self._complete(key, state[2])

    def _complete(self, key: tuple[str, int], row_id: int) -> None:
        adv = row.complete_step(self.con, row_id, now=self.now)
        assert adv.completed
        seq = self.seqs[key[1]]
        step = self.model[key] + 1
        if step < len(seq.days):
            self.model[key] = step
            self.due_at[key] = self.now + timedelta(hours=seq.delay_hours[step])
        else:
            self.model[key] = "done"
            self.due_at[key] = None
            if seq.next is not None:
                nxt = int(seq.next[1:])
                assert adv.chained is not None and adv.chained.enrolled == (
                    (key[0], nxt) not in self.model
                )
                self._enter(key[0], nxt)

    @invariant()
    def tables_match_the_model(self) -> None:
        if not hasattr(self, "con"):
            return
        contacts = table(self.con, "sequence_contacts")
        assert invariant_violations(contacts, table(self.con, "sequence_steps")) == []
        active = contacts[contacts.status == "active"]
        got = {(r.contact_phone, r.sequence_id - 1): r.current_step for r in active.itertuples()}
        want = {}
        for (phone, i), state in self.model.items():
            step = state[1] if isinstance(state, tuple) else state
            if isinstance(step, int):
                want[(phone, i)] = self.seqs[i].days[step]
        assert got == want
        failed = set(
            (r.contact_phone, r.sequence_id - 1)
            for r in contacts[contacts.status == "failed"].itertuples()
        )
        assert failed == {k for k, s in self.model.items() if s == "failed"}


RowEngine.TestCase.settings = settings(
    # The default budget keeps `make test` short; `make test-deep` raises it.
    max_examples=int(os.environ.get("SEQSIM_HYPOTHESIS_EXAMPLES", "20")),
    stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRowEngine = RowEngine.TestCase
