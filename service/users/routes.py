"""Sign-in and tokens (``POST /api/v1/auth/token``, OAuth2 password form) and user administration."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from service import clock
from service.context import ContextDep
from service.db import EngineDep
from service.errors import ServiceError
from service.users import service
from service.users.deps import ActorDep, AdminDep, ClientAddress, TokenDep
from service.users.passwords import MAX_LENGTH
from service.users.throttle import ThrottlePolicy
from workflows.lifecycle import Role

auth = APIRouter(prefix="/api/v1/auth", tags=["auth"])
admin = APIRouter(prefix="/api/v1/admin/users", tags=["admin"])

PROBLEM: dict[str, object] = {"content": {"application/problem+json": {}}}
LOCKED: dict[int | str, dict[str, object]] = {
    429: {
        "description": "too many failed sign-ins for this username or address; Retry-After says for how long",
        **PROBLEM,
    }
}
ADMIN_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM},
    403: {"description": "only an administrator manages users", **PROBLEM},
}
UNKNOWN_USER: dict[int | str, dict[str, object]] = {404: {"description": "no such user", **PROBLEM}}

Password = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]
Username = Annotated[str, Path(min_length=1, max_length=64, description="the user's sign-in name")]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    username: str
    role: Role
    unit_code: str
    unit_name: str | None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    old_password: Password
    new_password: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_LENGTH,
            description="at least 10 characters using 3 of: lower case, upper case, digits, symbols — "
            "or at least 16 characters; not containing the username; not a common password",
        ),
    ]


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "huaqiao.mediator",
                    "password": "Qiao-tou 2026 调解",
                    "role": "mediator",
                    "unit": "320583106005",
                    "display_name": "大市社区调解员 赵敏",
                }
            ]
        },
    )

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]
    role: Role
    unit: Annotated[str, Field(min_length=1, max_length=32, description="the code of the user's unit")]
    display_name: Annotated[str, Field(max_length=100)] = ""


class UserOut(BaseModel):
    username: str
    display_name: str
    role: Role
    unit_code: str
    disabled: bool
    created_at: datetime


def _out(user: service.UserRecord) -> UserOut:
    return UserOut(
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        unit_code=user.unit_code,
        disabled=user.disabled,
        created_at=user.created_at,
    )


# --- sign-in ----------------------------------------------------------------------------------


@auth.post(
    "/token",
    response_model=TokenOut,
    operation_id="sign_in",
    responses={401: {"description": "wrong username or password", **PROBLEM}, **LOCKED},
)
async def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
    ctx: ContextDep,
    client_ip: ClientAddress,
) -> TokenOut:
    """Exchange a username and password for a bearer token. Repeated failures lock the name and address."""
    ttl = timedelta(hours=ctx.settings.token_ttl_hours)
    async with engine.begin() as conn:
        result = await service.attempt_sign_in(
            conn,
            form.username,
            form.password,
            now=clock.now(),
            ttl=ttl,
            client_ip=client_ip,
            policy=ThrottlePolicy.from_settings(ctx.settings),
        )
    if isinstance(result, ServiceError):
        raise result  # after the commit: the failure stays counted and logged
    token, _ = result
    return TokenOut(access_token=token, expires_in=int(ttl.total_seconds()))


@auth.post("/revoke", status_code=204, operation_id="revoke_token")
async def revoke(token: TokenDep, actor: ActorDep, engine: EngineDep, client_ip: ClientAddress) -> Response:
    """Revoke the token this request was made with (sign out)."""
    async with engine.begin() as conn:
        await service.revoke_token(conn, token, now=clock.now(), by=actor, client_ip=client_ip)
    return Response(status_code=204)


@auth.get("/me", response_model=Me, operation_id="who_am_i")
async def me(actor: ActorDep, ctx: ContextDep) -> Me:
    """The signed-in user, their role and unit."""
    unit = ctx.org.find(actor.unit_code)
    return Me(
        username=actor.username,
        role=actor.role,
        unit_code=actor.unit_code,
        unit_name=unit.name if unit else None,
    )


@auth.post(
    "/password",
    status_code=204,
    operation_id="change_password",
    responses={
        401: {"description": "not signed in", **PROBLEM},
        422: {"description": "the current password is wrong, or the new one breaks the policy", **PROBLEM},
        **LOCKED,
    },
)
async def change_password(
    body: PasswordChange,
    actor: ActorDep,
    token: TokenDep,
    engine: EngineDep,
    ctx: ContextDep,
    client_ip: ClientAddress,
) -> Response:
    """Change your own password. Your other sessions are signed out; this token keeps working."""
    async with engine.begin() as conn:
        error = await service.change_password(
            conn,
            actor,
            body.old_password,
            body.new_password,
            now=clock.now(),
            current_token=token,
            client_ip=client_ip,
            policy=ThrottlePolicy.from_settings(ctx.settings),
        )
    if error is not None:
        raise error  # after the commit: a wrong current password counts as a failed sign-in
    return Response(status_code=204)


# --- user administration (admin only) ---------------------------------------------------------


@admin.post(
    "",
    status_code=201,
    response_model=UserOut,
    operation_id="create_user",
    responses={
        **ADMIN_ERRORS,
        409: {"description": "the username is taken", **PROBLEM},
        422: {"description": "invalid fields, each named (the password policy among them)", **PROBLEM},
    },
)
async def create_user(
    body: UserCreate, actor: AdminDep, engine: EngineDep, ctx: ContextDep, client_ip: ClientAddress
) -> UserOut:
    """Create an account. The password must meet the policy."""
    async with engine.begin() as conn:
        await service.create_user(
            conn,
            username=body.username,
            password=body.password,
            role=body.role.value,
            unit_code=body.unit,
            org=ctx.org,
            now=clock.now(),
            display_name=body.display_name,
            by=actor,
            client_ip=client_ip,
        )
        return _out(await service.get_user(conn, body.username))


@admin.get("", response_model=list[UserOut], operation_id="list_users", responses=ADMIN_ERRORS)
async def list_users(actor: AdminDep, engine: EngineDep) -> list[UserOut]:
    """Every account, by username."""
    async with engine.connect() as conn:
        return [_out(user) for user in await service.list_users(conn)]


@admin.post(
    "/{username}/disable",
    response_model=UserOut,
    operation_id="disable_user",
    responses={
        **ADMIN_ERRORS,
        **UNKNOWN_USER,
        409: {"description": "you cannot disable yourself", **PROBLEM},
    },
)
async def disable_user(
    username: Username, actor: AdminDep, engine: EngineDep, client_ip: ClientAddress
) -> UserOut:
    """Disable an account: it can no longer sign in, and every token it holds is revoked."""
    async with engine.begin() as conn:
        user = await service.set_disabled(
            conn, username, True, by=actor, now=clock.now(), client_ip=client_ip
        )
    return _out(user)


@admin.post(
    "/{username}/enable",
    response_model=UserOut,
    operation_id="enable_user",
    responses={**ADMIN_ERRORS, **UNKNOWN_USER},
)
async def enable_user(
    username: Username, actor: AdminDep, engine: EngineDep, client_ip: ClientAddress
) -> UserOut:
    """Enable an account again (it signs in anew: revoked tokens stay revoked) and lift a sign-in lockout."""
    async with engine.begin() as conn:
        user = await service.set_disabled(
            conn, username, False, by=actor, now=clock.now(), client_ip=client_ip
        )
    return _out(user)


# What service.main registers: both routers (include_router copies routes, so this comes last).
router = APIRouter()
router.include_router(auth)
router.include_router(admin)
