"""Webhook subscriptions (admin): which URLs a unit's announcements are posted to."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Response
from pydantic import AnyHttpUrl, BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from service import clock
from service.audit.events import record_security_event
from service.context import ContextDep
from service.db import EngineDep
from service.errors import Forbidden, NotFound
from service.notifications.models import WebhookSubscription
from service.users.deps import ActorDep, ClientAddress
from workflows.lifecycle import Actor, Role

subscriptions = WebhookSubscription.__table__  # type: ignore[attr-defined]


# --- webhook subscriptions ---------------------------------------------------------------------

admin = APIRouter(prefix="/api/v1/admin/webhooks", tags=["admin"])


class SubscriptionIn(BaseModel):
    unit_code: str = Field(max_length=32)
    url: AnyHttpUrl
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="generated when omitted"
    )


class SubscriptionPublic(BaseModel):
    id: int
    unit_code: str
    url: str
    active: bool
    source: str
    created_at: datetime


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(description="shown once: the receiver verifies X-Jiefen-Signature with it")


def _require_admin(actor: Actor) -> None:
    if actor.role != Role.admin:
        raise Forbidden("Only an administrator manages webhook subscriptions.")


@admin.get("", response_model=list[SubscriptionPublic], operation_id="list_webhooks")
async def list_webhooks(actor: ActorDep, engine: EngineDep) -> list[SubscriptionPublic]:
    """All webhook subscriptions (secrets are never shown again)."""
    _require_admin(actor)
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(subscriptions).order_by(subscriptions.c.id))).all()
    return [SubscriptionPublic.model_validate(dict(r._mapping)) for r in rows]


@admin.post("", status_code=201, response_model=SubscriptionCreated, operation_id="create_webhook")
async def create_webhook(
    body: SubscriptionIn, actor: ActorDep, engine: EngineDep, ctx: ContextDep, client_ip: ClientAddress
) -> SubscriptionCreated:
    """Send a unit's inbox events to another system as signed webhooks."""
    _require_admin(actor)
    if body.unit_code not in ctx.org:
        from service.errors import field_error

        raise field_error("body.unit_code", f"no unit with code {body.unit_code!r}")
    secret = body.secret or secrets.token_urlsafe(32)
    values = {
        "unit_code": body.unit_code,
        "url": str(body.url),
        "secret": secret,
        "active": True,
        "source": "api",
        "created_at": clock.now(),
    }
    async with engine.begin() as conn:
        new_id = (
            await conn.execute(sa.insert(subscriptions).values(**values).returning(subscriptions.c.id))
        ).scalar_one()
        await _record(
            conn,
            "webhook_created",
            actor,
            client_ip,
            subscription_id=new_id,
            unit_code=body.unit_code,
            url=str(body.url),
        )
    return SubscriptionCreated(id=new_id, **values)


@admin.delete("/{subscription_id}", status_code=204, operation_id="disable_webhook")
async def disable_webhook(
    subscription_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    actor: ActorDep,
    engine: EngineDep,
    client_ip: ClientAddress,
) -> Response:
    """Stop sending to a subscription (kept, inactive, for the record)."""
    _require_admin(actor)
    async with engine.begin() as conn:
        disabled = (
            await conn.execute(
                sa.update(subscriptions)
                .where(subscriptions.c.id == subscription_id)
                .values(active=False)
                .returning(subscriptions.c.unit_code, subscriptions.c.url)
            )
        ).first()
        if disabled is not None:
            await _record(
                conn,
                "webhook_disabled",
                actor,
                client_ip,
                subscription_id=subscription_id,
                unit_code=disabled.unit_code,
                url=disabled.url,
            )
    if disabled is None:
        raise NotFound(f"No webhook subscription {subscription_id}.")
    return Response(status_code=204)


async def _record(
    conn: AsyncConnection, kind: str, actor: Actor, client_ip: str | None, **payload: object
) -> None:
    """Where a unit's announcements are sent is a security matter: the auditors see each change."""
    await record_security_event(
        conn,
        kind=kind,
        actor=actor.username,
        actor_role=actor.role.value,
        actor_unit_code=actor.unit_code,
        payload=dict(payload),
        client_ip=client_ip,
        now=clock.now(),
    )
