"""What the case file holds, read from the sessions, attachments, numbers and the case's trail."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Holding:
    """What lies in a case's file beside its own row."""

    sessions: int = 0
    signed_scans: int = 0
    file_number: str | None = None
    terminated: bool = False


async def holdings(conn: AsyncConnection, case_ids: Collection[int]) -> dict[int, Holding]:
    """Each case's holding (a case with nothing gets the empty ``Holding()``), in four reads."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    counted_sessions: dict[int, int] = {
        row[0]: int(row[1])
        for row in await conn.execute(
            sa.select(sessions.c.case_id, sa.func.count())
            .where(sessions.c.case_id.in_(ids))
            .group_by(sessions.c.case_id)
        )
    }
    scans: dict[int, int] = {
        row[0]: int(row[1])
        for row in await conn.execute(
            sa.select(attachments.c.case_id, sa.func.count())
            .where(
                attachments.c.case_id.in_(ids),
                attachments.c.kind == "signed_agreement",
                attachments.c.withdrawn_at.is_(None),
            )
            .group_by(attachments.c.case_id)
        )
    }
    numbers: dict[int, str] = {
        row[0]: str(row[1])
        for row in await conn.execute(
            sa.select(taken.c.case_id, taken.c.text).where(taken.c.case_id.in_(ids), taken.c.kind == "file")
        )
    }
    ended = {
        row[0]
        for row in await conn.execute(
            sa.select(events.c.case_id)
            .where(
                events.c.case_id.in_(ids), events.c.kind == "transition", events.c.to_state == "terminated"
            )
            .distinct()
        )
    }
    return {
        i: Holding(
            sessions=counted_sessions.get(i, 0),
            signed_scans=scans.get(i, 0),
            file_number=numbers.get(i),
            terminated=i in ended,
        )
        for i in ids
    }
