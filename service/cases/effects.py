"""What follows a case change inside the same transaction: its clocks, and who must be told."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.context import AppContext
from service.deadlines import service as deadlines
from service.notifications import service as notifications
from service.referrals import service as referrals
from workflows.lifecycle import CaseState

# Events that put a case in front of a (new) unit, and how its inbox names them.
ARRIVALS = {
    "open": "new_case",
    "dispatch": "dispatch",
    "escalate": "escalation",
    "hand_off": "hand_off",
    "delegate": "delegation",
    "decline": "returned",
    "refer_to_court": "referral",
}


async def after_change(
    conn: AsyncConnection,
    ctx: AppContext,
    *,
    case: Mapping[str, Any],
    event: str,
    from_state: CaseState | None,
    to_state: CaseState,
    from_unit: str | None,
    reason: str | None,
    actor: str,
    now: datetime,
    payload: Mapping[str, Any] | None = None,
) -> None:
    await deadlines.on_case_event(
        conn, ctx, case=case, event=event, from_state=from_state, to_state=to_state, now=now
    )
    desk = ctx.org.court_desk()
    await referrals.on_case_event(
        conn,
        case=case,
        event=event,
        payload=payload or {},
        from_state=from_state,
        to_state=to_state,
        from_unit=from_unit,
        actor=actor,
        reason=reason,
        now=now,
        court_desk=desk.code if desk else None,
    )
    note = arrival_note(case, event=event, to_state=to_state, from_unit=from_unit, reason=reason, actor=actor)
    if note is not None:
        await notifications.notify(
            conn,
            unit_code=note.unit_code,
            case_id=note.case_id,
            kind=note.kind,
            reason=note.reason,
            payload=note.payload,
            now=now,
        )


def arrival_note(
    case: Mapping[str, Any],
    *,
    event: str,
    to_state: CaseState,
    from_unit: str | None,
    reason: str | None,
    actor: str,
) -> notifications.Note | None:
    """The inbox item of the unit a case arrives at, when the event puts it in front of one."""
    kind = ARRIVALS.get(event)
    if kind is None:
        return None
    return notifications.Note(
        unit_code=case["unit_code"],
        case_id=case["id"],
        kind=kind,
        reason=reason,
        payload={
            "number": case["number"],
            "from_unit_code": from_unit,
            "state": to_state.value,
            "actor": actor,
            "dispute_type": case["dispute_type"],
        },
    )
