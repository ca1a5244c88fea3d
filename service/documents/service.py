"""Use cases of a case's statutory documents: which apply now, generate one (a new version each
time, old ones kept), list them, read one version's bytes.

Who: those who see all of the case (``visible_row``: 404 otherwise) list and read them; those who
handle it generate them. What a document says comes from the case row and what was recorded on it
(``recordings``: its trail, hand-offs, assignments and session records). A generation is set
before its transaction (the slow part) with the number it expects; the transaction takes the
文书编号 (the first version of a kind takes it, later versions keep it), stores the sealed bytes
and chains a ``document`` case event carrying the SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import clock
from service.assignment import queries as assignment_queries
from service.assignment.queries import AssignmentRow
from service.attachments import sealing
from service.audit.events import record_security_event
from service.cases import queries as case_queries
from service.cases.rows import CaseRecord, CaseRow, EventRow
from service.cases.service import lost_race, transition_context, visible_row
from service.context import AppContext
from service.db import reading
from service.documents import queries
from service.documents.queries import DocumentRow
from service.documents.render import (
    KIND_LABELS,
    MEDIA_TYPES,
    PER_SESSION,
    SAMPLE,
    DocumentFormat,
    DocumentKind,
    Line,
    PreparedFont,
    Templates,
    chinese_date,
    prepare_font,
    render,
    unprintable,
)
from service.documents.schemas import DocumentIn, DocumentPublic
from service.errors import Conflict, NotFound, field_error
from service.numbering import queries as number_queries
from service.numbering.service import Numbering, take_number
from service.personal.sealing import unseal
from service.referrals.service import ReferralRow, list_referrals
from service.sessions import queries as session_queries
from service.sessions.queries import SessionRow
from service.sessions.schemas import SessionResult
from workflows.lifecycle import (
    Actor,
    CaseState,
    Performance,
    TerminationReason,
    Trigger,
    handles_case_or_court_clerk_of_linked_case,
)
from workflows.mediators import AssignmentRole
from workflows.numbering import year_of
from workflows.org import Channel, UnitKind
from workflows.referrals import HAND_OFF_KINDS, REFERRAL_LABELS, RETURNS
from workflows.vocab import (
    DISPUTE_TYPE_LABELS,
    SOURCE_LABELS,
    AgreementForm,
    CourtProcedure,
    PartyRole,
    ReferralKind,
)

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
SESSION_RESULT_LABELS = {
    SessionResult.agreement: "达成协议",
    SessionResult.partial: "部分达成协议",
    SessionResult.none: "未达成协议",
    SessionResult.adjourned: "改期继续调解",
}
PERFORMANCE_LABELS = {
    Performance.performed.value: "已全部履行",
    Performance.partially.value: "部分履行",
    Performance.not_performed.value: "未履行",
}
PROCEDURE_LABELS = {
    CourtProcedure.ordinary.value: "普通程序",
    CourtProcedure.simplified.value: "简易程序",
    CourtProcedure.assignment.value: "立案前委派调解",
}
# The referrals a 移交（委托）函 is written for, and its title by kind.
LETTER_KINDS = HAND_OFF_KINDS | {ReferralKind.court_delegation, ReferralKind.court_assignment}
LETTER_TITLES = {
    **{kind: "移交函" for kind in HAND_OFF_KINDS},
    ReferralKind.court_delegation: "委托调解函",
    ReferralKind.court_assignment: "委派调解函",
}
# What a hand-off's payload fields are called on the letter.
PAYLOAD_LABELS = {
    "police_report_number": "警情编号",
    "petition_number": "信访件编号",
    "procuratorate_case_number": "检察机关案号",
    "court_case_number": "案号",
}
DEFAULT_CONFIRMATION_MATERIALS = ("人民调解协议书", "双方当事人身份证明")
MEDIATION_KINDS = frozenset(
    {UnitKind.village_station, UnitKind.town_centre, UnitKind.city_centre, UnitKind.sectoral_committee}
)


def public(row: DocumentRow) -> DocumentPublic:
    kind = DocumentKind(row.kind)
    return DocumentPublic(
        id=row.id,
        case_id=row.case_id,
        kind=kind,
        kind_label=KIND_LABELS[kind],
        session_id=row.session_id,
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


@dataclass(frozen=True)
class CaseRecordings:
    """What the documents read besides the case row: its trail, its hand-offs, who handles it and
    its session records."""

    events: tuple[EventRow, ...] = ()
    referrals: tuple[ReferralRow, ...] = ()
    assignments: tuple[AssignmentRow, ...] = ()
    sessions: tuple[SessionRow, ...] = ()

    def last(self, trigger: Trigger) -> EventRow | None:
        return next((e for e in reversed(self.events) if e.trigger is trigger), None)

    def all_of(self, trigger: Trigger) -> list[EventRow]:
        return [e for e in self.events if e.trigger is trigger]

    def letter(self) -> ReferralRow | None:
        """The latest hand-off or court delegation of the case: what a 移交（委托）函 is about."""
        return next((r for r in reversed(self.referrals) if r.kind in LETTER_KINDS), None)


async def recordings(engine: AsyncEngine, case_id: int) -> CaseRecordings:
    async with reading(engine) as conn:
        return CaseRecordings(
            events=tuple(await case_queries.list_events(conn, case_id)),
            referrals=tuple(await list_referrals(conn, case_id)),
            assignments=tuple(await assignment_queries.assignments(conn, case_id)),
            sessions=tuple(await session_queries.sessions_of(conn, case_id)),
        )


def _written(row: CaseRecord) -> bool:
    return bool(row.agreement) and (row.agreement or {}).get("form") == AgreementForm.written.value


def applicable(row: CaseRecord, rec: CaseRecordings) -> list[DocumentKind]:
    """The documents the case as it stands can have, in the order of a case file: the application
    always; the acceptance register and the notice of rights and duties once it was accepted; a
    session record once a session is recorded; the written agreement or the oral-agreement register
    as the agreement recorded is; the follow-up record once a follow-up is recorded; the
    termination notice once mediation ended without agreement; the joint application for judicial
    confirmation while a written agreement is settled or in confirmation; the hand-off or
    delegation letter once the case was handed off or delegated by the court."""
    kinds = [DocumentKind.application]
    if rec.last(Trigger.accept) is not None:
        kinds += [DocumentKind.acceptance_register, DocumentKind.rights_notice]
    if rec.sessions:
        kinds.append(DocumentKind.session_record)
    if _written(row):
        kinds.append(DocumentKind.written_agreement)
    if row.agreement and row.agreement.get("form") == AgreementForm.oral.value:
        kinds.append(DocumentKind.oral_agreement_register)
    if rec.last(Trigger.record_performance) is not None:
        kinds.append(DocumentKind.follow_up_record)
    if row.termination_reason is not None or row.state is CaseState.terminated:
        kinds.append(DocumentKind.termination_notice)
    if _written(row) and row.state in {CaseState.settled, CaseState.confirming}:
        kinds.append(DocumentKind.judicial_confirmation)
    if rec.letter() is not None:
        kinds.append(DocumentKind.handoff_letter)
    return kinds


def _date_text(value: Any) -> str | None:
    if not value:
        return None
    return chinese_date(datetime.fromisoformat(str(value)).date())


def _day(at: datetime | None) -> str:
    return "" if at is None else chinese_date(at.astimezone(clock.SHANGHAI).date())


def _moment(at: datetime | None) -> str:
    """2026年3月2日 9时30分 (Asia/Shanghai)."""
    if at is None:
        return ""
    local = at.astimezone(clock.SHANGHAI)
    return f"{chinese_date(local.date())} {local.hour}时{local.minute:02d}分"


def committee_name(unit: str) -> str:
    """The issuing committee: 大市社区 -> 大市社区人民调解委员会 (a name that says it already stays)."""
    return unit if unit.endswith("委员会") else f"{unit}人民调解委员会"


def dispute_name(label: str) -> str:
    """邻里 -> 邻里纠纷; 其他劳动争议 stays."""
    return label if label.endswith(("纠纷", "争议")) else f"{label}纠纷"


def unit_title(ctx: AppContext, code: str) -> str:
    """How a letter names a unit: a people's-mediation unit as its committee, a court desk as its
    court, any other unit by its name."""
    unit = ctx.org.find(code)
    if unit is None:
        return code
    if unit.kind is UnitKind.court_desk and unit.parent_code:
        return ctx.org.name_of(unit.parent_code) or unit.name
    if unit.channel is Channel.people and unit.kind in MEDIATION_KINDS:
        return committee_name(unit.name)
    return unit.name


def mediator_names(rec: CaseRecordings) -> tuple[str, list[str]]:
    """(the lead mediator's name, the co-mediators' names) as assigned now (``case_mediator``); a
    case whose assignments all ended names its last lead."""
    current = [a for a in rec.assignments if a.ended_at is None]
    lead = next((a.mediator_name for a in current if a.role is AssignmentRole.lead), None)
    if lead is None:
        past = [a for a in rec.assignments if a.role is AssignmentRole.lead]
        lead = past[-1].mediator_name if past else ""
    co = [a.mediator_name for a in current if a.role is AssignmentRole.co and a.mediator_name != lead]
    return lead, co


def _people(ctx: AppContext, row: CaseRecord) -> list[dict[str, Any]]:
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
    return parties


def _session(
    session: SessionRow | None, parties: list[dict[str, Any]], rec: CaseRecordings
) -> dict[str, Any]:
    if session is None:
        return {
            key: None
            for key in (
                "number",
                "started",
                "ended",
                "place",
                "mediators",
                "proposal",
                "result",
                "adjourned_to",
                "notes",
            )
        } | {"parties": [], "agents": [], "others": [], "statements": []}
    by_id = {p["id"]: p for p in parties}
    names = {a.mediator_id: a.mediator_name for a in rec.assignments}

    def named(party_id: int) -> str:
        found = by_id.get(party_id)
        return found["name"] if found else ""

    return {
        "number": session.number,
        "started": _moment(session.started_at),
        "ended": _moment(session.ended_at),
        "place": session.place,
        "parties": [f"{by_id[i]['role']} {by_id[i]['name']}" for i in session.party_ids if i in by_id],
        "agents": [f"{a['name']}（{named(a['party_id'])}的代理人）" for a in session.agents],
        "mediators": "、".join(names[i] for i in session.mediator_ids if i in names),
        "others": [f"{o['name']}（{o['role']}）" for o in session.others],
        "statements": [
            {
                "name": named(t["party_id"]),
                "role": by_id[t["party_id"]]["role"] if t["party_id"] in by_id else "",
                "text": t["text"],
            }
            for t in session.statements
        ],
        "proposal": session.proposal,
        "result": SESSION_RESULT_LABELS[SessionResult(session.result)],
        "adjourned_to": chinese_date(session.adjourned_to) if session.adjourned_to else None,
        "notes": session.notes,
    }


def _follow_ups(rec: CaseRecordings) -> list[dict[str, Any]]:
    names = {a.username: a.mediator_name for a in rec.assignments if a.username}
    found = []
    for event in rec.all_of(Trigger.record_performance):
        performance = event.payload.get("performance")
        found.append(
            {
                "on": _day(event.at),
                "finding": PERFORMANCE_LABELS.get(str(performance), str(performance or "")),
                "note": event.reason,
                "by": names.get(event.actor, event.actor),
            }
        )
    return found


def _confirmation(
    ctx: AppContext, row: CaseRecord, rec: CaseRecordings, parties: list[dict[str, Any]]
) -> dict[str, Any]:
    """The joint application as the parties made it (the request_confirmation record), or, before
    they did, every party applying to the desk's court with the usual materials."""
    applied = next((r for r in reversed(rec.referrals) if r.kind is ReferralKind.judicial_confirmation), None)
    desk = ctx.org.court_desk()
    court = unit_title(ctx, desk.code) if desk is not None else ""
    if applied is None:
        return {
            "court": court,
            "applied_on": None,
            "applicants": [{**p, "agent": None, "authority_document": None} for p in parties],
            "materials": "、".join(DEFAULT_CONFIRMATION_MATERIALS),
        }
    by_name = {p["name"]: p for p in parties}
    applicants = []
    for a in applied.payload.get("applicants", []):
        party = by_name.get(a.get("party"), {"name": a.get("party"), "details": ""})
        applicants.append(
            {**party, "agent": a.get("agent"), "authority_document": a.get("authority_document")}
        )
    named_court = applied.payload.get("court")
    return {
        "court": unit_title(ctx, named_court) if named_court else court,
        "applied_on": _date_text(applied.payload.get("applied_on")),
        "applicants": applicants,
        "materials": "、".join(applied.payload.get("materials", [])),
    }


