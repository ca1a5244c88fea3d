"""HTTP routes for cases: thin — parse, call the use case, return."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel

from service import clock
from service.cases import edits, extend, service
from service.cases.extend import ExtendIn
from service.cases.queries import CaseFilter
from service.cases.schemas import (
    CaseCreate,
    CaseEdit,
    CasePage,
    CasePublic,
    ConsentRecordIn,
    EventPublic,
    OwedReturn,
    PartyEdit,
    PartyIn,
    SentCase,
    SentPage,
    TransitionIn,
    TriagePreview,
    TriagePublic,
    TriggerOption,
)
from service.cases.scope import sender_units
from service.context import ContextDep
from service.db import EngineDep
from service.errors import PROBLEM_CONTENT, field_error
from service.language import read_accept_language
from service.referrals.service import list_referrals
from service.users.deps import ActorDep
from workflows.lifecycle import CaseState, Outcome
from workflows.org import Tier
from workflows.referrals import REFERRAL_LABELS, RETURNS
from workflows.vocab import DisputeType, ReferralKind

router = APIRouter(prefix="/api/v1", tags=["cases"], dependencies=[Depends(read_accept_language)])

PROBLEM: dict[str, object] = PROBLEM_CONTENT
CASE_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM},
    404: {"description": "no such case, or outside your scope", **PROBLEM},
    422: {"description": "invalid fields, each named", **PROBLEM},
}

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the case's id")]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="repeat the same key on a retry to get the same case instead of a duplicate",
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def case_response(
    case: CasePublic | SentCase, *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A case as JSON, serialised once by pydantic. Returning the model instead makes FastAPI
    validate it again against ``response_model`` and encode it a second way: on the hot routes
    (read, create, transition) that was a tenth of the request's CPU. The OpenAPI schema still
    comes from ``response_model``."""
    return Response(
        case.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers={"ETag": etag(case.version), **(headers or {})},
    )


def _search_text(q: str | None) -> str | None:
    if q is not None and "\x00" in q:
        raise field_error("query.q", "contains a NUL character")
    return q.strip() or None if q else None


def _parse_if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise field_error("header.If-Match", 'must be the case\'s ETag, e.g. "3"')
    return int(raw)


