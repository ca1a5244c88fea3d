"""The screening register's use cases: record a round with the cases it found (one transaction),
read and list rounds in scope, and the stations that have not reported for a period (the list,
and the sweep's single notice to the town per station and period).

Scope: a mediator or coordinator records rounds for their own unit; a unit reads its own rounds,
a coordinator those of the units below theirs, an auditor all. A round outside the reader's
scope is answered like an absent one (404).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.audit.events import record_security_event
from service.cases import queries as case_queries
from service.cases.schemas import CaseCreate
from service.cases.service import register_on
from service.config.screening import screening_policy
from service.context import AppContext
from service.db import reading
from service.errors import Forbidden, IdempotencyKeyReused, InvalidInput, NotFound, field_error
from service.language import answer_language
from service.notifications import service as notifications
from service.screening import figures, major
from service.screening import queries as q
from service.screening.queries import RoundRow
from service.screening.schemas import (
    FoundCase,
    MissingList,
    MissingUnit,
    Participant,
    RoundIn,
    RoundList,
    RoundPublic,
)
from workflows.lifecycle import Actor, Role
from workflows.reporting import supervisor_of
from workflows.screening import (
    MajorRisk,
    Period,
    PeriodKind,
    ScreeningPolicy,
    expected_units,
    flaggable,
    last_complete,
    missing,
    parse_period,
    round_problem,
)
from workflows.transition import Announcement
from workflows.vocab import Flag, Source

RECORDERS = frozenset({Role.mediator, Role.coordinator})
# A round may be recorded a little ahead of the server's clock (a phone's clock runs fast).
CLOCK_SLACK = timedelta(minutes=10)


def policy_of(ctx: AppContext) -> ScreeningPolicy:
    return screening_policy(ctx.settings.config_dir)


def readable_units(actor: Actor, ctx: AppContext) -> frozenset[str] | None:
    """The units whose rounds the actor reads (None: all), or a 403 for a role that reads none."""
    match actor.role:
        case Role.auditor | Role.system:
            return None
        case Role.coordinator:
            return ctx.org.subtree(actor.unit_code)
        case Role.mediator:
            return frozenset({actor.unit_code})
        case _:
            raise Forbidden(f"The {actor.role} role does not keep or read the screening register.")


def round_public(ctx: AppContext, row: RoundRow, found: list[FoundCase]) -> RoundPublic:
    return RoundPublic(
        id=row.id,
        unit_code=row.unit_code,
        unit_name=ctx.org.name_of(row.unit_code, answer_language()),
        held_at=row.held_at,
        place=row.place,
        scope=row.scope,
        participants=[Participant.model_validate(p) for p in row.participants],
        findings=row.findings,
        nothing_found=row.nothing_found,
        disputes_found=row.disputes_found,
        disputes_prevented=row.disputes_prevented,
        cases=found,
        recorded_at=row.recorded_at,
        recorded_by=row.recorded_by,
    )


async def _replay(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, key: str, request_hash: str
) -> RoundPublic | None:
    """The round a retry with this key recorded, or None when the key is new; a 422 when the key
    was used for a different round."""
    async with reading(engine) as conn:
        found = await q.find_keyed(conn, actor.username, key)
        if found is None:
            return None
        if found[1] != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used to record a different round; use a new key.",
                round_id=found[0],
            )
        row = await q.read_round(conn, found[0])
        assert row is not None
        [public] = await _publics(conn, ctx, [row])
    return public


async def record_round(
    engine: AsyncEngine,
    ctx: AppContext,
    body: RoundIn,
    actor: Actor,
    *,
    now: datetime,
    idempotency_key: str | None = None,
) -> tuple[RoundPublic, bool]:
    """Record a round for the actor's unit, register each dispute it found as a case (source
    主动排查, linked to the round, its `created` event naming the round), and file the major
    reports it asks for: all in one transaction, so a refused case leaves no round behind.
    (round, replayed): a retry with the same Idempotency-Key gets the round it recorded."""
    request_hash = hashlib.sha256(
        json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    if idempotency_key:
        replay = await _replay(engine, ctx, actor, idempotency_key, request_hash)
        if replay is not None:
            return replay, True
    try:
        return await _record(
            engine, ctx, body, actor, now=now, key=idempotency_key, request_hash=request_hash
        ), False
    except IntegrityError:
        # A concurrent retry with the same key was first: answer with its round.
        replay = await _replay(engine, ctx, actor, idempotency_key, request_hash) if idempotency_key else None
        if replay is None:
            raise
        return replay, True


async def _record(
    engine: AsyncEngine,
    ctx: AppContext,
    body: RoundIn,
    actor: Actor,
    *,
    now: datetime,
    key: str | None,
    request_hash: str,
) -> RoundPublic:
    if actor.role not in RECORDERS:
        raise Forbidden("Only a station's mediator or a centre's coordinator records screening rounds.")
    if body.held_at > now + CLOCK_SLACK:
        raise field_error("body.held_at", "the round cannot have been held in the future")
    problem = round_problem(body.nothing_found, len(body.disputes), body.disputes_prevented)
    if problem is not None:
        raise field_error(f"body.{problem[0]}", problem[1])
    found: list[FoundCase] = []
    async with engine.begin() as conn:
        named = [p.mediator_id for p in body.participants if p.mediator_id is not None]
        known = await q.on_roster(conn, named, actor.unit_code)
        for i, p in enumerate(body.participants):
            if p.mediator_id is not None and p.mediator_id not in known:
                raise field_error(
                    f"body.participants.{i}.mediator_id",
                    f"no mediator {p.mediator_id} on {actor.unit_code}'s roster",
                )
        round_id = await q.insert_round(
            conn,
            {
                "unit_code": actor.unit_code,
                "held_at": body.held_at,
                "place": body.place,
                "scope": body.scope,
                "participants": [p.model_dump(mode="json") for p in body.participants],
                "findings": body.findings,
                "nothing_found": body.nothing_found,
                "disputes_found": 0,
                "disputes_prevented": body.disputes_prevented,
                "recorded_at": now,
                "recorded_by": actor.username,
                "recorded_by_role": actor.role.value,
                "idempotency_key": key or None,
                "request_hash": request_hash if key else None,
            },
        )
        for i, dispute in enumerate(body.disputes):
            case_body = CaseCreate.model_validate(
                {**dispute.model_dump(exclude={"major"}), "source": Source.self_initiated}
            )
            try:
                case = await register_on(
                    conn,
                    ctx,
                    case_body,
                    actor,
                    now=now,
                    payload={"screening_round": round_id},
                    hooks=dispute.major is None,  # its own report below covers a group flag
                )
            except InvalidInput as exc:  # a refused dispute names its place in the round
                _rename_field(exc, f"body.disputes.{i}")
                raise
            report_id = None
            if dispute.major is not None:
                report_id = await major.file_on(
                    conn,
                    ctx,
                    case,
                    actor,
                    risks=[
                        *dispute.major.risks,
                        *([MajorRisk.group] if Flag.group_dispute in dispute.flags else []),
                    ],
                    statement=dispute.major.statement,
                    round_id=round_id,
                    now=now,
                )
            found.append(
                FoundCase(id=case.id, number=case.number, unit_code=case.unit_code, major_report_id=report_id)
            )
        await q.set_found(conn, round_id, [c.id for c in found])
        await record_security_event(
            conn,
            kind="screening_round",
            actor=actor.username,
            actor_role=actor.role.value,
            actor_unit_code=actor.unit_code,
            payload={
                "round_id": round_id,
                "unit_code": actor.unit_code,
                "held_at": body.held_at.isoformat(),
                "nothing_found": body.nothing_found,
                "cases": [c.id for c in found],
                "disputes_prevented": body.disputes_prevented,
            },
            now=now,
        )
        row = await q.read_round(conn, round_id)
    assert row is not None
    return round_public(ctx, row, found)


def _rename_field(exc: InvalidInput, prefix: str) -> None:
    """Point a registration's 422 (``body.prior_proceedings…``) at the dispute in the round
    (``body.disputes.0.prior_proceedings…``)."""
    for error in exc.extra.get("errors", []):
        error["field"] = error["field"].replace("body", prefix, 1)
    exc.detail = exc.detail.replace("body", prefix, 1)


async def _publics(conn: AsyncConnection, ctx: AppContext, rows: list[RoundRow]) -> list[RoundPublic]:
    """Rounds with the cases each registered: two statements for a whole page."""
    links = await q.cases_of_rounds(conn, [r.id for r in rows])
    ids = sorted({c for found in links.values() for c in found})
    cases = await case_queries.fetch_cases(conn, ids) if ids else {}
    return [
        round_public(
            ctx,
            row,
            [
                FoundCase(id=c.id, number=c.number, unit_code=c.unit_code)
                for c in (cases[i] for i in links.get(row.id, []) if i in cases)
            ],
        )
        for row in rows
    ]


async def get_round(engine: AsyncEngine, ctx: AppContext, round_id: int, actor: Actor) -> RoundPublic:
    units = readable_units(actor, ctx)
    async with reading(engine) as conn:
        row = await q.read_round(conn, round_id)
        if row is None or (units is not None and row.unit_code not in units):
            raise NotFound(f"No screening round {round_id}.")
        [public] = await _publics(conn, ctx, [row])
    return public


def _cursor(row: RoundRow) -> str:
    return base64.urlsafe_b64encode(f"{row.held_at.isoformat()}|{row.id}".encode()).decode()


def _parse_cursor(text: str) -> tuple[datetime, int]:
    try:
        held, _, ident = base64.urlsafe_b64decode(text.encode()).decode().partition("|")
        return datetime.fromisoformat(held), int(ident)
    except (ValueError, UnicodeDecodeError):
        raise field_error("query.after", "not a cursor this list gave (next_after)") from None


async def list_rounds(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    *,
    unit: str | None,
    start: datetime | None,
    end: datetime | None,
    after: str | None,
    limit: int,
) -> RoundList:
    """Rounds in the reader's scope (``unit``: that unit and those below it), newest first."""
    units = readable_units(actor, ctx)
    if unit is not None:
        if unit not in ctx.org or (units is not None and unit not in units):
            raise NotFound(f"No unit {unit!r} in your scope.")
        units = ctx.org.subtree(unit) if units is None else ctx.org.subtree(unit) & units
    async with reading(engine) as conn:
        rows = await q.list_rounds(
            conn,
            units=units,
            after=None if after is None else _parse_cursor(after),
            start=start,
            end=end,
            limit=limit + 1,
        )
        items = await _publics(conn, ctx, rows[:limit])
    return RoundList(items=items, next_after=_cursor(rows[limit - 1]) if len(rows) > limit else None)


