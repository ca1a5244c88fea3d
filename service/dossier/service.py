"""The 卷宗 of a closed case, bound on request: cover, index, the generated documents (the latest
PDF version of each kind) and the scans not withdrawn, in the order of ``config/case_file.yaml``.

Who: those who see all of the case (``visible_row``: 404 otherwise), as for its documents and
files. Only a closed case has a 卷宗 (409 naming the rule otherwise). Nothing is stored: the file
is bound from what is kept, in a worker thread (seconds of CPU: the font cut, the photos), and
each download is a security event naming who, the case, the 卷宗 number and the SHA-256 of the
bytes served, never their content.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime

import anyio
from sqlalchemy.ext.asyncio import AsyncEngine

from service import clock
from service.assignment import queries as assignment_queries
from service.attachments import queries as attachment_queries
from service.attachments import sealing
from service.attachments.schemas import KIND_LABELS as SCAN_LABELS
from service.attachments.schemas import AttachmentKind
from service.audit.events import record_security_event
from service.cases import queries as case_queries
from service.cases.rows import CaseRow
from service.cases.service import visible_row
from service.context import AppContext
from service.db import reading
from service.documents import queries as document_queries
from service.documents.render import KIND_LABELS as DOCUMENT_LABELS
from service.documents.render import DocumentKind, chinese_date
from service.documents.service import ROLE_LABELS, committee_name, dispute_name
from service.dossier.build import Bound, Cover, Piece, bind
from service.errors import Conflict
from service.numbering import service as numbers
from service.numbering.service import Numbering
from service.personal.sealing import unseal
from workflows.case_file import CaseFileRules, binding_rank
from workflows.lifecycle import OUTCOME_LABELS, Actor, CaseState, Trigger
from workflows.mediators import ASSIGNMENT_ROLE_LABELS
from workflows.vocab import DISPUTE_TYPE_LABELS

DOSSIER_DOWNLOADED = "dossier_downloaded"  # the security event of a 卷宗 served
CLOSED_ONLY = "dossier-closed-cases-only"  # the rule a 卷宗 of an open case breaks


class NotClosed(Conflict):
    slug = "dossier-not-closed"
    title = "Only a closed case has a case file (卷宗)"


@dataclass(frozen=True, slots=True)
class Dossier:
    filename: str
    sha256: str
    bound: Bound


def _day(value: datetime | None) -> str | None:
    return None if value is None else chinese_date(value.astimezone(clock.SHANGHAI).date())


async def _cover(
    engine: AsyncEngine, ctx: AppContext, numbering: Numbering, row: CaseRow
) -> tuple[Cover, str | None]:
    given = await numbers.file_number_of(engine, row.id, numbering)
    async with reading(engine) as conn:
        assigned = await assignment_queries.assignments(conn, row.id)
        events = await case_queries.list_events(conn, row.id)
    accepted = next((e.at for e in events if e.trigger is Trigger.accept), None)
    mediators: list[str] = []
    for a in assigned:  # oldest first; each mediator once, with the role first held
        text = f"{a.mediator_name}（{ASSIGNMENT_ROLE_LABELS[a.role]}）"
        if not any(m.startswith(f"{a.mediator_name}（") for m in mediators):
            mediators.append(text)
    parties = tuple(
        (ROLE_LABELS[p.role], str(unseal(p.stored(), ctx.cipher).get("name") or "")) for p in row.parties
    )
    number = None if given is None else given.text
    cover = Cover(
        file_number=number,
        committee=committee_name(ctx.org.name_of(row.unit_code) or row.unit_code),
        case_number=row.number,
        dispute_type=dispute_name(DISPUTE_TYPE_LABELS[row.dispute_type]),
        parties=parties,
        mediators=tuple(mediators),
        registered=_day(row.created_at) or "",
        accepted=_day(accepted),
        closed=_day(row.closed_at),
        outcome=None if row.outcome is None else OUTCOME_LABELS[row.outcome],
    )
    return cover, number


async def _pieces(
    engine: AsyncEngine, ctx: AppContext, rules: CaseFileRules, case_id: int
) -> tuple[list[Piece], dict[str, list[int]]]:
    """The file's items in binding order, opened; and which rows they came from (for the log)."""
    ranked: list[tuple[int, int, Piece]] = []
    used: dict[str, list[int]] = {"documents": [], "attachments": []}
    async with reading(engine) as conn:
        # The latest PDF of each kind; of a session record, of each session (one record each).
        latest: dict[tuple[str, int | None], document_queries.DocumentRow] = {}
        for doc in await document_queries.list_for_case(conn, case_id):
            key = (doc.kind, doc.session_id)
            if doc.format == "pdf" and (key not in latest or doc.version > latest[key].version):
                latest[key] = doc
        for doc in latest.values():
            sealed = await document_queries.read_content(conn, doc.id)
            data = sealing.open_all(ctx.cipher, doc.key_id, sealed, doc.sha256, doc.size_bytes)
            label = DOCUMENT_LABELS.get(DocumentKind(doc.kind), doc.kind)
            title = f"{label}（{doc.number}）" if doc.number else label
            piece = Piece(title, _day(doc.generated_at) or "", "application/pdf", data)
            # Session records in the order of their sessions; other kinds have one document.
            ranked.append((binding_rank(rules.order, doc.kind), doc.session_id or doc.id, piece))
            used["documents"].append(doc.id)
        for scan in await attachment_queries.list_for_case(conn, case_id):
            if scan.withdrawn_at is not None or scan.erased_at is not None:
                continue  # withdrawn: on record, not part of the bound file; erased: nothing left
            sealed = await attachment_queries.read_content(conn, scan.id)
            data = sealing.open_all(ctx.cipher, scan.key_id, sealed, scan.sha256, scan.size_bytes)
            label = SCAN_LABELS[AttachmentKind(scan.kind)]
            piece = Piece(f"{label}：{scan.filename}", _day(scan.uploaded_at) or "", scan.media_type, data)
            ranked.append((binding_rank(rules.order, scan.kind), scan.id, piece))
            used["attachments"].append(scan.id)
    # Documents before scans of the same rank cannot happen (kinds differ); within a kind, oldest first.
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [piece for _, _, piece in ranked], used


