"""Who handles a case: assigning, reassigning and removing its mediators, the parties' choices and
refusals, withdrawals (回避), the cases that need a new lead, and suggestions.

Every change is one transaction with the case's version bump and a hash-chained case event
(``service.cases.edits.record_case_event``), so two people changing the same case race on its
version (412) instead of both winning. Only the unit handling the case changes who handles it; a
closed case's record is final.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.assignment import queries
from service.assignment.queries import AssignmentRow, DecisionRow, RosterRow
from service.assignment.schemas import (
    AssignIn,
    AssignmentPublic,
    CaseMediators,
    DecisionIn,
    DecisionPublic,
    NeedsReassignment,
    ReasonPublic,
    ReassignLeadIn,
    RemoveIn,
    SuggestionPublic,
)
from service.cases.edits import record_case_event
from service.cases.rows import CaseRow
from service.cases.scope import scope_filter
from service.cases.service import transition_context, visible_row
from service.context import AppContext
from service.db import reading
from service.errors import Conflict, Forbidden, TransitionNotAllowed, field_error
from service.notifications.service import notify_many
from workflows.lifecycle import Actor, CaseState, Role, handles_case
from workflows.mediators import (
    ASSIGNMENT_END_LABELS,
    ASSIGNMENT_ROLE_LABELS,
    CONFLICT_GROUND_LABELS,
    MEDIATOR_DECISION_LABELS,
    AssignmentEnd,
    AssignmentRole,
    ConflictGround,
    MediatorDecisionKind,
)
from workflows.suggestion import Candidate, CaseNeeds, rank
from workflows.transition import Announcement


class MediatorBarred(Conflict):
    slug = "mediator-barred"
    title = "A mediator refused by a party or who withdrew cannot be assigned on this case again"


class AssignmentConflict(Conflict):
    slug = "assignment-conflict"
    title = "The case's mediators do not allow this change"


Work = Callable[[AsyncConnection], Awaitable[None]]


# --- reading ---------------------------------------------------------------------------------------


def _assignment_public(a: AssignmentRow) -> AssignmentPublic:
    return AssignmentPublic(
        id=a.id,
        mediator_id=a.mediator_id,
        mediator_name=a.mediator_name,
        mediator_active=a.mediator_active,
        role=a.role,
        role_label=ASSIGNMENT_ROLE_LABELS[a.role],
        unit_code=a.unit_code,
        assigned_at=a.assigned_at,
        assigned_by=a.assigned_by,
        reason=a.reason,
        ended_at=a.ended_at,
        ended_by=a.ended_by,
        end=a.end,
        end_label=None if a.end is None else ASSIGNMENT_END_LABELS[a.end],
        end_reason=a.end_reason,
    )


def _decision_public(d: DecisionRow) -> DecisionPublic:
    kind = MediatorDecisionKind(d.kind)
    ground = None if d.ground is None else ConflictGround(d.ground)
    return DecisionPublic(
        id=d.id,
        mediator_id=d.mediator_id,
        mediator_name=d.mediator_name,
        kind=kind,
        kind_label=MEDIATOR_DECISION_LABELS[kind],
        party_id=d.party_id,
        party_name=d.party_name,
        ground=ground,
        ground_label=None if ground is None else CONFLICT_GROUND_LABELS[ground],
        note=d.note,
        recorded_at=d.recorded_at,
        recorded_by=d.recorded_by,
    )


def may_change(ctx: AppContext, row: CaseRow, actor: Actor, now: datetime) -> bool:
    return row.state != CaseState.closed and handles_case(transition_context(ctx, row, actor, now))


async def _state(engine: AsyncEngine, case_id: int) -> tuple[list[AssignmentRow], list[DecisionRow]]:
    async with reading(engine) as conn:
        return await queries.assignments(conn, case_id), await queries.decisions(conn, case_id)


async def case_mediators(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor, *, now: datetime
) -> CaseMediators:
    row = await visible_row(engine, ctx, case_id, actor)
    return await view_of(engine, ctx, row, actor, now=now)


async def view_of(
    engine: AsyncEngine,
    ctx: AppContext,
    row: CaseRow,
    actor: Actor,
    *,
    now: datetime,
    version: int | None = None,
) -> CaseMediators:
    rows, decided = await _state(engine, row.id)
    current = [a for a in rows if a.ended_at is None]
    lead = next((a for a in current if a.role == AssignmentRole.lead), None)
    past = sorted((a for a in rows if a.ended_at is not None), key=lambda a: (a.ended_at, a.id), reverse=True)
    return CaseMediators(
        case_id=row.id,
        case_version=row.version if version is None else version,
        lead=None if lead is None else _assignment_public(lead),
        co=[_assignment_public(a) for a in current if a.role == AssignmentRole.co],
        past=[_assignment_public(a) for a in past],
        decisions=[_decision_public(d) for d in decided],
        barred=sorted(queries.barred_of(rows, decided)),
        may_change=may_change(ctx, row, actor, now),
    )


# --- changing --------------------------------------------------------------------------------------


async def _changeable(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor, now: datetime
) -> CaseRow:
    row = await visible_row(engine, ctx, case_id, actor)
    if row.state == CaseState.closed:
        raise Conflict("A closed case's record is final: its mediators cannot change.")
    if not handles_case(transition_context(ctx, row, actor, now)):
        raise TransitionNotAllowed(
            f"{actor.username} may read case {row.number}, but only the unit handling it changes its mediators.",
            allowed=[],
        )
    return row


async def _eligible(
    engine: AsyncEngine, row: CaseRow, mediator_id: int, rows: list[AssignmentRow], decided: list[DecisionRow]
) -> RosterRow:
    """The mediator, if they may be put on the case now; the problem naming the rule if not."""
    async with reading(engine) as conn:
        found = await queries.find_mediator(conn, mediator_id, row.unit_code)
    if found is None or not found.serves_unit:
        raise field_error("body.mediator_id", f"no mediator {mediator_id} on the roster of the case's unit")
    if not found.active:
        raise field_error("body.mediator_id", f"{found.name} is inactive and cannot be assigned")
    if mediator_id in queries.barred_of(rows, decided):
        raise MediatorBarred(
            f"{found.name} was refused by a party or withdrew (回避) on case {row.number}: "
            "a barred mediator is never assigned on that case again.",
            mediator_id=mediator_id,
            rule="barred-after-refusal-or-withdrawal",
        )
    return found


def _announce(row: CaseRow, found: RosterRow, role: AssignmentRole, actor: Actor) -> Announcement:
    return Announcement(
        unit_code=row.unit_code,
        case_id=row.id,
        kind="mediator_assigned",
        reason=f"{row.number}：{found.name}任{ASSIGNMENT_ROLE_LABELS[role]}",
        payload={"number": row.number, "mediator_id": found.id, "mediator": found.name, "role": role.value},
        addressee=found.username,
        caused_by=actor.username,
    )


async def _record(
    engine: AsyncEngine,
    ctx: AppContext,
    row: CaseRow,
    actor: Actor,
    *,
    now: datetime,
    kind: str,
    reason: str | None,
    payload: dict[str, Any],
    work: Work,
) -> CaseMediators:
    written = await record_case_event(
        engine, ctx, row, actor, now=now, kind=kind, reason=reason, payload=payload, work=work
    )
    return await view_of(engine, ctx, row, actor, now=now, version=written.version)


async def assign(
    engine: AsyncEngine, ctx: AppContext, case_id: int, body: AssignIn, actor: Actor, *, now: datetime
) -> CaseMediators:
    row = await _changeable(engine, ctx, case_id, actor, now)
    rows, decided = await _state(engine, row.id)
    found = await _eligible(engine, row, body.mediator_id, rows, decided)
    current = [a for a in rows if a.ended_at is None]
    if any(a.mediator_id == found.id for a in current):
        raise AssignmentConflict(f"{found.name} already handles case {row.number}.", rule="already-assigned")
    if body.role == AssignmentRole.lead and any(a.role == AssignmentRole.lead for a in current):
        raise AssignmentConflict(
            f"Case {row.number} has a lead mediator; reassign the lead (with a reason) instead.",
            rule="one-lead",
        )

    async def work(conn: AsyncConnection) -> None:
        await queries.insert_assignment(
            conn,
            case_id=row.id,
            mediator_id=found.id,
            role=body.role,
            unit_code=row.unit_code,
            at=now,
            by=actor.username,
            reason=body.reason,
        )
        await notify_many(conn, [_announce(row, found, body.role, actor)], now=now)

    payload = {"action": "assign", "mediator_id": found.id, "mediator": found.name, "role": body.role.value}
    return await _record(
        engine, ctx, row, actor, now=now, kind="assignment", reason=body.reason, payload=payload, work=work
    )


async def reassign_lead(
    engine: AsyncEngine, ctx: AppContext, case_id: int, body: ReassignLeadIn, actor: Actor, *, now: datetime
) -> CaseMediators:
    """A new lead: the old one's assignment ends (``reassigned``, with the reason); a co-mediator
    who becomes the lead leaves the co role the same way."""
    row = await _changeable(engine, ctx, case_id, actor, now)
    rows, decided = await _state(engine, row.id)
    current = [a for a in rows if a.ended_at is None]
    old = next((a for a in current if a.role == AssignmentRole.lead), None)
    if old is None:
        raise AssignmentConflict(f"Case {row.number} has no lead to replace; assign one.", rule="no-lead")
    if old.mediator_id == body.mediator_id:
        raise field_error("body.mediator_id", f"{old.mediator_name} is already the lead")
    found = await _eligible(engine, row, body.mediator_id, rows, decided)
    was_co = next((a for a in current if a.mediator_id == found.id), None)

    async def work(conn: AsyncConnection) -> None:
        for ending in filter(None, (old, was_co)):
            await queries.end_assignment(
                conn, ending.id, end=AssignmentEnd.reassigned, at=now, by=actor.username, reason=body.reason
            )
        await queries.insert_assignment(
            conn,
            case_id=row.id,
            mediator_id=found.id,
            role=AssignmentRole.lead,
            unit_code=row.unit_code,
            at=now,
            by=actor.username,
            reason=body.reason,
        )
        await notify_many(conn, [_announce(row, found, AssignmentRole.lead, actor)], now=now)

    payload = {
        "action": "reassign_lead",
        "mediator_id": found.id,
        "mediator": found.name,
        "role": AssignmentRole.lead.value,
        "replaced_mediator_id": old.mediator_id,
        "replaced": old.mediator_name,
    }
    return await _record(
        engine, ctx, row, actor, now=now, kind="assignment", reason=body.reason, payload=payload, work=work
    )


async def remove(
    engine: AsyncEngine, ctx: AppContext, case_id: int, body: RemoveIn, actor: Actor, *, now: datetime
) -> CaseMediators:
    row = await _changeable(engine, ctx, case_id, actor, now)
    rows, _ = await _state(engine, row.id)
    on_case = next((a for a in rows if a.ended_at is None and a.mediator_id == body.mediator_id), None)
    if on_case is None:
        raise field_error(
            "body.mediator_id", f"mediator {body.mediator_id} does not handle case {row.number}"
        )

    async def work(conn: AsyncConnection) -> None:
        await queries.end_assignment(
            conn, on_case.id, end=AssignmentEnd.removed, at=now, by=actor.username, reason=body.reason
        )

    payload = {
        "action": "remove",
        "mediator_id": on_case.mediator_id,
        "mediator": on_case.mediator_name,
        "role": on_case.role.value,
    }
    return await _record(
        engine, ctx, row, actor, now=now, kind="assignment", reason=body.reason, payload=payload, work=work
    )


ENDS_BY_DECISION = {
    MediatorDecisionKind.party_refused: AssignmentEnd.refused,
    MediatorDecisionKind.withdrawal: AssignmentEnd.withdrew,
}


async def record_decision(
    engine: AsyncEngine, ctx: AppContext, case_id: int, body: DecisionIn, actor: Actor, *, now: datetime
) -> CaseMediators:
    """A party's choice or refusal (人民调解法 art. 19) or a withdrawal (回避). A refusal or a
    withdrawal ends the mediator's assignment on the case, if any, and bars them from it."""
    row = await _changeable(engine, ctx, case_id, actor, now)
    rows, decided = await _state(engine, row.id)
    party = None
    if body.kind == MediatorDecisionKind.withdrawal:
        if body.ground is None:
            raise field_error("body.ground", "a withdrawal (回避) names its ground")
        if body.party_id is not None:
            raise field_error("body.party_id", "a withdrawal is the mediator's, not a party's")
    else:
        if body.party_id is None:
            raise field_error("body.party_id", "name the party whose decision this is")
        party = next((p for p in row.parties if p.id == body.party_id), None)
        if party is None:
            raise field_error("body.party_id", f"case {row.number} has no party {body.party_id}")
        if body.ground is not None:
            raise field_error("body.ground", "only a withdrawal has a ground")
    on_case = next((a for a in rows if a.ended_at is None and a.mediator_id == body.mediator_id), None)
    if body.kind == MediatorDecisionKind.party_chose:
        found = await _eligible(engine, row, body.mediator_id, rows, decided)
        name = found.name
    else:
        async with reading(engine) as conn:
            known = await queries.find_mediator(conn, body.mediator_id, row.unit_code)
        if known is None or not (known.serves_unit or on_case is not None):
            raise field_error(
                "body.mediator_id", f"no mediator {body.mediator_id} on the roster of the case's unit"
            )
        name = known.name
    ends = ENDS_BY_DECISION.get(body.kind)

    async def work(conn: AsyncConnection) -> None:
        await queries.insert_decision(
            conn,
            {
                "case_id": row.id,
                "mediator_id": body.mediator_id,
                "kind": body.kind.value,
                "party_id": body.party_id,
                "ground": None if body.ground is None else body.ground.value,
                "note": body.note or None,
                "details": {},
                "recorded_at": now,
                "recorded_by": actor.username,
            },
        )
        if ends is not None and on_case is not None:
            await queries.end_assignment(
                conn,
                on_case.id,
                end=ends,
                at=now,
                by=actor.username,
                reason=body.note or MEDIATOR_DECISION_LABELS[body.kind],
            )

    payload: dict[str, Any] = {
        "decision": body.kind.value,
        "mediator_id": body.mediator_id,
        "mediator": name,
        "ended_assignment": ends is not None and on_case is not None,
    }
    if party is not None:
        payload.update(party_id=party.id, party=party.name)
    if body.ground is not None:
        payload["ground"] = body.ground.value
    return await _record(
        engine,
        ctx,
        row,
        actor,
        now=now,
        kind="mediator_choice",
        reason=body.note,
        payload=payload,
        work=work,
    )