@router.post(
    "/cases",
    status_code=201,
    response_model=CasePublic | SentCase,
    operation_id="open_case",
    responses={**CASE_ERRORS, 403: {"description": "role cannot register cases", **PROBLEM}},
)
async def open_case(
    body: CaseCreate,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Register a dispute; triage decides where it goes and says why. When triage sends it to
    another unit, the answer is your read-only view of it (``view: "sent"``)."""
    case, replayed = await service.open_case(
        engine, ctx, body, actor, now=clock.now(), idempotency_key=idempotency_key
    )
    headers = {"Location": f"/api/v1/cases/{case.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return case_response(case, status_code=201, headers=headers)


@router.get("/cases", response_model=CasePage, operation_id="list_cases", responses=CASE_ERRORS)
async def list_cases(
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    state: Annotated[list[CaseState] | None, Query(description="one or more states")] = None,
    unit: Annotated[str | None, Query(max_length=32, description="a unit code: its whole subtree")] = None,
    tier: Tier | None = None,
    dispute_type: DisputeType | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="a case number (exact), or text in the summary or a party's name",
        ),
    ] = None,
    overdue: Annotated[bool, Query(description="only cases with a deadline past due")] = False,
    id_number: Annotated[
        str | None,
        Query(
            min_length=2,
            max_length=64,
            pattern=r"^[0-9A-Za-z\-()]+$",
            description="a party's ID number, exact",
        ),
    ] = None,
    due_before: Annotated[
        datetime | None, Query(description="only cases with a running deadline due before this instant")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CasePage:
    """Cases in your scope, newest activity first."""
    for name, value in (
        ("created_from", created_from),
        ("created_to", created_to),
        ("due_before", due_before),
    ):
        if value is not None and value.tzinfo is None:
            raise field_error(f"query.{name}", "give a timezone, e.g. 2026-01-01T00:00:00+08:00")
        if value is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise field_error(f"query.{name}", "outside the range of dates the service stores") from None
    requested = CaseFilter(
        state=[s.value for s in state or []],
        tier=tier.value if tier else None,
        dispute_type=dispute_type.value if dispute_type else None,
        created_from=created_from,
        created_to=created_to,
        q=_search_text(q),
        overdue_as_of=clock.now() if overdue else None,
        party_index=ctx.cipher.blind_index(id_number, "id_number") if id_number else None,
        due_before=due_before,
    )
    return await service.list_cases(engine, ctx, actor, requested, unit=unit, limit=limit, offset=offset)


@router.get("/cases/sent", response_model=SentPage, operation_id="list_sent_cases", responses=CASE_ERRORS)
async def list_sent_cases(
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    state: Annotated[list[CaseState] | None, Query(description="one or more states")] = None,
    outcome: Annotated[list[Outcome] | None, Query(description="one or more outcomes (closed cases)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> SentPage:
    """The cases your unit sent on (registered where triage sent them elsewhere, dispatched,
    escalated, handed off, delegated, referred to the court): where each is now and its result,
    newest activity first. A coordinator sees those sent by any unit of their subtree."""
    return await service.list_sent(
        engine, ctx, actor, states=state or [], outcomes=outcome or [], limit=limit, offset=offset
    )


@router.get(
    "/referrals/owed",
    response_model=list[OwedReturn],
    operation_id="list_owed_returns",
    responses=CASE_ERRORS,
)
async def list_owed_returns(actor: ActorDep, engine: EngineDep, ctx: ContextDep) -> list[OwedReturn]:
    """警调/访调/检调 hand-offs whose result has not been sent back yet, oldest first: those your
    unit sent and those sent to it (a coordinator: their subtree), with how long each is outstanding."""
    return await service.owed_returns(engine, ctx, actor, now=clock.now())


@router.get(
    "/cases/{case_id}", response_model=CasePublic | SentCase, operation_id="get_case", responses=CASE_ERRORS
)
async def get_case(case_id: CaseId, actor: ActorDep, engine: EngineDep, ctx: ContextDep) -> Response:
    """One case with its parties and triage explanation; the ETag carries its version. A unit
    that sent the case on gets its read-only view (``view: "sent"``): state, holder, outcome,
    dates and moves, no personal data, nothing allowed."""
    return case_response(await service.get_case(engine, ctx, case_id, actor))


IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=40, description="the ETag you read")]
EDIT_ERRORS: dict[int | str, dict[str, object]] = {
    **CASE_ERRORS,
    409: {"description": "closed, or you may not correct this case", **PROBLEM},
    412: {"description": "If-Match names an old version", **PROBLEM},
}


@router.patch("/cases/{case_id}", response_model=CasePublic, operation_id="edit_case", responses=EDIT_ERRORS)
async def edit_case(
    case_id: CaseId,
    body: CaseEdit,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    response: Response,
    if_match: IfMatch = None,
) -> CasePublic:
    """Correct a case's facts; the audit trail keeps the old and new values."""
    case = await edits.edit_case(
        engine, ctx, case_id, body, actor, now=clock.now(), if_match=_parse_if_match(if_match)
    )
    response.headers["ETag"] = etag(case.version)
    return case


@router.post(
    "/cases/{case_id}/parties",
    status_code=201,
    response_model=CasePublic,
    operation_id="add_party",
    responses=EDIT_ERRORS,
)
async def add_party(
    case_id: CaseId,
    body: PartyIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    response: Response,
    if_match: IfMatch = None,
) -> CasePublic:
    """Add a party (e.g. a third party who joined the mediation)."""
    case = await edits.add_party(
        engine, ctx, case_id, body, actor, now=clock.now(), if_match=_parse_if_match(if_match)
    )
    response.headers["ETag"] = etag(case.version)
    return case


@router.post(
    "/cases/{case_id}/consents",
    status_code=201,
    response_model=CasePublic,
    operation_id="record_consent",
    responses=EDIT_ERRORS,
)
async def record_consent(
    case_id: CaseId,
    body: ConsentRecordIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    response: Response,
    if_match: IfMatch = None,
) -> CasePublic:
    """Record a party's consent to mediation, or refusal, at any time (人民调解法 arts. 17, 26)."""
    case = await edits.record_consent(
        engine, ctx, case_id, body, actor, now=clock.now(), if_match=_parse_if_match(if_match)
    )
    response.headers["ETag"] = etag(case.version)
    return case


@router.patch(
    "/cases/{case_id}/parties/{party_id}",
    response_model=CasePublic,
    operation_id="edit_party",
    responses=EDIT_ERRORS,
)
async def edit_party(
    case_id: CaseId,
    party_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: PartyEdit,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    response: Response,
    if_match: IfMatch = None,
) -> CasePublic:
    """Correct a party's details; the audit trail keeps the old and new values."""
    case = await edits.edit_party(
        engine, ctx, case_id, party_id, body, actor, now=clock.now(), if_match=_parse_if_match(if_match)
    )
    response.headers["ETag"] = etag(case.version)
    return case


@router.post(
    "/cases/{case_id}/deadlines/{deadline_id}/extend",
    response_model=CasePublic,
    operation_id="extend_deadline",
    responses={**EDIT_ERRORS, 409: {"description": "the policy does not allow this extension", **PROBLEM}},
)
async def extend_deadline(
    case_id: CaseId,
    deadline_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: ExtendIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    response: Response,
    if_match: IfMatch = None,
) -> CasePublic:
    """Extend a period its policy allows to be extended, recording both parties' consent."""
    case = await extend.extend_deadline(
        engine, ctx, case_id, deadline_id, body, actor, now=clock.now(), if_match=_parse_if_match(if_match)
    )
    response.headers["ETag"] = etag(case.version)
    return case


class ReferralPublic(BaseModel):
    id: int
    kind: ReferralKind
    label: str
    from_unit_code: str
    to_unit_code: str
    status: str
    payload: dict[str, Any]
    reason: str | None
    offered_at: datetime
    offered_by: str
    responded_at: datetime | None
    responded_by: str | None
    decline_reason: str | None
    expects_back: str
    result: dict[str, Any] | None
    completed_at: datetime | None


@router.get(
    "/cases/{case_id}/referrals",
    response_model=list[ReferralPublic],
    operation_id="list_case_referrals",
    responses=CASE_ERRORS,
)
async def case_referrals(
    case_id: CaseId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> list[ReferralPublic]:
    """The case's hand-offs: kind, sender, receiver, status, and the result owed back to the
    sender. A unit following a case it sent on sees the hand-offs it sent."""
    _, full = await service.sighted_row(engine, ctx, case_id, actor)
    async with engine.connect() as conn:
        rows = await list_referrals(conn, case_id)
    if not full:
        ours = sender_units(actor, ctx.org)
        rows = [r for r in rows if r.from_unit_code in ours]
    return [
        ReferralPublic(
            id=r.id,
            kind=r.kind,
            label=REFERRAL_LABELS[r.kind],
            from_unit_code=r.from_unit_code,
            to_unit_code=r.to_unit_code,
            status=r.status,
            payload=r.payload,
            reason=r.reason,
            offered_at=r.offered_at,
            offered_by=r.offered_by,
            responded_at=r.responded_at,
            responded_by=r.responded_by,
            decline_reason=r.decline_reason,
            expects_back=RETURNS[r.kind],
            result=r.result,
            completed_at=r.completed_at,
        )
        for r in rows
    ]


@router.get(
    "/cases/{case_id}/events",
    response_model=list[EventPublic],
    operation_id="list_case_events",
    responses=CASE_ERRORS,
)
async def case_events(
    case_id: CaseId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> list[EventPublic]:
    """The case's audit timeline, oldest first."""
    return await service.case_events(engine, ctx, case_id, actor)


@router.get(
    "/cases/{case_id}/transitions",
    response_model=list[TriggerOption],
    operation_id="list_allowed_transitions",
    responses=CASE_ERRORS,
)
async def allowed_transitions(
    case_id: CaseId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> list[TriggerOption]:
    """The triggers you may fire on this case now, with the fields each needs."""
    return await service.transition_options(engine, ctx, case_id, actor, now=clock.now())


@router.post(
    "/cases/{case_id}/transitions",
    response_model=CasePublic | SentCase,
    operation_id="apply_transition",
    responses={
        **CASE_ERRORS,
        409: {"description": "not allowed now; lists the allowed triggers", **PROBLEM},
        412: {"description": "If-Match names an old version", **PROBLEM},
    },
)
async def apply_transition(
    case_id: CaseId,
    body: TransitionIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    if_match: IfMatch = None,
) -> Response:
    """Move a case along its lifecycle. When the move sends the case where you no longer see
    it (escalation, hand-off, referral to the court …), the answer is your read-only view of it."""
    case = await service.apply_transition(
        engine, ctx, case_id, body, actor, now=clock.now(), if_match=_parse_if_match(if_match)
    )
    return case_response(case)


@router.post(
    "/triage/preview", response_model=TriagePublic, operation_id="preview_triage", responses=CASE_ERRORS
)
async def preview_triage(body: TriagePreview, actor: ActorDep, ctx: ContextDep) -> TriagePublic:
    """Where triage would send a dispute, and why, without registering anything."""
    return service.preview_triage(ctx, body)
