"""Corrections to a case and its parties: version-checked, and each one an audit event."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.cases import queries
from service.cases.rows import CaseRow
from service.cases.schemas import CaseEdit, CasePublic, ConsentRecordIn, PartyEdit, PartyIn
from service.cases.service import case_public, lost_race, prior_declaration, transition_context, visible_row
from service.cases.snapshot import snapshot
from service.context import AppContext
from service.errors import Conflict, NotFound, StaleVersion, TransitionNotAllowed, field_error
from service.personal.masking import MASKS
from service.personal.sealing import seal, unseal
from workflows.intake import consent_records, unknown_parties
from workflows.lifecycle import Actor, CaseState, handles_case
from workflows.vocab import SENSITIVE_FLAGS, Flag


def _check_editable(ctx: AppContext, row: CaseRow, actor: Actor, now: datetime, if_match: int | None) -> None:
    if if_match is not None and if_match != row.version:
        raise StaleVersion(
            f"You edited version {if_match}, but the case is now at version {row.version}; reload it.",
            current_version=row.version,
        )
    if not handles_case(transition_context(ctx, row, actor, now)):
        raise TransitionNotAllowed(
            f"{actor.username} ({actor.role.value}) may read this case but not correct it.", allowed=[]
        )
    if row.state == CaseState.closed:
        raise Conflict("A closed case cannot be corrected; its record is final.")


def _event(
    row: CaseRow, actor: Actor, now: datetime, reason: str | None, payload: dict[str, Any], kind: str = "edit"
) -> dict[str, Any]:
    return queries.record_event(
        row,
        kind=kind,
        at=now,
        actor=actor.username,
        actor_role=actor.role.value,
        actor_unit_code=actor.unit_code,
        reason=reason,
        payload=payload,
    )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


async def _write(
    engine: AsyncEngine,
    ctx: AppContext,
    row: CaseRow,
    changes: dict[str, Any],
    event: dict[str, Any],
    party_work: Callable[[AsyncConnection], Awaitable[None]]
    | None = None,  # after the event, same transaction
    parties_after: list[dict[str, Any]] | None = None,
) -> CasePublic:
    now = event["at"]
    recorded = queries.facts_after(row, changes, parties_after)
    async with engine.begin() as conn:
        version = await queries.apply_change(
            conn, row.id, row.version, changes, event, prev_hash=row.last_event_hash, recorded_after=recorded
        )
        if version is None:
            await conn.rollback()
        elif party_work is not None:
            await party_work(conn)
    if version is None:
        raise await lost_race(engine, row.id)
    async with engine.connect() as conn:
        fresh = await queries.fetch_case(conn, row.id)
    assert fresh is not None
    return case_public(fresh, ctx, now=now)


async def edit_case(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    body: CaseEdit,
    actor: Actor,
    *,
    now: datetime,
    if_match: int | None,
) -> CasePublic:
    row = await visible_row(engine, ctx, case_id, actor)
    _check_editable(ctx, row, actor, now, if_match)
    given = body.model_dump(exclude_unset=True, exclude={"reason"})
    if not given:
        raise field_error("body", "name at least one field to change")
    columns: dict[str, Any] = {}
    for name, value in given.items():
        if name == "prior_proceedings":
            if body.prior_proceedings is None:
                raise field_error(
                    "body.prior_proceedings", "cannot be emptied; answer unknown if it is not known"
                )
            columns[name] = prior_declaration(body.prior_proceedings)
        elif name == "flags":
            chosen = set(value or [])
            columns.update({f"flag_{flag.value}": flag in chosen for flag in Flag})
            columns["sensitive"] = bool(chosen & SENSITIVE_FLAGS)
        elif name in {"summary", "people_involved", "dispute_type", "source"} and value is None:
            raise field_error(f"body.{name}", "cannot be emptied")
        elif name == "amount_yuan" and value is not None:
            columns[name] = value.quantize(Decimal("0.01"))  # as the column stores it, so the diff is exact
        else:
            columns[name] = value.value if hasattr(value, "value") else value
    diff = {
        name: [_jsonable(getattr(row, name)), _jsonable(value)]
        for name, value in columns.items()
        if getattr(row, name) != value
    }
    if not diff:
        return case_public(row, ctx, now=now)
    event = _event(row, actor, now, body.reason, {"changes": diff})
    changed = {name: columns[name] for name in diff}
    hooks = [w for w in (hook(ctx, row, changed, actor, now) for hook in ctx.after_edit) if w is not None]
    return await _write(engine, ctx, row, {**columns, "updated_at": now}, event, _together(hooks))


def _together(
    writes: list[Callable[[AsyncConnection], Awaitable[None]]],
) -> Callable[[AsyncConnection], Awaitable[None]] | None:
    """The ``after_edit`` hooks' writes, in order, as one callback for the correction's transaction."""
    if not writes:
        return None

    async def all_of(conn: AsyncConnection) -> None:
        for write in writes:
            await write(conn)

    return all_of


async def edit_party(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    party_id: int,
    body: PartyEdit,
    actor: Actor,
    *,
    now: datetime,
    if_match: int | None,
) -> CasePublic:
    row = await visible_row(engine, ctx, case_id, actor)
    _check_editable(ctx, row, actor, now, if_match)
    parties = [p.stored() for p in row.parties]
    current = next((unseal(p, ctx.cipher) for p in parties if p["id"] == party_id), None)
    if current is None:
        raise NotFound(f"Case {case_id} has no party {party_id}.")
    given = body.model_dump(mode="json", exclude_unset=True, exclude={"reason"})
    for required in ("name", "role", "kind"):
        if required in given and given[required] is None:
            raise field_error(f"body.{required}", "cannot be emptied")
    if not given:
        raise field_error("body", "name at least one field to change")
    diff = {name: [current.get(name), value] for name, value in given.items() if current.get(name) != value}
    if not diff:
        return case_public(row, ctx, now=now)
    # The audit trail keeps that a phone changed, not the numbers: personal data stays masked there.
    shown = {
        name: [MASKS[name](a), MASKS[name](b)] if name in MASKS else [a, b] for name, (a, b) in diff.items()
    }
    event = _event(row, actor, now, body.reason, {"party_id": party_id, "changes": shown})

    async def update(conn: AsyncConnection) -> None:
        await queries.update_party(conn, case_id, party_id, seal(given, ctx.cipher))

    after = [{**p, **given} if p["id"] == party_id else p for p in parties]
    return await _write(engine, ctx, row, {"updated_at": now}, event, update, after)


async def add_party(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    body: PartyIn,
    actor: Actor,
    *,
    now: datetime,
    if_match: int | None,
) -> CasePublic:
    row = await visible_row(engine, ctx, case_id, actor)
    _check_editable(ctx, row, actor, now, if_match)
    values = body.model_dump(mode="json")
    event = _event(row, actor, now, None, {"party_added": {"name": values["name"], "role": values["role"]}})

    async def insert(conn: AsyncConnection) -> None:
        await queries.add_party(conn, case_id, seal(values, ctx.cipher))

    after = [*(p.stored() for p in row.parties), values]
    return await _write(engine, ctx, row, {"updated_at": now}, event, insert, after)


async def may_record_consent(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor, *, now: datetime
) -> bool:
    """Whether the actor may record a party's consent or refusal now (the case page offers the form)."""
    row = await visible_row(engine, ctx, case_id, actor)
    return may_record_consent_on(ctx, row, actor, now)


