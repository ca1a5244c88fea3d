"""The audit trail resists a database writer without the audit key.

Each test plays someone who can write to the database (a DBA, a stolen backup restored with edits,
SQL injection) and tries to hide what they did, recomputing the hashes as the code would without
the key. What they can and cannot hide is stated per test; docs/operations.md says it in words.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.audit.events import security_events
from service.audit.keys import AuditKey
from service.audit.retention import purge_security_events
from service.integrity import backfill
from service.integrity.backfill import case_event, chain_unchained_cases, sign_trail
from service.integrity.checkpoint import take_checkpoint, verify_checkpoints, write_checkpoint
from service.integrity.verify import verify_audit
from tests.builders import move, open_case
from tests.conftest import FIXED_NOW, Backend
from workflows.chain import (
    CASE_EVENT_FIELDS,
    GENESIS,
    LEGACY_CASE_EVENT_FIELDS,
    SECURITY_EVENT_FIELDS,
    legacy_link,
)

# What a writer without the key might try: the unkeyed SHA-256 of the old code, or a key of
# their own choosing.
GUESSED = AuditKey(b"\x00" * 32)


async def journey(client: httpx.AsyncClient, auth) -> dict:  # type: ignore[no-untyped-def]
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    case = await move(
        client, mediator, case, "settle", agreement={"form": "written", "terms": "赔偿 2000 元"}
    )
    party = case["parties"][0]["id"]
    reveal = await client.post(
        f"/api/v1/cases/{case['id']}/parties/{party}/reveal", json={"reason": "通知到场"}, headers=mediator
    )
    assert reveal.status_code == 200
    return case


async def _sql(db: Backend, *statements: str, **params: Any) -> None:
    async with db.engine.begin() as conn:
        for statement in statements:
            await conn.execute(sa.text(statement), params)


async def _recompute_case_chain(db: Backend, case_id: int, how: str) -> None:
    """Rewrite one case's links as someone without the key would: unkeyed, or with a guessed key."""
    async with db.engine.begin() as conn:
        # Through the table, as the service reads it: typed columns (SQLite's text is not a time).
        events = (
            await conn.execute(
                sa.select(case_event).where(case_event.c.case_id == case_id).order_by(case_event.c.seq)
            )
        ).all()
        prev = GENESIS
        for event in events:
            record = dict(event._mapping)
            digest = (
                legacy_link(prev, record, LEGACY_CASE_EVENT_FIELDS)
                if how == "unkeyed"
                else GUESSED.link(prev, record, CASE_EVENT_FIELDS)
            )
            await conn.execute(
                sa.text("UPDATE case_event SET prev_hash = :p, hash = :h WHERE id = :i"),
                {"p": prev, "h": digest, "i": event.id},
            )
            prev = digest


async def _recompute_security_chain(db: Backend) -> None:
    async with db.engine.begin() as conn:
        rows = (await conn.execute(sa.select(security_events).order_by(security_events.c.id))).all()
        prev = GENESIS
        for row in rows:
            record = dict(row._mapping)
            digest = legacy_link(prev, record, SECURITY_EVENT_FIELDS)
            await conn.execute(
                sa.text("UPDATE security_event SET prev_hash = :p, hash = :h WHERE id = :i"),
                {"p": prev, "h": digest, "i": row.id},
            )
            prev = digest
        await conn.execute(
            sa.text("UPDATE audit_chain SET last_hash = :h WHERE name = 'security'"), {"h": prev}
        )


async def test_an_untouched_trail_is_intact(client: httpx.AsyncClient, auth, db: Backend) -> None:
    await journey(client, auth)

    report = await verify_audit(db.engine)

    assert report.intact, report.broken
    async with db.engine.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT count(*) FROM security_event"))).scalar_one()
        digests = (
            (await conn.execute(sa.text("SELECT case_digest FROM case_event ORDER BY seq"))).scalars().all()
        )
    assert (report.cases, report.case_events) == (1, 3)
    assert report.security_events == stored >= 1  # the reveal, and any sign-ins
    assert len(digests) == 3 and all(d and len(d) == 64 for d in digests)


