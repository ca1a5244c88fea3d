"""The one executor of transition plans, and of new cases: people, pages, the court desk and the
sweep all write through it.

A plan (``workflows.transition.TransitionPlan``) is written as: the case guarded by its version
with its hash-chained event, then its clocks, its referral records and its announcements (inbox
items and outbox messages). On PostgreSQL that is one statement of data-modifying CTEs (atomic on
its own, or inside the caller's transaction); on SQLite, which has no such CTEs, a few statements
in the caller's transaction. ``write`` takes one plan, ``apply`` runs one on its own and answers
with the case, ``write_batch`` writes many set-based for cases the caller holds locked (the
sweep), and ``open_case`` writes a new case with everything it starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.audit.keys import key_of
from service.cases import queries
from service.cases.queries import DEADLINE_FIELDS, PARTY_FIELDS, case_event, cases, idempotency, party
from service.cases.rows import CaseRecord, CaseRow, case_record
from service.db import reading
from service.deadlines import service as deadlines
from service.deadlines.rows import deadline_row, listed
from service.deadlines.service import LIVE, deadline
from service.mediators.models import CaseMediator, Mediator, MediatorDecision, MediatorUnit
from service.notifications import service as notifications
from service.notifications.service import inbox, outbox, subscriptions
from service.referrals import service as referrals
from service.referrals.service import OPEN, referral
from workflows.calendar import SHANGHAI
from workflows.chain import GENESIS
from workflows.lifecycle import TRIGGER_LABELS
from workflows.mediators import BARRING_DECISIONS, BARRING_ENDS, AssignmentEnd, AssignmentRole
from workflows.referrals import ReferralStatus
from workflows.transition import ClockChanges, OpeningPlan, TransitionPlan

case_mediator = CaseMediator.__table__  # type: ignore[attr-defined]
mediator = Mediator.__table__  # type: ignore[attr-defined]
mediator_unit = MediatorUnit.__table__  # type: ignore[attr-defined]
decision = MediatorDecision.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Written:
    version: int
    # PostgreSQL: what the one statement answered (the case as written, the clocks it changed and
    # started) and the event's hash; None on SQLite, where the caller reads the case back.
    answer: Row[Any] | None = None
    event_hash: str | None = None


async def write(conn: AsyncConnection, plan: TransitionPlan) -> Written | None:
    """Write the plan on ``conn`` (inside the caller's transaction, or on its own on PostgreSQL,
    where it is one statement); None (nothing written) when the case moved since it was read."""
    if conn.dialect.name == "postgresql":
        event = queries.chained(
            key_of(conn),
            plan.event,
            plan.case_id,
            plan.expected_version + 1,
            plan.prev_hash,
            plan.recorded_after,
        )
        statement, params = _one_statement(plan, event)
        row = (await conn.execute(statement, params)).first()
        if row is None:
            return None
        await write_mediator_changes(conn, [plan])  # the caller's transaction (``apply`` opens one)
        return Written(int(row.version), row, event["hash"])
    version = await queries.apply_change(
        conn,
        plan.case_id,
        plan.expected_version,
        dict(plan.changes),
        dict(plan.event),
        prev_hash=plan.prev_hash,
        recorded_after=plan.recorded_after,
    )
    if version is None:
        return None
    await _consequences(conn, [plan], now=plan.now)
    return Written(version)


async def apply(engine: AsyncEngine, plan: TransitionPlan, read: CaseRow) -> CaseRecord | None:
    """A transition on its own: the plan written (autocommit on PostgreSQL, where it is one
    statement; a transaction on SQLite), then the case as it now is, or None when the case moved
    since ``read`` (the case the plan was made from)."""
    # A plan that changes who handles the case needs a transaction for its second statement.
    one_statement = engine.dialect.name == "postgresql" and not plan.mediators.any
    async with reading(engine) if one_statement else engine.begin() as conn:
        written = await write(conn, plan)
        if written is None:
            if not one_statement:
                await conn.rollback()
            return None
        return await case_after(conn, read, written, plan)


async def case_after(
    conn: AsyncConnection, read: CaseRow, written: Written, plan: TransitionPlan
) -> CaseRecord:
    """The case as the write left it: from what the one statement returned (PostgreSQL), else read
    again on the same connection (SQLite, before commit; or a clock the sweep breached meanwhile)."""
    answered = None if written.answer is None else _answer(read, written, plan)
    if answered is not None:
        return answered
    fresh = await queries.fetch_case(conn, plan.case_id)
    assert fresh is not None
    return fresh


def _answer(read: CaseRow, written: Written, plan: TransitionPlan) -> CaseRecord | None:
    """The case after the one statement, from the case read before it and what the statement
    returned. None when the clocks it changed are not the ones planned (a clock the sweep breached
    between the read and the write stays as the sweep left it): the caller reads the case again."""
    row = written.answer
    assert row is not None
    changed = [deadline_row(d) for d in listed(row.changed_deadlines)]
    if {d.id for d in changed} != planned_clock_ids(plan):
        return None
    by_id = {d.id: d for d in read.deadlines}
    by_id.update((d.id, d) for d in [*changed, *map(deadline_row, listed(row.started_deadlines))])
    return case_record(
        row._mapping, parties=read.parties, deadlines=by_id.values(), last_event_hash=written.event_hash
    )


async def write_batch(conn: AsyncConnection, plans: Sequence[TransitionPlan], *, now: datetime) -> None:
    """Many plans in a few statements, for cases the caller holds locked (``FOR UPDATE``).
    Raises ``queries.BatchConflict`` (the caller rolls back) if any case was not at its version."""
    if not plans:
        return
    await queries.apply_changes(
        conn,
        [
            queries.CaseWrite(
                p.case_id, p.expected_version, dict(p.changes), dict(p.event), p.prev_hash, p.recorded_after
            )
            for p in plans
        ],
    )
    await _consequences(conn, plans, now=now)


async def _consequences(conn: AsyncConnection, plans: Sequence[TransitionPlan], *, now: datetime) -> None:
    await deadlines.write_clocks(conn, [p.clocks for p in plans], now=now)
    await referrals.write(conn, plans, now=now)
    await notifications.notify_many(conn, [a for p in plans for a in p.announcements], now=now)
    await write_mediator_changes(conn, plans)


async def write_mediator_changes(conn: AsyncConnection, plans: Sequence[TransitionPlan]) -> None:
    """The plans' effects on who handles their cases (``MediatorChanges``): current assignments end
    (``closed``) when a case closes or leaves the unit; the person who accepts a case becomes its
    lead when they are an active mediator on the unit's roster, not barred on it, and the case has
    no lead yet. Conditions the planner cannot see are in the statements."""
    ending = [p for p in plans if p.mediators.end_current]
    if ending:
        await conn.execute(
            sa.update(case_mediator)
            .where(
                case_mediator.c.case_id == sa.bindparam("b_case_id"),
                case_mediator.c.ended_at.is_(None),
            )
            .values(
                ended_at=sa.bindparam("b_at"),
                ended_by=sa.bindparam("b_by"),
                end=AssignmentEnd.closed.value,
                end_reason=sa.bindparam("b_reason"),
            ),
            [
                {
                    "b_case_id": p.case_id,
                    "b_at": p.now,
                    "b_by": p.event["actor"],
                    "b_reason": TRIGGER_LABELS[p.trigger],
                }
                for p in ending
            ],
        )
    for p in plans:
        if p.mediators.lead_user_id is not None:
            await conn.execute(_auto_lead(), _auto_lead_params(p))


@cache
def _auto_lead() -> sa.Insert:
    case_id = sa.bindparam("b_case_id", type_=sa.BigInteger)
    current = case_mediator.alias("current")
    barring = case_mediator.alias("barring")
    eligible = (
        sa.select(
            case_id,
            mediator.c.id,
            sa.literal(AssignmentRole.lead.value),
            sa.bindparam("b_unit", type_=sa.String),
            sa.bindparam("b_at", type_=case_mediator.c.assigned_at.type),
            sa.bindparam("b_by", type_=sa.String),
            sa.bindparam("b_reason", type_=sa.Text),
        )
        .select_from(mediator.join(mediator_unit, mediator_unit.c.mediator_id == mediator.c.id))
        .where(
            mediator.c.user_id == sa.bindparam("b_user_id", type_=sa.Integer),
            mediator.c.active.is_(True),
            mediator_unit.c.unit_code == sa.bindparam("b_unit", type_=sa.String),
            # No lead yet, and not already on the case (as a co-mediator, say).
            ~sa.exists().where(
                current.c.case_id == case_id,
                current.c.ended_at.is_(None),
                sa.or_(current.c.role == AssignmentRole.lead.value, current.c.mediator_id == mediator.c.id),
            ),
            ~sa.exists().where(
                barring.c.case_id == case_id,
                barring.c.mediator_id == mediator.c.id,
                barring.c.end.in_([e.value for e in BARRING_ENDS]),
            ),
            ~sa.exists().where(
                decision.c.case_id == case_id,
                decision.c.mediator_id == mediator.c.id,
                decision.c.kind.in_([k.value for k in BARRING_DECISIONS]),
            ),
        )
    )
    return sa.insert(case_mediator).from_select(
        ["case_id", "mediator_id", "role", "unit_code", "assigned_at", "assigned_by", "reason"], eligible
    )


def _auto_lead_params(plan: TransitionPlan) -> dict[str, Any]:
    return {
        "b_case_id": plan.case_id,
        "b_user_id": plan.mediators.lead_user_id,
        "b_unit": plan.to_unit,
        "b_at": plan.now,
        "b_by": plan.event["actor"],
        "b_reason": TRIGGER_LABELS[plan.trigger],
    }


async def write_opening(
    conn: AsyncConnection, case_id: int, unit_code: str, opening: OpeningPlan, *, now: datetime
) -> None:
    """What a new case starts besides its row (written by ``queries.insert_case``)."""
    await deadlines.start_clocks(conn, case_id, unit_code, opening.clocks, now=now)
    await notifications.notify_many(conn, [opening.announcement], now=now)


# --- PostgreSQL: the whole plan as one statement ---------------------------------------------------
#
# Data-modifying CTEs run atomically, and every write after the case update selects FROM it, so it
# happens only when the version check passed: no BEGIN, no COMMIT, one round trip. The statement
# answers with the case as written and the clocks it changed and started, so the caller needs no
# read-back. Its clock updates name the status they expect (the sweep may breach a running clock
# after the read without moving the case's version); the caller compares the clocks that changed
# with the plan's and reads the case again when they differ. Every bound parameter carries a
# prefix that no column has.


def _clock_ids(plan: TransitionPlan) -> tuple[list[int], list[int], list[int]]:
    """(ended, met among them, paused) clock ids the plan writes."""
    clocks = plan.clocks
    ended = [*clocks.plan.met, *clocks.plan.cancelled]
    paused = [i for i in clocks.plan.paused if i not in clocks.keep_breached]
    return ended, list(clocks.plan.met), paused


def planned_clock_ids(plan: TransitionPlan) -> frozenset[int]:
    """The existing clocks the plan changes."""
    ended, _, paused = _clock_ids(plan)
    return frozenset([*ended, *paused, *(i for i, _ in plan.clocks.plan.resumed)])


def _ids(name: str) -> Any:
    return sa.any_(sa.bindparam(name, type_=ARRAY(sa.BigInteger)))


def _rows_of(table: sa.Table, written: Sequence[sa.CTE]) -> sa.Subquery:
    """The rows some INSERT/UPDATE … RETURNING CTEs wrote, as one subquery (none: empty)."""
    if not written:
        return sa.select(table).where(sa.false()).subquery()
    return sa.union_all(*(sa.select(*w.c) for w in written)).subquery()


@cache
def _plan_statement(shape: tuple[Any, ...]) -> sa.Select[Any]:
    (columns, event_fields, ended, paused, resumed, started, opened, answered, completed, notes) = shape
    upd = queries.guarded_update(columns).returning(*cases.c).cte("upd")
    now = sa.bindparam("x_now", type_=deadline.c.ended_at.type)
    of_case = deadline.c.case_id == upd.c.id
    ctes: list[sa.CTE] = [queries.event_of(upd, event_fields)]
    changed: list[sa.CTE] = []
    if ended:
        closing = sa.case(
            (deadline.c.id == _ids("x_met"), sa.literal_column("'met'")),
            else_=sa.literal_column("'cancelled'"),
        )
        changed.append(
            sa.update(deadline)
            .where(of_case, deadline.c.id == _ids("x_ended"), deadline.c.status.in_(LIVE))
            .values(status=closing, ended_at=now, warn_at=sa.null())
            .returning(*deadline.c)
            .cte("d_end")
        )
    if paused:
        changed.append(
            sa.update(deadline)
            .where(
                of_case, deadline.c.id == _ids("x_paused"), deadline.c.status == sa.literal_column("'active'")
            )
            .values(status=sa.literal_column("'paused'"), paused_at=now, warn_at=sa.null())
            .returning(*deadline.c)
            .cte("d_pause")
        )
    for i in range(resumed):
        changed.append(
            sa.update(deadline)
            .where(
                of_case,
                deadline.c.id == sa.bindparam(f"r{i}_id", type_=sa.BigInteger),
                deadline.c.status == sa.literal_column("'paused'"),
            )
            .values(
                status=sa.literal_column("'active'"),
                paused_at=sa.null(),
                **{
                    f: sa.bindparam(f"r{i}_{f}", type_=deadline.c[f].type)
                    for f in ("due_at", "warnings", "warn_at")
                },
            )
            .returning(*deadline.c)
            .cte(f"d_res{i}")
        )
    new = [
        queries.guarded_insert(
            deadline,
            {"case_id": upd.c.id, **{f: sa.bindparam(f"s{i}_{f}", type_=deadline.c[f].type) for f in fields}},
            upd,
        )
        .returning(*deadline.c)
        .cte(f"d_new{i}")
        for i, fields in enumerate(started)
    ]
    if opened:
        ctes.append(
            queries.guarded_insert(
                referral,
                {
                    "case_id": upd.c.id,
                    **{
                        f: sa.bindparam(f"o_{f}", type_=referral.c[f].type)
                        for f in (
                            "kind",
                            "from_unit_code",
                            "to_unit_code",
                            "status",
                            "payload",
                            "reason",
                            "offered_at",
                            "offered_by",
                        )
                    },
                },
                upd,
            ).cte("ref_new")
        )
    if answered is not None:
        values = {
            "status": sa.bindparam("q_status", type_=sa.String),
            "responded_at": now,
            "responded_by": sa.bindparam("q_by", type_=sa.String),
        }
        if answered:  # a decline: its reason goes with it
            values["decline_reason"] = sa.bindparam("q_reason", type_=sa.String)
        ctes.append(
            sa.update(referral)
            .where(
                referral.c.case_id == upd.c.id,
                referral.c.id == _ids("q_ids"),
                # Offered, or (a withdrawn confirmation application) accepted: the planner chose which.
                referral.c.status.in_(OPEN),
            )
            .values(values)
            .cte("ref_answer")
        )
    if completed:
        ctes.append(
            sa.update(referral)
            .where(
                referral.c.case_id == upd.c.id, referral.c.id == _ids("k_ids"), referral.c.status.in_(OPEN)
            )
            .values(
                status=sa.literal_column(f"'{ReferralStatus.completed.value}'"),
                result=sa.bindparam("k_result", type_=referral.c.result.type),
                completed_at=now,
            )
            .cte("ref_done")
        )
    for i in range(notes):
        ctes += _announcement_ctes(i, upd, upd.c.id)
    select = sa.select(
        *upd.c,
        queries.json_rows("postgresql", _rows_of(deadline, changed), DEADLINE_FIELDS, sa.true()).label(
            "changed_deadlines"
        ),
        queries.json_rows("postgresql", _rows_of(deadline, new), DEADLINE_FIELDS, sa.true()).label(
            "started_deadlines"
        ),
    )
    return select.add_cte(*ctes)


def _one_statement(plan: TransitionPlan, event: dict[str, Any]) -> tuple[sa.Select[Any], dict[str, Any]]:
    ended, met, paused = _clock_ids(plan)
    now = plan.now
    params: dict[str, Any] = {
        **queries.change_params(plan.case_id, plan.expected_version, dict(plan.changes), event),
        "x_now": now,
    }
    if ended:
        params.update(x_ended=ended, x_met=met)
    if paused:
        params["x_paused"] = paused
    for i, (deadline_id, schedule) in enumerate(plan.clocks.plan.resumed):
        params.update(
            {
                f"r{i}_id": deadline_id,
                f"r{i}_due_at": schedule.due_at,
                f"r{i}_warnings": deadlines.warnings_json(schedule.warnings),
                f"r{i}_warn_at": deadlines.first_warning(schedule.warnings),
            }
        )
    started = deadlines.started_rows(plan.clocks, now)
    for i, row in enumerate(started):
        params.update((f"s{i}_{f}", v) for f, v in row.items() if f != "case_id")
    if plan.opened is not None:
        params.update({f"o_{f}": v for f, v in referrals.opened_row(plan, now=now).items() if f != "case_id"})
    answered = plan.answered if plan.answered is not None and plan.answered.referral_ids else None
    if answered is not None:
        params.update(
            q_status=answered.status.value, q_by=plan.event["actor"], q_ids=list(answered.referral_ids)
        )
        if referrals.is_decline(answered):
            params["q_reason"] = answered.decline_reason
    if plan.completed is not None:
        params.update(k_ids=list(plan.completed.referral_ids), k_result=dict(plan.completed.result))
    for i, note in enumerate(plan.announcements):
        params.update({f"a{i}_{k}": v for k, v in notifications.announcement_values(note, now=now).items()})
    shape = (
        tuple(plan.changes),
        tuple(event),
        bool(ended),
        bool(paused),
        len(plan.clocks.plan.resumed),
        tuple(tuple(f for f in row if f != "case_id") for row in started),
        plan.opened is not None,
        None if answered is None else referrals.is_decline(answered),
        plan.completed is not None,
        len(plan.announcements),
    )
    return _plan_statement(shape), params


# --- PostgreSQL: a new case as one statement ---------------------------------------------------------


@cache
def _opening_statement(shape: tuple[Any, ...]) -> sa.Select[Any]:
    """A new case with its parties, its `created` event, its clocks and its announcement, the id
    drawn beforehand (the event's hash covers it). Foreign keys are checked at the end of the
    statement, so the order of the inserts is free. Keyed: the Idempotency-Key's record first
    (``ON CONFLICT DO NOTHING``) and everything else only if it was written; a retry racing with
    its original waits at the key's unique index, then writes nothing and answers no row."""
    columns, event_fields, parties, clocks, keyed = shape
    case_id = sa.bindparam("x_case_id", type_=sa.BigInteger)
    guard = None
    if keyed:
        guard = (
            pg_insert(idempotency)
            .values(
                username=sa.bindparam("k_username", type_=sa.String),
                key=sa.bindparam("k_key", type_=sa.String),
                request_hash=sa.bindparam("k_request_hash", type_=sa.String),
                case_id=case_id,
                created_at=sa.bindparam("x_now", type_=idempotency.c.created_at.type),
            )
            .on_conflict_do_nothing()
            .returning(idempotency.c.id)
            .cte("k")
        )
    number = sa.bindparam("x_number", type_=sa.String)
    case = queries.insert_cte(
        cases, "c", {"id": case_id, "number": number, **queries.binds("v_", cases, columns)}, guard
    )
    event = queries.insert_cte(
        case_event,
        "ev",
        {"case_id": case_id, "seq": 1, **queries.binds("e_", case_event, event_fields)},
        guard,
    )
    added = [
        queries.insert_cte(party, f"p{i}", {"case_id": case_id, **queries.binds(f"p{i}_", party, f)}, guard)
        for i, f in enumerate(parties)
    ]
    started = [
        queries.insert_cte(
            deadline, f"d{i}", {"case_id": case_id, **queries.binds(f"s{i}_", deadline, f)}, guard
        )
        for i, f in enumerate(clocks)
    ]
    # The announcement is written only with the case: guarded by the case's own insert.
    select = sa.select(
        *case.c,
        queries.json_rows("postgresql", _rows_of(party, added), PARTY_FIELDS, sa.true()).label("parties"),
        queries.json_rows("postgresql", _rows_of(deadline, started), DEADLINE_FIELDS, sa.true()).label(
            "deadlines"
        ),
    )
    return select.add_cte(event, *_announcement_ctes(0, case, case_id))


def _announcement_ctes(i: int, guard: sa.CTE, case_id: Any) -> tuple[sa.CTE, sa.CTE]:
    """Announcement ``i``'s inbox item and its outbox messages (one per active subscription of the
    unit), written only if ``guard`` has a row; values ``a{i}_…`` (``announcement_values``)."""
    now = sa.bindparam("x_now", type_=inbox.c.created_at.type)
    unit_code = sa.bindparam(f"a{i}_unit_code", type_=sa.String)
    kind = sa.bindparam(f"a{i}_kind", type_=sa.String)
    item = queries.guarded_insert(
        inbox,
        {
            "unit_code": unit_code,
            "case_id": case_id,
            "kind": kind,
            "reason": sa.bindparam(f"a{i}_reason", type_=sa.String),
            "payload": sa.bindparam(f"a{i}_payload", type_=inbox.c.payload.type),
            "created_at": now,
            "addressee": sa.bindparam(f"a{i}_addressee", type_=sa.String),
            "caused_by": sa.bindparam(f"a{i}_caused_by", type_=sa.String),
        },
        guard,
    ).cte(f"inbox{i}")
    # The receiver deduplicates by the key, which a redelivery repeats.
    key = sa.bindparam(f"a{i}_key", type_=sa.String) + sa.cast(subscriptions.c.id, sa.String)
    messages = (
        sa.insert(outbox)
        .from_select(
            [
                "subscription_id",
                "idempotency_key",
                "event_type",
                "payload",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
            ],
            sa.select(
                subscriptions.c.id,
                key,
                kind,
                sa.bindparam(f"a{i}_body", type_=outbox.c.payload.type),
                sa.literal("pending"),
                sa.literal(0),
                now,
                now,
            )
            .select_from(subscriptions.join(guard, sa.true()))
            .where(subscriptions.c.unit_code == unit_code, subscriptions.c.active.is_(True)),
        )
        .cte(f"outbox{i}")
    )
    return item, messages


async def open_case(
    engine: AsyncEngine,
    values: dict[str, Any],
    parties: Sequence[dict[str, Any]],
    event: dict[str, Any],
    opening: Callable[[int, str], OpeningPlan],
    *,
    key: tuple[str, str, str] | None,
    now: datetime,
    then: Callable[[AsyncConnection, int], Awaitable[None]] | None = None,
) -> CaseRecord | None:
    """A new case with everything it starts, and its Idempotency-Key's record (``key``: username,
    key, request hash); the case as written, or None when another request holds the key. One
    statement after drawing the id on PostgreSQL, a transaction on SQLite. ``opening`` plans the
    case's clocks and announcement from its id and number. ``then``: more that must be written
    with the case or not at all (the reports a crime risk owes, service.cases.report_filing), in
    the same transaction, given the case's id; the case is read back after it."""
    year = now.astimezone(SHANGHAI).year
    if engine.dialect.name == "postgresql":
        async with reading(engine) if then is None else engine.begin() as conn:
            case_id = await queries.draw_case_id(conn, None if key is None else key[:2])
            if case_id is None:
                return None
            number = queries.case_number(year, case_id)
            plan = opening(case_id, number)
            facts = queries.new_case_facts(values, case_id, number, parties)
            chained = queries.chained(key_of(conn), event, case_id, 1, GENESIS, facts)
            started = deadlines.started_rows(ClockChanges(case_id, values["unit_code"], plan.clocks), now)
            params: dict[str, Any] = {
                "x_case_id": case_id,
                "x_number": number,
                "x_now": now,
                **{f"v_{c}": v for c, v in values.items()},
                **{f"e_{f}": v for f, v in chained.items()},
                **{
                    f"a0_{k}": v
                    for k, v in notifications.announcement_values(plan.announcement, now=now).items()
                },
            }
            for i, p in enumerate(parties):
                params.update((f"p{i}_{f}", v) for f, v in p.items())
            for i, row in enumerate(started):
                params.update((f"s{i}_{f}", v) for f, v in row.items() if f != "case_id")
            if key is not None:
                params.update(k_username=key[0], k_key=key[1], k_request_hash=key[2])
            shape = (
                tuple(values),
                tuple(chained),
                tuple(tuple(p) for p in parties),
                tuple(tuple(f for f in row if f != "case_id") for row in started),
                key is not None,
            )
            row = (await conn.execute(_opening_statement(shape), params)).first()
            if row is not None and then is not None:
                await then(conn, case_id)
                return await queries.fetch_case(conn, case_id)
        return None if row is None else case_record(row._mapping, last_event_hash=chained["hash"])
    async with engine.begin() as conn:
        case_id, number = await queries.insert_case(conn, values, parties, event, year=year)
        await write_opening(conn, case_id, values["unit_code"], opening(case_id, number), now=now)
        if key is not None and not await queries.claim_idempotency_key(
            conn, username=key[0], key=key[1], request_hash=key[2], case_id=case_id, now=now
        ):
            await conn.rollback()  # a concurrent retry with the same key won the race
            return None
        if then is not None:
            await then(conn, case_id)
        fresh = await queries.fetch_case(conn, case_id)  # before commit, on the same connection
    assert fresh is not None
    return fresh


async def open_case_on(
    conn: AsyncConnection,
    values: dict[str, Any],
    parties: Sequence[dict[str, Any]],
    event: dict[str, Any],
    opening: Callable[[int, str], OpeningPlan],
    *,
    now: datetime,
    then: Callable[[AsyncConnection, int], Awaitable[None]] | None = None,
) -> CaseRecord:
    """A new case written in the caller's transaction, with what it starts: for a record that
    registers several cases with itself or not at all (a screening round, service.screening).
    No Idempotency-Key: the caller's record carries its own. A few statements on both databases."""
    year = now.astimezone(SHANGHAI).year
    case_id, number = await queries.insert_case(conn, values, parties, event, year=year)
    await write_opening(conn, case_id, values["unit_code"], opening(case_id, number), now=now)
    if then is not None:
        await then(conn, case_id)
    fresh = await queries.fetch_case(conn, case_id)
    assert fresh is not None
    return fresh
