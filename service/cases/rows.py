"""The rows the case statements read, typed: each built once, where the statement's row is read.

``CaseRow`` is a case as ``queries.case_select`` reads it: its columns, its parties, its clocks and
its open referrals (JSON in the row, parsed here) and the hash its next event chains to; the
planner's snapshot and every use case take it. ``CaseRecord`` is the same without the open
referrals: what a write answers with (PostgreSQL's one statement returns the case and its clocks,
not its referrals) and what ``case_public`` shows. Enums are enums here, as the planner and the
API models expect them; JSON documents (the triage explanation, an agreement, event payloads) stay
dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import RowMapping

from service.deadlines.rows import DeadlineRow, deadline_row, listed
from workflows.chain import RECORDED_COLUMNS, recorded_facts
from workflows.lifecycle import CaseState, Outcome, TerminationReason, Trigger
from workflows.org import Channel, Tier
from workflows.referrals import ReferralStatus
from workflows.transition import OpenReferral
from workflows.vocab import DisputeType, Flag, IdType, PartyKind, PartyRole, ReferralKind, RiskColour, Source


@dataclass(frozen=True, slots=True)
class PartyRow:
    """A party as stored: its personal fields sealed (``service.personal.sealing``)."""

    id: int
    name: str
    role: PartyRole
    kind: PartyKind
    id_type: IdType | None
    id_number: str | None
    phone: str | None
    address: str | None

    def stored(self) -> dict[str, str | int | None]:
        """The party's columns as the table holds them: what ``unseal`` opens."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "kind": self.kind.value,
            "id_type": None if self.id_type is None else self.id_type.value,
            "id_number": self.id_number,
            "phone": self.phone,
            "address": self.address,
        }


def party_row(item: Mapping[str, Any]) -> PartyRow:
    """``item``: a party as ``json_rows`` gives it (``PARTY_FIELDS``)."""
    id_type = item["id_type"]
    return PartyRow(
        id=item["id"],
        name=item["name"],
        role=PartyRole(item["role"]),
        kind=PartyKind(item["kind"]),
        id_type=None if id_type is None else IdType(id_type),
        id_number=item["id_number"],
        phone=item["phone"],
        address=item["address"],
    )


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """A case's columns (in the table's order), its parties and clocks in id order, and the hash
    of its last audit event."""

    id: int
    number: str
    dispute_type: DisputeType
    summary: str
    location_code: str
    amount_yuan: Decimal | None
    people_involved: int
    flag_cross_area: bool
    flag_criminal_risk: bool
    flag_group_dispute: bool
    flag_repeat_petition: bool
    flag_minor: bool
    flag_health: bool
    flag_financial: bool
    sensitive: bool
    source: Source
    risk: RiskColour
    unit_code: str
    tier: Tier
    channel: Channel
    state: CaseState
    outcome: Outcome | None
    termination_reason: TerminationReason | None
    returns_to_code: str | None
    court_linked: bool
    priority: int
    queued_at: datetime | None
    claimed_by: str | None
    lease_expires_at: datetime | None
    court_procedure: str | None
    court_case_number: str | None
    triage: dict[str, Any]  # the triage decision, as recorded (JSON)
    agreement: dict[str, Any] | None  # the 调解协议 (JSON)
    registered_by: str
    registered_unit_code: str
    version: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    prior_proceedings: dict[str, Any] | None  # the intake's declaration (JSON; None before it was asked)
    consents: list[dict[str, Any]] | None  # the parties' consent records (JSON)
    performance: str | None  # the last follow-up's finding
    parties: tuple[PartyRow, ...]
    deadlines: tuple[DeadlineRow, ...]
    last_event_hash: str | None

    def flags(self) -> list[Flag]:
        raised = {
            Flag.cross_area: self.flag_cross_area,
            Flag.criminal_risk: self.flag_criminal_risk,
            Flag.group_dispute: self.flag_group_dispute,
            Flag.repeat_petition: self.flag_repeat_petition,
            Flag.minor: self.flag_minor,
            Flag.health: self.flag_health,
            Flag.financial: self.flag_financial,
        }
        return [flag for flag in Flag if raised[flag]]


@dataclass(frozen=True, slots=True)
class CaseRow(CaseRecord):
    """A case as read: everything a transition is planned from."""

    open_referrals: tuple[OpenReferral, ...]  # offered or accepted, in id order
    senders: tuple[str, ...] = ()  # the units that sent it on (``queries.sender_units``), sorted


_CHILDREN = ("parties", "deadlines", "last_event_hash")
CASE_COLUMNS = tuple(f.name for f in fields(CaseRecord) if f.name not in _CHILDREN)


def _columns(m: RowMapping) -> dict[str, Any]:
    """The case's own columns from a row, with their enums (state, tier and channel come back as
    enums from their columns already; the others are plain text in the database)."""
    values = {name: m[name] for name in CASE_COLUMNS}
    values["state"] = CaseState(values["state"])
    values["tier"] = Tier(values["tier"])
    values["channel"] = Channel(values["channel"])
    values["dispute_type"] = DisputeType(values["dispute_type"])
    values["source"] = Source(values["source"])
    values["risk"] = RiskColour(values["risk"])
    if values["outcome"] is not None:
        values["outcome"] = Outcome(values["outcome"])
    if values["termination_reason"] is not None:
        values["termination_reason"] = TerminationReason(values["termination_reason"])
    return values


