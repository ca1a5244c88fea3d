"""``affects_referrals`` is the promise the sweep's batches rely on: when it says an event leaves
the referral records alone, ``on_case_event`` really touches nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from service.referrals.service import affects_referrals, on_case_event
from workflows.lifecycle import TRANSITIONS

NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)
CASE = {"id": 1, "number": "KS-2026-000001", "unit_code": "320583106", "agreement": None}


class NoDatabase:
    """A connection that fails the test if anything is executed on it."""

    async def execute(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("on_case_event wrote although affects_referrals said it would not")


# Every move of the lifecycle table that affects_referrals says leaves the referrals alone.
QUIET = sorted(
    {
        (rule.trigger.value, source, rule.dest)
        for rule in TRANSITIONS
        for source in rule.source
        if not affects_referrals(rule.trigger.value, source, rule.dest)
    },
    key=lambda move: (move[0], move[1].value, move[2].value),
)


@pytest.mark.parametrize(("event", "source", "dest"), QUIET)
async def test_events_said_to_leave_referrals_alone_do(event: str, source: Any, dest: Any) -> None:
    await on_case_event(
        NoDatabase(),  # type: ignore[arg-type]
        case=CASE,
        event=event,
        payload={},
        from_state=source,
        to_state=dest,
        from_unit="320583106005",
        actor="system",
        reason=None,
        now=NOW,
        court_desk="COURT-320583-DESK",
    )


def test_escalation_is_among_them() -> None:
    assert not affects_referrals(
        "escalate", *next((r.source[0], r.dest) for r in TRANSITIONS if r.trigger.value == "escalate")
    )
