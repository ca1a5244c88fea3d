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
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.referrals.models import Referral
from workflows.referrals import ReferralStatus
from workflows.transition import ReferralAnswered, TransitionPlan

referral = Referral.__table__  # type: ignore[attr-defined]

OPEN = (ReferralStatus.offered.value, ReferralStatus.accepted.value)
_DECLINES = (ReferralStatus.declined, ReferralStatus.returned)


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
                    referral.c.status == ReferralStatus.offered.value,
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


async def list_referrals(conn: AsyncConnection, case_id: int) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(sa.select(referral).where(referral.c.case_id == case_id).order_by(referral.c.id))
    ).all()
    return [dict(r._mapping) for r in rows]
