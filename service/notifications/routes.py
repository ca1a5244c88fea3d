"""Webhook subscriptions (admin): which URLs a unit's announcements are posted to.

A target must pass ``service.config.webhooks`` (https, public addresses only) when it is set, here,
and again at every delivery. Every change is a security event; the secret is shown once, when it
is made, and kept encrypted.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Request, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from service import clock
from service.config.webhooks import TargetPolicy, UnsafeTarget
from service.context import AppContext, ContextDep
from service.db import EngineDep
from service.errors import Conflict, Forbidden, NotFound, field_error
from service.notifications.models import WebhookSubscription
from service.notifications.secrets import seal_secret
from service.notifications.service import record_webhook_event, url_for_the_record
from service.notifications.transport import Resolver, resolve_target, system_resolver
from service.users.deps import ActorDep, ClientAddress
from workflows.lifecycle import Actor, Role

subscriptions = WebhookSubscription.__table__  # type: ignore[attr-defined]


# --- webhook subscriptions ---------------------------------------------------------------------

admin = APIRouter(prefix="/api/v1/admin/webhooks", tags=["admin"])

SubscriptionId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Secret = Annotated[str, Field(min_length=16, max_length=200)]


class SubscriptionIn(BaseModel):
    unit_code: str = Field(max_length=32)
    url: AnyHttpUrl = Field(
        description="https, on a host that resolves to public addresses only (docs: webhooks)"
    )
    secret: Secret | None = Field(default=None, description="generated when omitted")


class SubscriptionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl | None = Field(default=None, description="a new target, checked like a new one")
    active: bool | None = Field(default=None, description="false stops sending; true starts again")

    @model_validator(mode="after")
    def _something(self) -> SubscriptionChange:
        if self.url is None and self.active is None:
            raise ValueError("give url, active or both")
        return self


class SecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: Secret | None = Field(default=None, description="generated when omitted")


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


def resolver(request: Request) -> Resolver:
    """The DNS resolver targets are checked with (tests put their own in ``app.state``)."""
    found: Resolver = getattr(request.app.state, "webhook_resolver", system_resolver)
    return found


async def _checked_url(url: AnyHttpUrl, ctx: AppContext, request: Request) -> str:
    """The URL, once it and every address its host resolves to pass the rules; else 422 naming
    ``body.url`` and the rule."""
    text = str(url)
    try:
        await resolve_target(
            text,
            TargetPolicy.from_settings(ctx.settings),
            resolver(request),
            resolve_seconds=ctx.settings.webhook_timeout_seconds,
        )
    except UnsafeTarget as exc:
        raise field_error("body.url", f"not an allowed webhook target: {exc}") from exc
    return text


async def _event(
    conn: AsyncConnection,
    kind: str,
    row: Any,
    actor: Actor,
    client_ip: str | None,
    now: datetime,
    changes: dict[str, Any] | None = None,
) -> None:
    await record_webhook_event(
        conn,
        kind,
        row.id,
        row.unit_code,
        row.url,
        actor=actor.username,
        actor_role=actor.role.value,
        actor_unit_code=actor.unit_code,
        client_ip=client_ip,
        now=now,
        changes=changes,
    )


async def _locked_row(conn: AsyncConnection, subscription_id: int) -> Any:
    row = (
        await conn.execute(
            sa.select(subscriptions).where(subscriptions.c.id == subscription_id).with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound(f"No webhook subscription {subscription_id}.")
    return row


def _api_managed(row: Any) -> None:
    if row.source == "config":
        raise Conflict(
            f"Webhook subscription {row.id} comes from config/webhooks.yaml: change it there "
            "(its secret comes from the environment variable named there)."
        )


@admin.get("", response_model=list[SubscriptionPublic], operation_id="list_webhooks")
async def list_webhooks(actor: ActorDep, engine: EngineDep) -> list[SubscriptionPublic]:
    """All webhook subscriptions (secrets are never shown again)."""
    _require_admin(actor)
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(subscriptions).order_by(subscriptions.c.id))).all()
    return [SubscriptionPublic.model_validate(dict(r._mapping)) for r in rows]


@admin.post("", status_code=201, response_model=SubscriptionCreated, operation_id="create_webhook")
async def create_webhook(
    body: SubscriptionIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    request: Request,
    client_ip: ClientAddress,
) -> SubscriptionCreated:
    """Send a unit's inbox events to another system as signed webhooks."""
    _require_admin(actor)
    if body.unit_code not in ctx.org:
        raise field_error("body.unit_code", f"no unit with code {body.unit_code!r}")
    url = await _checked_url(body.url, ctx, request)
    secret = body.secret or secrets.token_urlsafe(32)
    now = clock.now()
    values = {
        "unit_code": body.unit_code,
        "url": url,
        "active": True,
        "source": "api",
        "created_at": now,
    }
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                sa.insert(subscriptions)
                .values(**values, secret=seal_secret(ctx.cipher, secret))
                .returning(subscriptions.c.id, subscriptions.c.unit_code, subscriptions.c.url)
            )
        ).one()
        await _event(conn, "webhook_created", row, actor, client_ip, now)
    return SubscriptionCreated(id=row.id, secret=secret, **values)


