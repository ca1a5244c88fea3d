"""Case use cases: open, read, list, and move a case along its lifecycle.

Each use case commits once. The state machine decides in memory; the case row and its audit
event are written together in one transaction afterwards (``queries.apply_change``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import clock
from service.cases import queries, writer
from service.cases.queries import CaseFilter
from service.cases.report_filing import registration_reports
from service.cases.rows import CaseListRow, CaseRecord, CaseRow, EventRow
from service.cases.schemas import (
    TRIGGER_FIELDS,
    CaseCreate,
    CasePage,
    CasePublic,
    CaseSummary,
    EventPublic,
    OwedReturn,
    PartyPublic,
    PriorProceedingsIn,
    SentCase,
    SentPage,
    SentStep,
    SentSummary,
    TransitionIn,
    TriagePreview,
    TriagePublic,
    TriggerOption,
)
from service.cases.scope import can_see, require_registrar, scope_filter, sender_units
from service.cases.snapshot import planning, snapshot
from service.context import AppContext
from service.db import reading
from service.deadlines.views import deadline_views
from service.errors import (
    Forbidden,
    IdempotencyKeyReused,
    IdempotencyKeyUsed,
    InvalidInput,
    NotFound,
    ServiceError,
    StaleVersion,
    TransitionNotAllowed,
    field_error,
)
from service.i18n import catalogue, server_text
from service.language import answer_language
from service.personal.sealing import mask, seal, unseal
from workflows.intake import declaration_problem
from workflows.labour import Clock, labour_routes
from workflows.lifecycle import (
    STATE_LABELS,
    TRIGGER_LABELS,
    Actor,
    CaseState,
    Outcome,
    Role,
    TransitionContext,
    Trigger,
    allowed_triggers,
)
from workflows.org import OrgTree
from workflows.referrals import REFERRAL_LABELS, RETURNS
from workflows.transition import (
    AcceptanceBarred,
    ConsentMissing,
    FieldRejected,
    NotAllowed,
    NotConfirmable,
    OpeningPlan,
    PayloadMissing,
    Refused,
    TransitionPlan,
    context_of,
    plan_opening,
    plan_transition,
    refusal,
)
from workflows.transition import ConfirmationWindowClosed as WindowClosed
from workflows.triage import TriageDecision, TriageFacts, UnknownLocation, say, triage
from workflows.vocab import SENSITIVE_FLAGS, Flag, RiskColour

# --- triage -----------------------------------------------------------------------------------


def _facts(body: CaseCreate | TriagePreview) -> TriageFacts:
    return TriageFacts(
        dispute_type=body.dispute_type,
        amount_yuan=body.amount_yuan,
        people_involved=body.people_involved,
        location_code=body.location_code,
        source=body.source,
        flags=frozenset(body.flags),
    )


def decide(ctx: AppContext, body: CaseCreate | TriagePreview) -> TriageDecision:
    try:
        return triage(_facts(body), ctx.rules, ctx.org)
    except UnknownLocation as exc:
        raise field_error("body.location_code", str(exc)) from exc


def _triage_public(data: Mapping[str, Any], org: OrgTree) -> TriagePublic:
    lang = answer_language()
    # The reasons are stored in Chinese (the explanation PIPL art. 24 asks for); a reader who asked
    # for English reads them in English, the same words the English pages show.
    reasons = [server_text(lang, str(r), catalogue(), org) for r in data.get("reasons", [])]
    return TriagePublic.model_validate(
        {**data, "reasons": reasons, "unit_name": org.name_of(str(data.get("unit_code")), lang)}
    )


def preview_triage(ctx: AppContext, body: TriagePreview) -> TriagePublic:
    return _triage_public(decide(ctx, body).as_dict(), ctx.org)


# --- reading ----------------------------------------------------------------------------------


def case_public(row: CaseRecord, ctx: AppContext, *, now: datetime) -> CasePublic:
    org = ctx.org
    deadlines = deadline_views(row.deadlines, ctx, now=now)
    clocks = [Clock(d.kind, d.status, d.due_at) for d in deadlines]
    return CasePublic(
        id=row.id,
        number=row.number,
        dispute_type=row.dispute_type,
        summary=row.summary,
        location_code=row.location_code,
        state=row.state,
        state_label=STATE_LABELS[row.state],
        unit_code=row.unit_code,
        tier=row.tier,
        channel=row.channel,
        risk=row.risk,
        outcome=row.outcome,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        amount_yuan=row.amount_yuan,
        people_involved=row.people_involved,
        flags=row.flags(),
        source=row.source,
        unit_name=org.name_of(row.unit_code, answer_language()),
        termination_reason=row.termination_reason,
        returns_to_code=row.returns_to_code,
        court_linked=row.court_linked,
        agreement=row.agreement,
        registered_by=row.registered_by,
        registered_unit_code=row.registered_unit_code,
        closed_at=row.closed_at,
        parties=[PartyPublic.model_validate(mask(unseal(p.stored(), ctx.cipher))) for p in row.parties],
        triage=_triage_public(row.triage, org),
        court_procedure=row.court_procedure,
        court_case_number=row.court_case_number,
        deadlines=deadlines,
        prior_proceedings=row.prior_proceedings,
        consents=row.consents or [],
        labour_routes=labour_routes(row.dispute_type, row.state, clocks, row.agreement, row.performance, now),
    )


def case_summary(row: CaseListRow) -> CaseSummary:
    """A case as a list shows it."""
    return CaseSummary(
        id=row.id,
        number=row.number,
        dispute_type=row.dispute_type,
        summary=row.summary,
        location_code=row.location_code,
        state=row.state,
        state_label=STATE_LABELS[row.state],
        unit_code=row.unit_code,
        tier=row.tier,
        channel=row.channel,
        risk=row.risk,
        outcome=row.outcome,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def event_public(row: EventRow) -> EventPublic:
    return EventPublic(
        seq=row.seq,
        at=row.at,
        kind=row.kind,
        trigger=row.trigger,
        actor=row.actor,
        actor_role=row.actor_role,
        actor_unit_code=row.actor_unit_code,
        from_state=row.from_state,
        to_state=row.to_state,
        from_unit_code=row.from_unit_code,
        to_unit_code=row.to_unit_code,
        reason=row.reason,
        payload=row.payload,
    )


async def sighted_row(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor
) -> tuple[CaseRow, bool]:
    """The case and whether the actor sees all of it (True) or follows it as a unit that sent it
    on (False: the read-only view). A sensitive case is never followed from outside."""
    row = await queries.read_case(engine, case_id)
    if row is not None:
        if can_see(actor, row.unit_code, row.court_linked, ctx.org, sensitive=bool(row.sensitive)):
            return row, True
        if not row.sensitive and sender_units(actor, ctx.org).intersection(row.senders):
            return row, False
    # Out of scope looks exactly like absent: a mediator learns nothing about other stations.
    raise NotFound(f"No case {case_id}.")


async def visible_row(engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor) -> CaseRow:
    """The case, for those who see all of it (read, act, correct, reveal); 404 for everyone else
    (a unit that sent it on follows it through ``sighted_row``, read only)."""
    row, full = await sighted_row(engine, ctx, case_id, actor)
    if not full:
        raise NotFound(f"No case {case_id}.")
    return row


def _sent_step(row: EventRow, org: OrgTree) -> SentStep:
    return SentStep(
        at=row.at,
        trigger=row.trigger,
        trigger_label=None if row.trigger is None else TRIGGER_LABELS[row.trigger],
        from_state=row.from_state,
        to_state=row.to_state,
        to_state_label=STATE_LABELS[row.to_state],
        from_unit_code=row.from_unit_code,
        to_unit_code=row.to_unit_code,
        to_unit_name=org.name_of(row.to_unit_code, answer_language()),
    )


# The events a sent case's timeline shows: its registration and its moves, nothing recorded
# beside them (edits, clocks, reveals).
TIMELINE_KINDS = frozenset({"created", "transition"})


async def sent_view(engine: AsyncEngine, ctx: AppContext, row: CaseRecord) -> SentCase:
    """The read-only view of a case for a unit that sent it on: its own explicit schema, so
    nothing personal or actionable can slip in with a new column."""
    async with reading(engine) as conn:
        events = await queries.list_events(conn, row.id)
    return SentCase(
        id=row.id,
        number=row.number,
        version=row.version,
        dispute_type=row.dispute_type,
        state=row.state,
        state_label=STATE_LABELS[row.state],
        unit_code=row.unit_code,
        unit_name=ctx.org.name_of(row.unit_code, answer_language()),
        tier=row.tier,
        channel=row.channel,
        outcome=row.outcome,
        termination_reason=row.termination_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        closed_at=row.closed_at,
        timeline=[_sent_step(e, ctx.org) for e in events if e.kind in TIMELINE_KINDS],
    )


async def get_case(engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor) -> CasePublic | SentCase:
    row, full = await sighted_row(engine, ctx, case_id, actor)
    if not full:
        return await sent_view(engine, ctx, row)
    return case_public(row, ctx, now=clock.now())


async def case_events(engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor) -> list[EventPublic]:
    _, full = await sighted_row(engine, ctx, case_id, actor)
    if not full:
        raise Forbidden(
            "Your unit sent this case on: its state, holder and timeline are in the case's read-only "
            "view; the audit trail with its reasons and fields is for those handling it."
        )
    return await events_of(engine, case_id)


async def events_of(engine: AsyncEngine, case_id: int) -> list[EventPublic]:
    """The case's audit trail, oldest first, for a caller that has read the case for this reader
    (``case_events`` and the case page, which reads the case once)."""
    async with reading(engine) as conn:
        rows = await queries.list_events(conn, case_id)
    return [event_public(r) for r in rows]


def _sent_summary(row: CaseListRow, org: OrgTree) -> SentSummary:
    return SentSummary(
        id=row.id,
        number=row.number,
        dispute_type=row.dispute_type,
        state=row.state,
        state_label=STATE_LABELS[row.state],
        unit_code=row.unit_code,
        unit_name=org.name_of(row.unit_code, answer_language()),
        outcome=row.outcome,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def list_sent(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    *,
    states: list[CaseState],
    outcomes: list[Outcome],
    limit: int,
    offset: int,
) -> SentPage:
    """The cases the actor's unit (a coordinator: their subtree) sent on, newest activity first."""
    scope_filter(actor, ctx.org)  # the roles that do not work on cases are refused here
    units = sender_units(actor, ctx.org)
    if not units:
        return SentPage(items=[], total=0, limit=limit, offset=offset)
    rows, total = await queries.list_sent(
        engine,
        units,
        states=[s.value for s in states],
        outcomes=[o.value for o in outcomes],
        limit=limit,
        offset=offset,
    )
    return SentPage(items=[_sent_summary(r, ctx.org) for r in rows], total=total, limit=limit, offset=offset)