def _handoff(ctx: AppContext, rec: CaseRecordings) -> dict[str, Any]:
    letter = rec.letter()
    if letter is None:
        return {key: None for key in SAMPLE["handoff"]} | {"details": [], "delegated": False}
    delegated = letter.kind in {ReferralKind.court_delegation, ReferralKind.court_assignment}
    payload = letter.payload
    procedure = payload.get("procedure")
    details = [
        f"{PAYLOAD_LABELS.get(key, key)}：{'、'.join(value) if isinstance(value, list) else value}"
        for key, value in payload.items()
        if key not in {"materials", "procedure"} and value
    ]
    return {
        "title": LETTER_TITLES[letter.kind],
        "kind": REFERRAL_LABELS[letter.kind],
        "delegated": delegated,
        "from_unit": unit_title(ctx, letter.from_unit_code),
        "to_unit": unit_title(ctx, letter.to_unit_code),
        "sent_on": _day(letter.offered_at),
        "reason": letter.reason,
        "court_case_number": payload.get("court_case_number"),
        "procedure": PROCEDURE_LABELS.get(str(procedure), str(procedure or "")),
        "details": details,
        "materials": "、".join(payload.get("materials", []) or []),
        "returns": RETURNS[letter.kind],
    }


def fields(
    ctx: AppContext,
    row: CaseRecord,
    rec: CaseRecordings,
    number: str | None,
    now: datetime,
    *,
    session: SessionRow | None = None,
    agreement_number: str | None = None,
) -> dict[str, Any]:
    """The template fields (render.SAMPLE lists them) of the case as it stands."""
    parties = _people(ctx, row)
    agreement = dict(row.agreement or {})
    agreement["performance_deadline"] = _date_text(agreement.get("performance_deadline"))
    agreement["effective_on"] = _date_text(agreement.get("effective_on"))
    agreement.setdefault("facts", None)
    agreement.setdefault("terms", "")
    agreement.setdefault("performance_manner", None)
    amount = agreement.get("amount_yuan", agreement.get("amount"))
    agreement["amount"] = None if amount in (None, "") else f"{Decimal(str(amount)):,.2f}"
    reason = row.termination_reason
    lead, co = mediator_names(rec)
    accepted = rec.last(Trigger.accept)
    follow_ups = _follow_ups(rec)
    return {
        "number": number or "",
        "case_number": row.number,
        "committee": committee_name(ctx.org.name_of(row.unit_code) or row.unit_code),
        "dispute_type": dispute_name(DISPUTE_TYPE_LABELS[row.dispute_type]),
        "summary": row.summary,
        "amount": None if row.amount_yuan is None else f"{row.amount_yuan:,.2f}",
        "today": chinese_date(now.astimezone(clock.SHANGHAI).date()),
        "mediator": lead,
        "co_mediators": "、".join(co),
        "mediators": "、".join([lead, *co] if lead else co),
        "copies": len(row.parties) + 1,
        "termination_reason": TERMINATION_LABELS[reason] if reason else "",
        "source": SOURCE_LABELS[row.source],
        "location": ctx.org.name_of(row.location_code) or row.location_code,
        "registered_on": _day(row.created_at),
        "accepted_on": _day(accepted.at) if accepted is not None else "",
        "parties": parties,
        "applicants": [p for p in parties if p["role_code"] == PartyRole.applicant.value],
        "respondents": [p for p in parties if p["role_code"] == PartyRole.respondent.value],
        "agreement": agreement,
        "agreement_number": agreement_number or "",
        "session": _session(session, parties, rec),
        "follow_ups": follow_ups,
        "performance": follow_ups[-1]["finding"] if follow_ups else "",
        "confirmation": _confirmation(ctx, row, rec, parties),
        "handoff": _handoff(ctx, rec),
    }


