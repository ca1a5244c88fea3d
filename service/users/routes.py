"""Sign-in and tokens: ``POST /api/v1/auth/token`` (OAuth2 password form) and friends."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from service import clock
from service.context import ContextDep
from service.db import EngineDep
from service.users import service
from service.users.deps import ActorDep, TokenDep
from workflows.lifecycle import Role

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    username: str
    role: Role
    unit_code: str
    unit_name: str | None


@router.post("/token", response_model=TokenOut, operation_id="sign_in")
async def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], engine: EngineDep, ctx: ContextDep
) -> TokenOut:
    """Exchange a username and password for a bearer token."""
    ttl = timedelta(hours=ctx.settings.token_ttl_hours)
    async with engine.begin() as conn:
        token, _ = await service.sign_in(conn, form.username, form.password, now=clock.now(), ttl=ttl)
    return TokenOut(access_token=token, expires_in=int(ttl.total_seconds()))


@router.post("/revoke", status_code=204, operation_id="revoke_token")
async def revoke(token: TokenDep, actor: ActorDep, engine: EngineDep) -> Response:
    """Revoke the token this request was made with (sign out)."""
    async with engine.begin() as conn:
        await service.revoke_token(conn, token, now=clock.now())
    return Response(status_code=204)


@router.get("/me", response_model=Me, operation_id="who_am_i")
async def me(actor: ActorDep, ctx: ContextDep) -> Me:
    """The signed-in user, their role and unit."""
    unit = ctx.org.find(actor.unit_code)
    return Me(
        username=actor.username,
        role=actor.role,
        unit_code=actor.unit_code,
        unit_name=unit.name if unit else None,
    )