@pytest.mark.parametrize(
    ("tamper", "finding"),
    [
        ("UPDATE case_event SET reason = '改过' WHERE seq = 2", "seq 2: content does not match"),
        ("UPDATE case_event SET payload = '{}' WHERE seq = 3", "seq 3: content does not match"),
        ("DELETE FROM case_event WHERE seq = 2", "seq 2 is missing"),
        ("DELETE FROM case_event WHERE seq = 3", "version 3 but 2 events"),
        ("UPDATE security_event SET reason = '随便看看'", "content does not match"),
        ("DELETE FROM security_event WHERE kind = 'reveal'", "security event"),
        ("UPDATE cases SET state = 'terminated', outcome = 'terminated'", "changed without an event"),
        ("UPDATE cases SET agreement = NULL", "changed without an event"),
        (
            "UPDATE cases SET unit_code = (SELECT code FROM unit WHERE code <> cases.unit_code LIMIT 1)",
            "changed without an event",
        ),
        ("UPDATE cases SET summary = '无事发生'", "changed without an event"),
        ("UPDATE party SET name = '李四'", "changed without an event"),
        ("DELETE FROM party", "changed without an event"),
    ],
    ids=[
        "edit-reason",
        "edit-payload",
        "delete-middle",
        "delete-last",
        "edit-reveal",
        "delete-reveal",
        "case-state-outcome",
        "case-agreement",
        "case-unit",
        "case-summary",
        "party-name",
        "party-deleted",
    ],
)
async def test_any_alteration_or_deletion_is_found(
    client: httpx.AsyncClient, auth, db: Backend, tamper: str, finding: str
) -> None:
    await journey(client, auth)
    await _sql(db, tamper)

    report = await verify_audit(db.engine)

    assert not report.intact
    assert finding in (report.broken or "")


@pytest.mark.parametrize("how", ["unkeyed", "guessed-key"])
async def test_an_edit_recomputed_without_the_key_is_found(
    client: httpx.AsyncClient, auth, db: Backend, how: str
) -> None:
    case = await journey(client, auth)
    await _sql(db, "UPDATE case_event SET reason = '改过' WHERE seq = 2")
    await _recompute_case_chain(db, case["id"], how)

    report = await verify_audit(db.engine)

    assert not report.intact and "keyed hash" in (report.broken or "")