async def figures_for(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, *, unit: str | None, start: datetime, end: datetime
) -> dict[str, dict[str, int]]:
    """The MoJ report's screening and prevention rows for the reader's scope (``unit``: that unit
    and those below it), as service.screening.figures counts them."""
    if end <= start:
        raise field_error("query.end", "must be after start")
    units = readable_units(actor, ctx)
    if unit is not None:
        if unit not in ctx.org or (units is not None and unit not in units):
            raise NotFound(f"No unit {unit!r} in your scope.")
        units = ctx.org.subtree(unit)
    async with reading(engine) as conn:
        return {
            "screening": await figures.screening_figures(conn, units, start, end),
            "prevention": await figures.prevention_figures(conn, units, start, end),
        }


# --- who has not reported -----------------------------------------------------------------------


def _periods(policy: ScreeningPolicy, period: str | None, now: datetime) -> dict[PeriodKind, Period]:
    """The period to judge for each kind of period: the one asked for, else the last complete one."""
    if period is not None:
        try:
            asked = parse_period(period)
        except ValueError as exc:
            raise field_error("query.period", str(exc)) from None
        return {asked.kind: asked}
    return {kind: last_complete(now, kind) for kind in set(policy.periods.values())}


async def missing_units(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, *, period: str | None, now: datetime
) -> MissingList:
    """The units in the reader's scope that owe a round in the period and recorded none (not even a
    zero report). A period not yet over is listed as it stands."""
    units = readable_units(actor, ctx)
    policy = policy_of(ctx)
    items: list[MissingUnit] = []
    async with reading(engine) as conn:
        for kind, judged in sorted(_periods(policy, period, now).items()):
            expected = [u for u in expected_units(ctx.org, policy, kind) if units is None or u.code in units]
            reported = await q.units_reported(conn, [u.code for u in expected], judged.start, judged.end)
            for u in missing(expected, reported):
                town = ctx.org.town_of(u.code)
                items.append(
                    MissingUnit(
                        unit_code=u.code,
                        unit_name=u.name_in(answer_language()),
                        town_code=None if town is None else town.code,
                        period=judged.key,
                        period_start=judged.start,
                        period_end=judged.end,
                    )
                )
    return MissingList(items=items, basis=policy.basis)


