"""Filing reports of a risk of crime: the rows, their audited events and the receiving units'
inbox items, in the caller's transaction. Apart from ``service.cases.reports`` so that registration
(``service.cases.service``) can file with the case without importing the read side."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases import queries
from service.cases.rows import CaseRecord
from service.context import AppContext
from service.errors import Conflict, NotFound, StaleVersion
from service.notifications import service as notifications
from service.personal.crypto import DataCipher
from service.reporting import queries as reports
from service.reporting.queries import SEALED, ReportRow
from workflows.lifecycle import Actor
from workflows.reporting import ADDRESSEE_LABELS, RaisedBy, recipients
from workflows.transition import Announcement, caused_by
from workflows.triage import TriageDecision
from workflows.triage_reasons import REPORT_REASON

# --- sealing ----------------------------------------------------------------------------------


def sealed(cipher: DataCipher, values: dict[str, Any]) -> dict[str, Any]:
    return {k: cipher.encrypt(v, f"crime_report.{k}") if k in SEALED else v for k, v in values.items()}


def opened(cipher: DataCipher, row: ReportRow, field: str) -> str | None:
    value: str | None = getattr(row, field)
    return cipher.decrypt(value, f"crime_report.{field}")


# --- writing ----------------------------------------------------------------------------------


async def record_event(
    conn: AsyncConnection,
    case_id: int,
    actor: Actor,
    now: datetime,
    *,
    kind: str,
    reason: str,
    payload: dict[str, Any],
) -> None:
    """An audited event on the case's chain that does not move the case. Read in the transaction
    and guarded by version: a concurrent change of the case is read again and chained after."""
    for _ in range(3):
        row = await queries.fetch_case(conn, case_id)
        if row is None:
            raise NotFound(f"No case {case_id}.")
        event = queries.record_event(
            row,
            kind=kind,
            at=now,
            actor=actor.username,
            actor_role=actor.role.value,
            actor_unit_code=actor.unit_code,
            reason=reason,
            payload=payload,
        )
        if await queries.add_event(conn, row, event, now=now) is not None:
            return
    raise StaleVersion(
        "The case kept changing while the report was recorded; try again.", current_version=None
    )


async def file_reports(
    conn: AsyncConnection,
    ctx: AppContext,
    case: CaseRecord,
    actor: Actor,
    *,
    raised_by: RaisedBy,
    from_unit_code: str,
    statement: str,
    preventive_steps: str | None,
    mass_incident: bool,
    now: datetime,
) -> list[int]:
    """One report per receiving unit, each with its event and its inbox item; the reports' ids."""
    sent = [
        r
        for r in recipients(ctx.org, case.location_code, mass_incident=mass_incident)
        if r.unit.code != from_unit_code  # a unit does not report to itself
    ]
    if not sent:
        raise Conflict(f"Nobody outside {from_unit_code} receives a report for this place.")
    ids: list[int] = []
    notes: list[Announcement] = []
    for recipient in sent:
        report_id = await reports.insert_report(
            conn,
            sealed(
                ctx.cipher,
                {
                    "case_id": case.id,
                    "raised_by": raised_by.value,
                    "from_unit_code": from_unit_code,
                    "to_unit_code": recipient.unit.code,
                    "addressee": recipient.addressee.value,
                    "reported_at": now,
                    "reported_by": actor.username,
                    "reported_by_role": actor.role.value,
                    "statement": statement,
                    "preventive_steps": preventive_steps,
                },
            ),
        )
        ids.append(report_id)
        # The trail says who was told, not what: the text can name people and stays sealed.
        await record_event(
            conn,
            case.id,
            actor,
            now,
            kind="crime_report",
            reason=f"依《人民调解法》第二十五条报告{recipient.unit.name}（{ADDRESSEE_LABELS[recipient.addressee]}）",
            payload={
                "crime_report": {
                    "id": report_id,
                    "raised_by": raised_by.value,
                    "to_unit_code": recipient.unit.code,
                    "addressee": recipient.addressee.value,
                }
            },
        )
        notes.append(
            Announcement(
                recipient.unit.code,
                case.id,
                "crime_report",
                f"民转刑风险报告（{ADDRESSEE_LABELS[recipient.addressee]}）：{case.number}，请查阅并确认收到",
                {
                    "number": case.number,
                    "report_id": report_id,
                    "dispute_type": case.dispute_type.value,
                    "from_unit_code": from_unit_code,
                    "addressee": recipient.addressee.value,
                },
                caused_by=caused_by(actor),
            )
        )
    await notifications.notify_many(conn, notes, now=now)
    return ids


def registration_reports(
    ctx: AppContext, decision: TriageDecision, actor: Actor, *, now: datetime
) -> Callable[[AsyncConnection, int], Awaitable[None]] | None:
    """What registration writes with the case when triage says it must be reported at once:
    the reports, in the case's own transaction (so neither is written without the other)."""
    if not decision.report:
        return None

    async def file(conn: AsyncConnection, case_id: int) -> None:
        case = await queries.fetch_case(conn, case_id)
        assert case is not None
        await file_reports(
            conn,
            ctx,
            case,
            actor,
            raised_by=RaisedBy.triage,
            from_unit_code=case.unit_code,
            statement=f"{REPORT_REASON}。登记摘要：{case.summary}",
            preventive_steps=None,
            mass_incident=case.flag_group_dispute,
            now=now,
        )

    return file