async def test_a_deleted_reveal_with_the_security_log_recomputed_is_found(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    await journey(client, auth)
    await journey(client, auth)
    await _sql(
        db, "DELETE FROM security_event WHERE id = (SELECT min(id) FROM security_event WHERE kind = 'reveal')"
    )
    await _recompute_security_chain(db)

    report = await verify_audit(db.engine)

    assert not report.intact and "keyed hash" in (report.broken or "")


async def test_a_case_row_changed_to_match_an_earlier_event_is_still_found(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    """Lowering the version to hide the settlement: the last event left must vouch for the row."""
    await journey(client, auth)
    await _sql(db, "DELETE FROM case_event WHERE seq = 3", "UPDATE cases SET version = 2")

    report = await verify_audit(db.engine)

    assert not report.intact and "changed without an event" in (report.broken or "")


async def _removals(db: Backend, tmp_path: Path) -> list[str]:
    _, findings = await verify_checkpoints(db.engine, [tmp_path])
    return [f.problem for f in findings]


async def _checkpoint(db: Backend, tmp_path: Path) -> None:
    """A checkpoint a day after the journeys (real time; the events are at real time too)."""
    from service import clock

    now = clock.now() + timedelta(days=1)
    write_checkpoint(tmp_path, await take_checkpoint(db.engine, now=now, settle=timedelta(minutes=5)))


async def test_removals_that_leave_every_chain_intact_are_found_by_a_checkpoint(
    client: httpx.AsyncClient, auth, db: Backend, tmp_path: Path
) -> None:
    """What the keyed chains cannot show alone: a whole case removed with its events, and the last
    event of a case removed with the row put back exactly as the event before left it. Both leave
    a trail that verifies; the checkpoint taken before them finds both."""
    first, second = await journey(client, auth), await journey(client, auth)
    await _checkpoint(db, tmp_path)
    assert await _removals(db, tmp_path) == []
    async with db.engine.connect() as conn:
        before = (
            (await conn.execute(sa.text("SELECT * FROM cases WHERE id = :c"), {"c": second["id"]}))
            .one()
            ._mapping
        )
    assert before["version"] == 3

    # A whole case goes, with everything that points at it.
    await _sql(
        db,
        "DELETE FROM deadline_action WHERE deadline_id IN (SELECT id FROM deadline WHERE case_id = :c)",
        *(
            f"DELETE FROM {t} WHERE case_id = :c"
            for t in ("deadline", "inbox_item", "referral", "party", "case_mediator")
        ),
        "DELETE FROM idempotency_key WHERE case_id = :c",
        "DELETE FROM case_event WHERE case_id = :c",
        "DELETE FROM cases WHERE id = :c",
        c=first["id"],
    )
    # The settlement of the other one goes; its row is put back as the acceptance left it.
    await _sql(
        db,
        "DELETE FROM case_event WHERE case_id = :c AND seq = 3",
        "UPDATE cases SET version = 2, state = 'mediating', outcome = NULL, agreement = NULL, closed_at = NULL "
        "WHERE id = :c",
        c=second["id"],
    )

    report = await verify_audit(db.engine)
    problems = await _removals(db, tmp_path)

    assert report.intact, report.broken  # what the database alone still says
    assert any("1 of 2 cases removed" in p for p in problems), problems
    assert any("events removed" in p for p in problems), problems


async def test_a_removed_tail_of_the_security_log_is_found_by_a_checkpoint(
    client: httpx.AsyncClient, auth, db: Backend, tmp_path: Path
) -> None:
    await journey(client, auth)
    await _checkpoint(db, tmp_path)
    async with db.engine.begin() as conn:
        last = (
            await conn.execute(sa.text("SELECT id, prev_hash FROM security_event ORDER BY id DESC LIMIT 1"))
        ).one()
        await conn.execute(sa.text("DELETE FROM security_event WHERE id = :i"), {"i": last.id})
        await conn.execute(
            sa.text("UPDATE audit_chain SET last_hash = :h WHERE name = 'security'"), {"h": last.prev_hash}
        )

    assert (await verify_audit(db.engine)).intact  # the head was moved back: the database alone cannot tell
    assert any("security log" in p for p in await _removals(db, tmp_path))


async def test_a_checkpoint_file_that_was_edited_is_refused(
    client: httpx.AsyncClient, auth, db: Backend, tmp_path: Path
) -> None:
    await journey(client, auth)
    await _checkpoint(db, tmp_path)
    (path,) = list(tmp_path.glob("checkpoint-*.json"))  # noqa: ASYNC240
    assert path.stat().st_mode & 0o777 == 0o600
    edited = json.loads(path.read_text())
    edited["cases"] = 0
    path.write_text(json.dumps(edited))

    assert any("signature does not match" in p for p in await _removals(db, tmp_path))


async def test_a_trail_from_before_the_key_is_checked_then_signed_once(
    client: httpx.AsyncClient, auth, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade: the trail was chained with unkeyed SHA-256, or (older still) not at all."""
    for _ in range(3):
        case = await journey(client, auth)
        await _recompute_case_chain(db, case["id"], "unkeyed")
    await _sql(
        db, "UPDATE case_event SET hash = NULL, prev_hash = NULL, case_digest = NULL WHERE case_id = 1"
    )
    await _recompute_security_chain(db)
    await _sql(db, "DELETE FROM audit_chain WHERE name = :n", n=backfill.KEY_ROW)
    assert not (await verify_audit(db.engine)).intact  # unsigned: not signed with a key
    monkeypatch.setattr(backfill, "SIGN_BATCH", 2)  # two rounds: a batch boundary between cases

    signed = await sign_trail(db.engine, now=FIXED_NOW)

    assert signed is not None and (signed.cases, signed.case_events) == (3, 9)
    assert await sign_trail(db.engine, now=FIXED_NOW) is None
    report = await verify_audit(db.engine)
    assert report.intact, report.broken
    async with db.engine.connect() as conn:
        kinds = (await conn.execute(sa.text("SELECT kind FROM security_event ORDER BY id"))).scalars().all()
    assert kinds[-1] == "audit_trail_signed"


async def test_an_altered_trail_from_before_the_key_is_not_signed(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    case = await journey(client, auth)
    await _recompute_case_chain(db, case["id"], "unkeyed")
    await _recompute_security_chain(db)
    await _sql(db, "DELETE FROM audit_chain WHERE name = :n", n=backfill.KEY_ROW)
    await _sql(db, "UPDATE case_event SET reason = '改过' WHERE seq = 2")

    with pytest.raises(ValueError, match="altered before it could be signed"):
        await sign_trail(db.engine, now=FIXED_NOW)
    async with db.engine.connect() as conn:
        kept = (
            await conn.execute(
                sa.text("SELECT count(*) FROM audit_chain WHERE name = :n"), {"n": backfill.KEY_ROW}
            )
        ).scalar_one()
    assert kept == 0  # nothing signed, and no fingerprint: the service will not start on it


async def test_bulk_loaded_cases_without_any_chain_are_chained(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    for _ in range(2):
        await journey(client, auth)
    await _sql(
        db, "UPDATE case_event SET hash = NULL, prev_hash = NULL, case_digest = NULL WHERE case_id = 2"
    )

    assert await chain_unchained_cases(db.engine) == 1
    assert await chain_unchained_cases(db.engine) == 0
    assert (await verify_audit(db.engine)).intact


async def test_retention_purge_keeps_six_months_and_keeps_the_chain_verifiable(
    client: httpx.AsyncClient, auth, db: Backend, tmp_path: Path
) -> None:
    await journey(client, auth)  # one reveal at FIXED_NOW (the frozen clock is not used: real time)
    await _checkpoint(db, tmp_path)

    with pytest.raises(ValueError, match="183"):
        await purge_security_events(db.engine, older_than_days=30, actor="test", now=FIXED_NOW)
    purged = await purge_security_events(
        db.engine, older_than_days=200, actor="test", now=FIXED_NOW + timedelta(days=10_000)
    )

    assert purged >= 1
    report = await verify_audit(db.engine)
    assert report.intact, report.broken
    assert await _removals(db, tmp_path) == []  # a recorded purge is not a removal
    async with db.engine.connect() as conn:
        kinds = (await conn.execute(sa.text("SELECT kind FROM security_event"))).scalars().all()
    assert kinds[-1] == "security_events_purged"
    assert "reveal" not in kinds
