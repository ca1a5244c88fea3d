"""Security events: sign-ins, token issue and revocation, reveals of personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, Text
from sqlmodel import Field, SQLModel

from service.db import JSONType, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class SecurityEvent(SQLModel, table=True):
    __tablename__ = "security_event"
    __table_args__ = (
        Index("ix_security_event_at", "at"),
        Index("ix_security_event_case", "case_id"),
        # The auditor's filter by person, and the count of one person's reveals in a day.
        Index("ix_security_event_actor_at", "actor", "at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    kind: str = Field(max_length=32)  # reveal | sign_in | sign_in_failed | token_revoked | …
    actor: str = Field(max_length=64)
    actor_role: str | None = Field(default=None, max_length=32)
    actor_unit_code: str | None = Field(default=None, max_length=32)
    case_id: int | None = Field(default=None, sa_column=Column(BigId, nullable=True))
    party_id: int | None = Field(default=None)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    payload: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    client_ip: str | None = Field(default=None, max_length=64)
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)


class AuditChain(SQLModel, table=True):
    """The head of a global hash chain; writers update it first, so they queue one at a time."""

    __tablename__ = "audit_chain"

    name: str = Field(primary_key=True, max_length=32)
    seq: int = 0
    last_hash: str = Field(default="", max_length=64)
    # After a retention purge, the hash the first kept record must point back to.
    anchor_hash: str = Field(default="", max_length=64)