async def owed_returns(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, *, now: datetime
) -> list[OwedReturn]:
    """The 警调/访调/检调 hand-offs whose result is still owed: those the actor's units sent, and
    those sent to them (a coordinator: their subtree), oldest first."""
    scope_filter(actor, ctx.org)  # the roles that do not work on cases are refused here
    units = sender_units(actor, ctx.org)
    if not units:
        return []
    async with reading(engine) as conn:
        rows = await queries.owed_referrals(conn, units)
    org = ctx.org
    return [
        OwedReturn(
            referral_id=r.id,
            case_id=r.case_id,
            number=r.number,
            kind=r.kind,
            label=REFERRAL_LABELS[r.kind],
            status=r.status.value,
            from_unit_code=r.from_unit_code,
            from_unit_name=org.name_of(r.from_unit_code, answer_language()),
            to_unit_code=r.to_unit_code,
            to_unit_name=org.name_of(r.to_unit_code, answer_language()),
            offered_at=r.offered_at,
            offered_by=r.offered_by,
            expects_back=RETURNS[r.kind],
            case_state=r.case_state,
            case_state_label=STATE_LABELS[r.case_state],
            outstanding_days=max(0, (now - r.offered_at).days),
        )
        for r in rows
    ]


async def list_cases(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    requested: CaseFilter,
    *,
    unit: str | None,
    limit: int,
    offset: int,
) -> CasePage:
    scope = scope_filter(actor, ctx.org)
    within = None
    if unit is not None:
        if unit not in ctx.org:
            raise field_error("query.unit", f"no unit with code {unit!r}")
        within = ctx.org.subtree(unit)
    f = replace(
        requested,
        unit_codes=scope.unit_codes,
        include_court_linked=scope.include_court_linked,
        hide_sensitive=scope.hide_sensitive,
        referred_from=sender_units(actor, ctx.org) if scope.unit_codes is not None else None,
        within_units=within,
    )
    rows, total, at_least = await queries.list_cases(engine, f, limit=limit, offset=offset)
    return CasePage(
        items=[case_summary(r) for r in rows],
        total=total,
        total_is_lower_bound=at_least,
        limit=limit,
        offset=offset,
    )


