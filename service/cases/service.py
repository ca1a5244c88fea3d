"""Case use cases: open, read, list, and move a case along its lifecycle.

Each use case commits once. The state machine decides in memory; the case row and its audit
event are written together in one transaction afterwards (``queries.apply_change``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import clock
from service.cases import effects, queries
from service.cases.queries import CaseFilter
from service.cases.schemas import (
    TRIGGER_FIELDS,
    CaseCreate,
    CasePage,
    CasePublic,
    CaseSummary,
    EventPublic,
    PartyPublic,
    TransitionIn,
    TriagePreview,
    TriagePublic,
    TriggerOption,
)
from service.cases.scope import can_see, referral_sender_units, require_registrar, scope_filter
from service.clock import SHANGHAI
from service.context import AppContext
from service.db import reading
from service.deadlines.views import deadline_views
from service.errors import (
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    StaleVersion,
    TransitionNotAllowed,
    field_error,
)
from service.privacy.parties import mask, seal, unseal
from workflows.lifecycle import (
    CLOSE_OUTCOMES,
    STATE_LABELS,
    TRIGGER_LABELS,
    Actor,
    CaseFacts,
    CaseState,
    Outcome,
    Role,
    TransitionContext,
    Trigger,
    allowed_triggers,
    destination_unit,
    fire,
    matching_rule,
)
from workflows.org import Channel, OrgTree, Unit
from workflows.referrals import REQUIRED_PAYLOAD, direction_problem
from workflows.triage import TriageDecision, TriageFacts, UnknownLocation, triage
from workflows.vocab import SENSITIVE_FLAGS, Flag, ReferralKind, RiskColour

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
    unit = org.find(str(data.get("unit_code")))
    return TriagePublic.model_validate({**data, "unit_name": unit.name if unit else None})


def preview_triage(ctx: AppContext, body: TriagePreview) -> TriagePublic:
    return _triage_public(decide(ctx, body).as_dict(), ctx.org)


# --- reading ----------------------------------------------------------------------------------


def _flags(row: Mapping[str, Any]) -> list[Flag]:
    return [flag for flag in Flag if row.get(f"flag_{flag.value}")]


def _json_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])


def case_public(row: Mapping[Any, Any], ctx: AppContext, *, now: datetime) -> CasePublic:
    org = ctx.org
    parties = [mask(unseal(p, ctx.cipher)) for p in _json_list(row.get("parties"))]
    unit = org.find(row["unit_code"])
    return CasePublic.model_validate(
        {
            **row,
            "state_label": STATE_LABELS[CaseState(row["state"])],
            "flags": _flags(row),
            "unit_name": unit.name if unit else None,
            "parties": [PartyPublic.model_validate(p) for p in sorted(parties, key=lambda p: p["id"])],
            "triage": _triage_public(row["triage"], org),
            "deadlines": deadline_views(_json_list(row.get("deadlines")), ctx, now=now),
        }
    )


async def visible_row(engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor) -> Row[Any]:
    row = await queries.read_case(engine, case_id)
    visible = row is not None and can_see(
        actor, row.unit_code, row.court_linked, ctx.org, sensitive=bool(row.sensitive)
    )
    if row is not None and not visible and not row.sensitive:
        # The sender of a hand-off follows the case it referred (read only: acting needs the unit).
        senders = referral_sender_units(actor, ctx.org)
        if senders:
            async with reading(engine) as conn:
                visible = await queries.referred_from(conn, case_id, senders)
    if row is None or not visible:
        # Out of scope looks exactly like absent: a mediator learns nothing about other stations.
        raise NotFound(f"No case {case_id}.")
    return row


async def get_case(engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor) -> CasePublic:
    return case_public((await visible_row(engine, ctx, case_id, actor))._mapping, ctx, now=clock.now())


async def case_events(engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor) -> list[EventPublic]:
    await visible_row(engine, ctx, case_id, actor)
    async with reading(engine) as conn:
        rows = await queries.list_events(conn, case_id)
    return [EventPublic.model_validate(dict(r._mapping)) for r in rows]


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
        referred_from=referral_sender_units(actor, ctx.org) if scope.unit_codes is not None else None,
        within_units=within,
    )
    rows, total = await queries.list_cases(engine, f, limit=limit, offset=offset)
    items = [
        CaseSummary.model_validate({**r._mapping, "state_label": STATE_LABELS[CaseState(r.state)]})
        for r in rows
    ]
    return CasePage(items=items, total=total, limit=limit, offset=offset)


# The court desk takes the gravest cases first.
RISK_PRIORITY = {RiskColour.red: 0, RiskColour.orange: 1, RiskColour.yellow: 2, RiskColour.green: 3}

# --- opening a case ---------------------------------------------------------------------------


def _agency_intake(ctx: AppContext, decision: TriageDecision, actor: Actor) -> TriageDecision:
    """A dispute a 派出所 or other agency takes in stays with it (administrative mediation); the
    agency hands it on (警调对接 …) if it chooses. Triage's suggestion is kept in the explanation."""
    agency = ctx.org.get(actor.unit_code)
    suggested = ctx.org.find(decision.unit_code)
    suggestion = (
        f"分级诊疗建议: {suggested.name if suggested else decision.unit_code}（规则 {decision.rule}）"
    )
    return replace(
        decision,
        rule="agency-intake",
        reasons=(f"由{agency.name}受理登记（行政调解）", suggestion, *decision.reasons),
        unit_code=agency.code,
        tier=agency.tier,
        channel=agency.channel,
        state="assigned",
        hub_code=agency.code,
    )


