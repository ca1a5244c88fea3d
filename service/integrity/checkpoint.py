"""Signed checkpoints of the whole audit trail, kept outside the database.

The keyed chains stop anyone without the audit key from altering or forging a record, but not
from removing records: a whole case with its events, or the last events of a case (with the case
row put back as it was). A checkpoint records, for every case, how far its chain had got and the
hash it had reached, and the head of the security log; written to storage the database's users
cannot change (a log server's mount, write-once storage), it lets `jiefen audit verify
--checkpoints DIR` find such removals later.

A checkpoint covers the events older than a settle time (``audit_checkpoint_settle_seconds``):
every event that old has committed, so computing the checkpoint again later gives the same answer
if and only if nothing it covered was changed. Cases are grouped by id into buckets of 1,024; a
bucket's digest is a SHA-256 over its cases' (id, seq, hash) in id order, and the file, with
counts, is signed with the audit key. A bucket that differs names the range of cases to look at.
No global lock and nothing on the write path: a checkpoint is one read of the events' index.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.audit.events import security_events
from service.audit.keys import AuditKey, AuditKeyError, key_of
from service.cases.models import CaseEvent
from service.db import reading
from service.integrity.backfill import stored_fingerprint

case_event = CaseEvent.__table__  # type: ignore[attr-defined]

FORMAT = 1
BUCKET = 1024
PREFIX = "checkpoint-"


@dataclass(frozen=True)
class Bucket:
    cases: int
    events: int
    digest: str


@dataclass
class Trail:
    """The trail as of ``horizon``: per bucket of cases, and the security log's head."""

    horizon: datetime
    buckets: dict[int, Bucket] = field(default_factory=dict)
    security_id: int | None = None
    security_hash: str | None = None

    @property
    def cases(self) -> int:
        return sum(b.cases for b in self.buckets.values())

    @property
    def events(self) -> int:
        return sum(b.events for b in self.buckets.values())


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


async def read_trail(conn: AsyncConnection, horizon: datetime) -> Trail:
    """Each case's chain head among its events at or before ``horizon``, bucket by bucket."""
    heads = (
        sa.select(case_event.c.case_id, sa.func.max(case_event.c.seq).label("seq"))
        .where(case_event.c.at <= horizon)
        .group_by(case_event.c.case_id)
        .subquery("heads")
    )
    statement = (
        sa.select(heads.c.case_id, heads.c.seq, case_event.c.hash)
        .join(case_event, sa.and_(case_event.c.case_id == heads.c.case_id, case_event.c.seq == heads.c.seq))
        .order_by(heads.c.case_id)
    )
    trail = Trail(horizon)
    current: int | None = None
    digest = hashlib.sha256()
    cases = events = 0

    def close() -> None:
        if current is not None:
            trail.buckets[current] = Bucket(cases, events, digest.hexdigest())

    for case_id, seq, chain_hash in (await conn.execute(statement)).all():
        bucket = case_id // BUCKET
        if bucket != current:
            close()
            current, digest, cases, events = bucket, hashlib.sha256(), 0, 0
        digest.update(f"{case_id}:{seq}:{chain_hash}\n".encode())
        cases += 1
        events += seq
    close()
    last = (
        await conn.execute(
            sa.select(security_events.c.id, security_events.c.hash)
            .where(security_events.c.at <= horizon)
            .order_by(security_events.c.id.desc())
            .limit(1)
        )
    ).first()
    if last is not None:
        trail.security_id, trail.security_hash = int(last.id), last.hash
    return trail


def _body(trail: Trail, taken_at: datetime, fingerprint: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "taken_at": _instant(taken_at),
        "horizon": _instant(trail.horizon),
        "key_fingerprint": fingerprint,
        "cases": trail.cases,
        "case_events": trail.events,
        "bucket_size": BUCKET,
        "buckets": {
            str(n): {"cases": b.cases, "events": b.events, "digest": b.digest}
            for n, b in sorted(trail.buckets.items())
        },
        "security": {"id": trail.security_id, "hash": trail.security_hash},
    }