# The court desk takes the gravest cases first.
RISK_PRIORITY = {RiskColour.red: 0, RiskColour.orange: 1, RiskColour.yellow: 2, RiskColour.green: 3}

# --- opening a case ---------------------------------------------------------------------------


def _agency_intake(ctx: AppContext, decision: TriageDecision, actor: Actor) -> TriageDecision:
    """A dispute a 派出所 or other agency takes in stays with it (administrative mediation); the
    agency hands it on (警调对接 …) if it chooses. Triage's suggestion is kept in the explanation."""
    agency = ctx.org.get(actor.unit_code)
    suggested = ctx.org.find(decision.unit_code)
    suggestion = say(
        "agency_suggestion", suggested=suggested.name if suggested else decision.unit_code, rule=decision.rule
    )
    return replace(
        decision,
        rule="agency-intake",
        reasons=(say("agency_intake", agency=agency.name), suggestion, *decision.reasons),
        unit_code=agency.code,
        tier=agency.tier,
        channel=agency.channel,
        state="assigned",
        hub_code=agency.code,
    )


def prior_declaration(given: PriorProceedingsIn) -> dict[str, Any]:
    """The intake's declaration as stored (人民调解工作若干规定 art. 22), or the 422 naming what is missing."""
    prior = given.model_dump(mode="json", exclude_none=True)
    problem = declaration_problem(prior)
    if problem is not None:
        raise field_error(f"body.prior_proceedings.{problem[0]}", problem[1])
    return prior


