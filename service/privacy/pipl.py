"""PIPL duties: tell a person everything held about them (art. 45), and stop keeping closed cases'
personal data past their retention period (art. 19, 47) — both audited."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.attachments import queries as case_files
from service.audit.events import record_security_event
from service.cases import queries
from service.cases.rows import CASE_COLUMNS
from service.context import AppContext
from service.documents.models import CaseDocument
from service.personal.sealing import unseal
from service.referrals.service import list_referrals
from service.reporting import queries as crime_reports
from service.screening import queries as major_reports
from service.sessions import queries as session_records

party = queries.party
cases = queries.cases
case_event = queries.case_event
case_document: sa.Table = CaseDocument.__table__  # type: ignore[attr-defined]

ANONYMISED = "（已匿名化）"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def create_private_file(path: Path) -> BinaryIO:
    """A new file for an export of personal data, readable by its owner only (0600).

    Refuses an existing file and a symbolic link in its place (O_EXCL, O_NOFOLLOW: FileExistsError
    or OSError): an export never overwrites anything, nor writes through a link planted where it
    was asked to go.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    handle = os.open(path, flags, 0o600)
    try:
        os.fchmod(handle, 0o600)  # the umask may have taken away the owner's bits; never adds any
        return os.fdopen(handle, "wb")
    except BaseException:
        os.close(handle)
        raise


async def export_person(
    engine: AsyncEngine, ctx: AppContext, id_number: str, *, actor: str, now: datetime
) -> dict[str, Any]:
    """Every party record with this ID number, the cases they are in, and those cases' events."""
    index = ctx.cipher.blind_index(id_number, "id_number")
    async with engine.begin() as conn:
        rows = (
            await conn.execute(sa.select(party).where(party.c.id_number_index == index).order_by(party.c.id))
        ).all()
        found: list[dict[str, Any]] = []
        for row in rows:
            case = await queries.fetch_case(conn, row.case_id)
            assert case is not None
            events = await queries.list_events(conn, row.case_id)
            record = {
                k: v for k, v in unseal(dict(row._mapping), ctx.cipher).items() if not k.endswith("_index")
            }
            found.append(
                {
                    "party": record,
                    "case": {
                        **{name: getattr(case, name) for name in CASE_COLUMNS},
                        "open_referrals": [asdict(r) for r in case.open_referrals],
                    },
                    "events": [asdict(e) for e in events],
                    "referrals": [asdict(r) for r in await list_referrals(conn, row.case_id)],
                }
            )
        await record_security_event(
            conn,
            kind="privacy_export",
            actor=actor,
            reason="PIPL art. 45 request",
            payload={"id_number_index": index, "party_records": len(found)},
            now=now,
        )
    return _jsonable({"generated_at": now.isoformat(), "records": found})


async def anonymise_closed_cases(
    engine: AsyncEngine, ctx: AppContext, *, closed_before_days: int, actor: str, now: datetime
) -> int:
    """Remove the personal data of cases closed more than ``closed_before_days`` ago; statistics stay.

    With the parties' details go the case's files: every scan's bytes, name and note are erased
    (the row with its hash stays, and its case events), and every generated document is destroyed
    (its case event keeps the number, version and hash). A case anonymised before its files were
    (an older release) is taken up again for them."""
    if closed_before_days < 365:
        raise ValueError("closed cases keep their personal data at least 365 days (appeals, enforcement)")
    cutoff = now - timedelta(days=closed_before_days)
    done = erased = destroyed = 0
    async with engine.begin() as conn:
        ids = (
            (
                await conn.execute(
                    sa.select(cases.c.id)
                    .where(cases.c.state == "closed", cases.c.closed_at < cutoff)
                    .where(
                        sa.or_(
                            cases.c.id.in_(
                                sa.select(party.c.case_id).where(
                                    sa.or_(party.c.name != ANONYMISED, party.c.id_number.is_not(None))
                                )
                            ),
                            cases.c.id.in_(
                                sa.select(case_files.attachment.c.case_id).where(
                                    case_files.attachment.c.erased_at.is_(None)
                                )
                            ),
                            cases.c.id.in_(sa.select(case_document.c.case_id)),
                        )
                    )
                )
            )
            .scalars()
            .all()
        )
        for case_id in ids:
            row = await queries.fetch_case(conn, case_id)
            assert row is not None
            event = queries.record_event(
                row,
                kind="anonymised",
                at=now,
                actor=actor,
                actor_role="system",
                actor_unit_code=None,
                reason=f"retention: closed more than {closed_before_days} days ago",
                payload={"parties": len(row.parties)},
            )
            # Keep what statistics need (form, amount, dates); drop terms and signatories' names.
            kept = {
                k: v for k, v in (row.agreement or {}).items() if k in ("form", "amount_yuan", "effective_on")
            }
            changes = {"summary": ANONYMISED, "agreement": kept or None, "updated_at": now}
            anonymised = [{**p.stored(), "name": ANONYMISED} for p in row.parties]
            recorded = queries.facts_after(row, changes, anonymised)
            if await queries.apply_change(
                conn,
                case_id,
                row.version,
                changes,
                event,
                prev_hash=row.last_event_hash,
                recorded_after=recorded,
            ):
                await conn.execute(
                    sa.update(party)
                    .where(party.c.case_id == case_id)
                    .values(
                        name=ANONYMISED,
                        id_number=None,
                        phone=None,
                        address=None,
                        id_number_index=None,
                        phone_index=None,
                    )
                )
                await crime_reports.anonymise_case(conn, case_id, ANONYMISED)
                await session_records.anonymise_case(conn, case_id, ANONYMISED)
                await major_reports.anonymise_case(conn, case_id, ANONYMISED)
                erased += await case_files.erase_case_files(conn, case_id, now)
                gone = await conn.execute(sa.delete(case_document).where(case_document.c.case_id == case_id))
                destroyed += int(gone.rowcount or 0)
                done += 1
        await record_security_event(
            conn,
            kind="closed_cases_anonymised",
            actor=actor,
            reason=f"retention: closed before {cutoff.date().isoformat()}",
            payload={"cases": done, "files_erased": erased, "documents_destroyed": destroyed},
            now=now,
        )
    return done
