"""The duty to report a risk of crime as a recorded, acknowledged act (人民调解法 art. 25).

A report goes to each receiving unit (``workflows.reporting.recipients``): a row of its own, an
audited event on the case's keyed chain, and an inbox item (with its webhook messages) for the
unit, all in one transaction. The receiving unit reads the report and a brief of the case
(parties masked) and acknowledges it once; the sweep tells the reporting unit's coordinators,
once, about a report left unacknowledged past JIEFEN_CRIME_REPORT_ACK_HOURS.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from service.cases import queries
from service.cases.report_filing import file_reports, opened, record_event
from service.cases.report_schemas import (
    AcknowledgementIn,
    CaseBrief,
    CrimeReportIn,
    CrimeReportList,
    CrimeReportPublic,
    CrimeReportView,
)
from service.cases.rows import CaseRecord, CaseRow
from service.cases.schemas import PartyPublic
from service.cases.service import transition_context, visible_row
from service.context import AppContext
from service.db import reading
from service.errors import Conflict, Forbidden, NotFound, ServiceError, StaleVersion
from service.language import answer_language
from service.notifications import service as notifications
from service.personal.crypto import DataCipher
from service.personal.sealing import mask, unseal
from service.reporting import queries as reports
from service.reporting.queries import ReportRow
from workflows.lifecycle import STATE_LABELS, Actor, CaseState, Role, handles_case
from workflows.reporting import (
    ADDRESSEE_LABELS,
    RAISED_BY_LABELS,
    Addressee,
    RaisedBy,
    ack_due_at,
    is_overdue,
    supervisor_of,
)
from workflows.transition import Announcement, caused_by

FILERS = frozenset({Role.mediator, Role.coordinator})
RECEIVERS = frozenset({Role.agency_officer, Role.mediator, Role.coordinator, Role.court_clerk})


class ReportAlreadyAcknowledged(Conflict):
    slug = "report-already-acknowledged"
    title = "The report was acknowledged already"


def report_public(ctx: AppContext, row: ReportRow, *, now: datetime) -> CrimeReportPublic:
    hours = ctx.settings.crime_report_ack_hours
    return CrimeReportPublic(
        id=row.id,
        case_id=row.case_id,
        raised_by=RaisedBy(row.raised_by),
        raised_by_label=RAISED_BY_LABELS[RaisedBy(row.raised_by)],
        from_unit_code=row.from_unit_code,
        from_unit_name=ctx.org.name_of(row.from_unit_code, answer_language()),
        to_unit_code=row.to_unit_code,
        to_unit_name=ctx.org.name_of(row.to_unit_code, answer_language()),
        addressee=Addressee(row.addressee),
        addressee_label=ADDRESSEE_LABELS[Addressee(row.addressee)],
        reported_at=row.reported_at,
        reported_by=row.reported_by,
        statement=opened(ctx.cipher, row, "statement") or "",
        preventive_steps=opened(ctx.cipher, row, "preventive_steps"),
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        ack_note=opened(ctx.cipher, row, "ack_note"),
        ack_due_at=ack_due_at(row.reported_at, hours),
        overdue=is_overdue(row.reported_at, row.acknowledged_at, now, hours),
    )


def case_brief(ctx: AppContext, row: CaseRecord) -> CaseBrief:
    return CaseBrief(
        id=row.id,
        number=row.number,
        dispute_type=row.dispute_type,
        summary=row.summary,
        location_code=row.location_code,
        location_name=ctx.org.name_of(row.location_code, answer_language()),
        state=row.state,
        state_label=STATE_LABELS[row.state],
        unit_code=row.unit_code,
        unit_name=ctx.org.name_of(row.unit_code, answer_language()),
        risk=row.risk,
        people_involved=row.people_involved,
        flags=row.flags(),
        parties=[PartyPublic.model_validate(mask(unseal(p.stored(), ctx.cipher))) for p in row.parties],
    )


async def may_file(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor, *, now: datetime
) -> bool:
    """Whether the actor may file a report on the case now (the case page offers the form)."""
    row = await visible_row(engine, ctx, case_id, actor)
    return may_file_on(ctx, row, actor, now)


def may_file_on(ctx: AppContext, row: CaseRow, actor: Actor, now: datetime) -> bool:
    return (
        actor.role in FILERS
        and row.state != CaseState.closed
        and handles_case(transition_context(ctx, row, actor, now))
    )


async def file_report(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    body: CrimeReportIn,
    actor: Actor,
    *,
    now: datetime,
    if_match: int | None,
) -> list[CrimeReportPublic]:
    """A mediator or coordinator working the case reports a risk of crime they found."""
    row = await visible_row(engine, ctx, case_id, actor)
    if if_match is not None and if_match != row.version:
        raise StaleVersion(
            f"You read version {if_match}, but the case is now at version {row.version}; reload it.",
            current_version=row.version,
        )
    if row.state == CaseState.closed:
        raise Conflict("The case is closed; report the risk as a new case.")
    if not may_file_on(ctx, row, actor, now):
        raise Forbidden("Only a mediator or coordinator working the case files its reports.")
    mass = row.flag_group_dispute if body.mass_incident is None else body.mass_incident
    async with engine.begin() as conn:
        ids = await file_reports(
            conn,
            ctx,
            row,
            actor,
            raised_by=RaisedBy.mediator,
            from_unit_code=row.unit_code,
            statement=body.statement,
            preventive_steps=body.preventive_steps,
            mass_incident=mass,
            now=now,
        )
        filed = [await reports.read_report(conn, i) for i in ids]
    return [report_public(ctx, r, now=now) for r in filed if r is not None]


# --- reading and acknowledging ------------------------------------------------------------------


async def _reachable(
    engine: AsyncEngine, ctx: AppContext, case_id: int, report_id: int, actor: Actor
) -> tuple[ReportRow, CaseRecord, bool]:
    """The report, its case, and whether the actor is of the receiving unit. Those who may see the
    case see its reports; a receiving unit sees the reports sent to it. Anyone else: 404."""
    async with reading(engine) as conn:
        found = await reports.read_report(conn, report_id)
    if found is None or found.case_id != case_id:
        raise NotFound(f"No report {report_id} on case {case_id}.")
    receiver = actor.role in RECEIVERS and actor.unit_code == found.to_unit_code
    if receiver:
        case = await queries.read_case(engine, case_id)
        assert case is not None
        return found, case, True
    try:
        return found, await visible_row(engine, ctx, case_id, actor), False
    except NotFound:
        raise NotFound(f"No report {report_id} on case {case_id}.") from None


async def read_report(
    engine: AsyncEngine, ctx: AppContext, case_id: int, report_id: int, actor: Actor, *, now: datetime
) -> CrimeReportView:
    found, case, _ = await _reachable(engine, ctx, case_id, report_id, actor)
    return CrimeReportView(report=report_public(ctx, found, now=now), case=case_brief(ctx, case))


async def acknowledge(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    report_id: int,
    body: AcknowledgementIn,
    actor: Actor,
    *,
    now: datetime,
) -> CrimeReportPublic:
    """The receiving unit confirms it has the report; once (a second acknowledgement is a 409)."""
    found, case, receiver = await _reachable(engine, ctx, case_id, report_id, actor)
    if not receiver:
        raise Forbidden(f"Only {found.to_unit_code}, which received the report, acknowledges it.")
    if found.acknowledged_at is not None:
        raise _acknowledged(found)
    async with engine.begin() as conn:
        note = ctx.cipher.encrypt(body.note, "crime_report.ack_note")
        if not await reports.acknowledge(conn, report_id, at=now, by=actor.username, note=note):
            await conn.rollback()
            current = await reports.read_report(conn, report_id)
            assert current is not None
            raise _acknowledged(current)
        name = ctx.org.name_of(found.to_unit_code) or found.to_unit_code
        await record_event(
            conn,
            case_id,
            actor,
            now,
            kind="report_ack",
            reason=f"{name}确认收到民转刑风险报告",
            payload={"crime_report": {"id": report_id, "to_unit_code": found.to_unit_code}},
        )
        await notifications.notify_many(
            conn,
            [
                Announcement(
                    found.from_unit_code,
                    case_id,
                    "crime_report_acknowledged",
                    f"{name}已确认收到 {case.number} 的民转刑风险报告",
                    {"number": case.number, "report_id": report_id, "from_unit_code": found.to_unit_code},
                    caused_by=caused_by(actor),
                )
            ],
            now=now,
        )
        done = await reports.read_report(conn, report_id)
    assert done is not None
    return report_public(ctx, done, now=now)


def _acknowledged(row: ReportRow) -> ServiceError:
    return ReportAlreadyAcknowledged(
        f"Report {row.id} was acknowledged by {row.acknowledged_by} at {row.acknowledged_at}; "
        "it is acknowledged once.",
        acknowledged_by=row.acknowledged_by,
    )


async def case_reports(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor, *, now: datetime
) -> list[CrimeReportPublic]:
    await visible_row(engine, ctx, case_id, actor)
    return await reports_of(engine, ctx, case_id, now=now)


async def reports_of(
    engine: AsyncEngine, ctx: AppContext, case_id: int, *, now: datetime
) -> list[CrimeReportPublic]:
    """The case's crime-risk reports, for a caller that has read the case for this reader."""
    async with reading(engine) as conn:
        rows = await reports.case_reports(conn, case_id)
    return [report_public(ctx, r, now=now) for r in rows]


