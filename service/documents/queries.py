"""Reads and writes of ``case_document``; listings never carry the bytes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.documents.models import CaseDocument

document: sa.Table = CaseDocument.__table__  # type: ignore[attr-defined]

META = [c for c in document.c if c.name != "content"]


@dataclass(frozen=True, slots=True)
class DocumentRow:
    id: int
    case_id: int
    kind: str
    session_id: int | None
    format: str
    version: int
    number: str | None
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    key_id: str
    generated_at: datetime
    generated_by: str


def _row(row: sa.Row[Any]) -> DocumentRow:
    return DocumentRow(**row._mapping)


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> int:
    new_id = (await conn.execute(sa.insert(document).values(values).returning(document.c.id))).scalar_one()
    return int(new_id)


async def list_for_case(conn: AsyncConnection, case_id: int) -> list[DocumentRow]:
    rows = await conn.execute(sa.select(*META).where(document.c.case_id == case_id).order_by(document.c.id))
    return [_row(r) for r in rows]


async def get(conn: AsyncConnection, case_id: int, document_id: int) -> DocumentRow | None:
    found = await conn.execute(
        sa.select(*META).where(document.c.case_id == case_id, document.c.id == document_id)
    )
    row = found.first()
    return None if row is None else _row(row)


async def latest_of_kind(
    conn: AsyncConnection, case_id: int, kind: str, session_id: int | None
) -> DocumentRow | None:
    """The newest version of the case's document of ``kind`` (of ``session_id``, for a session
    record): its number is kept on a new one."""
    of_session = (
        document.c.session_id.is_(None) if session_id is None else document.c.session_id == session_id
    )
    found = await conn.execute(
        sa.select(*META)
        .where(document.c.case_id == case_id, document.c.kind == kind, of_session)
        .order_by(document.c.version.desc())
        .limit(1)
    )
    row = found.first()
    return None if row is None else _row(row)


async def read_content(conn: AsyncConnection, document_id: int) -> bytes:
    value = (
        await conn.execute(sa.select(document.c.content).where(document.c.id == document_id))
    ).scalar_one()
    return bytes(value)
