"""Cases, their parties and their append-only audit trail."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from service.db import EnumText, JSONType, UTCDateTime
from workflows.lifecycle import CaseState
from workflows.org import Channel, Tier


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_unit_state", "unit_code", "state"),
        Index("ix_cases_state", "state"),
        Index("ix_cases_created_at", "created_at"),
        Index("ix_cases_dispute_type", "dispute_type"),
        # The few sensitive cases, for the lists that hide them (the inbox: service.inbox.service).
        Index(
            "ix_cases_sensitive",
            "unit_code",
            "id",
            postgresql_where=text("sensitive"),
            sqlite_where=text("sensitive"),
        ),
        # A unit's list, newest activity first: read backwards along the index, stop at the page.
        Index("ix_cases_unit_updated", "unit_code", "updated_at", "id"),
        # PostgreSQL: the summary's pairs of adjacent characters, for search by its text (0029_city).
        Index("ix_cases_summary_bigrams", text("jiefen_bigrams(summary)"), postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        Index("ix_cases_updated", "updated_at", "id"),
        Index(
            "ix_cases_court_linked_updated",
            "updated_at",
            "id",
            postgresql_where=text("court_linked"),
            sqlite_where=text("court_linked"),
        ),
        Index(
            "ix_cases_court_queue",
            "priority",
            "queued_at",
            "id",
            postgresql_where=text("state = 'referred'"),
            sqlite_where=text("state = 'referred'"),
        ),
        Index(
            "ix_cases_court_lease",
            "lease_expires_at",
            postgresql_where=text("state = 'in_court'"),
            sqlite_where=text("state = 'in_court'"),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    number: str = Field(max_length=32, unique=True)
    dispute_type: str = Field(max_length=40)
    summary: str = Field(sa_column=Column(Text, nullable=False))
    location_code: str = Field(sa_column=Column(String(32), ForeignKey("unit.code"), nullable=False))
    amount_yuan: Decimal | None = Field(default=None, sa_column=Column(Numeric(16, 2), nullable=True))
    people_involved: int = 1
    flag_cross_area: bool = False
    flag_criminal_risk: bool = False
    flag_group_dispute: bool = False
    flag_repeat_petition: bool = False
    flag_minor: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    flag_health: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    flag_financial: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # Any of the three above: only the handling unit and its coordinators see the case.
    sensitive: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    source: str = Field(max_length=32)
    risk: str = Field(max_length=16)
    unit_code: str = Field(sa_column=Column(String(32), ForeignKey("unit.code"), nullable=False))
    tier: Tier = Field(sa_column=Column(EnumText(Tier, 16), nullable=False))
    channel: Channel = Field(sa_column=Column(EnumText(Channel, 16), nullable=False))
    state: CaseState = Field(sa_column=Column(EnumText(CaseState, 16), nullable=False))
    outcome: str | None = Field(default=None, max_length=32)
    termination_reason: str | None = Field(default=None, max_length=32)
    returns_to_code: str | None = Field(default=None, max_length=32)
    court_linked: bool = False
    # The court desk queue: referred cases by priority (0 = red … 3 = green), then by queue time.
    priority: int = Field(default=3, sa_column=Column(Integer, nullable=False, server_default="3"))
    queued_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    claimed_by: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    court_procedure: str | None = Field(default=None, max_length=16)  # ordinary | simplified | assignment
    court_case_number: str | None = Field(default=None, max_length=64)
    triage: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    agreement: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    registered_by: str = Field(max_length=64)
    registered_unit_code: str = Field(max_length=32)
    version: int = 1
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # Intake (workflows.intake): whether a court, police, petition office or other authority had
    # already accepted the matter (None: registered before intake asked), and each party's consent
    # or refusal as recorded at acceptance, hand-off, delegation or at any time.
    prior_proceedings: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    consents: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    # The last follow-up's finding (performed | partially | not_performed): the 支付令 route.
    performance: str | None = Field(default=None, max_length=16)


class Party(SQLModel, table=True):
    __tablename__ = "party"
    __table_args__ = (
        Index("ix_party_case", "case_id"),
        Index("ix_party_name", "name"),
        # PostgreSQL: a name's pairs of adjacent characters, for search by part of a name (0029_city).
        Index("ix_party_name_bigrams", text("jiefen_bigrams(name)"), postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), ForeignKey("cases.id"), nullable=False)
    )
    role: str = Field(max_length=16)  # applicant | respondent | third_party
    kind: str = Field(max_length=16)  # person | organisation
    name: str = Field(max_length=100)
    id_type: str | None = Field(default=None, max_length=32)
    # Encrypted at rest (service.personal.crypto); the *_index columns are keyed blind indexes.
    id_number: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    phone: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    address: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    id_number_index: str | None = Field(default=None, max_length=64, index=True)
    phone_index: str | None = Field(default=None, max_length=64, index=True)


SENT_FROM = "kind = 'transition' AND from_unit_code <> to_unit_code"
REGISTERED_ELSEWHERE = "kind = 'created' AND actor_unit_code <> to_unit_code"
TRANSITIONS = "kind = 'transition'"
DELEGATIONS = "trigger = 'delegate'"


class CaseEvent(SQLModel, table=True):
    """Append-only: nothing updates or deletes a row. ``seq`` equals the case version it produced."""

    __tablename__ = "case_event"
    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_case_event_case_seq"),
        Index("ix_case_event_at", "at"),
        # The events that sent a case away from a unit, and registrations triage sent elsewhere:
        # a unit's "sent by us" list (service.cases.queries.sent_by) reads only these.
        Index(
            "ix_case_event_sent_from",
            "from_unit_code",
            "trigger",  # the sending triggers among the moves, read from the index alone
            "case_id",
            postgresql_where=text(SENT_FROM),
            sqlite_where=text(SENT_FROM),
        ),
        Index(
            "ix_case_event_registered_elsewhere",
            "actor_unit_code",
            "case_id",
            postgresql_where=text(REGISTERED_ELSEWHERE),
            sqlite_where=text(REGISTERED_ELSEWHERE),
        ),
        # The same events keyed by the case: one case's senders (``queries.case_select``) are an
        # index lookup, not a scan of the case's whole trail.
        Index(
            "ix_case_event_case_sent",
            "case_id",
            "from_unit_code",
            postgresql_where=text(SENT_FROM),
            sqlite_where=text(SENT_FROM),
        ),
        Index(
            "ix_case_event_case_registered_elsewhere",
            "case_id",
            "actor_unit_code",
            postgresql_where=text(REGISTERED_ELSEWHERE),
            sqlite_where=text(REGISTERED_ELSEWHERE),
        ),
        # The MoJ report (service.moj.queries): a trigger's transitions in a window at each unit in
        # scope (one index range per unit), with their case, read from the index; and a case's
        # court delegations (委托 source).
        Index(
            "ix_case_event_moj",
            "trigger",
            "from_unit_code",
            "at",
            "case_id",
            postgresql_where=text(TRANSITIONS),
            sqlite_where=text(TRANSITIONS),
        ),
        Index(
            "ix_case_event_delegated",
            "case_id",
            "at",
            postgresql_where=text(DELEGATIONS),
            sqlite_where=text(DELEGATIONS),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    case_id: int = Field(
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), ForeignKey("cases.id"), nullable=False)
    )
    seq: int
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    kind: str = Field(max_length=16)  # created | transition | edit
    trigger: str | None = Field(default=None, max_length=32)
    actor: str = Field(max_length=64)
    actor_role: str = Field(max_length=32)
    actor_unit_code: str | None = Field(default=None, max_length=32)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    from_unit_code: str | None = Field(default=None, max_length=32)
    to_unit_code: str = Field(max_length=32)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    payload: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    # Tamper evidence (workflows.chain), keyed with the audit key: the digest of the case as this
    # event left it, and the hash over the previous event's hash and this event.
    case_digest: str | None = Field(default=None, max_length=64)
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)


class IdempotencyRecord(SQLModel, table=True):
    """A retried create with the same key returns the case the first attempt made."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        UniqueConstraint("username", "key", name="uq_idempotency_user_key"),
        Index("ix_idempotency_key_created_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    case_id: int = Field(
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), ForeignKey("cases.id"), nullable=False)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
