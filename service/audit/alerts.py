"""Alerts to the auditors: an inbox item, at the unit of each active auditor, that only auditors see.

Raised in the transaction of what they are about, so an alert exists exactly when its cause does:

- a role above a mediator's granted (``ELEVATED_ROLES``: coordinator, auditor, admin);
- a reveal of personal data outside working hours: a day off of the business calendar (调休
  included), or before ``JIEFEN_ALERT_OFFICE_OPENS`` / from ``JIEFEN_ALERT_OFFICE_CLOSES`` on;
- more than ``JIEFEN_ALERT_REVEALS_PER_DAY`` reveals by one person in one Kunshan day — one alert
  per person per day, however many more follow (a unique ``dedupe_key`` decides, not a read).

An alert names the case in its payload, never as the item's case: the inbox hides items about a
sensitive case from auditors, and an alert must never be hidden from them. Alerts go to no
webhook: a unit's subscription is for its case work, not for the auditors' findings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from service.audit.events import security_events
from service.clock import SHANGHAI
from service.config.settings import Settings
from service.db import JSONType, UTCDateTime
from workflows.calendar import BusinessCalendar
from workflows.lifecycle import Actor, Role

AUDIENCE = Role.auditor.value  # inbox items with this audience show to auditors only

# The inbox and the accounts by name, not by their models: service.users and service.notifications
# both record security events, so service.audit sits below them and cannot import them.
inbox = sa.table(
    "inbox_item",
    sa.column("unit_code", sa.String),
    sa.column("case_id", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("reason", sa.Text),
    sa.column("payload", JSONType),
    sa.column("created_at", UTCDateTime()),
    sa.column("audience", sa.String),
    sa.column("dedupe_key", sa.String),
)
accounts = sa.table(
    "app_user",
    sa.column("unit_code", sa.String),
    sa.column("role", sa.String),
    sa.column("disabled", sa.Boolean),
)


@dataclass(frozen=True)
class AlertPolicy:
    office_opens: time = time(8, 30)
    office_closes: time = time(17, 30)
    reveals_per_day: int = 20

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertPolicy:
        return cls(settings.alert_office_opens, settings.alert_office_closes, settings.alert_reveals_per_day)


def after_hours(at: datetime, calendar: BusinessCalendar, policy: AlertPolicy) -> bool:
    """Outside working hours: a day off of the calendar, or outside the office hours of a working day."""
    return not calendar.within_working_hours(at, policy.office_opens, policy.office_closes)


def kunshan_day(at: datetime) -> tuple[datetime, datetime]:
    """The Kunshan calendar day holding ``at``, as [start, end)."""
    start = datetime.combine(at.astimezone(SHANGHAI).date(), time(0), tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


async def auditor_units(conn: AsyncConnection, *, fallback_unit: str) -> list[str]:
    """Where the auditors sit: the units of the active auditor accounts, or (none yet) ``fallback_unit``,
    the city centre, where the first auditor will find what happened before them."""
    units = (
        await conn.execute(
            sa.select(accounts.c.unit_code)
            .where(accounts.c.role == AUDIENCE, accounts.c.disabled.is_(False))
            .distinct()
            .order_by(accounts.c.unit_code)
        )
    ).scalars()
    return list(units) or [fallback_unit]


async def raise_alert(
    conn: AsyncConnection,
    *,
    kind: str,
    reason: str,
    payload: dict[str, Any],
    fallback_unit: str,
    now: datetime,
    dedupe_key: str | None = None,
) -> None:
    """One inbox item per auditors' unit; with ``dedupe_key``, none where one with that key exists."""
    rows = [
        {
            "unit_code": unit,
            "case_id": None,
            "kind": kind,
            "reason": reason,
            "payload": payload,
            "created_at": now,
            "audience": AUDIENCE,
            "dedupe_key": f"{dedupe_key}@{unit}" if dedupe_key else None,
        }
        for unit in await auditor_units(conn, fallback_unit=fallback_unit)
    ]
    if dedupe_key is None:
        await conn.execute(sa.insert(inbox), rows)
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    # Two reveals committing at once both count past the limit: the unique key keeps one alert.
    await conn.execute(insert(inbox).on_conflict_do_nothing(), rows)


async def after_reveal(
    conn: AsyncConnection,
    *,
    actor: Actor,
    case_id: int,
    party_id: int,
    calendar: BusinessCalendar,
    policy: AlertPolicy,
    fallback_unit: str,
    now: datetime,
) -> None:
    """The alerts a reveal raises, once its security event is written in ``conn``'s transaction."""
    who = {"user": actor.username, "role": actor.role.value, "unit_code": actor.unit_code}
    local = now.astimezone(SHANGHAI)
    if after_hours(now, calendar, policy):
        await raise_alert(
            conn,
            kind="reveal_after_hours",
            reason=f"{actor.username} 于非工作时间（{local:%Y-%m-%d %H:%M}）查看当事人个人信息",
            payload={**who, "case_id": case_id, "party_id": party_id, "at": now.isoformat()},
            fallback_unit=fallback_unit,
            now=now,
        )
    start, end = kunshan_day(now)
    c = security_events.c
    count = (
        await conn.execute(
            sa.select(sa.func.count())
            .select_from(security_events)
            .where(c.actor == actor.username, c.at >= start, c.at < end, c.kind == "reveal")
        )
    ).scalar_one()
    if count > policy.reveals_per_day:
        day = start.date().isoformat()
        await raise_alert(
            conn,
            kind="reveal_volume",
            reason=f"{actor.username} 于 {day} 查看当事人个人信息超过 {policy.reveals_per_day} 次",
            payload={**who, "day": day, "limit": policy.reveals_per_day, "count": int(count)},
            fallback_unit=fallback_unit,
            now=now,
            dedupe_key=f"reveal_volume:{day}:{actor.username}",
        )


async def after_role_grant(
    conn: AsyncConnection,
    *,
    username: str,
    role: str,
    unit_code: str,
    requested_by: str,
    approved_by: str | None,
    grant_id: int | None,
    fallback_unit: str,
    now: datetime,
) -> None:
    """A role above a mediator's took effect (approved by a second admin, or created at the console)."""
    by = f"{requested_by} 申请、{approved_by} 批准" if approved_by else f"{requested_by} 创建"
    await raise_alert(
        conn,
        kind="role_granted",
        reason=f"{username} 获得 {role} 角色（{unit_code}）：{by}",
        payload={
            "user": username,
            "role": role,
            "unit_code": unit_code,
            "requested_by": requested_by,
            "approved_by": approved_by,
            "grant_id": grant_id,
        },
        fallback_unit=fallback_unit,
        now=now,
        dedupe_key=f"role_grant:{grant_id}" if grant_id is not None else None,
    )
