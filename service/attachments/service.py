"""Use cases of a case's files: upload, list, download, withdraw.

Who: those who see all of the case (``service.cases.service.visible_row``: out of scope, and a
unit that merely sent the case on, get 404) read its files; those who handle it (its unit, the
units above, the court desk on a court-linked case) add and withdraw them. Each upload and each
withdrawal is a case event in the case's hash chain, written in the same transaction as the row.
The bytes are sealed with the data key ring (``sealing``) and opened slice by slice on download.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.attachments import queries, sealing
from service.attachments.queries import AttachmentRow
from service.attachments.schemas import (
    KIND_LABELS,
    NOTE_LIMIT,
    AttachmentKind,
    AttachmentPublic,
    WithdrawalIn,
)
from service.attachments.sniff import FileTooLarge, display_name, sniff
from service.audit.events import record_security_event
from service.cases import queries as case_queries
from service.cases.rows import CaseRow
from service.cases.service import lost_race, transition_context, visible_row
from service.context import AppContext
from service.errors import Conflict, NotFound, ServiceError, field_error
from service.personal.crypto import DataCipher
from workflows.lifecycle import Actor, handles_case_or_court_clerk_of_linked_case

READ_CHUNK = 64 * 1024
# A case event racing the upload (an edit, a clock) moves the version; the file is written again
# on the case as it now is, a few times, before the writer is told to try again.
WRITE_ATTEMPTS = 3
ID_COPY_VIEWED = "id_copy_viewed"  # the security event of a party's ID copy downloaded
ATTACHMENT_DOWNLOADED = "attachment_downloaded"  # of any other file on a case downloaded


class FileErased(ServiceError):
    """The file's bytes were destroyed under retention: the record stays, the content is gone."""

    status = 410
    slug = "file-erased"
    title = "The file was erased under the retention rule"


@dataclass(frozen=True, slots=True)
class Download:
    row: AttachmentRow
    chunks: AsyncIterator[bytes]


def public(row: AttachmentRow) -> AttachmentPublic:
    kind = AttachmentKind(row.kind)
    return AttachmentPublic(
        id=row.id,
        case_id=row.case_id,
        kind=kind,
        kind_label=KIND_LABELS[kind],
        media_type=row.media_type,
        filename=row.filename,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        note=row.note,
        uploaded_at=row.uploaded_at,
        uploaded_by=row.uploaded_by,
        uploaded_by_unit=row.uploaded_by_unit,
        withdrawn=row.withdrawn_at is not None,
        withdrawn_at=row.withdrawn_at,
        withdrawn_by=row.withdrawn_by,
        withdrawn_reason=row.withdrawn_reason,
        erased_at=row.erased_at,
        content_url=f"/api/v1/cases/{row.case_id}/attachments/{row.id}/content",
    )


async def read_bounded(read: Callable[[int], Awaitable[bytes]], limit: int) -> bytes:
    """The whole file, read in chunks; FileTooLarge as soon as it passes ``limit`` (nothing past
    the limit is read or kept)."""
    data = bytearray()
    while chunk := await read(READ_CHUNK):
        data += chunk
        if len(data) > limit:
            raise FileTooLarge(limit)
    return bytes(data)


def _may_change(ctx: AppContext, row: CaseRow, actor: Actor, now: datetime) -> None:
    if not handles_case_or_court_clerk_of_linked_case(transition_context(ctx, row, actor, now)):
        raise Conflict(
            f"{actor.username} ({actor.role.value}) may read this case's files but not add or withdraw them."
        )


def _event(
    row: CaseRow, actor: Actor, now: datetime, kind: str, reason: str | None, payload: dict[str, Any]
) -> dict[str, Any]:
    return case_queries.record_event(
        row,
        kind=kind,
        at=now,
        actor=actor.username,
        actor_role=actor.role.value,
        actor_unit_code=actor.unit_code,
        reason=reason,
        payload=payload,
    )


def _clean_note(note: str | None) -> str | None:
    text = (note or "").strip()
    if len(text) > NOTE_LIMIT:
        raise field_error("note", f"at most {NOTE_LIMIT} characters")
    return text or None