def _units_of(actor: Actor, ctx: AppContext) -> frozenset[str] | None:
    match actor.role:
        case Role.system:
            return None
        case Role.coordinator:
            return ctx.org.subtree(actor.unit_code)
        case Role.mediator | Role.agency_officer | Role.court_clerk:
            return frozenset({actor.unit_code})
        case _:
            raise Forbidden(f"The {actor.role} role does not file or receive reports.")


async def list_reports(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, *, overdue: bool, limit: int, now: datetime
) -> CrimeReportList:
    """Reports sent by or to the actor's units (a coordinator's: the subtree); ``overdue``: only
    those past the acknowledgement time, oldest first."""
    hours = ctx.settings.crime_report_ack_hours
    async with reading(engine) as conn:
        rows = await reports.list_reports(
            conn,
            units=_units_of(actor, ctx),
            overdue_before=now - timedelta(hours=hours) if overdue else None,
            limit=limit,
        )
    return CrimeReportList(items=[report_public(ctx, r, now=now) for r in rows], ack_hours=hours)


async def notify_overdue(engine: AsyncEngine, ctx: AppContext, *, now: datetime) -> int:
    """The sweep's part: tell the reporting unit's coordinators about each report that has become
    overdue, once (the claim marks it told in the same statement). How many were told."""
    overdue_before = now - timedelta(hours=ctx.settings.crime_report_ack_hours)
    async with engine.begin() as conn:
        claimed = await reports.claim_overdue(conn, overdue_before=overdue_before, now=now)
        if not claimed:
            return 0
        numbers = {
            c.id: c.number for c in (await queries.fetch_cases(conn, [r.case_id for r in claimed])).values()
        }
        notes = []
        for r in claimed:
            notes.append(
                Announcement(
                    supervisor_of(ctx.org, r.from_unit_code).code,
                    r.case_id,
                    "crime_report_overdue",
                    f"{ctx.org.name_of(r.to_unit_code) or r.to_unit_code}未在 {ctx.settings.crime_report_ack_hours} "
                    f"小时内确认收到 {numbers.get(r.case_id, r.case_id)} 的民转刑风险报告，请跟进",
                    {
                        "number": numbers.get(r.case_id),
                        "report_id": r.id,
                        "from_unit_code": r.from_unit_code,
                        "to_unit_code": r.to_unit_code,
                    },
                )
            )
        await notifications.notify_many(conn, notes, now=now)
    return len(claimed)


async def reseal_reports(engine: AsyncEngine, cipher: DataCipher) -> int:
    """Re-encrypt every report's texts under the current data key (``jiefen privacy rotate-key``)."""
    async with engine.begin() as conn:
        rows = await reports.all_sealed(conn)
        fresh = [
            (
                report_id,
                {
                    f: cipher.encrypt(cipher.decrypt(v, f"crime_report.{f}"), f"crime_report.{f}")
                    for f, v in values.items()
                },
            )
            for report_id, values in rows
        ]
        await reports.reseal(conn, fresh)
    return len(fresh)
