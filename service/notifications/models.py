"""What arrives at a unit (inbox), and what must leave the service (outbox, webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Text, text
from sqlmodel import Field, SQLModel

from service.db import JSONType, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class InboxItem(SQLModel, table=True):
    __tablename__ = "inbox_item"
    __table_args__ = (
        # A unit's inbox, newest first, a page at a time by id (keyset); the columns every reader's
        # filter reads ride along, so the counts of a town's 100,000 items scan the index alone.
        Index(
            "ix_inbox_unit_id",
            "unit_code",
            "id",
            postgresql_include=["case_id", "kind", "audience", "addressee", "caused_by"],
        ),
        Index("ux_inbox_dedupe_key", "dedupe_key", unique=True),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    unit_code: str = Field(max_length=32)
    # None for an alert to the auditors (service.audit.alerts), which names its case in the payload.
    case_id: int | None = Field(default=None, sa_column=Column(BigId, ForeignKey("cases.id"), nullable=True))
    kind: str = Field(
        max_length=32
    )  # escalation | hand_off | dispatch | delegation | returned | warning | breach
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    payload: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # No longer written: who read what is per person, in inbox_read (migration 0018 moved these).
    read_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    read_by: str | None = Field(default=None, max_length=64)
    # Only this role sees the item (auditor: an alert); None: everyone who reads the unit's inbox.
    audience: str | None = Field(default=None, max_length=32)
    # At most one item per key: an alert raised again the same day is not repeated.
    dedupe_key: str | None = Field(default=None, max_length=200)
    # The one person (username) the item is for, when it is for a person (an assignment, say).
    addressee: str | None = Field(default=None, max_length=64)
    # Who caused it (username; None for the system): that person is not notified of their own act.
    caused_by: str | None = Field(default=None, max_length=64)


class InboxRead(SQLModel, table=True):
    """One person has read one inbox item: read state is per person, so a colleague reading an
    item leaves it unread for everyone else."""

    __tablename__ = "inbox_read"
    __table_args__ = (Index("ix_inbox_read_username", "username", "item_id"),)

    item_id: int = Field(
        sa_column=Column(BigId, ForeignKey("inbox_item.id", ondelete="CASCADE"), primary_key=True)
    )
    username: str = Field(max_length=64, primary_key=True)
    read_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class InboxReadThrough(SQLModel, table=True):
    """ "Mark all read": every item of the unit up to ``item_id`` is read for this person, without a
    row per item, so a town's 100,000 items cost one row and the unread count reads only what
    arrived after it (plus the rows of inbox_read above it)."""

    __tablename__ = "inbox_read_through"

    username: str = Field(max_length=64, primary_key=True)
    unit_code: str = Field(max_length=32, primary_key=True)
    item_id: int = Field(sa_column=Column(BigId, nullable=False))
    read_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscription"

    id: int | None = Field(default=None, primary_key=True)
    unit_code: str = Field(max_length=32, index=True)
    url: str = Field(max_length=500)
    # Encrypted with the data key (service.notifications.secrets); rows from before are read in
    # clear until start-up or `jiefen migrate` encrypts them.
    secret: str = Field(sa_column=Column(Text, nullable=False))
    active: bool = True
    source: str = Field(default="api", max_length=16)  # api | config
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class OutboxMessage(SQLModel, table=True):
    """Written in the same transaction as the change it announces; delivered afterwards."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    subscription_id: int = Field(foreign_key="webhook_subscription.id")
    idempotency_key: str = Field(max_length=80, unique=True)
    event_type: str = Field(max_length=40)
    payload: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    status: str = Field(max_length=16)  # pending | delivered | dead
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
