"""The signed-in actor of a request, from its bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from service import clock
from service.db import EngineDep
from service.errors import Unauthorized
from service.users.service import resolve_token
from workflows.lifecycle import Actor

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def bearer_token(token: Annotated[str | None, Depends(oauth2)]) -> str:
    if not token:
        raise Unauthorized("Sign in first: send 'Authorization: Bearer <token>' (POST /api/v1/auth/token).")
    return token


async def current_actor(engine: EngineDep, token: Annotated[str, Depends(bearer_token)]) -> Actor:
    async with engine.connect() as conn:
        return await resolve_token(conn, token, now=clock.now())


ActorDep = Annotated[Actor, Depends(current_actor)]
TokenDep = Annotated[str, Depends(bearer_token)]