@admin.patch("/{subscription_id}", response_model=SubscriptionPublic, operation_id="change_webhook")
async def change_webhook(
    subscription_id: SubscriptionId,
    body: SubscriptionChange,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    request: Request,
    client_ip: ClientAddress,
) -> SubscriptionPublic:
    """Point a subscription at a new URL, or stop and start sending to it."""
    _require_admin(actor)
    url = await _checked_url(body.url, ctx, request) if body.url is not None else None
    now = clock.now()
    async with engine.begin() as conn:
        row = await _locked_row(conn, subscription_id)
        _api_managed(row)
        changes: dict[str, Any] = {}
        if url is not None and url != row.url:
            changes["url"] = url
        if body.active is not None and body.active != row.active:
            changes["active"] = body.active
        if changes:
            await conn.execute(sa.update(subscriptions).where(subscriptions.c.id == row.id).values(**changes))
            recorded = {
                **changes,
                **({"url": url_for_the_record(changes["url"])} if "url" in changes else {}),
            }
            await _event(conn, "webhook_changed", row, actor, client_ip, now, changes=recorded)
        changed = (await conn.execute(sa.select(subscriptions).where(subscriptions.c.id == row.id))).one()
    return SubscriptionPublic.model_validate(dict(changed._mapping))


@admin.post(
    "/{subscription_id}/secret", response_model=SubscriptionCreated, operation_id="rotate_webhook_secret"
)
async def rotate_webhook_secret(
    subscription_id: SubscriptionId,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    client_ip: ClientAddress,
    body: SecretIn | None = None,
) -> SubscriptionCreated:
    """Give a subscription a new signing secret (shown once); the old one signs nothing more."""
    _require_admin(actor)
    secret = (body.secret if body else None) or secrets.token_urlsafe(32)
    now = clock.now()
    async with engine.begin() as conn:
        row = await _locked_row(conn, subscription_id)
        _api_managed(row)
        await conn.execute(
            sa.update(subscriptions)
            .where(subscriptions.c.id == row.id)
            .values(secret=seal_secret(ctx.cipher, secret))
        )
        await _event(conn, "webhook_secret_rotated", row, actor, client_ip, now)
    public = SubscriptionPublic.model_validate(dict(row._mapping))
    return SubscriptionCreated(**public.model_dump(), secret=secret)


@admin.delete("/{subscription_id}", status_code=204, operation_id="disable_webhook")
async def disable_webhook(
    subscription_id: SubscriptionId, actor: ActorDep, engine: EngineDep, client_ip: ClientAddress
) -> Response:
    """Stop sending to a subscription (kept, inactive, for the record)."""
    _require_admin(actor)
    async with engine.begin() as conn:
        row = await _locked_row(conn, subscription_id)
        if row.active:
            await conn.execute(
                sa.update(subscriptions).where(subscriptions.c.id == row.id).values(active=False)
            )
            await _event(conn, "webhook_disabled", row, actor, client_ip, clock.now())
    return Response(status_code=204)
