"""Use cases of a case's statutory documents: which apply now, generate one (a new version each
time, old ones kept), list them, read one version's bytes.

Who: those who see all of the case (``visible_row``: 404 otherwise) list and read them; those who
handle it generate them. A generation is one transaction: the 文书编号 taken (the first version of
a kind takes it, later versions keep it), the sealed bytes stored, and a ``document`` case event
carrying the SHA-256 in the case's hash chain.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncEngine

from service import clock
from service.attachments import sealing
from service.audit.events import record_security_event
from service.cases import queries as case_queries
from service.cases.rows import CaseRow
from service.cases.service import lost_race, transition_context, visible_row
from service.context import AppContext
from service.documents import queries
from service.documents.queries import DocumentRow
from service.documents.render import (
    KIND_LABELS,
    MEDIA_TYPES,
    DocumentFormat,
    DocumentKind,
    Templates,
    chinese_date,
    render,
    unprintable,
)
from service.documents.schemas import DocumentIn, DocumentPublic
from service.errors import Conflict, NotFound, field_error
from service.numbering.service import Numbering, take_number
from service.personal.sealing import unseal
from workflows.lifecycle import (
    Actor,
    CaseState,
    TerminationReason,
    handles_case_or_court_clerk_of_linked_case,
)
from workflows.vocab import DISPUTE_TYPE_LABELS, AgreementForm, PartyRole

WRITE_ATTEMPTS = 3
ROLE_LABELS = {
    PartyRole.applicant: "申请人",
    PartyRole.respondent: "被申请人",
    PartyRole.third_party: "第三人",
}
TERMINATION_LABELS = {
    TerminationReason.party_refused: "当事人拒绝或者撤回调解",
    TerminationReason.gap_too_wide: "当事人之间分歧过大，无法达成调解协议",
    TerminationReason.party_unreachable: "在调解期限内无法联系当事人",
    TerminationReason.period_expired: "调解期限届满，当事人未同意延长",
    TerminationReason.refused_to_sign: "当事人拒绝在调解协议上签字",
    TerminationReason.sham_mediation: "涉嫌虚假调解",
    TerminationReason.other: "其他原因",
}


def public(row: DocumentRow) -> DocumentPublic:
    kind = DocumentKind(row.kind)
    return DocumentPublic(
        id=row.id,
        case_id=row.case_id,
        kind=kind,
        kind_label=KIND_LABELS[kind],
        format=DocumentFormat(row.format),
        version=row.version,
        number=row.number,
        filename=row.filename,
        media_type=row.media_type,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        generated_at=row.generated_at,
        generated_by=row.generated_by,
        content_url=f"/api/v1/cases/{row.case_id}/documents/{row.id}/content",
    )


def applicable(row: CaseRow) -> list[DocumentKind]:
    """The documents the case as it stands can have: the application always; the written
    agreement once a written agreement is recorded; the termination notice once mediation ended
    without one."""
    kinds = [DocumentKind.application]
    if row.agreement and row.agreement.get("form") == AgreementForm.written.value:
        kinds.append(DocumentKind.written_agreement)
    if row.termination_reason is not None or row.state is CaseState.terminated:
        kinds.append(DocumentKind.termination_notice)
    return kinds


def _date_text(value: Any) -> str | None:
    if not value:
        return None
    return chinese_date(datetime.fromisoformat(str(value)).date())


def committee_name(unit: str) -> str:
    """The issuing committee: 大市社区 -> 大市社区人民调解委员会 (a name that says it already stays)."""
    return unit if unit.endswith("委员会") else f"{unit}人民调解委员会"


def dispute_name(label: str) -> str:
    """邻里 -> 邻里纠纷; 其他劳动争议 stays."""
    return label if label.endswith(("纠纷", "争议")) else f"{label}纠纷"


def fields(ctx: AppContext, row: CaseRow, number: str | None, now: datetime) -> dict[str, Any]:
    """The template fields (render.SAMPLE lists them) of the case as it stands."""
    parties = []
    for party in row.parties:
        opened = unseal(party.stored(), ctx.cipher)
        details = "".join(
            f"，{label}：{opened[key]}"
            for key, label in (("id_number", "证件号码"), ("address", "住址"), ("phone", "联系电话"))
            if opened.get(key)
        )
        parties.append(
            {**opened, "role": ROLE_LABELS[party.role], "role_code": party.role.value, "details": details}
        )
    agreement = dict(row.agreement or {})
    agreement["performance_deadline"] = _date_text(agreement.get("performance_deadline"))
    agreement["effective_on"] = _date_text(agreement.get("effective_on"))
    agreement.setdefault("facts", None)
    agreement.setdefault("terms", "")
    agreement.setdefault("performance_manner", None)
    agreement.setdefault("amount", None)
    reason = row.termination_reason
    return {
        "number": number or "",
        "case_number": row.number,
        "committee": committee_name(ctx.org.name_of(row.unit_code) or row.unit_code),
        "dispute_type": dispute_name(DISPUTE_TYPE_LABELS[row.dispute_type]),
        "summary": row.summary,
        "amount": None if row.amount_yuan is None else f"{row.amount_yuan:,.2f}",
        "today": chinese_date(now.astimezone(clock.SHANGHAI).date()),
        "mediator": None,  # the assigned mediator's name: a later slice (case_mediator)
        "copies": len(row.parties) + 1,
        "termination_reason": TERMINATION_LABELS[reason] if reason else "",
        "parties": parties,
        "applicants": [p for p in parties if p["role_code"] == PartyRole.applicant.value],
        "respondents": [p for p in parties if p["role_code"] == PartyRole.respondent.value],
        "agreement": agreement,
    }


def _may_generate(ctx: AppContext, row: CaseRow, actor: Actor, now: datetime) -> None:
    if not handles_case_or_court_clerk_of_linked_case(transition_context(ctx, row, actor, now)):
        raise Conflict(
            f"{actor.username} ({actor.role.value}) may read this case's documents but not generate them."
        )


async def generate(
    engine: AsyncEngine,
    ctx: AppContext,
    templates: Templates,
    numbering: Numbering,
    case_id: int,
    body: DocumentIn,
    actor: Actor,
    *,
    now: datetime,
) -> DocumentPublic:
    row = await visible_row(engine, ctx, case_id, actor)
    _may_generate(ctx, row, actor, now)
    for _ in range(WRITE_ATTEMPTS):
        if body.kind not in applicable(row):
            raise field_error("kind", f"the case has no {KIND_LABELS[body.kind]} as it stands")
        async with engine.begin() as conn:
            previous = await queries.latest_of_kind(conn, case_id, body.kind.value)
            if previous is not None and previous.number:
                number: str | None = previous.number
            else:
                taken = await take_number(
                    conn, row.unit_code, body.kind.value, case_id, actor, now, numbering=numbering
                )
                number = taken.text
            lines = templates.lines(body.kind, fields(ctx, row, number, now))
            missing = unprintable(lines)
            if missing:
                raise field_error("kind", f"the font cannot print these characters of the case: {missing}")
            # About a second of CPU (the font cut to the document's characters): off the event loop.
            data = await anyio.to_thread.run_sync(
                functools.partial(render, lines, body.format, title=KIND_LABELS[body.kind])
            )
            digest = hashlib.sha256(data).hexdigest()
            kid, sealed = sealing.seal(ctx.cipher, data, digest)
            version = 1 if previous is None else previous.version + 1
            filename = f"{KIND_LABELS[body.kind]}-{row.number}-v{version}.{body.format.value}"
            values = {
                "case_id": case_id,
                "kind": body.kind.value,
                "format": body.format.value,
                "version": version,
                "number": number,
                "filename": filename,
                "media_type": MEDIA_TYPES[body.format],
                "size_bytes": len(data),
                "sha256": digest,
                "content": sealed,
                "key_id": kid,
                "generated_at": now,
                "generated_by": actor.username,
            }
            new_id = await queries.insert(conn, values)
            payload = {
                "document_id": new_id,
                "kind": body.kind.value,
                "format": body.format.value,
                "version": version,
                "number": number,
                "sha256": digest,
                "size_bytes": len(data),
            }
            event = case_queries.record_event(
                row,
                kind="document",
                at=now,
                actor=actor.username,
                actor_role=actor.role.value,
                actor_unit_code=actor.unit_code,
                reason=None,
                payload=payload,
            )
            if await case_queries.add_event(conn, row, event, now=now) is not None:
                stored = await queries.get(conn, case_id, new_id)
                assert stored is not None
                return public(stored)
            await conn.rollback()
        row = await visible_row(engine, ctx, case_id, actor)
    raise await lost_race(engine, case_id)


async def list_documents(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor
) -> list[DocumentPublic]:
    await visible_row(engine, ctx, case_id, actor)
    async with engine.connect() as conn:
        return [public(r) for r in await queries.list_for_case(conn, case_id)]


async def content(
    engine: AsyncEngine, ctx: AppContext, case_id: int, document_id: int, actor: Actor
) -> tuple[DocumentRow, bytes]:
    await visible_row(engine, ctx, case_id, actor)
    async with engine.connect() as conn:
        found = await queries.get(conn, case_id, document_id)
        if found is None:
            raise NotFound(f"Case {case_id} has no document {document_id}.")
        sealed = await queries.read_content(conn, document_id)
    return found, sealing.open_all(ctx.cipher, found.key_id, sealed, found.sha256, found.size_bytes)


DOCUMENT_DOWNLOADED = "document_downloaded"  # the security event of a document version downloaded


async def read_logged(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    document_id: int,
    actor: Actor,
    *,
    now: datetime,
    client_ip: str | None,
) -> tuple[DocumentRow, bytes]:
    """``content``, and its download in the security log (a document prints the parties' names,
    ID numbers and addresses): who, the case, the version and its hash, never what it says."""
    found, data = await content(engine, ctx, case_id, document_id, actor)
    async with engine.begin() as conn:
        await record_security_event(
            conn,
            kind=DOCUMENT_DOWNLOADED,
            actor=actor.username,
            actor_role=actor.role.value,
            actor_unit_code=actor.unit_code,
            case_id=case_id,
            payload={
                "document_id": found.id,
                "kind": found.kind,
                "format": found.format,
                "version": found.version,
                "number": found.number,
                "sha256": found.sha256,
            },
            client_ip=client_ip,
            now=now,
        )
    return found, data


async def page_view(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor, *, now: datetime
) -> tuple[list[DocumentKind], list[DocumentPublic], bool]:
    """(the kinds that apply now, the versions generated, whether the actor may generate)."""
    row = await visible_row(engine, ctx, case_id, actor)
    async with engine.connect() as conn:
        items = [public(r) for r in await queries.list_for_case(conn, case_id)]
    may = handles_case_or_court_clerk_of_linked_case(transition_context(ctx, row, actor, now))
    return applicable(row), items, may
