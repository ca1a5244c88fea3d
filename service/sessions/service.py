"""Mediation sessions recorded on a case (调解笔录 / 调解记录): record, correct, list, read.

Each write is one transaction with the case's version bump and a hash-chained case event
(``service.cases.edits.record_case_event``, kind ``session``): a new record puts the whole record
on the trail; a correction puts each changed field's old and new value there, so the wording it
replaced is never lost. Those who may read the case read its sessions; only those who handle it
write them, and a closed case's sessions are final.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.cases.edits import record_case_event
from service.cases.rows import CaseRow
from service.cases.service import transition_context, visible_row
from service.clock import SHANGHAI
from service.context import AppContext
from service.db import reading
from service.errors import Conflict, NotFound, StaleVersion, TransitionNotAllowed, field_error
from service.sessions import queries
from service.sessions.queries import CaseMediatorRow, SessionRow
from service.sessions.schemas import (
    AgentPublic,
    CaseSessions,
    Named,
    OtherPublic,
    SessionCorrection,
    SessionIn,
    SessionPublic,
    SessionResult,
    StatementPublic,
)
from workflows.lifecycle import Actor, CaseState, handles_case

# A record is written during or after the session: its start is not in the future (a phone's
# clock may run a little fast), and one sitting lasts at most a day.
CLOCK_SLACK = timedelta(minutes=15)
LONGEST_SESSION = timedelta(hours=24)


def may_record(ctx: AppContext, row: CaseRow, actor: Actor, now: datetime) -> bool:
    return row.state != CaseState.closed and handles_case(transition_context(ctx, row, actor, now))


def _check_writable(ctx: AppContext, row: CaseRow, actor: Actor, now: datetime) -> None:
    if not handles_case(transition_context(ctx, row, actor, now)):
        raise TransitionNotAllowed(
            f"{actor.username} may read case {row.number}, but only those handling it record its sessions.",
            allowed=[],
        )
    if row.state == CaseState.closed:
        raise Conflict(f"Case {row.number} is closed: its session records are final.")


# --- reading ---------------------------------------------------------------------------------------


def _names(row: CaseRow) -> dict[int, str]:
    return {p.id: p.name for p in row.parties}


def _public(s: SessionRow, parties: dict[int, str], mediators: list[CaseMediatorRow]) -> SessionPublic:
    names = {m.mediator_id: m.name for m in mediators}
    return SessionPublic(
        id=s.id,
        case_id=s.case_id,
        number=s.number,
        started_at=s.started_at,
        ended_at=s.ended_at,
        place=s.place,
        parties=[Named(id=i, name=parties.get(i, "")) for i in s.party_ids],
        agents=[
            AgentPublic(name=a["name"], party_id=a["party_id"], party_name=parties.get(a["party_id"], ""))
            for a in s.agents
        ],
        mediators=[Named(id=i, name=names.get(i, "")) for i in s.mediator_ids],
        others=[OtherPublic(name=o["name"], role=o["role"]) for o in s.others],
        statements=[
            StatementPublic(party_id=t["party_id"], party_name=parties.get(t["party_id"], ""), text=t["text"])
            for t in s.statements
        ],
        proposal=s.proposal,
        result=SessionResult(s.result),
        adjourned_to=s.adjourned_to,
        notes=s.notes,
        recorded_at=s.recorded_at,
        recorded_by=s.recorded_by,
        corrected_at=s.corrected_at,
        corrected_by=s.corrected_by,
        version=s.version,
    )


async def case_mediators(engine: AsyncEngine, case_id: int) -> list[CaseMediatorRow]:
    async with reading(engine) as conn:
        return await queries.case_mediators(conn, case_id)


async def list_sessions(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor, *, now: datetime
) -> CaseSessions:
    row = await visible_row(engine, ctx, case_id, actor)
    async with reading(engine) as conn:
        found = await queries.sessions_of(conn, case_id)
        mediators = await queries.case_mediators(conn, case_id)
    return CaseSessions(
        case_id=case_id,
        sessions=[_public(s, _names(row), mediators) for s in found],
        may_record=may_record(ctx, row, actor, now),
    )


async def sessions_read(engine: AsyncEngine, case_id: int, parties: dict[int, str]) -> list[SessionPublic]:
    """The sessions of a case the caller has just read in full (the case page: no second read of
    the case); ``parties`` names the case's parties by id."""
    async with reading(engine) as conn:
        found = await queries.sessions_of(conn, case_id)
        mediators = await queries.case_mediators(conn, case_id) if found else []
    return [_public(s, parties, mediators) for s in found]


async def get_session(
    engine: AsyncEngine, ctx: AppContext, case_id: int, session_id: int, actor: Actor
) -> SessionPublic:
    row = await visible_row(engine, ctx, case_id, actor)
    async with reading(engine) as conn:
        found = await queries.find_session(conn, case_id, session_id)
        mediators = await queries.case_mediators(conn, case_id)
    if found is None:
        raise NotFound(f"Case {case_id} has no session {session_id}.")
    return _public(found, _names(row), mediators)


# --- writing ---------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _unique(ids: list[int], field: str) -> None:
    seen: set[int] = set()
    for i, value in enumerate(ids):
        if value in seen:
            raise field_error(f"{field}.{i}", f"{value} is named twice")
        seen.add(value)