def _request_hash(body: CaseCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Registration:
    """What registering one dispute writes: the case's columns, its sealed parties, its `created`
    event, the plan of what it starts (given its id and number), and the reports a crime risk
    owes with it (None: none)."""

    values: dict[str, Any]
    parties: list[dict[str, Any]]
    event: dict[str, Any]
    opening: Callable[[int, str], OpeningPlan]
    reports: Callable[[AsyncConnection, int], Awaitable[None]] | None


def prepare_registration(
    ctx: AppContext,
    body: CaseCreate,
    actor: Actor,
    *,
    now: datetime,
    payload: Mapping[str, Any] | None = None,
    hooks: bool = True,
) -> Registration:
    """Triage a dispute and build what registering it writes; ``payload``: more facts for the
    `created` event (a screening round's id); ``hooks``: False when the caller writes what
    ``ctx.after_registration`` would (a round's dispute with its own major report). A 422 names
    a missing declaration."""
    require_registrar(actor)
    prior = prior_declaration(body.prior_proceedings)
    decision = decide(ctx, body)
    if actor.role == Role.agency_officer:
        decision = _agency_intake(ctx, decision, actor)
    unit = ctx.org.get(decision.unit_code)
    values: dict[str, Any] = {
        "dispute_type": body.dispute_type.value,
        "summary": body.summary,
        "location_code": body.location_code,
        "amount_yuan": body.amount_yuan,
        "people_involved": body.people_involved,
        **{f"flag_{flag.value}": flag in body.flags for flag in Flag},
        "sensitive": any(flag in SENSITIVE_FLAGS for flag in body.flags),
        "source": body.source.value,
        "risk": decision.risk.value,
        "priority": RISK_PRIORITY[decision.risk],
        "unit_code": unit.code,
        "tier": unit.tier.value,
        "channel": unit.channel.value,
        "state": decision.state,
        "returns_to_code": decision.hub_code,
        "court_linked": False,
        "triage": decision.as_dict(),
        "registered_by": actor.username,
        "registered_unit_code": actor.unit_code,
        "prior_proceedings": prior,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    parties = [seal(p.model_dump(mode="json"), ctx.cipher) for p in body.parties]
    reason = "；".join(decision.reasons)
    event = {
        "at": now,
        "kind": "created",
        "trigger": None,
        "actor": actor.username,
        "actor_role": actor.role.value,
        "actor_unit_code": actor.unit_code,
        "from_state": None,
        "to_state": decision.state,
        "from_unit_code": None,
        "to_unit_code": unit.code,
        "reason": None,
        "payload": {"triage": decision.as_dict(), "prior_proceedings": prior, **(payload or {})},
    }

    def opening(case_id: int, number: str) -> OpeningPlan:
        return plan_opening(
            case_id,
            number,
            body.dispute_type,
            unit,
            CaseState(decision.state),
            reason,
            actor,
            now=now,
            planning=planning(ctx),
        )

    writes = [registration_reports(ctx, decision, actor, now=now)]
    writes += [hook(ctx, body, actor, now) for hook in ctx.after_registration] if hooks else []
    return Registration(values, parties, event, opening, _together([w for w in writes if w is not None]))


def _together(
    writes: list[Callable[[AsyncConnection, int], Awaitable[None]]],
) -> Callable[[AsyncConnection, int], Awaitable[None]] | None:
    """What registration writes with the case, in order, as one callback (None: nothing, so the
    case is written in one statement on PostgreSQL)."""
    if not writes:
        return None
    if len(writes) == 1:
        return writes[0]

    async def all_of(conn: AsyncConnection, case_id: int) -> None:
        for write in writes:
            await write(conn, case_id)

    return all_of


async def register_on(
    conn: AsyncConnection,
    ctx: AppContext,
    body: CaseCreate,
    actor: Actor,
    *,
    now: datetime,
    payload: Mapping[str, Any] | None = None,
    hooks: bool = True,
) -> CaseRecord:
    """Register a dispute in the caller's transaction (a record that registers several cases
    with itself, or none: a screening round); the case as written."""
    r = prepare_registration(ctx, body, actor, now=now, payload=payload, hooks=hooks)
    return await writer.open_case_on(conn, r.values, r.parties, r.event, r.opening, now=now, then=r.reports)


async def open_case(
    engine: AsyncEngine,
    ctx: AppContext,
    body: CaseCreate,
    actor: Actor,
    *,
    now: datetime,
    idempotency_key: str | None = None,
) -> tuple[CasePublic | SentCase, bool]:
    """Register a dispute, triage it, and record who did; (case, replayed). A case triage sends
    to another unit is answered with the registrar's read-only view of it."""
    require_registrar(actor)
    prior_declaration(body.prior_proceedings)
    request_hash = _request_hash(body)
    if idempotency_key:
        replay = await _replay(engine, ctx, actor, idempotency_key, request_hash)
        if replay is not None:
            return replay, True
    r = prepare_registration(ctx, body, actor, now=now)
    key = None if not idempotency_key else (actor.username, idempotency_key, request_hash)
    written = await writer.open_case(
        engine, r.values, r.parties, r.event, r.opening, key=key, now=now, then=r.reports
    )
    if written is None:
        # The key was already used, or a concurrent retry with it won: answer with its case.
        assert idempotency_key is not None
        replay = await _replay(engine, ctx, actor, idempotency_key, request_hash)
        assert replay is not None
        return replay, True
    if not can_see(actor, written.unit_code, written.court_linked, ctx.org, sensitive=written.sensitive):
        # Triage sent it elsewhere: the registrar follows it, read only (a sensitive case is
        # answered this once, as its registrar's own act, and not followed afterwards).
        return await sent_view(engine, ctx, written), False
    return case_public(written, ctx, now=now), False


async def _replay(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, key: str, request_hash: str
) -> CasePublic | SentCase | None:
    """The case a retry with this key registered, as the caller may see it now; None when the
    key is new or expired (an expired record is forgotten here, so the key registers anew)."""
    now = clock.now()
    async with reading(engine) as conn:
        record = await queries.find_idempotent(conn, actor.username, key)
    if record is None:
        return None
    if record.created_at < now - timedelta(hours=ctx.settings.idempotency_key_hours):
        async with engine.begin() as conn:
            await queries.forget_idempotency_key(conn, record.id, created_at=record.created_at)
        return None
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used to register a different case; use a new key.",
            case_id=record.case_id,
        )
    try:
        # What the caller may see now: the case may have moved on, or been flagged sensitive.
        row, full = await sighted_row(engine, ctx, record.case_id, actor)
    except NotFound:
        number = await queries.read_number(engine, record.case_id)
        raise IdempotencyKeyUsed(
            f"This request already registered case {number}, which is now handled where you "
            "cannot see it; it was not registered again.",
            case_id=record.case_id,
            number=number,
        ) from None
    return case_public(row, ctx, now=now) if full else await sent_view(engine, ctx, row)


# --- transitions ------------------------------------------------------------------------------


def transition_context(ctx: AppContext, row: CaseRow, actor: Actor, now: datetime) -> TransitionContext:
    """What the lifecycle's guards see of a case read, before a target or fields are chosen."""
    return context_of(snapshot(row), actor, now, planning(ctx))


def _option(trigger: Trigger) -> TriggerOption:
    schema = TRIGGER_FIELDS[trigger].model_json_schema()
    return TriggerOption(
        trigger=trigger,
        label=TRIGGER_LABELS[trigger],
        fields=schema,
        required=list(schema.get("required", [])),
    )


async def transition_options(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor, *, now: datetime
) -> list[TriggerOption]:
    row, full = await sighted_row(engine, ctx, case_id, actor)
    if not full:
        return []  # a unit that sent the case on only reads it
    return options_of(ctx, row, actor, now)


def options_of(ctx: AppContext, row: CaseRow, actor: Actor, now: datetime) -> list[TriggerOption]:
    """What the actor may do to a case they see in full (``visible_row``), as read."""
    return [_option(t) for t in allowed_triggers(transition_context(ctx, row, actor, now))]


def _validate_fields(trigger: Trigger, body: TransitionIn) -> dict[str, Any]:
    data = {**(body.model_extra or {}), "reason": body.reason}
    if data["reason"] is None:
        del data["reason"]
    try:
        fields = TRIGGER_FIELDS[trigger].model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(["body", *(str(p) for p in e["loc"])]), "message": e["msg"]}
            for e in exc.errors()
        ]
        raise InvalidInput(
            f"{trigger.value}: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors
        ) from exc
    return fields.model_dump(mode="json", exclude_none=True)