async def dossier(
    engine: AsyncEngine,
    ctx: AppContext,
    rules: CaseFileRules,
    numbering: Numbering,
    case_id: int,
    actor: Actor,
    *,
    now: datetime,
    client_ip: str | None,
) -> Dossier:
    """The closed case's 卷宗 as one PDF, and the record that ``actor`` took it."""
    row = await visible_row(engine, ctx, case_id, actor)
    if row.state is not CaseState.closed:
        raise NotClosed(
            f"Case {case_id} is {row.state.value}: only a closed case is bound into a 卷宗.",
            rule=CLOSED_ONLY,
        )
    cover, number = await _cover(engine, ctx, numbering, row)
    pieces, used = await _pieces(engine, ctx, rules, case_id)
    # Seconds of CPU for a file with photos (the font cut, images decoded): off the event loop.
    bound = await anyio.to_thread.run_sync(functools.partial(bind, cover, pieces))
    digest = hashlib.sha256(bound.data).hexdigest()
    async with engine.begin() as conn:
        await record_security_event(
            conn,
            kind=DOSSIER_DOWNLOADED,
            actor=actor.username,
            actor_role=actor.role.value,
            actor_unit_code=actor.unit_code,
            case_id=case_id,
            payload={
                "file_number": number,
                "sha256": digest,
                "pages": bound.pages,
                "size_bytes": len(bound.data),
                **used,
            },
            client_ip=client_ip,
            now=now,
        )
    return Dossier(filename=f"卷宗-{row.number}.pdf", sha256=digest, bound=bound)