def _validated(
    body: SessionIn, row: CaseRow, mediators: list[CaseMediatorRow], now: datetime
) -> dict[str, Any]:
    """The record's columns, once every rule holds; else the problem naming the field."""
    if body.started_at > now + CLOCK_SLACK:
        raise field_error("body.started_at", "is in the future: record a session during or after it")
    if body.ended_at is not None:
        if body.ended_at <= body.started_at:
            raise field_error("body.ended_at", "must be after started_at")
        if body.ended_at - body.started_at > LONGEST_SESSION:
            raise field_error("body.ended_at", "a session lasts at most 24 hours; record each sitting")
    if body.result == SessionResult.adjourned:
        if body.adjourned_to is None:
            raise field_error("body.adjourned_to", "name the day the session is adjourned to")
        if body.adjourned_to < body.started_at.astimezone(SHANGHAI).date():
            raise field_error("body.adjourned_to", "must not be before the session")
    elif body.adjourned_to is not None:
        raise field_error("body.adjourned_to", "only an adjourned session names a later day")
    parties = {p.id for p in row.parties}
    on_case = {m.mediator_id for m in mediators}
    _unique(body.party_ids, "body.party_ids")
    _unique(body.mediator_ids, "body.mediator_ids")
    for i, party_id in enumerate(body.party_ids):
        if party_id not in parties:
            raise field_error(f"body.party_ids.{i}", f"case {row.number} has no party {party_id}")
    for i, agent in enumerate(body.agents):
        if agent.party_id not in parties:
            raise field_error(f"body.agents.{i}.party_id", f"case {row.number} has no party {agent.party_id}")
    for i, mediator_id in enumerate(body.mediator_ids):
        if mediator_id not in on_case:
            raise field_error(
                f"body.mediator_ids.{i}",
                f"mediator {mediator_id} is not and was not assigned to case {row.number}",
            )
    if not body.party_ids and not body.agents:
        raise field_error("body.party_ids", "name at least one party (or a party's agent) who attended")
    present = set(body.party_ids) | {a.party_id for a in body.agents}
    for i, statement in enumerate(body.statements):
        if statement.party_id not in parties:
            raise field_error(
                f"body.statements.{i}.party_id", f"case {row.number} has no party {statement.party_id}"
            )
        if statement.party_id not in present:
            raise field_error(
                f"body.statements.{i}.party_id",
                f"party {statement.party_id} did not attend (nor an agent for them)",
            )
    values = body.model_dump(mode="json", include=set(queries.RECORD_COLUMNS))
    values["started_at"] = body.started_at
    values["ended_at"] = body.ended_at
    values["adjourned_to"] = body.adjourned_to
    return values


async def _writable(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor, now: datetime
) -> tuple[CaseRow, list[CaseMediatorRow]]:
    row = await visible_row(engine, ctx, case_id, actor)
    _check_writable(ctx, row, actor, now)
    return row, await case_mediators(engine, case_id)


async def record_session(
    engine: AsyncEngine, ctx: AppContext, case_id: int, body: SessionIn, actor: Actor, *, now: datetime
) -> SessionPublic:
    row, mediators = await _writable(engine, ctx, case_id, actor, now)
    values = _validated(body, row, mediators, now)
    async with reading(engine) as conn:
        number = await queries.next_number(conn, case_id)

    async def work(conn: AsyncConnection) -> None:
        await queries.insert_session(
            conn,
            {
                **values,
                "case_id": case_id,
                "number": number,
                "recorded_at": now,
                "recorded_by": actor.username,
            },
        )

    payload = {"action": "record", "number": number, "record": _jsonable(values)}
    await record_case_event(
        engine, ctx, row, actor, now=now, kind="session", reason=None, payload=payload, work=work
    )
    async with reading(engine) as conn:
        written = next(s for s in await queries.sessions_of(conn, case_id) if s.number == number)
    return _public(written, _names(row), mediators)


async def correct_session(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    session_id: int,
    body: SessionCorrection,
    actor: Actor,
    *,
    now: datetime,
    if_match: int | None,
) -> SessionPublic:
    row, mediators = await _writable(engine, ctx, case_id, actor, now)
    async with reading(engine) as conn:
        current = await queries.find_session(conn, case_id, session_id)
    if current is None:
        raise NotFound(f"Case {case_id} has no session {session_id}.")
    if if_match is None:
        raise field_error("header.If-Match", 'required: the version of the record you corrected, e.g. "1"')
    if if_match != current.version:
        raise StaleVersion(
            f"You corrected version {if_match} of session {current.number}, but it is now at version "
            f"{current.version}; reload it.",
            current_version=current.version,
        )
    values = _validated(body, row, mediators, now)
    before = _jsonable(current.record())
    after = _jsonable(values)
    changes = {
        name: [before[name], after[name]] for name in queries.RECORD_COLUMNS if before[name] != after[name]
    }
    if not changes:
        return _public(current, _names(row), mediators)

    async def work(conn: AsyncConnection) -> None:
        changed = {name: values[name] for name in changes}
        if not await queries.update_session(
            conn,
            session_id,
            current.version,
            {**changed, "corrected_at": now, "corrected_by": actor.username},
        ):
            raise StaleVersion(
                f"Someone corrected session {current.number} meanwhile; reload it.",
                current_version=current.version + 1,
            )

    payload = {
        "action": "correct",
        "number": current.number,
        "version": current.version + 1,
        "changes": changes,  # [old, new]: the old wording stays on the trail
    }
    await record_case_event(
        engine, ctx, row, actor, now=now, kind="session", reason=body.reason, payload=payload, work=work
    )
    async with reading(engine) as conn:
        written = await queries.find_session(conn, case_id, session_id)
    assert written is not None
    return _public(written, _names(row), mediators)
