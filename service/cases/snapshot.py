"""A case as read, turned into the typed snapshot the transition planner reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.context import AppContext
from service.deadlines.service import warnings_from_json
from service.deadlines.views import instant, listed
from workflows.deadlines import DeadlineStatus, OpenDeadline
from workflows.lifecycle import CaseState
from workflows.org import Channel
from workflows.referrals import ReferralStatus
from workflows.transition import CaseSnapshot, OpenReferral, Planning
from workflows.vocab import DisputeType, ReferralKind

_LIVE = {DeadlineStatus.active.value, DeadlineStatus.paused.value, DeadlineStatus.breached.value}


def planning(ctx: AppContext) -> Planning:
    return Planning(ctx.org, ctx.policies, ctx.calendar, ctx.settings.court_lease_minutes)


def _clock(item: Mapping[str, Any]) -> OpenDeadline:
    # A breached clock still runs until the case moves on; to the planner it is simply active.
    paused = item["status"] == DeadlineStatus.paused.value
    started_at, due_at = instant(item["started_at"]), instant(item["due_at"])
    assert started_at is not None and due_at is not None, "a clock always has a start and a due instant"
    return OpenDeadline(
        id=item["id"],
        kind=item["kind"],
        status=DeadlineStatus.paused if paused else DeadlineStatus.active,
        started_at=started_at,
        due_at=due_at,
        paused_at=instant(item.get("paused_at")),
        warnings=warnings_from_json(listed(item.get("warnings"))),
    )


def snapshot(row: Any) -> CaseSnapshot:
    """``row``: a case as ``queries.case_select`` reads it (with its clocks and open referrals)."""
    live = [d for d in listed(row.deadlines) if d["status"] in _LIVE]
    return CaseSnapshot(
        id=row.id,
        number=row.number,
        version=row.version,
        last_event_hash=row.last_event_hash,
        state=CaseState(row.state),
        unit_code=row.unit_code,
        channel=Channel(row.channel),
        dispute_type=DisputeType(row.dispute_type),
        returns_to_code=row.returns_to_code,
        court_linked=bool(row.court_linked),
        claimed_by=row.claimed_by,
        court_procedure=row.court_procedure,
        agreement=row.agreement,
        clocks=tuple(_clock(d) for d in sorted(live, key=lambda d: d["id"])),
        breached_clocks=frozenset(d["id"] for d in live if d["status"] == DeadlineStatus.breached.value),
        referrals=tuple(
            OpenReferral(
                id=r["id"],
                kind=ReferralKind(r["kind"]),
                status=ReferralStatus(r["status"]),
                from_unit_code=r["from_unit_code"],
                to_unit_code=r["to_unit_code"],
            )
            for r in sorted(listed(row.open_referrals), key=lambda r: r["id"])
        ),
    )