def _request_hash(body: CaseCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def open_case(
    engine: AsyncEngine,
    ctx: AppContext,
    body: CaseCreate,
    actor: Actor,
    *,
    now: datetime,
    idempotency_key: str | None = None,
) -> tuple[CasePublic, bool]:
    """Register a dispute, triage it, and record who did; (case, replayed)."""
    require_registrar(actor)
    request_hash = _request_hash(body)
    if idempotency_key:
        replay = await _replay(engine, ctx, actor, idempotency_key, request_hash)
        if replay is not None:
            return replay, True
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
        "payload": {"triage": decision.as_dict()},
    }
    async with engine.begin() as conn:
        case_id, number = await queries.insert_case(
            conn, values, parties, event, year=now.astimezone(SHANGHAI).year
        )
        await effects.after_change(
            conn,
            ctx,
            case={**values, "id": case_id, "number": number},
            event="open",
            from_state=None,
            to_state=CaseState(decision.state),
            from_unit=None,
            reason=reason,
            actor=actor.username,
            now=now,
        )
        kept = not idempotency_key or await queries.claim_idempotency_key(
            conn,
            username=actor.username,
            key=idempotency_key,
            request_hash=request_hash,
            case_id=case_id,
            now=now,
        )
        if not kept:
            await conn.rollback()
        else:
            # Read back before commit, on the same connection: no second checkout or BEGIN.
            row = await queries.fetch_case(conn, case_id)
    if not kept:
        # A concurrent retry with the same key won the race: answer with its case.
        assert idempotency_key is not None
        replay = await _replay(engine, ctx, actor, idempotency_key, request_hash)
        assert replay is not None
        return replay, True
    assert row is not None
    return case_public(row._mapping, ctx, now=now), False


async def _replay(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, key: str, request_hash: str
) -> CasePublic | None:
    async with engine.connect() as conn:
        record = await queries.find_idempotent(conn, actor.username, key)
        if record is None:
            return None
        if record.request_hash != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used to register a different case; use a new key.",
                case_id=record.case_id,
            )
        row = await queries.fetch_case(conn, record.case_id)
    assert row is not None
    # The registrant sees the replayed case even if triage sent it outside their scope.
    return case_public(row._mapping, ctx, now=clock.now())


# --- transitions ------------------------------------------------------------------------------


def _facts_of(row: Row[Any]) -> CaseFacts:
    return CaseFacts(
        state=CaseState(row.state),
        unit_code=row.unit_code,
        channel=Channel(row.channel),
        returns_to_code=row.returns_to_code,
        court_linked=bool(row.court_linked),
    )


def transition_context(ctx: AppContext, row: Row[Any], actor: Actor, now: datetime) -> TransitionContext:
    return TransitionContext(actor=actor, case=_facts_of(row), org=ctx.org, now=now)


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
    row = await visible_row(engine, ctx, case_id, actor)
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


def _target(ctx: AppContext, fields: Mapping[str, Any]) -> Unit | None:
    code = fields.get("target_unit")
    if code is None:
        return None
    unit = ctx.org.find(code)
    if unit is None:
        raise field_error("body.target_unit", f"no unit with code {code!r}")
    return unit


def _not_allowed(trigger: Trigger, base: TransitionContext) -> TransitionNotAllowed:
    allowed = [t.value for t in allowed_triggers(base)]
    return TransitionNotAllowed(
        f"'{trigger.value}' is not allowed on a case that is {base.case.state.value} "
        f"for {base.actor.username} ({base.actor.role.value}); allowed now: {', '.join(allowed) or 'none'}.",
        state=base.case.state.value,
        allowed=allowed,
    )


_FIELD_GUARD_MESSAGES = {
    Trigger.dispatch: (
        "body.target_unit",
        "must be a unit under your hub other than the one holding the case",
    ),
    Trigger.hand_off: ("body.target_unit", "must be a unit of another channel or a sectoral committee"),
    Trigger.delegate: (
        "body.target_unit",
        "must be a mediation unit (station, centre or sectoral committee)",
    ),
}


