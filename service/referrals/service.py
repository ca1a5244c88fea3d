"""Referral records follow the case through the lifecycle, in the same transaction as the transition.

- ``hand_off`` / ``delegate`` / ``request_confirmation`` offer a referral to the receiving unit;
- the receiver's ``accept`` (or the court's ``accept_confirmation``) accepts it;
- ``decline`` declines it (a person) or returns it (the sweep: not accepted in time);
- a result at the receiver — an agreement, a termination, a closing — completes it, and the
  result goes back to the sender's inbox (agreement copy, failure report, ruling).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.notifications import service as notifications
from service.referrals.models import Referral
from workflows.lifecycle import SYSTEM_ACTOR_NAME, CaseState
from workflows.referrals import REFERRAL_LABELS, RETURNS, ReferralStatus
from workflows.vocab import ReferralKind

referral = Referral.__table__  # type: ignore[attr-defined]

OPEN = (ReferralStatus.offered.value, ReferralStatus.accepted.value)
RESULT_STATES = {CaseState.settled, CaseState.terminated, CaseState.closed}


def _offer(
    event: str, payload: Mapping[str, Any], case: Mapping[str, Any], court_desk: str | None
) -> tuple[ReferralKind, dict[str, Any], str] | None:
    """(kind, payload, receiving unit) when this event offers a referral."""
    if event == "hand_off":
        kind = ReferralKind(payload["referral_kind"])
        return kind, dict(payload.get("referral_payload") or {}), case["unit_code"]
    if event == "delegate":
        details = {
            "court_case_number": payload["court_case_number"],
            "procedure": payload["procedure"],
            "materials": payload.get("materials", []),
        }
        kind = (
            ReferralKind.court_assignment
            if payload["procedure"] == "assignment"
            else ReferralKind.court_delegation
        )
        return kind, details, case["unit_code"]
    if event == "request_confirmation" and court_desk is not None:
        # The parties and the mediation unit apply; the case stays with the unit meanwhile.
        return ReferralKind.judicial_confirmation, {"agreement": case.get("agreement")}, court_desk
    return None


def _result(case: Mapping[str, Any], to_state: CaseState, event: str) -> dict[str, Any]:
    result: dict[str, Any] = {"event": event, "state": to_state.value}
    if to_state == CaseState.settled:
        result["agreement"] = case.get("agreement")
    if case.get("termination_reason") and to_state == CaseState.terminated:
        result["termination_reason"] = case["termination_reason"]
    if case.get("outcome"):
        result["outcome"] = case["outcome"]
    return result


OFFERS = ("hand_off", "delegate", "request_confirmation")
RESPONSES = ("accept", "accept_confirmation", "decline")


@dataclass(frozen=True)
class Response:
    """What a response event (``RESPONSES``) writes to the referral it answers."""

    event: str
    status: str
    from_unit: str | None  # a decline answers the referral offered to the unit it leaves
    actor: str
    reason: str | None


def response_to(event: str, *, from_unit: str | None, actor: str, reason: str | None) -> Response | None:
    """The referral answer ``on_case_event`` writes for this event; None if it answers none."""
    if event in ("accept", "accept_confirmation"):
        return Response(event, ReferralStatus.accepted.value, from_unit, actor, reason)
    if event == "decline" and from_unit is not None:
        # The sweep returns a referral nobody accepted in time; a person declines it.
        status = ReferralStatus.returned if actor == SYSTEM_ACTOR_NAME else ReferralStatus.declined
        return Response(event, status.value, from_unit, actor, reason)
    return None


def response_update(
    event: str,
    *,
    case_id: Any,
    unit_code: Any,
    from_unit: Any,
    status: Any,
    actor: Any,
    reason: Any,
    now: Any,
) -> sa.Update:
    """The UPDATE of the offered referral a response answers, from values or SQL expressions
    (the transition written in one statement passes its case CTE's columns and bound values)."""
    where = [referral.c.case_id == case_id, referral.c.status == ReferralStatus.offered.value]
    values = {"status": status, "responded_at": now, "responded_by": actor}
    if event == "accept_confirmation":
        where.append(referral.c.kind == ReferralKind.judicial_confirmation.value)
    elif event == "accept":
        where.append(referral.c.to_unit_code == unit_code)
    else:
        where.append(referral.c.to_unit_code == from_unit)
        values["decline_reason"] = reason
    return sa.update(referral).where(*where).values(values)


def affects_referrals(event: str, from_state: CaseState | None, to_state: CaseState) -> bool:
    """Whether ``on_case_event`` has anything to do for this event (the sweep's batches rely on
    escalations having nothing to do here)."""
    return event in OFFERS or event in RESPONSES or (to_state in RESULT_STATES and from_state != to_state)


async def on_case_event(
    conn: AsyncConnection,
    *,
    case: Mapping[str, Any],
    event: str,
    payload: Mapping[str, Any],
    from_state: CaseState | None,
    to_state: CaseState,
    from_unit: str | None,
    actor: str,
    reason: str | None,
    now: datetime,
    court_desk: str | None,
) -> None:
    case_id = case["id"]
    offer = _offer(event, payload, case, court_desk)
    if offer is not None and from_unit is not None:
        kind, details, receiver = offer
        await conn.execute(
            sa.insert(referral).values(
                case_id=case_id,
                kind=kind.value,
                from_unit_code=from_unit,
                to_unit_code=receiver,
                status=ReferralStatus.offered.value,
                payload=details,
                reason=reason,
                offered_at=now,
                offered_by=actor,
            )
        )
        # Both units see the referral: the receiver as an arrival, the sender as sent.
        await notifications.notify(
            conn,
            unit_code=from_unit,
            case_id=case_id,
            kind="referral_sent",
            reason=reason,
            payload={
                "number": case["number"],
                "referral_kind": kind.value,
                "label": REFERRAL_LABELS[kind],
                "to_unit_code": receiver,
                "expects_back": RETURNS[kind],
            },
            now=now,
        )
        return
    response = response_to(event, from_unit=from_unit, actor=actor, reason=reason)
    if response is not None:
        await conn.execute(
            response_update(
                event,
                case_id=case_id,
                unit_code=case["unit_code"],
                from_unit=from_unit,
                status=response.status,
                actor=actor,
                reason=reason,
                now=now,
            )
        )
        return
    if to_state in RESULT_STATES and from_state != to_state:
        await _complete(conn, case, to_state, event, now)


async def _complete(
    conn: AsyncConnection, case: Mapping[str, Any], to_state: CaseState, event: str, now: datetime
) -> None:
    accepted = (
        await conn.execute(
            sa.select(referral.c.id, referral.c.kind, referral.c.from_unit_code).where(
                referral.c.case_id == case["id"],
                sa.or_(
                    referral.c.status == ReferralStatus.accepted.value,
                    # The court may rule on an application without a separate acceptance step.
                    sa.and_(
                        referral.c.status == ReferralStatus.offered.value,
                        referral.c.kind == ReferralKind.judicial_confirmation.value,
                    ),
                ),
            )
        )
    ).all()
    result = _result(case, to_state, event)
    for row in accepted:
        await conn.execute(
            sa.update(referral)
            .where(referral.c.id == row.id)
            .values(status=ReferralStatus.completed.value, result=result, completed_at=now)
        )
        # The return message the sender is owed: agreement copy, failure report, ruling.
        await notifications.notify(
            conn,
            unit_code=row.from_unit_code,
            case_id=case["id"],
            kind="referral_result",
            reason=f"{REFERRAL_LABELS[ReferralKind(row.kind)]}结果: {to_state.value}",
            payload={
                "number": case["number"],
                "referral_id": row.id,
                "referral_kind": row.kind,
                "result": result,
            },
            now=now,
        )


async def list_referrals(conn: AsyncConnection, case_id: int) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(sa.select(referral).where(referral.c.case_id == case_id).order_by(referral.c.id))
    ).all()
    return [dict(r._mapping) for r in rows]
