"""A case as read, turned into the typed snapshot the transition planner reads."""

from __future__ import annotations

from service.cases.rows import CaseRow, recorded
from service.context import AppContext
from service.deadlines.rows import DeadlineRow
from workflows.deadlines import DeadlineStatus, OpenDeadline
from workflows.intake import PartyRef
from workflows.transition import CaseSnapshot, Planning

_LIVE = (DeadlineStatus.active, DeadlineStatus.paused, DeadlineStatus.breached)


def planning(ctx: AppContext) -> Planning:
    return Planning(ctx.org, ctx.policies, ctx.calendar, ctx.settings.court_lease_minutes)


def _clock(row: DeadlineRow) -> OpenDeadline:
    # A breached clock still runs until the case moves on; to the planner it is simply active.
    paused = row.status == DeadlineStatus.paused
    return OpenDeadline(
        id=row.id,
        kind=row.kind,
        status=DeadlineStatus.paused if paused else DeadlineStatus.active,
        started_at=row.started_at,
        due_at=row.due_at,
        paused_at=row.paused_at,
        warnings=row.warnings,
    )


def snapshot(row: CaseRow) -> CaseSnapshot:
    """``row``: a case as ``queries.case_select`` reads it (its clocks and open referrals in id order)."""
    live = [d for d in row.deadlines if d.status in _LIVE]
    return CaseSnapshot(
        id=row.id,
        number=row.number,
        version=row.version,
        last_event_hash=row.last_event_hash,
        state=row.state,
        unit_code=row.unit_code,
        channel=row.channel,
        dispute_type=row.dispute_type,
        returns_to_code=row.returns_to_code,
        court_linked=row.court_linked,
        claimed_by=row.claimed_by,
        court_procedure=row.court_procedure,
        agreement=row.agreement,
        clocks=tuple(_clock(d) for d in live),
        breached_clocks=frozenset(d.id for d in live if d.status == DeadlineStatus.breached),
        referrals=row.open_referrals,
        senders=row.senders,
        party_names=tuple(p.name for p in row.parties),
        recorded=recorded(row),
        prior_proceedings=row.prior_proceedings,
        consents=tuple(row.consents or ()),
        parties=tuple(PartyRef(p.id, p.name, p.role) for p in row.parties),
    )
