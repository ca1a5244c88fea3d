"""The signed-in actor of a request, from its bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from service import clock
from service.errors import Forbidden, Unauthorized
from service.http_safety import client_ip
from service.users.service import actor_for_token
from workflows.lifecycle import Actor, Role

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


NOT_SIGNED_IN = "Sign in first: send 'Authorization: Bearer <token>' (POST /api/v1/auth/token)."


async def bearer_token(token: Annotated[str | None, Depends(oauth2)]) -> str:
    if not token:
        raise Unauthorized(NOT_SIGNED_IN)
    return token


async def current_actor(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    # One dependency level, not three (token → bearer → engine): FastAPI solving dependencies
    # was a tenth of a transition's CPU. ``oauth2`` stays for the OpenAPI security scheme.
    if not token:
        raise Unauthorized(NOT_SIGNED_IN)
    return await actor_for_token(request.app.state.engine, token, now=clock.now())


ActorDep = Annotated[Actor, Depends(current_actor)]
TokenDep = Annotated[str, Depends(bearer_token)]


async def current_admin(actor: ActorDep) -> Actor:
    if actor.role != Role.admin:
        raise Forbidden("Only an administrator may manage user accounts.")
    return actor


AdminDep = Annotated[Actor, Depends(current_admin)]


async def client_address(request: Request) -> str | None:
    # async: FastAPI runs a plain-def dependency in a worker thread, a hop on every request.
    return client_ip(request)


ClientAddress = Annotated[str | None, Depends(client_address)]