async def upload(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    actor: Actor,
    *,
    kind: AttachmentKind,
    note: str | None,
    filename: str | None,
    data: bytes,
    now: datetime,
) -> tuple[AttachmentPublic, bool]:
    """Keep ``data`` on the case: its type as its content shows it (415 otherwise), its SHA-256,
    a display name made safe; and the case event saying so, in one transaction. The same bytes
    already kept on the case (and not withdrawn) are not kept twice: a phone that sends the form
    again after a dropped answer gets the file it sent first; (the file, whether it is new)."""
    row = await visible_row(engine, ctx, case_id, actor)
    _may_change(ctx, row, actor, now)
    clean_note = _clean_note(note)
    found = sniff(data)
    name = display_name(filename, found.media_type)
    digest = hashlib.sha256(data).hexdigest()
    kid, sealed = sealing.seal(ctx.cipher, data, digest)
    values = {
        "case_id": case_id,
        "kind": kind.value,
        "media_type": found.media_type,
        "filename": name,
        "size_bytes": len(data),
        "sha256": digest,
        "note": clean_note,
        "content": sealed,
        "key_id": kid,
        "uploaded_at": now,
        "uploaded_by": actor.username,
        "uploaded_by_unit": actor.unit_code,
    }
    for _ in range(WRITE_ATTEMPTS):
        async with engine.begin() as conn:
            # Checked in the transaction that writes: every upload moves the case's version, so of
            # two identical uploads at once the second loses the race, comes back and finds the first.
            kept = await queries.current_with_hash(conn, case_id, digest)
            if kept is not None:
                return public(kept), False
            new_id = await queries.insert(conn, values)
            payload = {
                "attachment_id": new_id,
                "sha256": digest,
                "size_bytes": len(data),
                "kind": kind.value,
                "filename": name,
                "media_type": found.media_type,
            }
            event = _event(row, actor, now, "attachment", None, payload)
            if await case_queries.add_event(conn, row, event, now=now) is not None:
                stored = await queries.get(conn, case_id, new_id)
                assert stored is not None
                return public(stored), True
            await conn.rollback()
        row = await visible_row(engine, ctx, case_id, actor)
    raise await lost_race(engine, case_id)


async def list_attachments(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor
) -> list[AttachmentPublic]:
    await visible_row(engine, ctx, case_id, actor)
    async with engine.connect() as conn:
        return [public(r) for r in await queries.list_for_case(conn, case_id)]


async def _attachment(
    engine: AsyncEngine, ctx: AppContext, case_id: int, attachment_id: int, actor: Actor
) -> tuple[CaseRow, AttachmentRow]:
    row = await visible_row(engine, ctx, case_id, actor)
    async with engine.connect() as conn:
        found = await queries.get(conn, case_id, attachment_id)
    if found is None:
        raise NotFound(f"Case {case_id} has no attachment {attachment_id}.")
    return row, found


async def get_attachment(
    engine: AsyncEngine, ctx: AppContext, case_id: int, attachment_id: int, actor: Actor
) -> AttachmentPublic:
    _, found = await _attachment(engine, ctx, case_id, attachment_id, actor)
    return public(found)


async def _chunks(engine: AsyncEngine, cipher: DataCipher, found: AttachmentRow) -> AsyncIterator[bytes]:
    # One short connection per slice: a slow phone does not hold a pooled connection for minutes.
    for index, start, length in sealing.stored_slices(found.size_bytes):
        async with engine.connect() as conn:
            sealed = await queries.read_slice(conn, found.id, start, length)
        yield sealing.open_slice(cipher, found.key_id, sealed, found.sha256, index)


async def download(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    attachment_id: int,
    actor: Actor,
    *,
    now: datetime,
    client_ip: str | None,
) -> Download:
    """The file and its bytes, sent in slices (a withdrawn file is still evidence: it stays
    readable). A case's files are personal data seen in full, as a reveal is: every download goes
    into the security log for the auditor, naming who, the case and the file (its id, kind, name
    and hash), never what it shows; a party's ID copy under its own kind (``id_copy_viewed``)."""
    _, found = await _attachment(engine, ctx, case_id, attachment_id, actor)
    if found.erased_at is not None:
        raise FileErased(
            f"Attachment {attachment_id}'s content was erased on {found.erased_at.date().isoformat()} "
            "under the retention rule; its record and hash remain.",
            rule="retention",
        )
    id_copy = found.kind == AttachmentKind.party_id.value
    async with engine.begin() as conn:
        await record_security_event(
            conn,
            kind=ID_COPY_VIEWED if id_copy else ATTACHMENT_DOWNLOADED,
            actor=actor.username,
            actor_role=actor.role.value,
            actor_unit_code=actor.unit_code,
            case_id=case_id,
            payload={
                "attachment_id": found.id,
                "kind": found.kind,
                "sha256": found.sha256,
                "filename": found.filename,
            },
            client_ip=client_ip,
            now=now,
        )
    return Download(found, _chunks(engine, ctx.cipher, found))