def _not_allowed(refused: NotAllowed) -> TransitionNotAllowed:
    return TransitionNotAllowed(
        str(refused), state=refused.state.value, allowed=[t.value for t in refused.allowed]
    )


class PriorProceedings(TransitionNotAllowed):
    slug = "prior-proceedings"
    title = "Another authority has already accepted this dispute"


class ConfirmationWindowClosed(TransitionNotAllowed):
    slug = "confirmation-window-closed"
    title = "The 30-day window for judicial confirmation has closed"


class AgreementNotConfirmable(InvalidInput):
    slug = "agreement-not-confirmable"
    title = "The agreement cannot be confirmed by a court"


def _problem(refused: Refused) -> ServiceError:
    """The problem a refusal of the planner is answered with."""
    if isinstance(refused, NotAllowed):
        return _not_allowed(refused)
    if isinstance(refused, FieldRejected):
        return field_error(refused.field, refused.message)
    if isinstance(refused, PayloadMissing):
        errors = [{"field": f, "message": "required for this referral kind"} for f in refused.fields]
        return InvalidInput(str(refused), errors)
    if isinstance(refused, AcceptanceBarred):
        return PriorProceedings(
            str(refused), authority=refused.authority.value, allowed=["hand_off", "close", "decline"]
        )
    if isinstance(refused, ConsentMissing):
        errors = [{"field": f, "message": m} for f, m in refused.fields]
        return InvalidInput(str(refused), errors)
    if isinstance(refused, WindowClosed):
        return ConfirmationWindowClosed(
            str(refused), effective_on=refused.effective_on, last_day=refused.last_day.isoformat(), allowed=[]
        )
    if isinstance(refused, NotConfirmable):
        errors = [{"field": "body.agreement", "message": r} for r in refused.reasons]
        return AgreementNotConfirmable(str(refused), errors)
    raise AssertionError(f"unmapped refusal {refused!r}")