async def flag_missing(
    engine: AsyncEngine, ctx: AppContext, *, now: datetime, policy: ScreeningPolicy | None = None
) -> int:
    """The sweep's part: for each kind of period, the last complete one; every unit that owed a
    round in it and recorded none is flagged to its town (its supervisor: the city centre where
    it is under no town) by an inbox item, once per unit and period. How many were flagged."""
    policy = policy or policy_of(ctx)
    flagged = 0
    for kind in sorted(set(policy.periods.values())):
        judged = last_complete(now, kind)
        if not flaggable(judged, policy, now):
            continue
        expected = expected_units(ctx.org, policy, kind)
        async with engine.begin() as conn:
            reported = await q.units_reported(conn, [u.code for u in expected], judged.start, judged.end)
            already = await q.flagged_in(conn, judged.key)
            lacking = [u for u in missing(expected, reported) if u.code not in already]
            if not lacking:
                continue
            told = {u.code: supervisor_of(ctx.org, u.code).code for u in lacking}
            rows: list[dict[str, Any]] = [
                {"unit_code": code, "period": judged.key, "told_unit_code": town, "flagged_at": now}
                for code, town in told.items()
            ]
            new = await q.claim_missing(conn, rows)
            notes = [
                Announcement(
                    told[code],
                    None,
                    "screening_missing",
                    f"{ctx.org.name_of(code) or code}在 {judged.key} 未报送排查情况（含零报告）",
                    {"unit_code": code, "period": judged.key},
                )
                for code in sorted(new)
            ]
            await notifications.notify_many(conn, notes, now=now)
            flagged += len(new)
    return flagged