def _parties(value: Any) -> tuple[PartyRow, ...]:
    return tuple(sorted((party_row(p) for p in listed(value)), key=lambda p: p.id))


def _id(row: DeadlineRow) -> int:
    return row.id


def _deadlines(items: Iterable[Mapping[str, Any]]) -> tuple[DeadlineRow, ...]:
    return tuple(sorted((deadline_row(d) for d in items), key=_id))


def _open_referral(item: Mapping[str, Any]) -> OpenReferral:
    return OpenReferral(
        id=item["id"],
        kind=ReferralKind(item["kind"]),
        status=ReferralStatus(item["status"]),
        from_unit_code=item["from_unit_code"],
        to_unit_code=item["to_unit_code"],
    )


def case_row(m: RowMapping) -> CaseRow:
    """``m``: a row of ``queries.case_select`` (its mapping)."""
    return CaseRow(
        **_columns(m),
        parties=_parties(m["parties"]),
        deadlines=_deadlines(listed(m["deadlines"])),
        last_event_hash=m["last_event_hash"],
        open_referrals=tuple(
            sorted((_open_referral(r) for r in listed(m["open_referrals"])), key=lambda r: r.id)
        ),
        senders=tuple(sorted({str(u) for u in listed(m["senders"]) if u})),
    )


def case_record(
    m: RowMapping,
    *,
    parties: tuple[PartyRow, ...] | None = None,
    deadlines: Iterable[DeadlineRow] | None = None,
    last_event_hash: str | None,
) -> CaseRecord:
    """A case as a write answered it: its columns from ``m``, its parties and clocks from ``m``
    (JSON, as a new case's statement returns them) unless given."""
    return CaseRecord(
        **_columns(m),
        parties=_parties(m["parties"]) if parties is None else parties,
        deadlines=(
            _deadlines(listed(m["deadlines"])) if deadlines is None else tuple(sorted(deadlines, key=_id))
        ),
        last_event_hash=last_event_hash,
    )


# --- the lists and the trail -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseListRow:
    """A case in a list (``queries.SUMMARY_COLUMNS``)."""

    id: int
    number: str
    dispute_type: DisputeType
    summary: str
    location_code: str
    state: CaseState
    unit_code: str
    tier: Tier
    channel: Channel
    risk: RiskColour
    outcome: Outcome | None
    version: int
    created_at: datetime
    updated_at: datetime


def list_row(m: RowMapping) -> CaseListRow:
    outcome = m["outcome"]
    return CaseListRow(
        id=m["id"],
        number=m["number"],
        dispute_type=DisputeType(m["dispute_type"]),
        summary=m["summary"],
        location_code=m["location_code"],
        state=m["state"],
        unit_code=m["unit_code"],
        tier=m["tier"],
        channel=m["channel"],
        risk=RiskColour(m["risk"]),
        outcome=None if outcome is None else Outcome(outcome),
        version=m["version"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


@dataclass(frozen=True, slots=True)
class EventRow:
    """One audit event of a case (the ``case_event`` table), hash-chained to the one before."""

    id: int
    case_id: int
    seq: int
    at: datetime
    kind: str  # created | transition | edit | deadline | anonymised
    trigger: Trigger | None
    actor: str
    actor_role: str
    actor_unit_code: str | None
    from_state: CaseState | None
    to_state: CaseState
    from_unit_code: str | None
    to_unit_code: str
    reason: str | None
    payload: dict[str, Any]  # what the event records (JSON)
    prev_hash: str | None
    hash: str | None


def event_row(m: RowMapping) -> EventRow:
    trigger, from_state = m["trigger"], m["from_state"]
    return EventRow(
        id=m["id"],
        case_id=m["case_id"],
        seq=m["seq"],
        at=m["at"],
        kind=m["kind"],
        trigger=None if trigger is None else Trigger(trigger),
        actor=m["actor"],
        actor_role=m["actor_role"],
        actor_unit_code=m["actor_unit_code"],
        from_state=None if from_state is None else CaseState(from_state),
        to_state=CaseState(m["to_state"]),
        from_unit_code=m["from_unit_code"],
        to_unit_code=m["to_unit_code"],
        reason=m["reason"],
        payload=m["payload"],
        prev_hash=m["prev_hash"],
        hash=m["hash"],
    )


@dataclass(frozen=True, slots=True)
class IdempotencyRow:
    """The case an Idempotency-Key registered, the hash of the request that did, and when."""

    id: int
    case_id: int
    request_hash: str
    created_at: datetime


def recorded(
    row: CaseRecord,
    changes: Mapping[str, Any] | None = None,
    parties: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the case's events vouch for (``workflows.chain.recorded_facts``): as read, or, given
    ``changes``, after them with the version moved on (``parties``: its parties afterwards, when
    the change touches them)."""
    case = {name: getattr(row, name) for name in RECORDED_COLUMNS}
    if changes is not None:
        case.update(changes)
        case["version"] = row.version + 1
    people = parties if parties is not None else [p.stored() for p in row.parties]
    return recorded_facts(case, people)
