"""Reads and writes of ``case_attachment``: listings never carry the bytes; the bytes are read
in slices, so a download holds neither a 10 MB value in memory nor a connection while it is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.attachments.models import CaseAttachment

attachment: sa.Table = CaseAttachment.__table__  # type: ignore[attr-defined]

META = [c for c in attachment.c if c.name != "content"]


@dataclass(frozen=True, slots=True)
class AttachmentRow:
    id: int
    case_id: int
    kind: str
    media_type: str
    filename: str
    size_bytes: int
    sha256: str
    note: str | None
    key_id: str
    uploaded_at: datetime
    uploaded_by: str
    uploaded_by_unit: str | None
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdrawn_reason: str | None
    erased_at: datetime | None = None


def _row(row: sa.Row[Any]) -> AttachmentRow:
    return AttachmentRow(**row._mapping)


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> int:
    new_id = (
        await conn.execute(sa.insert(attachment).values(values).returning(attachment.c.id))
    ).scalar_one()
    return int(new_id)


async def list_for_case(conn: AsyncConnection, case_id: int) -> list[AttachmentRow]:
    rows = await conn.execute(
        sa.select(*META).where(attachment.c.case_id == case_id).order_by(attachment.c.id)
    )
    return [_row(r) for r in rows]


async def get(conn: AsyncConnection, case_id: int, attachment_id: int) -> AttachmentRow | None:
    found = await conn.execute(
        sa.select(*META).where(attachment.c.case_id == case_id, attachment.c.id == attachment_id)
    )
    row = found.first()
    return None if row is None else _row(row)


async def current_with_hash(conn: AsyncConnection, case_id: int, sha256: str) -> AttachmentRow | None:
    """The file with these bytes already on the case and not withdrawn, if any."""
    found = await conn.execute(
        sa.select(*META)
        .where(
            attachment.c.case_id == case_id,
            attachment.c.sha256 == sha256,
            attachment.c.withdrawn_at.is_(None),
        )
        .order_by(attachment.c.id)
        .limit(1)
    )
    row = found.first()
    return None if row is None else _row(row)


async def read_slice(conn: AsyncConnection, attachment_id: int, start: int, length: int) -> bytes:
    """``length`` bytes of the content from ``start`` (0-based): substr on bytea and on BLOB alike."""
    part = sa.func.substr(attachment.c.content, start + 1, length, type_=sa.LargeBinary)
    value = (await conn.execute(sa.select(part).where(attachment.c.id == attachment_id))).scalar_one()
    return bytes(value or b"")


async def read_content(conn: AsyncConnection, attachment_id: int) -> bytes:
    value = (
        await conn.execute(sa.select(attachment.c.content).where(attachment.c.id == attachment_id))
    ).scalar_one()
    return bytes(value)


async def sealed_under_other_keys(
    conn: AsyncConnection, kid: str, *, after: int, limit: int
) -> list[AttachmentRow]:
    rows = await conn.execute(
        sa.select(*META)
        .where(attachment.c.key_id != kid, attachment.c.id > after, attachment.c.erased_at.is_(None))
        .order_by(attachment.c.id)
        .limit(limit)
    )
    return [_row(r) for r in rows]


async def replace_content(
    conn: AsyncConnection, attachment_id: int, old_kid: str, kid: str, content: bytes
) -> bool:
    """The same file sealed under another key; False if someone resealed it meanwhile."""
    done = await conn.execute(
        sa.update(attachment)
        .where(attachment.c.id == attachment_id, attachment.c.key_id == old_kid)
        .values(content=content, key_id=kid)
    )
    return done.rowcount == 1


async def mark_withdrawn(
    conn: AsyncConnection, attachment_id: int, *, at: datetime, by: str, reason: str
) -> bool:
    """Withdraw once: False if it was withdrawn meanwhile."""
    done = await conn.execute(
        sa.update(attachment)
        .where(attachment.c.id == attachment_id, attachment.c.withdrawn_at.is_(None))
        .values(withdrawn_at=at, withdrawn_by=by, withdrawn_reason=reason)
    )
    return done.rowcount == 1


async def newest_per_key(conn: AsyncConnection) -> list[AttachmentRow]:
    """The newest file sealed under each key in use (erased files hold no bytes to open)."""
    newest = (
        sa.select(sa.func.max(attachment.c.id))
        .where(attachment.c.erased_at.is_(None))
        .group_by(attachment.c.key_id)
    )
    rows = await conn.execute(sa.select(*META).where(attachment.c.id.in_(newest)).order_by(attachment.c.id))
    return [_row(r) for r in rows]


ERASED_NAME = "（已按保存期限删除）"


async def erase_case_files(conn: AsyncConnection, case_id: int, at: datetime) -> int:
    """Retention: the bytes, display name and note of every file on the case are destroyed (the
    content emptied, the name replaced); the row with its kind, type, size, SHA-256 and who added
    it stays, as do its case events. How many files were erased now."""
    done = await conn.execute(
        sa.update(attachment)
        .where(attachment.c.case_id == case_id, attachment.c.erased_at.is_(None))
        .values(content=b"", filename=ERASED_NAME, note=None, erased_at=at)
    )
    return int(done.rowcount or 0)
