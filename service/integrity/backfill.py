"""Signing the audit trail with the audit key: once for a database whose trail predates the key.

A database records the fingerprint of the key its trail is signed with (a row of ``audit_chain``).
A new database records it on first start. An older one, whose events were chained with plain
SHA-256 (or, older still, not at all), is signed by `jiefen migrate`: every unkeyed link is
checked first, and only an intact trail is signed; then each case's last event gets the digest of
the case as it stands. Afterwards nothing signs old records again: an event without a keyed hash
is reported by `jiefen audit verify`, not repaired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.audit.events import CHAIN, audit_chain, record_security_event, security_events
from service.audit.keys import AuditKey, AuditKeyError, key_of
from service.cases.models import Case, CaseEvent, Party
from workflows.chain import (
    CASE_EVENT_FIELDS,
    GENESIS,
    LEGACY_CASE_EVENT_FIELDS,
    SECURITY_EVENT_FIELDS,
    legacy_link,
    recorded_facts,
)

case_event = CaseEvent.__table__  # type: ignore[attr-defined]
cases = Case.__table__  # type: ignore[attr-defined]
party = Party.__table__  # type: ignore[attr-defined]

KEY_ROW = "audit_key"  # the audit_chain row whose last_hash is the key's fingerprint
SIGN_BATCH = 2000  # cases per round


class UnsignedTrail(RuntimeError):
    """The database's trail is not signed with a key yet (run `jiefen migrate`)."""


@dataclass(frozen=True)
class Signed:
    cases: int
    case_events: int
    security_events: int


async def stored_fingerprint(conn: AsyncConnection) -> str | None:
    found = await conn.execute(sa.select(audit_chain.c.last_hash).where(audit_chain.c.name == KEY_ROW))
    value = found.scalar_one_or_none()
    return None if value is None else str(value)


async def _has_records(conn: AsyncConnection) -> bool:
    events = await conn.execute(sa.select(case_event.c.id).limit(1))
    if events.first() is not None:
        return True
    return (await conn.execute(sa.select(security_events.c.id).limit(1))).first() is not None


async def _remember(conn: AsyncConnection, key: AuditKey) -> None:
    """Record the key's fingerprint; when processes start together on a new database, the first
    one records it and the others then find it (and check it is theirs)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    values = {"name": KEY_ROW, "seq": 0, "last_hash": key.fingerprint, "anchor_hash": ""}
    await conn.execute(insert(audit_chain).values(**values).on_conflict_do_nothing())
    if await stored_fingerprint(conn) != key.fingerprint:
        raise _mismatch()


def _mismatch() -> AuditKeyError:
    return AuditKeyError(
        "the audit key given (JIEFEN_AUDIT_KEY / JIEFEN_AUDIT_KEY_FILE) is not the key this database's "
        "audit trail is signed with"
    )


async def check_audit_key(engine: AsyncEngine) -> None:
    """At every start: the engine's key must be the one the trail is signed with. A new database
    records its fingerprint; an old one with an unsigned trail must be signed by `jiefen migrate`
    first (raises ``UnsignedTrail``); a different key raises ``AuditKeyError``."""
    async with engine.begin() as conn:
        key = key_of(conn)
        stored = await stored_fingerprint(conn)
        if stored is None:
            if await _has_records(conn):
                raise UnsignedTrail(
                    "this database's audit trail is not signed with the audit key yet: run `jiefen migrate`"
                )
            await _remember(conn, key)
        elif stored != key.fingerprint:
            raise _mismatch()


async def sign_trail(engine: AsyncEngine, *, now: datetime) -> Signed | None:
    """`jiefen migrate`: sign a trail written before the audit key (None when it already is).
    Raises ``AuditKeyError`` when an unkeyed link does not hold (nothing is signed then)."""
    async with engine.begin() as conn:
        key = key_of(conn)
        stored = await stored_fingerprint(conn)
        if stored is not None:
            if stored != key.fingerprint:
                raise _mismatch()
            return None
        if not await _has_records(conn):
            await _remember(conn, key)
            return None
        signed_cases, signed_events = await _sign_case_chains(conn, key, legacy=True)
        signed_security = await _sign_security_chain(conn, key)
        await _remember(conn, key)
        await record_security_event(
            conn,
            kind="audit_trail_signed",
            actor="system",
            reason="the audit trail written before the audit key is now signed with it",
            payload={"cases": signed_cases, "case_events": signed_events, "security_events": signed_security},
            now=now,
        )
    return Signed(signed_cases, signed_events, signed_security)


async def chain_unchained_cases(engine: AsyncEngine) -> int:
    """Sign the events of cases loaded without any chain (``hash`` NULL on all of them): bulk
    loads such as the benchmark's. Cases whose events carry hashes are left as they are."""
    async with engine.begin() as conn:
        cases_done, _ = await _sign_case_chains(conn, key_of(conn), legacy=False)
    return cases_done


