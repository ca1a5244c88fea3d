"""People and machines that sign in, and the bearer tokens they hold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Text, text
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=32)
    unit_code: str = Field(sa_column=Column(String(32), ForeignKey("unit.code"), nullable=False))
    disabled: bool = False
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ApiToken(SQLModel, table=True):
    """Only the SHA-256 of a token is stored: a leaked table grants nothing."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_user", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="app_user.id")
    kind: str = Field(max_length=16)  # session | machine
    name: str = Field(default="", max_length=100)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins counted per username, per client address and per (username, address)
    pair, shared by every API replica (service.users.throttle).

    ``scope`` is ``user``, ``address`` or ``pair``; ``subject`` the username (or a digest of an
    unusable one), the address, or the address and the username; ``account`` the username of a
    ``user`` or ``pair`` row, so an administrator's unlock finds them all. Nothing here says
    whether a username exists.
    """

    __tablename__ = "sign_in_throttle"
    __table_args__ = (
        Index("ix_sign_in_throttle_last_failure", "last_failure_at"),
        Index("ix_sign_in_throttle_account", "account"),
    )

    scope: str = Field(primary_key=True, max_length=16)
    subject: str = Field(primary_key=True, max_length=128)
    account: str | None = Field(default=None, max_length=128)
    failures: int = 0
    first_failure_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_failure_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    locked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class RoleGrant(SQLModel, table=True):
    """A request for a role above a mediator's (a new account with it, or a role change to it),
    waiting for a second administrator. Until approved nothing changes: a new account does not
    exist (its name is reserved) and an existing one keeps its role. At most one pending per user."""

    __tablename__ = "role_grant"
    __table_args__ = (
        Index("ix_role_grant_status_requested", "status", "requested_at"),
        Index(
            "ux_role_grant_pending_user",
            "username",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)  # who gets the role
    change: str = Field(max_length=16)  # create | change
    role: str = Field(max_length=32)
    unit_code: str = Field(max_length=32)
    previous_role: str | None = Field(default=None, max_length=32)
    previous_unit_code: str | None = Field(default=None, max_length=32)
    display_name: str = Field(default="", max_length=100)
    # A new account's password hash, held until the decision and then cleared.
    password_hash: str | None = Field(default=None, max_length=255)
    status: str = Field(max_length=16)  # pending | approved | rejected
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    requested_by: str = Field(max_length=64)
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