def _changes(
    trigger: Trigger,
    ctx: TransitionContext,
    dest_state: CaseState,
    dest_unit: Unit,
    fields: Mapping[str, Any],
    outcome: Outcome | None,
    lease_minutes: float,
    agreement_of: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "state": dest_state.value,
        "unit_code": dest_unit.code,
        "tier": dest_unit.tier.value,
        "channel": dest_unit.channel.value,
        "updated_at": ctx.now,
    }
    if trigger == Trigger.dispatch:
        changes["returns_to_code"] = ctx.actor.unit_code
    elif trigger == Trigger.hand_off:
        changes["returns_to_code"] = ctx.case.unit_code  # a declined referral goes back to its sender
    elif trigger == Trigger.decline:
        # Back where it came from; a further decline goes to that unit's hub.
        hub = ctx.org.town_of(dest_unit.code) or ctx.org.city_centre()
        changes["returns_to_code"] = hub.code
    elif trigger == Trigger.delegate:
        changes["returns_to_code"] = ctx.case.unit_code
        changes["court_procedure"] = fields["procedure"]
        changes["court_case_number"] = fields["court_case_number"]
    if trigger in {Trigger.refer_to_court, Trigger.claim, Trigger.delegate, Trigger.request_confirmation}:
        changes["court_linked"] = True
    if dest_state == CaseState.referred:
        changes.update(queued_at=ctx.now, claimed_by=None, lease_expires_at=None)  # (back) in the queue
    elif trigger == Trigger.claim:
        lease = timedelta(minutes=lease_minutes)
        changes.update(claimed_by=ctx.actor.username, lease_expires_at=ctx.now + lease)
    elif ctx.case.state == CaseState.in_court:
        changes["lease_expires_at"] = None  # the clerk recorded something: the lease has done its job
    if trigger == Trigger.settle:
        agreement = dict(fields["agreement"])
        agreement.setdefault("effective_on", ctx.now.astimezone(SHANGHAI).date().isoformat())
        changes["agreement"] = {**agreement, "recorded_at": ctx.now.isoformat()}
    if trigger in {Trigger.terminate, Trigger.reject_confirmation}:
        changes["termination_reason"] = fields.get("termination_reason", "other")
    if trigger == Trigger.confirm:
        changes["agreement"] = {
            **(agreement_of or {}),
            "confirmed_at": ctx.now.isoformat(),
            "confirmed_by": ctx.actor.username,
        }
    if dest_state == CaseState.closed:
        closing = outcome or Outcome(fields["outcome"])
        if closing == Outcome.performed and (agreement_of or {}).get("confirmed_at"):
            closing = Outcome.confirmed  # ended through a judicially confirmed agreement
        changes["outcome"] = closing.value
        changes["closed_at"] = ctx.now
    return changes


@dataclass(frozen=True)
class TransitionWrite:
    """What a permitted transition will write: decided in memory, written in one transaction."""

    trigger: Trigger
    from_state: CaseState
    to_state: CaseState
    from_unit: str
    to_unit: str
    changes: dict[str, Any]
    event: dict[str, Any]


def _check_referral(ctx: AppContext, row: Row[Any], target: Unit, fields: Mapping[str, Any]) -> None:
    """Each hand-off kind has a direction and a payload it must carry (docs/domain.md, Hand-offs)."""
    kind = ReferralKind(fields["referral_kind"])
    problem = direction_problem(kind, ctx.org.get(row.unit_code), target)
    if problem is not None:
        raise field_error("body.referral_kind", problem)
    missing = [k for k in REQUIRED_PAYLOAD[kind] if not fields.get("referral_payload", {}).get(k)]
    if missing:
        raise InvalidInput(
            f"{kind.value} needs {', '.join(missing)} in referral_payload",
            [
                {"field": f"body.referral_payload.{k}", "message": "required for this referral kind"}
                for k in missing
            ],
        )


class ConfirmationWindowClosed(TransitionNotAllowed):
    slug = "confirmation-window-closed"
    title = "The 30-day window for judicial confirmation has closed"


def _check_confirmation_window(ctx: AppContext, row: Row[Any], now: datetime) -> None:
    """人民调解法 art. 33: apply within 30 days of the agreement taking effect (art. 85 rules)."""
    agreement = row.agreement or {}
    effective = agreement.get("effective_on") or (agreement.get("effective_at") or "")[:10]
    if not effective:
        return
    start = datetime.combine(date.fromisoformat(effective), time(12), tzinfo=SHANGHAI)
    closes_at = ctx.calendar.add(start, 30, "days")
    if now >= closes_at:
        last_day = (closes_at.astimezone(SHANGHAI) - timedelta(microseconds=1)).date()
        raise ConfirmationWindowClosed(
            f"The agreement took effect on {effective}; judicial confirmation had to be requested by "
            f"{last_day.isoformat()} (30 days, 人民调解法 第33条). The parties may still sue on the agreement.",
            effective_on=effective,
            last_day=last_day.isoformat(),
            allowed=[],
        )