async def _sign_case_chains(conn: AsyncConnection, key: AuditKey, *, legacy: bool) -> tuple[int, int]:
    """Sign case chains a batch of cases at a time. ``legacy``: every case, after checking its
    unkeyed links; otherwise only cases none of whose events has a hash yet."""
    if legacy:
        pick = sa.select(case_event.c.case_id).distinct()
    else:
        hashed = sa.select(case_event.c.case_id).where(case_event.c.hash.is_not(None))
        pick = sa.select(case_event.c.case_id).where(case_event.c.case_id.not_in(hashed)).distinct()
    ids = (await conn.execute(pick.order_by(case_event.c.case_id))).scalars().all()
    set_hash = (
        sa.update(case_event)
        .where(case_event.c.id == sa.bindparam("event_id"))
        .values(
            prev_hash=sa.bindparam("prev"),
            hash=sa.bindparam("digest"),
            case_digest=sa.bindparam("facts_digest"),
        )
    )
    events_done = 0
    for start in range(0, len(ids), SIGN_BATCH):
        batch = ids[start : start + SIGN_BATCH]
        events = (
            await conn.execute(
                sa.select(case_event)
                .where(case_event.c.case_id.in_(batch))
                .order_by(case_event.c.case_id, case_event.c.seq)
            )
        ).all()
        heads = await case_facts(
            conn, (await conn.execute(sa.select(cases).where(cases.c.id.in_(batch)))).all()
        )
        by_case: dict[int, list[Any]] = {}
        for event in events:
            by_case.setdefault(event.case_id, []).append(event)
        updates = []
        for case_id, chain in by_case.items():
            if legacy:
                _check_legacy(case_id, chain)
            prev = GENESIS
            for event in chain:
                last = event is chain[-1]
                facts_digest = (
                    key.case_digest(heads[case_id]) if last and case_id in heads else event.case_digest
                )
                record = {**event._mapping, "case_digest": facts_digest}
                digest = key.link(prev, record, CASE_EVENT_FIELDS)
                updates.append(
                    {"event_id": event.id, "prev": prev, "digest": digest, "facts_digest": facts_digest}
                )
                prev = digest
        if updates:
            await conn.execute(set_hash, updates)
        events_done += len(updates)
    return len(ids), events_done


def _check_legacy(case_id: int, chain: Sequence[Any]) -> None:
    """The unkeyed chain of one case must hold before it is signed (a chain never filled in at
    all, as bulk loads leave it, has nothing to check)."""
    if all(e.hash is None for e in chain):
        return
    prev = GENESIS
    for event in chain:
        if event.hash is None or event.hash != legacy_link(
            prev, dict(event._mapping), LEGACY_CASE_EVENT_FIELDS
        ):
            raise AuditKeyError(
                f"case {case_id} event seq {event.seq} does not match its unkeyed hash: the audit trail "
                "was altered before it could be signed, so nothing was signed"
            )
        prev = event.hash


async def case_facts(conn: AsyncConnection, rows: Sequence[Any]) -> dict[int, dict[str, Any]]:
    """The recorded facts (``workflows.chain.recorded_facts``) of these case rows, with their
    parties read in one query: what each case's last event must vouch for."""
    people: dict[int, list[dict[str, Any]]] = {}
    found = await conn.execute(sa.select(party).where(party.c.case_id.in_([r.id for r in rows])))
    for p in found.all():
        people.setdefault(p.case_id, []).append(dict(p._mapping))
    return {r.id: recorded_facts(dict(r._mapping), people.get(r.id, [])) for r in rows}


async def _sign_security_chain(conn: AsyncConnection, key: AuditKey) -> int:
    head = (await conn.execute(sa.select(audit_chain).where(audit_chain.c.name == CHAIN))).one_or_none()
    if head is None:
        return 0
    rows = (await conn.execute(sa.select(security_events).order_by(security_events.c.id))).all()
    prev = head.anchor_hash or GENESIS
    updates = []
    for row in rows:
        if (row.prev_hash or GENESIS) != prev or row.hash != legacy_link(
            prev, dict(row._mapping), SECURITY_EVENT_FIELDS
        ):
            raise AuditKeyError(
                f"security event {row.id}: the security log was altered before it was signed; nothing was signed"
            )
        prev = row.hash
    # A retention purge anchors the first kept record to the last removed one's hash; signed
    # afresh, the kept records start from the anchor as it was.
    signed_prev = head.anchor_hash or GENESIS
    for row in rows:
        digest = key.link(signed_prev, dict(row._mapping), SECURITY_EVENT_FIELDS)
        updates.append({"event_id": row.id, "prev": signed_prev, "digest": digest})
        signed_prev = digest
    if updates:
        await conn.execute(
            sa.update(security_events)
            .where(security_events.c.id == sa.bindparam("event_id"))
            .values(prev_hash=sa.bindparam("prev"), hash=sa.bindparam("digest")),
            updates,
        )
    await conn.execute(
        sa.update(audit_chain).where(audit_chain.c.name == CHAIN).values(last_hash=signed_prev)
    )
    return len(updates)