# --- suggestions and the cases that need a lead ------------------------------------------------------


async def suggestions(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    actor: Actor,
    *,
    languages: frozenset[str] = frozenset(),
) -> list[SuggestionPublic]:
    """The unit's active mediators ranked for the case, each with the reasons in words; the
    person decides. ``languages``: what the parties need, when known."""
    row = await visible_row(engine, ctx, case_id, actor)
    return await suggestions_for(engine, row, languages=languages)


async def suggestions_for(
    engine: AsyncEngine, row: CaseRow, *, languages: frozenset[str] = frozenset()
) -> list[SuggestionPublic]:
    """``suggestions`` for a case already read for the actor (the case page reads it once)."""
    async with reading(engine) as conn:
        roster = await queries.roster_of(conn, row.unit_code)
        load = await queries.loads(conn, [m.id for m in roster])
        indexes = await queries.party_indexes(conn, row.id)
        rows = await queries.assignments(conn, row.id)
        decided = await queries.decisions(conn, row.id)
    needs = CaseNeeds(
        dispute_type=row.dispute_type,
        languages=languages,
        party_indexes=indexes,
        barred=queries.barred_of(rows, decided),
        assigned=frozenset(a.mediator_id for a in rows if a.ended_at is None),
    )
    candidates = [
        Candidate(
            mediator_id=m.id,
            name=m.name,
            specialties=frozenset(m.specialties),
            languages=frozenset(m.languages),
            load=load.get(m.id, 0),
            blind_indexes=m.indexes,
        )
        for m in roster
    ]
    spoken = {m.id: list(m.languages) for m in roster}
    return [
        SuggestionPublic(
            mediator_id=s.mediator_id,
            name=s.name,
            languages=spoken.get(s.mediator_id, []),
            score=s.score,
            excluded=s.excluded,
            reasons=[ReasonPublic(code=r.why, text=r.text(), load=r.load) for r in s.reasons],
        )
        for s in rank(candidates, needs)
    ]


NEEDS_ROLES = {Role.mediator, Role.coordinator, Role.system}


async def needs_reassignment(engine: AsyncEngine, ctx: AppContext, actor: Actor) -> list[NeedsReassignment]:
    """The open cases in the actor's units whose lead is inactive, or that are in mediation with
    no lead."""
    if actor.role not in NEEDS_ROLES:
        raise Forbidden(f"The {actor.role} role does not assign mediators.")
    scope = scope_filter(actor, ctx.org)
    async with reading(engine) as conn:
        rows = await queries.needing_reassignment(conn, scope.unit_codes)
    return [
        NeedsReassignment(
            case_id=r.case_id,
            number=r.number,
            unit_code=r.unit_code,
            unit_name=ctx.org.name_of(r.unit_code),
            state=r.state,
            lead_mediator_id=r.lead_mediator_id,
            lead_name=r.lead_name,
            why="no_lead" if r.lead_mediator_id is None else "lead_inactive",
        )
        for r in rows
    ]
