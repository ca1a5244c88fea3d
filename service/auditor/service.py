"""Reading and exporting the security log: only an auditor, and each reading is a security event."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from service.audit import queries
from service.audit.events import record_security_event
from service.audit.queries import EventFilter, SecurityEventRow
from service.clock import SHANGHAI
from service.db import reading
from service.errors import Forbidden, field_error
from workflows.lifecycle import Actor, Role
from workflows.org import OrgTree

EXPORT_BATCH = 1000


def _aware(value: datetime | None) -> datetime | None:
    """A time given without a zone is Kunshan's."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=SHANGHAI)


def event_filter(
    org: OrgTree,
    *,
    actor: str | None = None,
    unit: str | None = None,
    case_id: int | None = None,
    kinds: list[str] | tuple[str, ...] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    prefix: str = "query",
) -> EventFilter:
    """The filter from what was asked, each mistake named (``prefix``: where the fields came from)."""
    # PostgreSQL text cannot hold NUL: refused here with the field's name, not by the database.
    for name, value in (("actor", actor), ("unit", unit), *(("kind", k) for k in kinds)):
        if value is not None and "\x00" in value:
            raise field_error(f"{prefix}.{name}", "contains a NUL character")
    if unit is not None and unit not in org:
        raise field_error(f"{prefix}.unit", f"no unit with code {unit!r}")
    since, until = _aware(since), _aware(until)
    if since is not None and until is not None and until <= since:
        raise field_error(f"{prefix}.until", "must be after since")
    return EventFilter(
        actor=actor or None,
        unit_codes=org.subtree(unit) if unit is not None else None,
        case_id=case_id,
        kinds=tuple(dict.fromkeys(k for k in kinds if k)),
        since=since,
        until=until,
    )


def require_auditor(actor: Actor) -> None:
    """The security log is the auditors' (an administrator's own actions are in it)."""
    if actor.role != Role.auditor:
        raise Forbidden("Only an auditor reads the security log.")


async def read_log(
    engine: AsyncEngine,
    actor: Actor,
    f: EventFilter,
    *,
    limit: int,
    offset: int,
    client_ip: str | None,
    now: datetime,
) -> tuple[list[SecurityEventRow], int]:
    """One page of the log, newest first, and the count; the reading itself is recorded."""
    require_auditor(actor)
    async with engine.begin() as conn:
        rows, total = await queries.list_events(conn, f, limit=limit, offset=offset)
        await record_security_event(
            conn,
            kind="security_events_read",
            actor=actor.username,
            actor_role=actor.role.value,
            actor_unit_code=actor.unit_code,
            payload={"filter": f.public(), "limit": limit, "offset": offset, "total": total},
            client_ip=client_ip,
            now=now,
        )
    return rows, total


@dataclass(frozen=True)
class Export:
    rows: int
    chunks: AsyncIterator[bytes]


async def export_log(
    engine: AsyncEngine, actor: Actor, f: EventFilter, *, client_ip: str | None, now: datetime
) -> Export:
    """The log as CSV (UTF-8 with a BOM, for Excel), every matching event up to this export,
    newest first; the export is recorded (with its filter and row count) before a byte is sent."""
    require_auditor(actor)
    async with engine.begin() as conn:
        rows = await queries.count_events(conn, f)
        export_id = await record_security_event(
            conn,
            kind="security_events_exported",
            actor=actor.username,
            actor_role=actor.role.value,
            actor_unit_code=actor.unit_code,
            payload={"filter": f.public(), "rows": rows, "format": "csv"},
            client_ip=client_ip,
            now=now,
        )

    async def chunks() -> AsyncIterator[bytes]:
        yield codecs.BOM_UTF8 + queries.csv_lines([], header=True).encode()
        # Events before this export's own record only: the file is the log as it was asked for.
        before: int | None = export_id
        while True:
            async with reading(engine) as conn:
                batch = await queries.events_before(conn, f, before_id=before, limit=EXPORT_BATCH)
            if not batch:
                return
            yield queries.csv_lines(batch, header=False).encode()
            before = batch[-1].id

    return Export(rows=rows, chunks=chunks())
