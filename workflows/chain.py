"""Tamper evidence: every audit record carries the hash of its predecessor.

Case events chain per case (``seq`` 1, 2, …, and the case's ``version`` is the last ``seq``);
security events chain globally through the ``audit_chain`` head row, which writers update
first so they queue up one at a time (a row lock on PostgreSQL, the write lock on SQLite).
``jiefen audit verify`` recomputes every link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
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


def link(prev_hash: str | None, record: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    body = (prev_hash or GENESIS) + "\n" + canonical(record, fields)
    return hashlib.sha256(body.encode()).hexdigest()