def _may_generate(ctx: AppContext, row: CaseRow, actor: Actor, now: datetime) -> None:
    if not handles_case_or_court_clerk_of_linked_case(transition_context(ctx, row, actor, now)):
        raise Conflict(
            f"{actor.username} ({actor.role.value}) may read this case's documents but not generate them."
        )


def _subject(body: DocumentIn, rec: CaseRecordings) -> SessionRow | None:
    """The session a session record is of (422 naming ``session_id`` if it is not the case's);
    other kinds name none."""
    if body.kind not in PER_SESSION:
        if body.session_id is not None:
            raise field_error(
                "session_id", f"only a session record names a session, not {KIND_LABELS[body.kind]}"
            )
        return None
    if body.session_id is None:
        raise field_error("session_id", "name the session this record is of")
    found = next((s for s in rec.sessions if s.id == body.session_id), None)
    if found is None:
        raise field_error("session_id", f"the case has no session {body.session_id}")
    return found


def issuer_of(row: CaseRecord, rec: CaseRecordings, kind: DocumentKind) -> str:
    """The unit whose register numbers the document: the sender of a hand-off letter (the police
    station, the committee, the court desk), the unit that holds the case for every other."""
    letter = rec.letter()
    if kind is DocumentKind.handoff_letter and letter is not None:
        return letter.from_unit_code
    return row.unit_code