def _signature(key: AuditKey, body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return key.link(None, {"payload": text}, ("payload",))


async def take_checkpoint(engine: AsyncEngine, *, now: datetime, settle: timedelta) -> dict[str, Any]:
    """The signed checkpoint of the trail as of ``now - settle``."""
    async with reading(engine) as conn:
        key = key_of(conn)
        stored = await stored_fingerprint(conn)
        if stored != key.fingerprint:
            raise AuditKeyError(
                "the audit trail is not signed with this audit key (run `jiefen migrate`, or give the key "
                "it is signed with): a checkpoint of it would prove nothing"
            )
        trail = await read_trail(conn, now - settle)
    body = _body(trail, now, key.fingerprint)
    return {**body, "signature": _signature(key, body)}


def write_checkpoint(directory: Path, checkpoint: dict[str, Any]) -> Path:
    """Write a checkpoint as a new file (owner-only, never over an existing one or a link)."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(checkpoint["taken_at"]).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{PREFIX}{stamp}.json"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(checkpoint, handle, ensure_ascii=False, indent=1, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    return path


def checkpoint_files(paths: Iterable[Path]) -> list[Path]:
    """The checkpoint files among ``paths`` (a directory stands for the checkpoints in it), oldest first."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.glob(f"{PREFIX}*.json"))
        else:
            found.append(path)
    return found


@dataclass(frozen=True)
class CheckpointFinding:
    path: Path
    problem: str


def _range(bucket: int) -> str:
    return f"cases {bucket * BUCKET}–{(bucket + 1) * BUCKET - 1}"


def compare(checkpoint: dict[str, Any], trail: Trail, *, purged_through: int | None) -> list[str]:
    """What differs between a checkpoint and the trail read again at its horizon."""
    problems: list[str] = []
    then = {int(n): b for n, b in checkpoint["buckets"].items()}
    now = trail.buckets
    for n in sorted(set(then) | set(now)):
        before, after = then.get(n), now.get(n)
        if after is None:
            problems.append(f"{_range(n)}: all {before['cases']} cases and their events were removed")  # type: ignore[index]
        elif before is None:
            problems.append(
                f"{_range(n)}: {after.cases} cases appear that were not there (events back-dated)"
            )
        elif (before["cases"], before["events"], before["digest"]) != (
            after.cases,
            after.events,
            after.digest,
        ):
            what = []
            if after.cases < before["cases"]:
                what.append(f"{before['cases'] - after.cases} of {before['cases']} cases removed")
            if after.events < before["events"]:
                what.append(f"{before['events'] - after.events} events removed")
            problems.append(
                f"{_range(n)}: " + ("; ".join(what) if what else "a chain head differs (events replaced)")
            )
    security = checkpoint["security"]
    if security["id"] is not None:
        if purged_through is not None and security["id"] <= purged_through:
            pass  # removed by a recorded retention purge: nothing to compare
        elif trail.security_id is None or trail.security_id < security["id"]:
            problems.append(f"security log: events up to id {security['id']} were removed")
        elif trail.security_id == security["id"] and trail.security_hash != security["hash"]:
            problems.append(f"security log: event {security['id']} was replaced")
    return problems


async def verify_checkpoints(
    engine: AsyncEngine, paths: Sequence[Path]
) -> tuple[int, list[CheckpointFinding]]:
    """Check every checkpoint file against the database: (files checked, findings)."""
    files = checkpoint_files(paths)
    findings: list[CheckpointFinding] = []
    async with reading(engine) as conn:
        key = key_of(conn)
        purged = await _purged_through(conn)
        for path in files:
            try:
                checkpoint = json.loads(path.read_text(encoding="utf-8"))
                body = {k: v for k, v in checkpoint.items() if k != "signature"}
                signature = checkpoint["signature"]
                horizon = datetime.fromisoformat(checkpoint["horizon"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                findings.append(CheckpointFinding(path, f"not a readable checkpoint ({exc})"))
                continue
            if checkpoint.get("format") != FORMAT:
                findings.append(CheckpointFinding(path, f"unknown format {checkpoint.get('format')!r}"))
                continue
            if signature != _signature(key, body):
                findings.append(
                    CheckpointFinding(
                        path, "its signature does not match: the file was altered, or signed with another key"
                    )
                )
                continue
            trail = await read_trail(conn, horizon)
            findings += [
                CheckpointFinding(path, p) for p in compare(checkpoint, trail, purged_through=purged)
            ]
    return len(files), findings


async def _purged_through(conn: AsyncConnection) -> int | None:
    """The last security event id a recorded retention purge removed, if any."""
    rows = (
        await conn.execute(
            sa.select(security_events.c.payload).where(security_events.c.kind == "security_events_purged")
        )
    ).scalars()
    through = [int(p["through_id"]) for p in rows if isinstance(p, dict) and p.get("through_id") is not None]
    return max(through, default=None)
