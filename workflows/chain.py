"""Tamper evidence: every audit record carries a keyed hash (HMAC-SHA-256) of itself and its
predecessor, and every case event a keyed digest of the case as that event left it.

Case events chain per case (``seq`` 1, 2, …, and the case's ``version`` is the last ``seq``);
security events chain globally through the ``audit_chain`` head row, which writers update
first so they queue up one at a time (a row lock on PostgreSQL, the write lock on SQLite).
The key is not in the database: someone who can write to the database but does not hold the
key can neither recompute a link after changing a record nor make a case row match the digest
its last event carries. ``jiefen audit verify`` recomputes every link and digest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

GENESIS = ""

CASE_EVENT_FIELDS = (
    "case_id",
    "seq",
    "at",
    "kind",
    "trigger",
    "actor",
    "actor_role",
    "actor_unit_code",
    "from_state",
    "to_state",
    "from_unit_code",
    "to_unit_code",
    "reason",
    "payload",
    "case_digest",
)
SECURITY_EVENT_FIELDS = (
    "id",
    "at",
    "kind",
    "actor",
    "actor_role",
    "actor_unit_code",
    "case_id",
    "party_id",
    "reason",
    "payload",
    "client_ip",
)


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def canonical(record: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    # JSON-normalise nested payloads first, so what the database returns hashes like what was written.
    plain = {f: _normal(record.get(f)) for f in fields}
    plain["payload"] = json.loads(json.dumps(plain.get("payload") or {}, default=str))
    return json.dumps(plain, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


# What a case event vouches for: the case's recorded facts as the event left them. Left out are
# the fields that change without an event of their own (the court queue's order, lease and
# claimant, ``updated_at``) and the encrypted personal fields, whose ciphertext changes when the
# data key rotates (AES-GCM authenticates each one on its own).
CASE_DIGEST_FIELDS = (
    "id",
    "number",
    "dispute_type",
    "summary",
    "location_code",
    "amount_yuan",
    "people_involved",
    "flag_cross_area",
    "flag_criminal_risk",
    "flag_group_dispute",
    "flag_repeat_petition",
    "flag_minor",
    "flag_health",
    "flag_financial",
    "sensitive",
    "source",
    "risk",
    "unit_code",
    "tier",
    "channel",
    "state",
    "outcome",
    "termination_reason",
    "returns_to_code",
    "court_linked",
    "court_procedure",
    "court_case_number",
    "triage",
    "agreement",
    "registered_by",
    "registered_unit_code",
    "version",
    "created_at",
    "closed_at",
)
# Facts recorded since the keyed digest was introduced: digested once they hold a value, so the
# trails signed before them (where they are empty) still verify, and clearing one is a change the
# digest catches. The intake's declaration of prior proceedings and the parties' consent records
# (workflows.intake), and the last follow-up's performance (the 支付令 route, workflows.labour).
DIGEST_FIELDS_WHEN_SET = ("prior_proceedings", "consents", "performance")
# Every column a case's recorded facts may read.
RECORDED_COLUMNS = (*CASE_DIGEST_FIELDS, *DIGEST_FIELDS_WHEN_SET)
# A party by what it is, not by its row id (a new case's parties get theirs only as they are written).
PARTY_DIGEST_FIELDS = ("role", "kind", "name", "id_type")


_AS_IS = (str, int, bool, type(None))


def _plain(value: Any) -> Any:
    """JSON-normal form: what the database returns digests like what was written. Plain text,
    numbers and flags (most of a case) first: this runs for every recorded fact of every write."""
    if type(value) in _AS_IS:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return _normal(value)
    if isinstance(value, (Decimal, float)):  # amounts: 100, 100.0 and 100.00 are one amount
        return format(Decimal(str(value)).normalize(), "f")
    if isinstance(value, (dict, list)):
        return json.loads(json.dumps(value, default=str))
    if isinstance(value, (int, str)):  # subclasses that are not enums
        return int(value) if isinstance(value, int) else str(value)
    return str(value)


def link(key: bytes, prev_hash: str | None, record: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    body = (prev_hash or GENESIS) + "\n" + canonical(record, fields)
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


# A case event's fields as trails before the audit key hashed them (no case digest yet).
LEGACY_CASE_EVENT_FIELDS = tuple(f for f in CASE_EVENT_FIELDS if f != "case_digest")


def legacy_link(prev_hash: str | None, record: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    """The unkeyed SHA-256 link of trails written before the audit key (checked once, on upgrade):
    case events over ``LEGACY_CASE_EVENT_FIELDS``, security events over their fields as now."""
    body = (prev_hash or GENESIS) + "\n" + canonical(record, fields)
    return hashlib.sha256(body.encode()).hexdigest()


def recorded_facts(case: Mapping[str, Any], parties: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What a case event vouches for, in JSON-normal form: the case's recorded facts and its
    parties' names and roles."""
    facts = {f: _plain(case.get(f)) for f in CASE_DIGEST_FIELDS}
    facts.update({f: _plain(case[f]) for f in DIGEST_FIELDS_WHEN_SET if case.get(f) is not None})
    facts["parties"] = sorted(
        ({f: _plain(p.get(f)) for f in PARTY_DIGEST_FIELDS} for p in parties),
        key=lambda p: json.dumps(p, sort_keys=True, ensure_ascii=False),
    )
    return facts


def case_digest(key: bytes, recorded: Mapping[str, Any]) -> str:
    """The keyed digest of ``recorded_facts`` (after a change: the facts with the change applied)."""
    facts = {f: _plain(recorded.get(f)) for f in CASE_DIGEST_FIELDS}
    facts.update({f: _plain(recorded[f]) for f in DIGEST_FIELDS_WHEN_SET if recorded.get(f) is not None})
    facts["parties"] = recorded.get("parties") or []
    body = json.dumps(facts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