def decide_transition(
    ctx: AppContext, row: Row[Any], body: TransitionIn, actor: Actor, *, now: datetime, if_match: int | None
) -> TransitionWrite:
    """Validate and let the machine decide; raises the 409/412/422 problems. No I/O."""
    if if_match is not None and if_match != row.version:
        raise StaleVersion(
            f"You edited version {if_match}, but the case is now at version {row.version}; reload it.",
            current_version=row.version,
        )
    trigger = body.trigger
    base = transition_context(ctx, row, actor, now)
    if trigger not in allowed_triggers(base):
        raise _not_allowed(trigger, base)
    fields = _validate_fields(trigger, body)
    full = replace(base, target=_target(ctx, fields), fields=fields)
    rule = matching_rule(trigger, full)
    dest_state = fire(trigger, full)
    if dest_state is None or rule is None:
        field, message = _FIELD_GUARD_MESSAGES.get(trigger, ("body", "the given fields do not fit this case"))
        raise field_error(field, message)
    if trigger == Trigger.request_confirmation:
        _check_confirmation_window(ctx, row, now)
    if trigger == Trigger.hand_off and full.target is not None:
        _check_referral(ctx, row, full.target, fields)
    if trigger == Trigger.close and Outcome(fields["outcome"]) not in CLOSE_OUTCOMES[base.case.state]:
        allowed = ", ".join(o.value for o in CLOSE_OUTCOMES[base.case.state])
        raise field_error("body.outcome", f"a {base.case.state.value} case closes as one of: {allowed}")
    dest_unit = ctx.org.get(destination_unit(trigger, full))
    changes = _changes(
        trigger,
        full,
        dest_state,
        dest_unit,
        fields,
        rule.outcome,
        ctx.settings.court_lease_minutes,
        row.agreement,
    )
    event = {
        "at": now,
        "kind": "transition",
        "trigger": trigger.value,
        "actor": actor.username,
        "actor_role": actor.role.value,
        "actor_unit_code": actor.unit_code,
        "from_state": row.state,
        "to_state": dest_state.value,
        "from_unit_code": row.unit_code,
        "to_unit_code": dest_unit.code,
        "reason": fields.get("reason"),
        "payload": {k: v for k, v in fields.items() if k != "reason"},
    }
    return TransitionWrite(
        trigger, CaseState(row.state), dest_state, row.unit_code, dest_unit.code, changes, event
    )


async def write_transition(
    conn: AsyncConnection, ctx: AppContext, row: Row[Any], write: TransitionWrite, *, now: datetime
) -> int | None:
    """Write case, audit event and their consequences (deadlines, inbox, outbox) in the caller's
    transaction; the new version, or None when the case changed since ``row`` was read."""
    version = await queries.apply_change(
        conn, row.id, row.version, write.changes, write.event, prev_hash=row.last_event_hash
    )
    if version is None:
        return None
    merged = {**row._mapping, **write.changes}
    await effects.after_change(
        conn,
        ctx,
        case=merged,
        event=write.trigger.value,
        from_state=write.from_state,
        to_state=write.to_state,
        from_unit=write.from_unit,
        reason=write.event["reason"],
        actor=write.event["actor"],
        now=now,
        payload=write.event["payload"],
    )
    return version


async def apply_transition(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    body: TransitionIn,
    actor: Actor,
    *,
    now: datetime,
    if_match: int | None = None,
) -> CasePublic:
    # Optimistic: read outside the write transaction, decide in memory, write guarded by version.
    row = await visible_row(engine, ctx, case_id, actor)
    write = decide_transition(ctx, row, body, actor, now=now, if_match=if_match)
    async with engine.begin() as conn:
        version = await write_transition(conn, ctx, row, write, now=now)
        if version is None:
            await conn.rollback()
        else:
            # The response shows what the transition changed (state, deadlines): read it back
            # before commit on the same connection, not after on another.
            fresh = await queries.fetch_case(conn, case_id)
    if version is None:
        raise await lost_race(engine, case_id)
    assert fresh is not None
    return case_public(fresh._mapping, ctx, now=now)


async def lost_race(engine: AsyncEngine, case_id: int) -> StaleVersion:
    """The 412 for a write whose version check failed: someone moved the case since it was read."""
    current = await queries.read_version(engine, case_id)
    return StaleVersion(
        f"Someone else changed the case while you were working (now version {current}); reload it.",
        current_version=current,
    )
