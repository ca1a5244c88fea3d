"""Sign-in and tokens (``POST /api/v1/auth/token``, OAuth2 password form) and user administration."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service import clock
from service.context import ContextDep
from service.db import EngineDep
from service.errors import ServiceError
from service.safe_text import NoBidi
from service.users import grants, service
from service.users.deps import ActorDep, AdminDep, ClientAddress, TokenDep
from service.users.passwords import MAX_LENGTH, MIN_LENGTH, PasswordPolicy
from service.users.throttle import ThrottlePolicy
from workflows.lifecycle import Role

auth = APIRouter(prefix="/api/v1/auth", tags=["auth"])
admin = APIRouter(prefix="/api/v1/admin/users", tags=["admin"])
role_grants = APIRouter(prefix="/api/v1/admin/role-grants", tags=["admin"])

PROBLEM: dict[str, object] = {"content": {"application/problem+json": {}}}
LOCKED: dict[int | str, dict[str, object]] = {
    429: {
        "description": "too many failed sign-ins for this username from this address, from this "
        "address, or for this account; Retry-After says for how long",
        **PROBLEM,
    }
}
ADMIN_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM},
    403: {"description": "only an administrator manages users", **PROBLEM},
}
UNKNOWN_USER: dict[int | str, dict[str, object]] = {404: {"description": "no such user", **PROBLEM}}

Password = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]
GrantReason = Annotated[
    str | None,
    StringConstraints(strip_whitespace=True, max_length=500),
    NoBidi,
    Field(description="why the role is needed: shown to the approving administrator and the auditors"),
]
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
            description=f"at least {MIN_LENGTH} characters, hard to guess (a strength estimator judges "
            "it, knowing the username, the unit and the service's own words); not containing the username",
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
    display_name: Annotated[str, Field(max_length=100), NoBidi] = ""
    reason: GrantReason = None


class UnlockOut(BaseModel):
    username: str
    was_locked: bool = Field(description="whether the account, or one of its addresses, had to wait")
    counters_cleared: int = Field(description="failure counters of the account forgotten")


class UserOut(BaseModel):
    username: str
    display_name: str
    role: Role
    unit_code: str
    disabled: bool
    created_at: datetime


class RoleChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"role": "coordinator", "unit": "320583106", "reason": "张浦镇矛调中心主任"}]
        },
    )

    role: Role
    unit: Annotated[
        str | None, Field(min_length=1, max_length=32, description="the new unit's code (default: unchanged)")
    ] = None
    reason: GrantReason = None


class GrantDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: GrantReason = None


class RoleGrantOut(BaseModel):
    id: int
    username: str
    change: str = Field(description="create: a new account; change: an existing account's role")
    role: Role
    unit_code: str
    previous_role: Role | None
    previous_unit_code: str | None
    display_name: str
    status: grants.GrantStatus
    reason: str | None
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


def _grant_out(grant: grants.GrantRecord) -> RoleGrantOut:
    return RoleGrantOut.model_validate(grant, from_attributes=True)


def _pending(grant: grants.GrantRecord) -> Response:
    """202: the request waits for a second administrator; Location names it."""
    return JSONResponse(
        _grant_out(grant).model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/api/v1/admin/role-grants/{grant.id}"},
    )


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
    """Exchange a username and password for a bearer token. Repeated failures make this username
    from this address wait longer and longer; many from one address, or for one account from
    everywhere, lock that address or account for a while."""
    ttl = timedelta(hours=ctx.settings.token_ttl_hours)
    result = await service.attempt_sign_in(
        engine,
        form.username,
        form.password,
        now=clock.now(),
        ttl=ttl,
        client_ip=client_ip,
        policy=ThrottlePolicy.from_settings(ctx.settings),
    )
    if isinstance(result, ServiceError):
        raise result  # committed already: the failure stays counted and logged
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
    error = await service.change_password(
        engine,
        actor,
        body.old_password,
        body.new_password,
        now=clock.now(),
        current_token=token,
        org=ctx.org,
        client_ip=client_ip,
        policy=ThrottlePolicy.from_settings(ctx.settings),
        password_policy=PasswordPolicy.from_settings(ctx.settings),
    )
    if error is not None:
        raise error  # committed already: a wrong current password counts as a failed sign-in
    return Response(status_code=204)


# --- user administration (admin only) ---------------------------------------------------------


@admin.post(
    "",
    status_code=201,
    response_model=UserOut,
    operation_id="create_user",
    responses={
        202: {
            "model": RoleGrantOut,
            "description": "an elevated role (coordinator, auditor, admin): the request waits for a second "
            "administrator's approval (Location: the pending grant); the account does not exist yet",
        },
        **ADMIN_ERRORS,
        409: {"description": "the username is taken or reserved by a pending grant", **PROBLEM},
        422: {"description": "invalid fields, each named (the password policy among them)", **PROBLEM},
    },
)
async def create_user(
    body: UserCreate, actor: AdminDep, engine: EngineDep, ctx: ContextDep, client_ip: ClientAddress
) -> UserOut | Response:
    """Create an account. The password must meet the policy. A coordinator, auditor or admin
    account is created only when another administrator approves the request (202)."""
    async with engine.begin() as conn:
        if grants.needs_second_admin(body.role.value):
            grant = await grants.request_account(
                conn,
                username=body.username,
                password=body.password,
                role=body.role.value,
                unit_code=body.unit,
                org=ctx.org,
                now=clock.now(),
                by=actor,
                display_name=body.display_name,
                reason=body.reason,
                client_ip=client_ip,
                password_policy=PasswordPolicy.from_settings(ctx.settings),
            )
            return _pending(grant)
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
            password_policy=PasswordPolicy.from_settings(ctx.settings),
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


@admin.post(
    "/{username}/role",
    response_model=UserOut,
    operation_id="change_user_role",
    responses={
        202: {
            "model": RoleGrantOut,
            "description": "to an elevated role (coordinator, auditor, admin): the change waits for a "
            "second administrator's approval (Location: the pending grant); the role is unchanged until then",
        },
        **ADMIN_ERRORS,
        **UNKNOWN_USER,
        409: {"description": "your own role, or a grant for this user is already pending", **PROBLEM},
    },
)
async def change_user_role(
    username: Username,
    body: RoleChange,
    actor: AdminDep,
    engine: EngineDep,
    ctx: ContextDep,
    client_ip: ClientAddress,
) -> UserOut | Response:
    """Change an account's role, and its unit if given. To a lower role: at once, and the account's
    tokens carry the new role. To coordinator, auditor or admin: a request another administrator
    approves (202)."""
    async with engine.begin() as conn:
        result = await grants.change_role(
            conn,
            username,
            role=body.role.value,
            unit_code=body.unit,
            org=ctx.org,
            by=actor,
            now=clock.now(),
            reason=body.reason,
            client_ip=client_ip,
        )
    return _pending(result) if isinstance(result, grants.GrantRecord) else _out(result)


# --- role grants: the second administrator's approval ------------------------------------------

GrantId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the role grant's id")]
GRANT_ERRORS: dict[int | str, dict[str, object]] = {
    **ADMIN_ERRORS,
    404: {"description": "no such role grant", **PROBLEM},
    409: {
        "description": "already decided; or you requested it, or it grants a role to you: another "
        "administrator must approve it",
        **PROBLEM,
    },
}


@role_grants.get(
    "", response_model=list[RoleGrantOut], operation_id="list_role_grants", responses=ADMIN_ERRORS
)
async def list_role_grants(
    actor: AdminDep,
    engine: EngineDep,
    status: Annotated[
        grants.GrantStatus | None, Query(description="pending (the default), approved or rejected")
    ] = grants.GrantStatus.pending,
) -> list[RoleGrantOut]:
    """Requests for an elevated role, newest first: by default those waiting for a decision."""
    async with engine.connect() as conn:
        return [_grant_out(g) for g in await grants.list_grants(conn, status)]


@role_grants.get(
    "/{grant_id}",
    response_model=RoleGrantOut,
    operation_id="get_role_grant",
    responses={**ADMIN_ERRORS, 404: {"description": "no such role grant", **PROBLEM}},
)
async def get_role_grant(grant_id: GrantId, actor: AdminDep, engine: EngineDep) -> RoleGrantOut:
    """One request for an elevated role, and its decision."""
    async with engine.connect() as conn:
        return _grant_out(await grants.get_grant(conn, grant_id))


@role_grants.post(
    "/{grant_id}/approve",
    response_model=RoleGrantOut,
    operation_id="approve_role_grant",
    responses=GRANT_ERRORS,
)
async def approve_role_grant(
    grant_id: GrantId,
    actor: AdminDep,
    engine: EngineDep,
    ctx: ContextDep,
    client_ip: ClientAddress,
    body: GrantDecision | None = None,
) -> RoleGrantOut:
    """Approve another administrator's request: the account is created, or its role changed, now.
    The auditors are alerted."""
    async with engine.begin() as conn:
        grant = await grants.approve(
            conn,
            grant_id,
            by=actor,
            org=ctx.org,
            now=clock.now(),
            reason=body.reason if body else None,
            client_ip=client_ip,
        )
    return _grant_out(grant)


@role_grants.post(
    "/{grant_id}/reject",
    response_model=RoleGrantOut,
    operation_id="reject_role_grant",
    responses=GRANT_ERRORS,
)
async def reject_role_grant(
    grant_id: GrantId,
    actor: AdminDep,
    engine: EngineDep,
    client_ip: ClientAddress,
    body: GrantDecision | None = None,
) -> RoleGrantOut:
    """Reject a pending request (its requester may: that withdraws it). Nothing is granted."""
    async with engine.begin() as conn:
        grant = await grants.reject(
            conn,
            grant_id,
            by=actor,
            now=clock.now(),
            reason=body.reason if body else None,
            client_ip=client_ip,
        )
    return _grant_out(grant)


@admin.post(
    "/{username}/unlock",
    response_model=UnlockOut,
    operation_id="unlock_user",
    responses={**ADMIN_ERRORS, **UNKNOWN_USER},
)
async def unlock_user(
    username: Username, actor: AdminDep, engine: EngineDep, client_ip: ClientAddress
) -> UnlockOut:
    """Let someone sign in again at once: lift the account's lockout and every back-off of its
    username, and forget their failures (the addresses' own counts stay). Recorded as a security event."""
    async with engine.begin() as conn:
        unlocked = await service.unlock_user(conn, username, by=actor, now=clock.now(), client_ip=client_ip)
    return UnlockOut(
        username=username, was_locked=unlocked.locked_until is not None, counters_cleared=unlocked.counters
    )


# What service.main registers: the routers (include_router copies routes, so this comes last).
router = APIRouter()
router.include_router(auth)
router.include_router(admin)
router.include_router(role_grants)
