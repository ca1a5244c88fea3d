"""Reading the security log: filtered, newest first, a page at a time or in batches for a CSV.

Only reads. Who may read (the auditor) and the record that they read is ``service.auditor``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.audit.events import security_events
from service.clock import SHANGHAI
from service.safe_text import spreadsheet_text

# Kinds the log holds today, for the filter's choices; the column itself is open text.
KNOWN_KINDS = (
    "reveal",
    "id_copy_viewed",
    "attachment_downloaded",
    "document_downloaded",
    "dossier_downloaded",
    "privacy_export",
    "closed_cases_anonymised",
    "sign_in",
    "sign_in_failed",
    "sign_in_locked",
    "password_changed",
    "password_change_failed",
    "token_issued",
    "token_revoked",
    "user_created",
    "user_disabled",
    "user_enabled",
    "role_changed",
    "role_grant_requested",
    "role_grant_approved",
    "role_grant_rejected",
    "webhook_created",
    "webhook_disabled",
    "webhook_changed",
    "webhook_secret_rotated",
    "stats_exported",
    "security_events_read",
    "security_events_exported",
    "security_events_purged",
    "audit_trail_signed",
    "mediator_created",
    "mediator_changed",
    "mediator_deactivated",
    "mediator_reactivated",
    "roster_imported",
    "subsidy_approved",
    "subsidy_corrected",
    "subsidy_exported",
    "report_filed",
    "report_corrected",
)


@dataclass(frozen=True)
class EventFilter:
    """Which security events: every field narrows; ``unit_codes`` are the acting person's units."""

    actor: str | None = None
    unit_codes: frozenset[str] | None = None
    case_id: int | None = None
    kinds: tuple[str, ...] = ()
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def public(self) -> dict[str, Any]:
        """The filter as the record of reading it shows it (units as their count: a subtree is long)."""
        return {
            "actor": self.actor,
            "units": len(self.unit_codes) if self.unit_codes is not None else None,
            "case_id": self.case_id,
            "kinds": list(self.kinds),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass(frozen=True)
class SecurityEventRow:
    id: int
    at: datetime
    kind: str
    actor: str
    actor_role: str | None
    actor_unit_code: str | None
    case_id: int | None
    party_id: int | None
    reason: str | None
    payload: dict[str, Any]
    client_ip: str | None


_COLUMNS = (
    security_events.c.id,
    security_events.c.at,
    security_events.c.kind,
    security_events.c.actor,
    security_events.c.actor_role,
    security_events.c.actor_unit_code,
    security_events.c.case_id,
    security_events.c.party_id,
    security_events.c.reason,
    security_events.c.payload,
    security_events.c.client_ip,
)


def _where(f: EventFilter) -> list[sa.ColumnElement[bool]]:
    c = security_events.c
    where: list[sa.ColumnElement[bool]] = []
    if f.actor is not None:
        where.append(c.actor == f.actor)
    if f.unit_codes is not None:
        where.append(c.actor_unit_code.in_(sorted(f.unit_codes)))
    if f.case_id is not None:
        where.append(c.case_id == f.case_id)
    if f.kinds:
        where.append(c.kind.in_(f.kinds))
    if f.since is not None:
        where.append(c.at >= f.since)
    if f.until is not None:
        where.append(c.at < f.until)
    return where


def _row(row: Any) -> SecurityEventRow:
    return SecurityEventRow(**{**row._mapping, "payload": dict(row.payload or {})})


async def list_events(
    conn: AsyncConnection, f: EventFilter, *, limit: int, offset: int
) -> tuple[list[SecurityEventRow], int]:
    """One page, newest first, and how many match in all."""
    where = _where(f)
    rows = await conn.execute(
        sa.select(*_COLUMNS).where(*where).order_by(security_events.c.id.desc()).limit(limit).offset(offset)
    )
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(security_events).where(*where))
    ).scalar_one()
    return [_row(r) for r in rows], int(total)


async def count_events(conn: AsyncConnection, f: EventFilter) -> int:
    return int(
        (
            await conn.execute(sa.select(sa.func.count()).select_from(security_events).where(*_where(f)))
        ).scalar_one()
    )


async def events_before(
    conn: AsyncConnection, f: EventFilter, *, before_id: int | None, limit: int
) -> list[SecurityEventRow]:
    """The next batch of an export, newest first: keyed by id, so a long export never skips or
    repeats a row while new events are written."""
    where = _where(f)
    if before_id is not None:
        where.append(security_events.c.id < before_id)
    rows = await conn.execute(
        sa.select(*_COLUMNS).where(*where).order_by(security_events.c.id.desc()).limit(limit)
    )
    return [_row(r) for r in rows]


# --- CSV ------------------------------------------------------------------------------------

CSV_HEADER = (
    "id",
    "at",
    "kind",
    "actor",
    "actor_role",
    "actor_unit_code",
    "case_id",
    "party_id",
    "reason",
    "client_ip",
    "payload",
)


def neutralised(value: object) -> str:
    """A cell's text; one a spreadsheet would run as a formula (CSV injection) gets a leading
    apostrophe, which shows it as typed (``service.safe_text``, as every export writes it)."""
    return spreadsheet_text("" if value is None else str(value))


def csv_lines(rows: Iterable[SecurityEventRow], *, header: bool) -> str:
    """Rows as CSV text (``header``: the column names first); every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_HEADER)
    for r in rows:
        writer.writerow(
            neutralised(v)
            for v in (
                r.id,
                r.at.astimezone(SHANGHAI).isoformat(),
                r.kind,
                r.actor,
                r.actor_role,
                r.actor_unit_code,
                r.case_id,
                r.party_id,
                r.reason,
                r.client_ip,
                json.dumps(r.payload, ensure_ascii=False, sort_keys=True),
            )
        )
    return buffer.getvalue()
