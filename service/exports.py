"""One way for a report to leave the service as a file: the formats, their media types, the
attachment response, and the security event every export writes (to the primary, whatever engine
read the figures). Used by the statistics report, the MoJ report, filings and the subsidy ledger."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.audit.events import record_security_event
from workflows.lifecycle import Actor


class ExportFormat(StrEnum):
    """A file format for an export."""

    csv = "csv"
    xlsx = "xlsx"


class ReportFormat(StrEnum):
    """A report's format: JSON in the API, or one of the file formats."""

    json = "json"
    csv = "csv"
    xlsx = "xlsx"


MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

FILE_CONTENT: dict[str, dict[str, Any]] = {media: {} for media in MEDIA_TYPES.values()}
"""The OpenAPI `content` of a 200 that may be a CSV or an XLSX attachment."""


def file_format(value: str) -> ExportFormat | None:
    """The file format a path segment names (`csv` / `xlsx`), or None."""
    try:
        return ExportFormat(value)
    except ValueError:
        return None


def attachment_response(content: bytes, fmt: str, filename: str, *, no_store: bool = False) -> Response:
    """The file as a download named `filename` (pages add `Cache-Control: no-store`)."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if no_store:
        headers["Cache-Control"] = "no-store"
    return Response(content, media_type=MEDIA_TYPES[str(fmt)], headers=headers)


async def record_export(
    engine_or_conn: AsyncEngine | AsyncConnection,
    actor: Actor,
    kind: str,
    payload: dict[str, Any],
    *,
    client_ip: str | None,
    now: datetime,
) -> None:
    """A report leaving the service as a file is a security event, like every other export. Given an
    engine, the event is written in a transaction of its own; given a connection, in the caller's."""
    if isinstance(engine_or_conn, AsyncEngine):
        async with engine_or_conn.begin() as conn:
            await record_export(conn, actor, kind, payload, client_ip=client_ip, now=now)
        return
    await record_security_event(
        engine_or_conn,
        kind=kind,
        actor=actor.username,
        actor_role=actor.role.value,
        actor_unit_code=actor.unit_code,
        payload=payload,
        client_ip=client_ip,
        now=now,
    )
