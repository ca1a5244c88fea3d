"""The court reconciliation (诉调对接对账): for a month and a unit, the court's 委托 / 委派
delegations and their returns as the court desk recorded them (its referral records: offered,
answered, completed with a result) against what the bureau's side recorded (the cases' events: the
``delegate`` that brought the case to the unit and the event that sent it back or ended it there;
and cases registered with the source 法院移送). Each delegation is paired with the case's n-th
``delegate`` event; a mismatch is a record on one side only, or a different day (Asia/Shanghai)
of delegation or return, or a different outcome.

Readers: coordinators (their subtree), auditors and administrators.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from service.context import AppContext
from service.errors import Forbidden, NotFound, field_error
from service.filings import queries
from service.filings.schemas import BureauSide, CourtSide, Reconciliation, ReconciliationRow
from service.stats.queries import Period
from workflows.calendar import SHANGHAI
from workflows.lifecycle import Actor, Role
from workflows.vocab import Source

READERS = {Role.coordinator, Role.auditor, Role.admin}
# The events that end a delegation at the unit: the case leaves it or its mediation ends there.
RETURN_STATES = frozenset({"settled", "terminated", "closed", "referred"})
RETURN_TRIGGERS = frozenset({"decline", "return_referral"})


def _day(at: datetime | None) -> date | None:
    return at.astimezone(SHANGHAI).date() if at is not None else None


def units_of(actor: Actor, ctx: AppContext, unit: str) -> frozenset[str] | None:
    """The subtree reconciled: 403 for other roles, 422 for an unknown unit, 404 outside scope."""
    if actor.role not in READERS:
        raise Forbidden(f"The {actor.role} role does not reconcile the court's records.")
    if unit not in ctx.org:
        raise field_error("query.unit", f"no unit with code {unit!r}")
    if actor.role == Role.coordinator and unit not in ctx.org.subtree(actor.unit_code):
        raise NotFound(f"Unit {unit} is not within your scope.")
    subtree = ctx.org.subtree(unit)
    return None if len(subtree) == len(ctx.org) else subtree


def court_side(ref: Mapping[Any, Any]) -> CourtSide:
    result = ref["result"] or {}
    returned = ref["completed_at"] or (
        ref["responded_at"] if ref["status"] not in ("offered", "accepted") else None
    )
    outcome = (
        result.get("state")
        if ref["status"] == "completed"
        else (ref["status"] if ref["status"] not in ("offered", "accepted") else None)
    )
    return CourtSide(
        referral_id=ref["id"],
        kind=ref["kind"],
        court_case_number=(ref["payload"] or {}).get("court_case_number"),
        delegated_on=ref["offered_at"].astimezone(SHANGHAI).date(),
        to_unit_code=ref["to_unit_code"],
        status=ref["status"],
        returned_on=_day(returned),
        outcome=outcome,
    )


def bureau_sides(case_events: Sequence[Mapping[Any, Any]]) -> list[BureauSide]:
    """Each ``delegate`` event of a case with the first event after it that ended the delegation
    (a decline or return: outcome ``declined`` / ``returned``; otherwise the state it reached)."""
    sides: list[BureauSide] = []
    for i, event in enumerate(case_events):
        if event["trigger"] != queries.DELEGATE:
            continue
        back = None
        for later in case_events[i + 1 :]:
            if later["trigger"] == queries.DELEGATE:
                break
            if later["trigger"] in RETURN_TRIGGERS or later["to_state"] in RETURN_STATES:
                back = later
                break
        outcome = None
        if back is not None:
            outcome = {"decline": "declined", "return_referral": "returned"}.get(
                back["trigger"], back["to_state"]
            )
        sides.append(
            BureauSide(
                delegated_on=_day(event["at"]),
                to_unit_code=event["to_unit_code"],
                registered_from_court=False,
                returned_on=_day(back["at"]) if back is not None else None,
                outcome=outcome,
            )
        )
    return sides


def compare(court: CourtSide | None, bureau: BureauSide | None) -> list[str]:
    if court is None:
        return ["only_bureau"]
    if bureau is None:
        return ["only_court"]
    found = []
    if court.delegated_on != bureau.delegated_on:
        found.append("delegated_on")
    if court.returned_on != bureau.returned_on:
        found.append("returned_on")
    if court.outcome != bureau.outcome:
        found.append("outcome")
    return found


def _touches(month: str, *days: date | None) -> bool:
    return any(d is not None and d.strftime("%Y-%m") == month for d in days)


async def reconcile(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, unit: str, month: str
) -> Reconciliation:
    units = units_of(actor, ctx, unit)
    period = Period.month(month, "query.month")
    label = period.months()[0]
    async with engine.connect() as conn:
        ids = await queries.touched_cases(conn, units, period.start_at, period.end_at)
        refs = await queries.delegation_referrals(conn, ids)
        events = await queries.case_events(conn, ids)
        found = await queries.case_rows(conn, ids)
    by_case_refs: dict[int, list[Mapping[Any, Any]]] = defaultdict(list)
    for ref in refs:
        by_case_refs[int(ref["case_id"])].append(ref)
    by_case_events: dict[int, list[Mapping[Any, Any]]] = defaultdict(list)
    for event in events:
        by_case_events[int(event["case_id"])].append(event)
    rows: list[ReconciliationRow] = []
    for case_id in ids:
        case = found.get(case_id)
        if case is None:
            continue
        courts = [court_side(r) for r in by_case_refs[case_id]]
        bureaus = bureau_sides(by_case_events[case_id])
        from_court = (
            case["source"] == Source.court.value and period.start_at <= case["created_at"] < period.end_at
        )
        if not courts and not bureaus and from_court:
            registered = by_case_events[case_id][0] if by_case_events[case_id] else None
            bureaus = [
                BureauSide(
                    delegated_on=_day(case["created_at"]),
                    to_unit_code=registered["to_unit_code"] if registered else case["unit_code"],
                    registered_from_court=True,
                    returned_on=None,
                    outcome=None,
                )
            ]
        for n in range(max(len(courts), len(bureaus))):
            court = courts[n] if n < len(courts) else None
            bureau = bureaus[n] if n < len(bureaus) else None
            days = [
                *((court.delegated_on, court.returned_on) if court else ()),
                *((bureau.delegated_on, bureau.returned_on) if bureau else ()),
            ]
            if not _touches(label, *days):
                continue
            if units is not None:
                targets = {s.to_unit_code for s in (court, bureau) if s is not None}
                if not targets & units:
                    continue
            rows.append(
                ReconciliationRow(
                    case_id=case_id,
                    number=case["number"],
                    court=court,
                    bureau=bureau,
                    mismatches=compare(court, bureau),
                )
            )
    return Reconciliation(unit=unit, month=label, rows=rows, mismatched=sum(1 for r in rows if r.mismatches))