async def withdraw(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    attachment_id: int,
    body: WithdrawalIn,
    actor: Actor,
    *,
    now: datetime,
) -> AttachmentPublic:
    """Mark a wrong upload withdrawn, with the reason; the file itself stays (it is never deleted)."""
    reason = body.reason.strip()
    if not reason:
        raise field_error("reason", "say why the file is withdrawn")
    for _ in range(WRITE_ATTEMPTS):
        row, found = await _attachment(engine, ctx, case_id, attachment_id, actor)
        _may_change(ctx, row, actor, now)
        if found.withdrawn_at is not None:
            raise Conflict(f"Attachment {attachment_id} was already withdrawn by {found.withdrawn_by}.")
        payload = {
            "attachment_id": attachment_id,
            "sha256": found.sha256,
            "kind": found.kind,
            "filename": found.filename,
        }
        event = _event(row, actor, now, "file_withdrawn", reason, payload)
        async with engine.begin() as conn:
            if not await queries.mark_withdrawn(
                conn, attachment_id, at=now, by=actor.username, reason=reason
            ):
                await conn.rollback()
                continue  # withdrawn meanwhile: read again and say so
            if await case_queries.add_event(conn, row, event, now=now) is not None:
                stored = await queries.get(conn, case_id, attachment_id)
                assert stored is not None
                return public(stored)
            await conn.rollback()
    raise await lost_race(engine, case_id)


async def page_view_of(
    engine: AsyncEngine, ctx: AppContext, row: CaseRow, actor: Actor, *, now: datetime
) -> tuple[list[AttachmentPublic], bool]:
    """The case's files and whether the actor may add and withdraw them, for the case page, which
    has read the case for the actor once (``sighted_row``) and passes it to every section."""
    async with engine.connect() as conn:
        items = [public(r) for r in await queries.list_for_case(conn, row.id)]
    return items, handles_case_or_court_clerk_of_linked_case(transition_context(ctx, row, actor, now))


async def reseal_attachments(engine: AsyncEngine, cipher: DataCipher) -> int:
    """Seal every file under the current key (``jiefen privacy rotate-key``), one file per
    transaction (each holds up to JIEFEN_ATTACHMENT_MAX_BYTES in memory); how many changed."""
    kid = cipher.current_kid
    changed, after = 0, 0
    while True:
        async with engine.connect() as conn:
            batch = await queries.sealed_under_other_keys(conn, kid, after=after, limit=100)
        for found in batch:
            async with engine.begin() as conn:
                content = await queries.read_content(conn, found.id)
                plain = sealing.open_all(cipher, found.key_id, content, found.sha256, found.size_bytes)
                new_kid, sealed = sealing.seal(cipher, plain, found.sha256)
                changed += await queries.replace_content(conn, found.id, found.key_id, new_kid, sealed)
        if len(batch) < 100:
            return changed
        after = batch[-1].id


async def check_keys(engine: AsyncEngine, cipher: DataCipher) -> None:
    """DataKeyError when the key ring cannot open the case files already stored: for each key the
    files name, the first slice of the newest file under it is opened (a missing key, or another
    key under the same id, is found before the service starts, not on a download)."""
    async with engine.connect() as conn:
        if not await conn.run_sync(lambda sync: sa.inspect(sync).has_table(queries.attachment.name)):
            return  # a new database, before its migrations
        for found in await queries.newest_per_key(conn):
            _, start, length = next(sealing.stored_slices(found.size_bytes))
            sealed = await queries.read_slice(conn, found.id, start, length)
            sealing.open_slice(cipher, found.key_id, sealed, found.sha256, 0)
