"""Revealing a party's personal data in full: a reason, the right role and scope, an audit record."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service import clock
from service.audit import alerts
from service.audit.events import record_security_event
from service.cases.service import transition_context, visible_row
from service.cases.snapshot import snapshot
from service.context import ContextDep
from service.db import EngineDep
from service.errors import Forbidden, NotFound
from service.http_safety import client_ip
from service.personal.sealing import unseal
from service.privacy.scope import may_reveal
from service.safe_text import NoBidi
from service.users.deps import ActorDep

router = APIRouter(prefix="/api/v1", tags=["privacy"])

PersonalField = Literal["id_number", "phone", "address"]
ALL_FIELDS: tuple[PersonalField, ...] = ("id_number", "phone", "address")


class RevealIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "电话通知当事人参加调解", "fields": ["phone"]}]},
    )

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500), NoBidi]
    fields: list[PersonalField] = Field(default_factory=lambda: list(ALL_FIELDS), min_length=1)


class Revealed(BaseModel):
    party_id: int
    name: str
    id_number: str | None = None
    phone: str | None = None
    address: str | None = None


@router.post(
    "/cases/{case_id}/parties/{party_id}/reveal",
    response_model=Revealed,
    response_model_exclude_unset=True,
    operation_id="reveal_party",
    responses={
        403: {
            "description": "your role may not see personal data in full, or not now (a court clerk: "
            "only while the court has the case)"
        }
    },
)
async def reveal(
    case_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    party_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: RevealIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    request: Request,
) -> Revealed:
    """Show a party's ID number, phone or address in full. You must say why; the auditor sees it in
    the security log (GET /api/v1/security-events), and is alerted to reveals outside working
    hours and to more than the day's limit by one person."""
    now = clock.now()
    row = await visible_row(engine, ctx, case_id, actor)
    if not may_reveal(transition_context(ctx, row, actor, now), snapshot(row)):
        raise Forbidden(
            "Only those handling this case may see personal data in full; a court clerk only while "
            "the court has the case (its queue, a claim, an open delegation or confirmation)."
        )
    sealed = next((p for p in row.parties if p.id == party_id), None)
    if sealed is None:
        raise NotFound(f"Case {case_id} has no party {party_id}.")
    opened = unseal(sealed.stored(), ctx.cipher)
    wanted = list(dict.fromkeys(body.fields))
    async with engine.begin() as conn:
        await record_security_event(
            conn,
            kind="reveal",
            actor=actor.username,
            actor_role=actor.role.value,
            actor_unit_code=actor.unit_code,
            case_id=case_id,
            party_id=party_id,
            reason=body.reason,
            payload={"fields": wanted},
            client_ip=client_ip(request),
            now=now,
        )
        await alerts.after_reveal(
            conn,
            actor=actor,
            case_id=case_id,
            party_id=party_id,
            calendar=ctx.calendar,
            policy=alerts.AlertPolicy.from_settings(ctx.settings),
            fallback_unit=ctx.org.city_centre().code,
            now=now,
        )
    return Revealed(party_id=party_id, name=opened["name"], **{f: opened.get(f) for f in wanted})