def decide_transition(
    ctx: AppContext, row: CaseRow, body: TransitionIn, actor: Actor, *, now: datetime, if_match: int | None
) -> TransitionPlan:
    """Validate and plan; raises the 409/412/422 problems. No I/O."""
    if if_match is not None and if_match != row.version:
        raise StaleVersion(
            f"You edited version {if_match}, but the case is now at version {row.version}; reload it.",
            current_version=row.version,
        )
    case = snapshot(row)
    try:
        fields = _validate_fields(body.trigger, body)
    except InvalidInput:
        # May this actor fire the trigger here at all? If not, that is the answer, not the fields.
        refused = refusal(body.trigger, context_of(case, actor, now, planning(ctx)))
        if refused is not None:
            raise _not_allowed(refused) from None
        raise
    try:
        return plan_transition(case, actor, body.trigger, fields, now=now, planning=planning(ctx))
    except Refused as refused:
        raise _problem(refused) from None


async def write_transition(conn: AsyncConnection, plan: TransitionPlan) -> writer.Written | None:
    """Write a plan in the caller's transaction; None when the case changed since it was read."""
    return await writer.write(conn, plan)


async def apply_transition(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    body: TransitionIn,
    actor: Actor,
    *,
    now: datetime,
    if_match: int | None = None,
) -> CasePublic | SentCase:
    """The case after the transition; when the transition sent it where the actor no longer
    sees it (escalated, handed off, referred to the court …), the actor's read-only view of it.
    A unit that follows a case it sent on may fire nothing on it (409, nothing allowed)."""
    # Optimistic: read outside the write, decide in memory, write guarded by version.
    row, _ = await sighted_row(engine, ctx, case_id, actor)
    plan = decide_transition(ctx, row, body, actor, now=now, if_match=if_match)
    after = await writer.apply(engine, plan, row)
    if after is None:
        raise await lost_race(engine, case_id)
    if not can_see(actor, after.unit_code, after.court_linked, ctx.org, sensitive=after.sensitive):
        return await sent_view(engine, ctx, after)
    return case_public(after, ctx, now=now)


async def lost_race(engine: AsyncEngine, case_id: int) -> StaleVersion:
    """The 412 for a write whose version check failed: someone moved the case since it was read."""
    current = await queries.read_version(engine, case_id)
    return StaleVersion(
        f"Someone else changed the case while you were working (now version {current}); reload it.",
        current_version=current,
    )
