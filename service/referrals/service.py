"""Referral records follow the case through the lifecycle, in the same transaction as the transition.

- ``hand_off`` / ``delegate`` / ``request_confirmation`` offer a referral to the receiving unit;
- the receiver's ``accept`` (or the court's ``accept_confirmation``) accepts it;
- ``decline`` declines it (a person) or returns it (the sweep: not accepted in time);
- a result at the receiver — an agreement, a termination, a closing — completes it, and the
  result goes back to the sender's inbox (agreement copy, failure report, ruling).

Which of these a trigger does is declared beside its rule (``workflows.lifecycle``, ``Effects``)
and planned by ``workflows.transition``; this module writes what was planned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from service.referrals.models import Referral
from workflows.referrals import ReferralStatus
from workflows.transition import ReferralAnswered, TransitionPlan
from workflows.vocab import ReferralKind

referral = Referral.__table__  # type: ignore[attr-defined]

OPEN = (ReferralStatus.offered.value, ReferralStatus.accepted.value)
_DECLINES = (ReferralStatus.declined, ReferralStatus.returned, ReferralStatus.withdrawn)


def opened_row(plan: TransitionPlan, *, now: datetime) -> dict[str, Any]:
    """The referral row a plan opens."""
    assert plan.opened is not None
    return {
        "case_id": plan.case_id,
        "kind": plan.opened.kind.value,
        "from_unit_code": plan.opened.from_unit_code,
        "to_unit_code": plan.opened.to_unit_code,
        "status": ReferralStatus.offered.value,
        "payload": dict(plan.opened.payload),
        "reason": plan.opened.reason,
        "offered_at": now,
        "offered_by": plan.event["actor"],
    }


def is_decline(answered: ReferralAnswered) -> bool:
    """A decline (a person's) or a return (the sweep's) records its reason."""
    return answered.status in _DECLINES


async def write(conn: AsyncConnection, plans: Sequence[TransitionPlan], *, now: datetime) -> None:
    """The referrals the plans open, answer and complete."""
    opened = [opened_row(p, now=now) for p in plans if p.opened is not None]
    if opened:
        await conn.execute(sa.insert(referral), opened)
    for p in plans:
        if p.answered is not None and p.answered.referral_ids:
            values: dict[str, Any] = {
                "status": p.answered.status.value,
                "responded_at": now,
                "responded_by": p.event["actor"],
            }
            if is_decline(p.answered):
                values["decline_reason"] = p.answered.decline_reason
            await conn.execute(
                sa.update(referral)
                .where(
                    referral.c.id.in_(p.answered.referral_ids),
                    referral.c.status.in_(OPEN),
                )
                .values(values)
            )
        if p.completed is not None:
            await conn.execute(
                sa.update(referral)
                .where(referral.c.id.in_(p.completed.referral_ids), referral.c.status.in_(OPEN))
                .values(
                    status=ReferralStatus.completed.value, result=dict(p.completed.result), completed_at=now
                )
            )


@dataclass(frozen=True, slots=True)
class ReferralRow:
    """A referral record (the ``referral`` table): who handed what to whom, and what came back."""

    id: int
    case_id: int
    kind: ReferralKind
    from_unit_code: str
    to_unit_code: str
    status: ReferralStatus
    payload: dict[str, Any]  # what the kind requires (JSON)
    reason: str | None
    offered_at: datetime
    offered_by: str
    responded_at: datetime | None
    responded_by: str | None
    decline_reason: str | None
    result: dict[str, Any] | None  # what went back to the sender (JSON)
    completed_at: datetime | None


def referral_row(m: RowMapping) -> ReferralRow:
    return ReferralRow(
        id=m["id"],
        case_id=m["case_id"],
        kind=ReferralKind(m["kind"]),
        from_unit_code=m["from_unit_code"],
        to_unit_code=m["to_unit_code"],
        status=ReferralStatus(m["status"]),
        payload=m["payload"],
        reason=m["reason"],
        offered_at=m["offered_at"],
        offered_by=m["offered_by"],
        responded_at=m["responded_at"],
        responded_by=m["responded_by"],
        decline_reason=m["decline_reason"],
        result=m["result"],
        completed_at=m["completed_at"],
    )


async def list_referrals(conn: AsyncConnection, case_id: int) -> list[ReferralRow]:
    """A case's referrals, oldest first."""
    rows = await conn.execute(
        sa.select(referral).where(referral.c.case_id == case_id).order_by(referral.c.id)
    )
    return [referral_row(r._mapping) for r in rows]
