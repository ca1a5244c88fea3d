"""Major-dispute reports (重大、群体性纠纷即时报告): filed on a case, or with a dispute a screening
round found, to the town over the handling unit and to the city centre at once; acknowledged once
by either; escalated once by the sweep to the city centre's coordinators when nobody acknowledged
it within ``ack_hours`` (config/screening.yaml, local practice).

Each report, acknowledgement, escalation and "it happened after all" is an event on the case's
keyed hash chain (``service.cases.report_filing.record_event``, as the crime reports'), and each
reaches its units as an inbox item with its webhook messages in the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.cases import queries as case_queries
from service.cases.report_filing import record_event
from service.cases.rows import CaseRecord
from service.cases.schemas import CaseCreate
from service.cases.service import visible_row
from service.config.screening import screening_policy
from service.context import AppContext
from service.db import reading
from service.errors import Conflict, Forbidden, NotFound
from service.notifications import service as notifications
from service.personal.crypto import DataCipher
from service.screening import queries as q
from service.screening.queries import MajorRow
from service.screening.schemas import MajorReportList, MajorReportPublic
from workflows.lifecycle import SYSTEM_ACTOR_NAME, Actor, CaseState, Role
from workflows.screening import MAJOR_RISK_LABELS, MajorRisk, ack_due, is_overdue, major_recipients
from workflows.transition import Announcement, caused_by
from workflows.vocab import Flag

FILERS = frozenset({Role.mediator, Role.coordinator})


class MajorReportAcknowledged(Conflict):
    slug = "major-report-acknowledged"
    title = "The report was acknowledged already"


def _hours(ctx: AppContext) -> int:
    return screening_policy(ctx.settings.config_dir).ack_hours


def _labels(risks: tuple[MajorRisk, ...] | list[MajorRisk]) -> str:
    return "、".join(MAJOR_RISK_LABELS[r] for r in risks)


def major_public(ctx: AppContext, row: MajorRow, *, now: datetime) -> MajorReportPublic:
    hours = _hours(ctx)
    return MajorReportPublic(
        id=row.id,
        case_id=row.case_id,
        round_id=row.round_id,
        from_unit_code=row.from_unit_code,
        to_unit_codes=row.recipients,
        risks=list(row.risks),
        risk_labels=[MAJOR_RISK_LABELS[r] for r in row.risks],
        statement=ctx.cipher.decrypt(row.statement, "major_report.statement") or "",
        reported_at=row.reported_at,
        reported_by=row.reported_by,
        ack_due_at=ack_due(row.reported_at, hours),
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        acknowledged_unit_code=row.acknowledged_unit_code,
        late=is_overdue(row.reported_at, row.acknowledged_at, now, hours),
        escalated_at=row.escalated_at,
        occurred_at=row.occurred_at,
    )


async def file_on(
    conn: AsyncConnection,
    ctx: AppContext,
    case: CaseRecord,
    actor: Actor,
    *,
    risks: list[MajorRisk],
    statement: str,
    round_id: int | None,
    now: datetime,
) -> int:
    """One report of the case, its event on the case's chain, and an inbox item (with its webhook
    messages) for the town and the city centre, in the caller's transaction; the report's id."""
    chosen = tuple(r for r in MajorRisk if r in risks)
    to = major_recipients(ctx.org, case.unit_code)
    town = to[0].code if len(to) == 2 else None
    city = to[-1].code
    report_id = await q.insert_major(
        conn,
        {
            "case_id": case.id,
            "round_id": round_id,
            "from_unit_code": case.unit_code,
            "town_code": town,
            "city_code": city,
            **{f"risk_{r.value}": r in chosen for r in MajorRisk},
            "statement": ctx.cipher.encrypt(statement, "major_report.statement"),
            "reported_at": now,
            "reported_by": actor.username,
            "reported_by_role": actor.role.value,
        },
    )
    # The trail says what kind of risk and who was told, not the statement (it can name people).
    await record_event(
        conn,
        case.id,
        actor,
        now,
        kind="major_report",
        reason=f"重大纠纷即时报告（{_labels(chosen)}）：报{'、'.join(u.name for u in to)}",
        payload={
            "major_report": {
                "id": report_id,
                "risks": [r.value for r in chosen],
                "to_unit_codes": [u.code for u in to],
                "round_id": round_id,
            }
        },
    )
    await notifications.notify_many(
        conn,
        [
            Announcement(
                u.code,
                case.id,
                "major_report",
                f"重大纠纷即时报告（{_labels(chosen)}）：{case.number}，请查阅并确认收到",
                {
                    "number": case.number,
                    "major_report_id": report_id,
                    "risks": [r.value for r in chosen],
                    "dispute_type": case.dispute_type.value,
                    "from_unit_code": case.unit_code,
                },
                caused_by=caused_by(actor),
            )
            for u in to
        ],
        now=now,
    )
    return report_id


async def file_report(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    risks: list[MajorRisk],
    statement: str,
    actor: Actor,
    *,
    now: datetime,
) -> MajorReportPublic:
    """A mediator or coordinator who may see the case reports it as a major or group dispute."""
    case = await visible_row(engine, ctx, case_id, actor)
    if actor.role not in FILERS:
        raise Forbidden("Only a mediator or coordinator reports a major dispute.")
    if case.state == CaseState.closed:
        raise Conflict("The case is closed; report a new dispute as a new case.")
    async with engine.begin() as conn:
        report_id = await file_on(
            conn, ctx, case, actor, risks=risks, statement=statement, round_id=None, now=now
        )
        row = await q.read_major(conn, report_id)
    assert row is not None
    return major_public(ctx, row, now=now)


def may_file_on(case: CaseRecord, actor: Actor) -> bool:
    """Whether the actor, who sees the case in full, may report it now (the case page's form):
    ``file_report``'s rules."""
    return actor.role in FILERS and case.state != CaseState.closed


def may_acknowledge(recipients: list[str], actor: Actor) -> bool:
    """Whether the actor acknowledges a report told to ``recipients``: a coordinator of one of
    them (``acknowledge``'s rule; the case page offers the button)."""
    return actor.role == Role.coordinator and actor.unit_code in recipients


def _units_of(actor: Actor, ctx: AppContext) -> frozenset[str] | None:
    match actor.role:
        case Role.auditor | Role.system:
            return None
        case Role.coordinator:
            return ctx.org.subtree(actor.unit_code)
        case Role.mediator:
            return frozenset({actor.unit_code})
        case _:
            raise Forbidden(f"The {actor.role} role does not file or receive major-dispute reports.")


def _within(row: MajorRow, units: frozenset[str] | None) -> bool:
    return units is None or row.from_unit_code in units or any(c in units for c in row.recipients)


async def _reachable(engine: AsyncEngine, ctx: AppContext, report_id: int, actor: Actor) -> MajorRow:
    units = _units_of(actor, ctx)
    async with reading(engine) as conn:
        row = await q.read_major(conn, report_id)
    if row is None or not _within(row, units):
        raise NotFound(f"No major-dispute report {report_id}.")
    return row


async def read_report(
    engine: AsyncEngine, ctx: AppContext, report_id: int, actor: Actor, *, now: datetime
) -> MajorReportPublic:
    return major_public(ctx, await _reachable(engine, ctx, report_id, actor), now=now)


async def case_reports(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor, *, now: datetime
) -> list[MajorReportPublic]:
    await visible_row(engine, ctx, case_id, actor)
    return await reports_of(engine, ctx, case_id, now=now)


async def reports_of(
    engine: AsyncEngine, ctx: AppContext, case_id: int, *, now: datetime
) -> list[MajorReportPublic]:
    """The case's major reports, oldest first, for a caller that has read the case for this reader."""
    async with reading(engine) as conn:
        rows = await q.majors_of_case(conn, case_id)
    return [major_public(ctx, r, now=now) for r in rows]


async def list_reports(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, *, open_only: bool, limit: int, now: datetime
) -> MajorReportList:
    async with reading(engine) as conn:
        rows = await q.list_majors(conn, units=_units_of(actor, ctx), open_only=open_only, limit=limit)
    return MajorReportList(items=[major_public(ctx, r, now=now) for r in rows], ack_hours=_hours(ctx))


async def acknowledge(
    engine: AsyncEngine, ctx: AppContext, report_id: int, note: str | None, actor: Actor, *, now: datetime
) -> MajorReportPublic:
    """A coordinator of the town or the city centre confirms the report, once (then a 409); the
    reporting unit is told. An acknowledgement after the due time is recorded as late."""
    row = await _reachable(engine, ctx, report_id, actor)
    if not may_acknowledge(row.recipients, actor):
        raise Forbidden(f"Only a coordinator of {' or '.join(row.recipients)} acknowledges the report.")
    async with engine.begin() as conn:
        if not await q.acknowledge_major(
            conn, report_id, at=now, by=actor.username, unit_code=actor.unit_code
        ):
            await conn.rollback()
            raise _acknowledged(row if row.acknowledged_at else await _fresh(engine, report_id))
        case = await case_queries.fetch_case(conn, row.case_id)
        assert case is not None
        late = is_overdue(row.reported_at, now, now, _hours(ctx))
        name = ctx.org.name_of(actor.unit_code) or actor.unit_code
        await record_event(
            conn,
            row.case_id,
            actor,
            now,
            kind="major_ack",
            reason=f"{name}确认收到重大纠纷报告{'（逾期）' if late else ''}" + (f"：{note}" if note else ""),
            payload={"major_report": {"id": report_id, "unit_code": actor.unit_code, "late": late}},
        )
        await notifications.notify_many(
            conn,
            [
                Announcement(
                    row.from_unit_code,
                    row.case_id,
                    "major_report_acknowledged",
                    f"{name}已确认收到重大纠纷报告",
                    {"major_report_id": report_id, "number": case.number, "from_unit_code": actor.unit_code},
                    caused_by=caused_by(actor),
                )
            ],
            now=now,
        )
        done = await q.read_major(conn, report_id)
    assert done is not None
    return major_public(ctx, done, now=now)


async def _fresh(engine: AsyncEngine, report_id: int) -> MajorRow:
    async with reading(engine) as conn:
        row = await q.read_major(conn, report_id)
    assert row is not None
    return row


def _acknowledged(row: MajorRow) -> MajorReportAcknowledged:
    return MajorReportAcknowledged(
        f"Report {row.id} was acknowledged by {row.acknowledged_by} at {row.acknowledged_at}; "
        "it is acknowledged once.",
        acknowledged_by=row.acknowledged_by,
    )


async def mark_occurred(
    engine: AsyncEngine, ctx: AppContext, report_id: int, actor: Actor, *, now: datetime
) -> MajorReportPublic:
    """A coordinator records that the feared event happened after all: the report no longer counts
    as prevented (docs/screening.md). Once."""
    row = await _reachable(engine, ctx, report_id, actor)
    if actor.role != Role.coordinator:
        raise Forbidden("Only a coordinator records that a reported risk came about.")
    async with engine.begin() as conn:
        if not await q.mark_occurred(conn, report_id, at=now, by=actor.username):
            await conn.rollback()
            raise Conflict(f"Report {report_id} is already marked as having happened.")
        await record_event(
            conn,
            row.case_id,
            actor,
            now,
            kind="major_occurred",
            reason=f"重大纠纷报告所述风险已发生（{_labels(row.risks)}）",
            payload={"major_report": {"id": report_id}},
        )
        done = await q.read_major(conn, report_id)
    assert done is not None
    return major_public(ctx, done, now=now)


async def escalate_unacknowledged(engine: AsyncEngine, ctx: AppContext, *, now: datetime) -> int:
    """The sweep's part: each report nobody acknowledged within ``ack_hours`` goes to the city
    centre's coordinators (inbox, webhook) with an event on its case, once (the claim marks it
    escalated in the same statement). How many were escalated."""
    hours = _hours(ctx)
    system = Actor(SYSTEM_ACTOR_NAME, Role.system, ctx.org.city_centre().code)
    async with engine.begin() as conn:
        claimed = await q.claim_unacknowledged(conn, reported_before=now - timedelta(hours=hours), now=now)
        found = await case_queries.fetch_cases(conn, [r.case_id for r in claimed]) if claimed else {}
        numbers = {case_id: c.number for case_id, c in found.items()}
        notes: list[Announcement] = []
        for r in claimed:
            await record_event(
                conn,
                r.case_id,
                system,
                now,
                kind="major_escalated",
                reason=f"重大纠纷报告 {hours} 小时内无人确认收到，已升级报市矛调中心",
                payload={"major_report": {"id": r.id, "ack_hours": hours}},
            )
            notes.append(
                Announcement(
                    r.city_code,
                    r.case_id,
                    "major_report_escalated",
                    f"重大纠纷报告 {hours} 小时内无人确认收到，请跟进",
                    {
                        "major_report_id": r.id,
                        "number": numbers.get(r.case_id),
                        "risks": [x.value for x in r.risks],
                        "from_unit_code": r.from_unit_code,
                        "ack_hours": hours,
                    },
                )
            )
        await notifications.notify_many(conn, notes, now=now)
    return len(claimed)


async def reseal_reports(engine: AsyncEngine, cipher: DataCipher) -> int:
    """Re-encrypt every major report's statement under the current data key
    (``jiefen privacy rotate-key``)."""
    context = "major_report.statement"
    async with engine.begin() as conn:
        rows = await q.sealed_statements(conn)
        fresh = [(i, cipher.encrypt(cipher.decrypt(v, context), context) or "") for i, v in rows]
        await q.reseal(conn, fresh)
    return len(fresh)


def on_edit(
    ctx: AppContext, before: CaseRecord, changed: Mapping[str, Any], actor: Actor, now: datetime
) -> Callable[[AsyncConnection], Awaitable[None]] | None:
    """A case corrected to carry the group-dispute flag (群体性纠纷) it did not have is reported as
    registration reports one (``on_registration``): to the town and the city centre, in the
    correction's own transaction (wired by service.main into ``edit_case``). A case that has a
    report naming ``group`` already is not reported twice."""
    if before.flag_group_dispute or not changed.get("flag_group_dispute"):
        return None
    crime = bool(changed.get("flag_criminal_risk", before.flag_criminal_risk))
    risks = [MajorRisk.group, *([MajorRisk.crime] if crime else [])]

    async def report(conn: AsyncConnection) -> None:
        if any(MajorRisk.group in r.risks for r in await q.majors_of_case(conn, before.id)):
            return
        case = await case_queries.fetch_case(conn, before.id)  # as corrected, in this transaction
        assert case is not None
        await file_on(
            conn,
            ctx,
            case,
            actor,
            risks=risks,
            statement=f"更正时标记为群体性纠纷（涉及 {case.people_involved} 人）。案件摘要：{case.summary}",
            round_id=None,
            now=now,
        )

    return report


def on_registration(
    ctx: AppContext, body: CaseCreate, actor: Actor, now: datetime
) -> Callable[[AsyncConnection, int], Awaitable[None]] | None:
    """A dispute registered with the group-dispute flag (群体性纠纷) is reported at once to the town
    and the city centre, in the case's own transaction (wired by service.main into registration).
    (A round's dispute with its own ``major`` report is registered without this hook.)"""
    if Flag.group_dispute not in body.flags:
        return None
    risks = [MajorRisk.group, *([MajorRisk.crime] if Flag.criminal_risk in body.flags else [])]

    async def report(conn: AsyncConnection, case_id: int) -> None:
        case = await case_queries.fetch_case(conn, case_id)
        assert case is not None
        await file_on(
            conn,
            ctx,
            case,
            actor,
            risks=risks,
            statement=f"登记时标记为群体性纠纷（涉及 {case.people_involved} 人）。登记摘要：{case.summary}",
            round_id=None,
            now=now,
        )

    return report