async def _expected_number(
    engine: AsyncEngine, numbering: Numbering, unit_code: str, kind: DocumentKind, now: datetime
) -> str | None:
    """The number the next taker of ``kind`` at ``unit_code`` would get now (read, not taken): the
    document is set with it before the register's row is locked. None if the kind is not numbered
    or the unit unknown (``take_number`` says why)."""
    if kind.value not in numbering.config.kinds or unit_code not in numbering.org:
        return None
    year = year_of(now)
    async with reading(engine) as conn:
        last = (await number_queries.last_numbers(conn, unit_code, year)).get(kind.value, 0)
    return numbering.text(unit_code, kind.value, year, last + 1)


async def _agreement_number(engine: AsyncEngine, case_id: int) -> str | None:
    async with reading(engine) as conn:
        found = await queries.latest_of_kind(conn, case_id, DocumentKind.written_agreement.value, None)
    return None if found is None else found.number


def _document_lines(
    ctx: AppContext,
    templates: Templates,
    kind: DocumentKind,
    row: CaseRecord,
    rec: CaseRecordings,
    now: datetime,
    session: SessionRow | None,
    agreement_number: str | None,
    number: str | None,
) -> list[Line]:
    """The document's lines with ``number``; 422 naming ``kind`` for a character the font lacks."""
    values = fields(ctx, row, rec, number, now, session=session, agreement_number=agreement_number)
    lines = templates.lines(kind, values)
    missing = unprintable(line.text for line in lines)
    if missing:
        raise field_error("kind", f"the font cannot print these characters of the case: {missing}")
    return lines


