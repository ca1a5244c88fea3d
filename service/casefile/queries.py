"""What the case file holds, read from the sessions, attachments, numbers and the case's trail."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.attachments.models import CaseAttachment
from service.cases.models import CaseEvent
from service.numbering.models import NumberTaken
from service.sessions.models import MediationSession

sessions = MediationSession.__table__  # type: ignore[attr-defined]
attachments = CaseAttachment.__table__  # type: ignore[attr-defined]
taken = NumberTaken.__table__  # type: ignore[attr-defined]
events = CaseEvent.__table__  # type: ignore[attr-defined]


async def session_count(conn: AsyncConnection, case_id: int) -> int:
    stmt = sa.select(sa.func.count()).select_from(sessions).where(sessions.c.case_id == case_id)
    return int((await conn.execute(stmt)).scalar_one())


async def signed_scan_count(conn: AsyncConnection, case_id: int) -> int:
    stmt = (
        sa.select(sa.func.count())
        .select_from(attachments)
        .where(
            attachments.c.case_id == case_id,
            attachments.c.kind == "signed_agreement",
            attachments.c.withdrawn_at.is_(None),
        )
    )
    return int((await conn.execute(stmt)).scalar_one())


async def file_number(conn: AsyncConnection, case_id: int) -> str | None:
    """The case's 卷宗 number as printed, if given."""
    stmt = sa.select(taken.c.text).where(taken.c.case_id == case_id, taken.c.kind == "file")
    value = (await conn.execute(stmt)).scalar()
    return None if value is None else str(value)


async def was_terminated(conn: AsyncConnection, case_id: int) -> bool:
    stmt = sa.select(sa.literal(1)).where(
        events.c.case_id == case_id, events.c.kind == "transition", events.c.to_state == "terminated"
    )
    return (await conn.execute(stmt.limit(1))).first() is not None