def may_record_consent_on(ctx: AppContext, row: CaseRow, actor: Actor, now: datetime) -> bool:
    """``may_record_consent`` of a case already read for the actor (the case page reads it once)."""
    return row.state != CaseState.closed and handles_case(transition_context(ctx, row, actor, now))


async def record_consent(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    body: ConsentRecordIn,
    actor: Actor,
    *,
    now: datetime,
    if_match: int | None,
) -> CasePublic:
    """A party's consent or refusal at any time (人民调解法 arts. 17, 26): a record naming the party,
    how and when, on the case's trail. A refusal does not end mediation by itself: the unit then
    ends it (``terminate``, reason ``party_refused``, which can carry the refusal in one step) or,
    before acceptance, closes the case as not accepted."""
    row = await visible_row(engine, ctx, case_id, actor)
    _check_editable(ctx, row, actor, now, if_match)
    parties = snapshot(row).parties
    if unknown_parties([{"party_id": body.party_id}], parties):
        raise field_error("body.party_id", f"case {case_id} has no party {body.party_id}")
    given = body.model_dump(mode="json", include={"party_id", "manner", "on"})
    added = consent_records(
        [given],
        parties,
        step="record",
        actor=actor.username,
        recorded_at=now.isoformat(),
        decision=body.decision,
    )
    event = _event(row, actor, now, body.reason, {"consent": added[0]}, kind="consent")
    return await _write(
        engine, ctx, row, {"consents": [*(row.consents or []), *added], "updated_at": now}, event
    )


async def record_case_event(
    engine: AsyncEngine,
    ctx: AppContext,
    row: CaseRow,
    actor: Actor,
    *,
    now: datetime,
    kind: str,
    reason: str | None,
    payload: dict[str, Any],
    work: Callable[[AsyncConnection], Awaitable[None]],
) -> CasePublic:
    """Something another package records about a case without moving it (who handles it, say):
    ``work`` runs in the same transaction as the case's version bump and its hash-chained event
    (``kind``, ``payload``), and only when the case is still at ``row``'s version (else 412). The
    caller has checked who may do it."""
    event = _event(row, actor, now, reason, _jsonable(payload), kind=kind)
    return await _write(engine, ctx, row, {"updated_at": now}, event, work)