async def _render(
    lines: list[Line], fmt: DocumentFormat, kind: DocumentKind, font: PreparedFont | None
) -> bytes:
    # fpdf2's layout, tens of milliseconds (the font is prepared already): off the event loop.
    return await anyio.to_thread.run_sync(
        functools.partial(render, lines, fmt, title=KIND_LABELS[kind], font=font)
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
    """Generate one version. The document is set (font cut, PDF laid out) before the transaction,
    with the number it will get: its own if an earlier version has one, else the register's next,
    read without locking. The transaction then takes the number, and only if another request took
    that one meanwhile is the document set again (with the font already cut, tens of
    milliseconds) while the register's row is held. A failed render takes no number."""
    row = await visible_row(engine, ctx, case_id, actor)
    _may_generate(ctx, row, actor, now)
    kind = body.kind
    for _ in range(WRITE_ATTEMPTS):
        rec = await recordings(engine, case_id)
        if kind not in applicable(row, rec):
            raise field_error("kind", f"the case has no {KIND_LABELS[kind]} as it stands")
        session = _subject(body, rec)
        session_id = None if session is None else session.id
        issuer = issuer_of(row, rec, kind)
        async with reading(engine) as conn:
            before = await queries.latest_of_kind(conn, case_id, kind.value, session_id)
        expected = before.number if before is not None and before.number else None
        if expected is None:
            expected = await _expected_number(engine, numbering, issuer, kind, now)
        agreement_number = await _agreement_number(engine, case_id)

        lines_for = functools.partial(
            _document_lines, ctx, templates, kind, row, rec, now, session, agreement_number
        )
        lines = lines_for(expected)
        with tempfile.TemporaryDirectory(prefix="jiefen-font-") as scratch:
            font = None
            if body.format is DocumentFormat.pdf:
                # About a second of CPU (the font cut to the document's characters): off the event
                # loop, and before the number is taken.
                font = await anyio.to_thread.run_sync(prepare_font, lines, Path(scratch))
            data = await _render(lines, body.format, kind, font)
            async with engine.begin() as conn:
                previous = await queries.latest_of_kind(conn, case_id, kind.value, session_id)
                if previous is not None and previous.number:
                    number: str | None = previous.number
                else:
                    taken = await take_number(
                        conn, issuer, kind.value, case_id, actor, now, numbering=numbering
                    )
                    number = taken.text
                if number != expected:  # another request took the number read: set it again
                    data = await _render(lines_for(number), body.format, kind, font)
                written = await _write(conn, ctx, row, body, actor, now, data, number, previous, session)
                if written is not None:
                    return written
                await conn.rollback()
        row = await visible_row(engine, ctx, case_id, actor)
    raise await lost_race(engine, case_id)


async def _write(
    conn: AsyncConnection,
    ctx: AppContext,
    row: CaseRow,
    body: DocumentIn,
    actor: Actor,
    now: datetime,
    data: bytes,
    number: str | None,
    previous: DocumentRow | None,
    session: SessionRow | None,
) -> DocumentPublic | None:
    """The sealed version and its ``document`` event in ``conn``'s transaction; None if the case
    moved on since it was read (the caller rolls back)."""
    digest = hashlib.sha256(data).hexdigest()
    kid, sealed = sealing.seal(ctx.cipher, data, digest)
    version = 1 if previous is None else previous.version + 1
    which = "" if session is None else f"-第{session.number}次"
    filename = f"{KIND_LABELS[body.kind]}{which}-{row.number}-v{version}.{body.format.value}"
    values = {
        "case_id": row.id,
        "kind": body.kind.value,
        "session_id": None if session is None else session.id,
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
    payload: dict[str, Any] = {
        "document_id": new_id,
        "kind": body.kind.value,
        "format": body.format.value,
        "version": version,
        "number": number,
        "sha256": digest,
        "size_bytes": len(data),
    }
    if session is not None:
        payload["session_id"] = session.id
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
    if await case_queries.add_event(conn, row, event, now=now) is None:
        return None
    stored = await queries.get(conn, row.id, new_id)
    assert stored is not None
    return public(stored)


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


async def page_view_of(
    engine: AsyncEngine, ctx: AppContext, row: CaseRow, actor: Actor, *, now: datetime
) -> tuple[list[DocumentKind], list[DocumentPublic], bool]:
    """(the kinds that apply now, the versions generated, whether the actor may generate), for the
    case page, which has read the case for the actor once and passes it to every section. A session
    record (``PER_SESSION``) names its session: the page offers it on each recorded session."""
    rec = await recordings(engine, row.id)
    async with engine.connect() as conn:
        items = [public(r) for r in await queries.list_for_case(conn, row.id)]
    may = handles_case_or_court_clerk_of_linked_case(transition_context(ctx, row, actor, now))
    return applicable(row, rec), items, may
