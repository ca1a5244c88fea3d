"""The case hot paths as explicit Core statements: one or two round trips each.

Create, read and transition do not go through the ORM's unit of work (ARCHITECTURE.md #17):
a transition reads the case once, lets the state machine decide in Python, then writes the
case and its audit event in one statement guarded by ``version = :expected`` (a CTE on
PostgreSQL; UPDATE … RETURNING plus INSERT in one transaction on SQLite, which has no DML in
CTEs). Every function here is tested on both databases.

On PostgreSQL the single-statement hot paths — reading a case, a page of a list with its count,
a new case with everything it writes (``insert_case_at_once``), most transitions with
everything they write (``change_at_once``) — skip SQLAlchemy's execution layer too: they are
compiled from these constructs once and sent through plain asyncpg (``service.fastpg``), which
saved a third of a read's CPU (a list's page and count also became one round trip).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import fastpg
from service.cases.models import Case, CaseEvent, IdempotencyRecord, Party
from service.db import reading
from service.deadlines.models import Deadline
from service.deadlines.service import LIVE
from service.notifications import service as notifications
from service.privacy.chain import CASE_EVENT_FIELDS, GENESIS, link
from service.referrals import service as referrals
from service.referrals.models import Referral

cases = Case.__table__  # type: ignore[attr-defined]
party = Party.__table__  # type: ignore[attr-defined]
case_event = CaseEvent.__table__  # type: ignore[attr-defined]
idempotency = IdempotencyRecord.__table__  # type: ignore[attr-defined]
deadline = Deadline.__table__  # type: ignore[attr-defined]
referral = Referral.__table__  # type: ignore[attr-defined]

PARTY_FIELDS = (
    "id",
    "name",
    "role",
    "kind",
    "id_type",
    "id_number",
    "phone",
    "address",
)  # personal ones sealed
DEADLINE_FIELDS = (
    "id",
    "kind",
    "unit_code",
    "status",
    "started_at",
    "due_at",
    "warn_at",
    "paused_at",
    "breached_at",
    "ended_at",
    "extensions",
    "warnings",  # pending warnings: a transition written at once plans its clocks from this read
)


def _json_rows(
    dialect: str, table: sa.FromClause, fields: Sequence[str], where: sa.ColumnElement[bool]
) -> sa.ColumnElement[Any]:
    """Rows of a child table as one JSON array, so a case and its children come back in one round trip."""
    pairs: list[Any] = []
    for name in fields:
        pairs += [sa.literal_column(f"'{name}'"), table.c[name]]
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        obj = sa.func.json_build_object(*pairs)
        agg = sa.func.coalesce(sa.func.json_agg(aggregate_order_by(obj, table.c.id)), sa.text("'[]'::json"))
    else:
        obj = sa.func.json_object(*pairs)
        agg = sa.func.coalesce(sa.func.json_group_array(sa.func.json(obj)), "[]")
    return sa.type_coerce(sa.select(agg).where(where).scalar_subquery(), sa.JSON)


@cache
def case_select(dialect: str) -> sa.Select[Any]:
    """A case with its parties, its deadlines and the hash its next event chains to."""
    return sa.select(
        cases,
        _json_rows(dialect, party, PARTY_FIELDS, party.c.case_id == cases.c.id).label("parties"),
        _json_rows(dialect, deadline, DEADLINE_FIELDS, deadline.c.case_id == cases.c.id).label("deadlines"),
        sa.select(case_event.c.hash)
        .where(case_event.c.case_id == cases.c.id, case_event.c.seq == cases.c.version)
        .scalar_subquery()
        .label("last_event_hash"),
    )


@cache
def case_by_id(dialect: str) -> sa.Select[Any]:
    # Built once: composing this statement cost more Python than running it (read hot path).
    return case_select(dialect).where(cases.c.id == sa.bindparam("case_id"))


async def fetch_case(conn: AsyncConnection, case_id: int) -> Row[Any] | None:
    return (await conn.execute(case_by_id(conn.dialect.name), {"case_id": case_id})).first()


async def fetch_cases(conn: AsyncConnection, case_ids: Sequence[int]) -> dict[int, Row[Any]]:
    """Many cases in one query (the sweep's batches), by id."""
    stmt = case_select(conn.dialect.name).where(cases.c.id.in_(list(case_ids)))
    return {row.id: row for row in (await conn.execute(stmt)).all()}


def number_prefix(year: int) -> str:
    """一案一码: KS-<year>-, then the case's id padded to (at least) six digits."""
    return f"KS-{year}-"


def case_number(year: int, case_id: int) -> str:
    """A case's number as ``_insert_case`` computes it in SQL."""
    return f"{number_prefix(year)}{case_id:06d}"


@cache
def _next_case_id() -> sa.Select[Any]:
    """PostgreSQL: the next value of the cases' id sequence."""
    return sa.select(sa.func.nextval(sa.literal_column("pg_get_serial_sequence('cases', 'id')")).label("id"))


@cache
def _insert_case(dialect: str, columns: tuple[str, ...]) -> sa.Insert:
    """The case insert for one set of columns, values bound (``v_<column>``, ``prefix``)."""
    prefix = sa.bindparam("prefix", type_=sa.String)
    if dialect == "postgresql":
        # The number comes from the same sequence value as the id: unique without a counter row lock.
        next_id = _next_case_id().cte("next_id")
        digits = sa.cast(next_id.c.id, sa.Text)
        # Padded to six digits, never cut to six: lpad truncates a longer string (1000001 → 100000).
        number = prefix + sa.func.lpad(digits, sa.func.greatest(6, sa.func.length(digits)), "0")
    else:
        # SQLite has one writer at a time, so max(id) + 1 inside the INSERT cannot race.
        next_id = sa.select((sa.func.coalesce(sa.func.max(cases.c.id), 0) + 1).label("id")).cte("next_id")
        number = prefix + sa.func.printf("%06d", next_id.c.id)
    select = sa.select(
        next_id.c.id, number, *[sa.bindparam(f"v_{c}", type_=cases.c[c].type) for c in columns]
    )
    return (
        sa.insert(cases).from_select(["id", "number", *columns], select).returning(cases.c.id, cases.c.number)
    )


async def insert_case(
    conn: AsyncConnection,
    values: dict[str, Any],
    parties: Sequence[dict[str, Any]],
    event: dict[str, Any],
    *,
    year: int,
) -> tuple[int, str]:
    """Insert a case with its 一案一码 number, its parties and its `created` event: (id, number)."""
    statement = _insert_case(conn.dialect.name, tuple(values))
    params = {f"v_{c}": v for c, v in values.items()}
    inserted = (await conn.execute(statement, {**params, "prefix": number_prefix(year)})).one()
    case_id: int = inserted.id
    if parties:
        await conn.execute(sa.insert(party), [{**p, "case_id": case_id} for p in parties])
    # The bare table insert with its values as parameters: compiled once per set of columns.
    await conn.execute(
        sa.insert(case_event), {"case_id": case_id, "seq": 1, **chained(event, case_id, 1, GENESIS)}
    )
    return case_id, str(inserted.number)


async def next_case_id(engine: AsyncEngine) -> int:
    """PostgreSQL: draw a new case's id (a retry after a lost connection only leaves a gap)."""
    row = await _one(engine, _next_case_id(), {}, idempotent=True)
    return int(row.id)


@cache
def _next_case_id_unless_keyed() -> sa.Select[Any]:
    """PostgreSQL: a new case's id, or NULL (no id drawn) when the key is already recorded."""
    known = (
        sa.select(idempotency.c.id)
        .where(
            idempotency.c.username == sa.bindparam("username", type_=sa.String),
            idempotency.c.key == sa.bindparam("key", type_=sa.String),
        )
        .exists()
    )
    drawn = _next_case_id().selected_columns.id
    return sa.select(sa.case((known, sa.null()), else_=drawn).label("id"))


async def next_case_id_for_key(engine: AsyncEngine, username: str, key: str) -> int | None:
    """PostgreSQL: ``next_case_id`` for a create with an Idempotency-Key; None when that user
    already used the key (a retry: the caller answers with the recorded case)."""
    row = await _one(
        engine, _next_case_id_unless_keyed(), {"username": username, "key": key}, idempotent=True
    )
    return None if row.id is None else int(row.id)


def _binds(prefix: str, table: sa.Table, fields: Sequence[str]) -> dict[str, Any]:
    """A bound parameter per column, named ``<prefix><column>`` and typed as the column."""
    return {f: sa.bindparam(f"{prefix}{f}", type_=table.c[f].type) for f in fields}


def _inserted(table: sa.Table, name: str, binds: dict[str, Any], guard: sa.CTE | None) -> sa.CTE:
    """An INSERT … RETURNING as a CTE; with a ``guard``, written only if the guard has a row."""
    if guard is None:
        insert = sa.insert(table).values(binds)
    else:
        values = [v if isinstance(v, sa.ColumnElement) else sa.literal(v) for v in binds.values()]
        insert = sa.insert(table).from_select(list(binds), sa.select(*values).select_from(guard))
    return insert.returning(*table.c).cte(name)


@cache
def _create_statement(
    columns: tuple[str, ...],
    event_fields: tuple[str, ...],
    parties: tuple[tuple[str, ...], ...],
    clocks: tuple[tuple[str, ...], ...],
    announced: bool,
    keyed: bool,
) -> sa.Select[Any]:
    """PostgreSQL: a new case with its parties, its `created` event, its clocks and its
    announcement in one statement, the id drawn beforehand (the event's hash covers it). Answers
    with the case as ``case_select`` reads it, except the last event hash, which the caller has.
    Foreign keys are checked at the end of the statement, so the order of the inserts is free.

    ``keyed``: the Idempotency-Key's record first (``ON CONFLICT DO NOTHING``), and everything
    else only if it was written. A retry racing with its original waits for it at the key's
    unique index, then writes nothing and answers no row."""
    case_id = sa.bindparam("case_id", type_=sa.BigInteger)
    guard = None
    if keyed:
        guard = (
            pg_insert(idempotency)
            .values(
                username=sa.bindparam("k_username", type_=sa.String),
                key=sa.bindparam("k_key", type_=sa.String),
                request_hash=sa.bindparam("k_request_hash", type_=sa.String),
                case_id=case_id,
                created_at=sa.bindparam("k_created_at", type_=idempotency.c.created_at.type),
            )
            .on_conflict_do_nothing()
            .returning(idempotency.c.id)
            .cte("k")
        )

    case = _inserted(
        cases,
        "c",
        {"id": case_id, "number": sa.bindparam("number", type_=sa.String), **_binds("v_", cases, columns)},
        guard,
    )
    event = _inserted(
        case_event, "ev", {"case_id": case_id, "seq": 1, **_binds("e_", case_event, event_fields)}, guard
    )
    added = [
        _inserted(party, f"p{i}", {"case_id": case_id, **_binds(f"p{i}_", party, f)}, guard)
        for i, f in enumerate(parties)
    ]
    started = [
        _inserted(deadline, f"d{i}", {"case_id": case_id, **_binds(f"d{i}_", deadline, f)}, guard)
        for i, f in enumerate(clocks)
    ]

    select = sa.select(
        *case.c,
        _json_rows("postgresql", _rows_of(party, added), PARTY_FIELDS, sa.true()).label("parties"),
        _json_rows("postgresql", _rows_of(deadline, started), DEADLINE_FIELDS, sa.true()).label("deadlines"),
    ).add_cte(event)
    if announced:
        select = select.add_cte(*notifications.announcement_ctes(guard))
    return select


async def insert_case_at_once(
    engine: AsyncEngine,
    case: dict[str, Any],
    parties: Sequence[dict[str, Any]],
    event: dict[str, Any],
    clocks: Sequence[dict[str, Any]],
    note: notifications.Note | None,
    *,
    now: datetime,
    key: tuple[str, str, str] | None = None,
) -> tuple[Any, dict[str, Any]] | None:
    """PostgreSQL, autocommit: what ``insert_case`` and ``effects.after_change`` write for a new
    case, in one statement. ``case`` holds its drawn ``id`` and its ``number``. The case as
    written (with its parties and clocks) and its chained `created` event.

    ``key``: (username, Idempotency-Key, request hash), recorded in the same statement; None
    (nothing written) when another request holds that key."""
    case_id = case["id"]
    chained_event = chained(event, case_id, 1, GENESIS)
    columns = tuple(c for c in case if c not in ("id", "number"))
    params: dict[str, Any] = {
        "case_id": case_id,
        "number": case["number"],
        **{f"v_{c}": case[c] for c in columns},
        **{f"e_{f}": v for f, v in chained_event.items()},
    }
    for i, values in enumerate(parties):
        params.update((f"p{i}_{f}", v) for f, v in values.items())
    clock_values = [{f: v for f, v in d.items() if f != "case_id"} for d in clocks]  # bound as case_id
    for i, values in enumerate(clock_values):
        params.update((f"d{i}_{f}", v) for f, v in values.items())
    if note is not None:
        params.update(notifications.announcement_params(note, now=now))
    if key is not None:
        username, idempotency_key, request_hash = key
        params.update(
            k_username=username, k_key=idempotency_key, k_request_hash=request_hash, k_created_at=now
        )
    statement = _create_statement(
        columns,
        tuple(chained_event),
        tuple(tuple(p) for p in parties),
        tuple(tuple(d) for d in clock_values),
        note is not None,
        key is not None,
    )
    row = await _one(engine, statement, params, fast_only=True)
    return None if row is None else (row, chained_event)


async def apply_change(
    conn: AsyncConnection,
    case_id: int,
    expected_version: int,
    changes: dict[str, Any],
    event: dict[str, Any],
    *,
    prev_hash: str | None,
) -> int | None:
    """Write the case change and its audit event together; the new version, or None if stale.

    ``prev_hash`` is the hash of event ``expected_version``: the version guard makes it the right
    predecessor, so the chain cannot fork.
    """
    event = chained(event, case_id, expected_version + 1, prev_hash)
    params = _change_params(case_id, expected_version, changes, event)
    if conn.dialect.name == "postgresql":
        stmt = _change_cte(tuple(changes), tuple(event))
        version: int | None = (await conn.execute(stmt, params)).scalar_one_or_none()
        return version
    row = (await conn.execute(_change_update(tuple(changes)), params)).first()
    if row is None:
        return None
    await conn.execute(sa.insert(case_event).values(case_id=case_id, seq=row.version, **event))
    return int(row.version)


def _change_params(
    case_id: int, expected_version: int, changes: dict[str, Any], event: dict[str, Any]
) -> dict[str, Any]:
    """The bound values of a guarded case change and its (chained) event."""
    return {
        "b_id": case_id,
        "b_version": expected_version,
        **{f"c_{c}": v for c, v in changes.items()},
        **{f"e_{f}": v for f, v in event.items()},
    }


# The transition write is built once per shape (which columns change, which event fields) with
# bound parameters, not composed again on every request: composing it cost more Python than the
# database took to run it.


def _guarded_update(columns: tuple[str, ...]) -> sa.Update:
    """The case's ``columns`` (``c_<column>``) and its version + 1, if it is at ``b_version``."""
    return (
        sa.update(cases)
        .where(cases.c.id == sa.bindparam("b_id"), cases.c.version == sa.bindparam("b_version"))
        .values(
            {
                **{c: sa.bindparam(f"c_{c}", type_=cases.c[c].type) for c in columns},
                "version": cases.c.version + 1,
            }
        )
    )


def _event_of(upd: sa.CTE, event_fields: tuple[str, ...]) -> sa.CTE:
    """The audit event (``e_<field>``) of the case change ``upd``, written only if it was."""
    values = {"case_id": upd.c.id, "seq": upd.c.version, **_binds("e_", case_event, event_fields)}
    return _inserted(case_event, "ev", values, upd)


@cache
def _change_update(columns: tuple[str, ...]) -> sa.Update:
    return _guarded_update(columns).returning(cases.c.id, cases.c.version)


@cache
def _change_cte(columns: tuple[str, ...], event_fields: tuple[str, ...]) -> sa.Select[Any]:
    """PostgreSQL: update the case under its version check and insert its event, one statement."""
    upd = _change_update(columns).cte("upd")
    return sa.select(upd.c.version).select_from(upd).join(_event_of(upd, event_fields), sa.true())


@dataclass(frozen=True)
class CaseWrite:
    case_id: int
    expected_version: int
    changes: dict[str, Any]
    event: dict[str, Any]
    prev_hash: str | None


class BatchConflict(Exception):
    """A case in a batch was not at the version the batch was decided on."""


async def apply_changes(conn: AsyncConnection, writes: Sequence[CaseWrite]) -> None:
    """Many case changes and their audit events in a few statements, for cases the caller holds
    locked (``FOR UPDATE``): one executemany UPDATE per set of changed columns, one multi-row
    INSERT of the events, one check that every case moved exactly one version. Raises
    ``BatchConflict`` (the caller rolls back) if any did not."""
    by_columns: dict[tuple[str, ...], list[CaseWrite]] = {}
    for write in writes:
        by_columns.setdefault(tuple(sorted(write.changes)), []).append(write)
    for columns, group in by_columns.items():
        stmt = (
            sa.update(cases)
            .where(cases.c.id == sa.bindparam("b_id"), cases.c.version == sa.bindparam("b_version"))
            .values({**{c: sa.bindparam(f"b_{c}") for c in columns}, "version": cases.c.version + 1})
        )
        await conn.execute(
            stmt,
            [
                {
                    "b_id": w.case_id,
                    "b_version": w.expected_version,
                    **{f"b_{c}": w.changes[c] for c in columns},
                }
                for w in group
            ],
        )
    rows = await conn.execute(
        sa.select(cases.c.id, cases.c.version).where(cases.c.id.in_([w.case_id for w in writes]))
    )
    moved: dict[int, int] = {row.id: row.version for row in rows}
    stale = [w.case_id for w in writes if moved.get(w.case_id) != w.expected_version + 1]
    if stale:
        raise BatchConflict(f"cases changed under the batch: {stale[:10]}")
    await conn.execute(
        sa.insert(case_event),
        [
            {
                "case_id": w.case_id,
                "seq": w.expected_version + 1,
                **chained(w.event, w.case_id, w.expected_version + 1, w.prev_hash),
            }
            for w in writes
        ],
    )


@dataclass(frozen=True)
class CaseFilter:
    # The caller's scope: cases held at these units (None: any), OR court-linked ones if set.
    unit_codes: frozenset[str] | None = None
    include_court_linked: bool = False
    # ... OR cases these units handed off (the sender follows its referral).
    referred_from: frozenset[str] | None = None
    hide_sensitive: bool = False  # the auditor's list leaves sensitive cases out
    # What the caller asked for on top of their scope: a unit's subtree (never widens scope).
    within_units: frozenset[str] | None = None
    state: Sequence[str] = ()
    tier: str | None = None
    dispute_type: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str | None = None
    overdue_as_of: datetime | None = None  # only cases with a clock past due at this instant
    party_index: str | None = None  # blind index of a party's ID number (exact match)
    due_before: datetime | None = None  # only cases with a running clock due before this instant


def _list_params(f: CaseFilter) -> dict[str, Any]:
    """A list's filter values by bind name. The statements are built once per set of names
    (``_list_statements``): composing a scoped list cost more Python than PostgreSQL took to run it."""
    params: dict[str, Any] = {}
    if f.unit_codes is not None:
        params["unit_codes"] = sorted(f.unit_codes)
        if f.referred_from:
            params["referred_from"] = sorted(f.referred_from)
    if f.within_units is not None:
        params["within_units"] = sorted(f.within_units)
    if f.state:
        params["state"] = list(f.state)
    for name in ("tier", "dispute_type", "created_from", "created_to", "party_index"):
        if getattr(f, name):
            params[name] = getattr(f, name)
    if f.overdue_as_of is not None:
        params["overdue_as_of"] = f.overdue_as_of
    if f.due_before is not None:
        params["due_before"] = f.due_before
    if f.q:
        params["q_pattern"] = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params["q_number"] = f.q.upper()
    return params


def _bound(name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name, expanding=True)


def _visible(names: frozenset[str], include_court_linked: bool) -> list[sa.ColumnElement[bool]] | None:
    """The ways a case can be in the caller's scope (any one suffices); None: every case."""
    if "unit_codes" not in names:
        return None
    visible = [cases.c.unit_code.in_(_bound("unit_codes"))]
    # Following a case from outside its unit never extends to sensitive cases.
    if include_court_linked:
        visible.append(sa.and_(cases.c.court_linked.is_(True), cases.c.sensitive.is_(False)))
    if "referred_from" in names:
        sent = sa.select(referral.c.case_id).where(referral.c.from_unit_code.in_(_bound("referred_from")))
        visible.append(sa.and_(cases.c.id.in_(sent), cases.c.sensitive.is_(False)))
    return visible


def _filters(names: frozenset[str], hide_sensitive: bool) -> list[sa.ColumnElement[bool]]:
    """What narrows a list within the caller's scope."""
    clauses: list[sa.ColumnElement[bool]] = []
    if hide_sensitive:
        clauses.append(cases.c.sensitive.is_(False))
    if "within_units" in names:
        clauses.append(cases.c.unit_code.in_(_bound("within_units")))
    if "state" in names:
        clauses.append(cases.c.state.in_(_bound("state")))
    if "tier" in names:
        clauses.append(cases.c.tier == sa.bindparam("tier"))
    if "dispute_type" in names:
        clauses.append(cases.c.dispute_type == sa.bindparam("dispute_type"))
    if "created_from" in names:
        clauses.append(cases.c.created_at >= sa.bindparam("created_from"))
    if "created_to" in names:
        clauses.append(cases.c.created_at < sa.bindparam("created_to"))
    if "party_index" in names:
        clauses.append(
            cases.c.id.in_(
                sa.select(party.c.case_id).where(party.c.id_number_index == sa.bindparam("party_index"))
            )
        )
    if "overdue_as_of" in names:
        late = sa.select(deadline.c.case_id).where(
            sa.or_(
                deadline.c.status == "breached",
                sa.and_(deadline.c.status == "active", deadline.c.due_at <= sa.bindparam("overdue_as_of")),
            )
        )
        clauses.append(cases.c.id.in_(late))
    if "due_before" in names:
        soon = sa.select(deadline.c.case_id).where(
            deadline.c.status.in_(["active", "breached"]), deadline.c.due_at < sa.bindparam("due_before")
        )
        clauses.append(cases.c.id.in_(soon))
    if "q_pattern" in names:
        by_party = sa.select(party.c.case_id).where(party.c.name.like(sa.bindparam("q_pattern"), escape="\\"))
        clauses.append(sa.or_(cases.c.number == sa.bindparam("q_number"), cases.c.id.in_(by_party)))
    return clauses


SUMMARY_COLUMNS = (
    "id",
    "number",
    "dispute_type",
    "summary",
    "location_code",
    "state",
    "unit_code",
    "tier",
    "channel",
    "risk",
    "outcome",
    "version",
    "created_at",
    "updated_at",
)


@cache
def _list_statements(
    names: frozenset[str], include_court_linked: bool, hide_sensitive: bool
) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """A page of a list and its count, for one set of filters (values bound: ``_list_params``)."""
    filters, visible = _filters(names, hide_sensitive), _visible(names, include_court_linked)
    columns = [cases.c[c] for c in SUMMARY_COLUMNS]
    newest = (cases.c.updated_at.desc(), cases.c.id.desc())
    limit, offset = sa.bindparam("limit", type_=sa.Integer), sa.bindparam("offset", type_=sa.Integer)
    if not visible or len(visible) == 1:
        where = [*filters, *(visible or [])]
        page = sa.select(*columns).where(*where).order_by(*newest).limit(limit).offset(offset)
        counted = sa.select(sa.func.count()).select_from(cases).where(*where)
        return page, counted
    # "held here OR handed off from here OR court-linked" over different indexes makes
    # PostgreSQL scan every case. Each way on its own reads its index and stops after
    # offset + limit rows; the page is the newest of their union.
    reach = sa.bindparam("reach", type_=sa.Integer)
    firsts = [
        sa.select(*columns).where(*filters, way).order_by(*newest).limit(reach).subquery() for way in visible
    ]
    merged = sa.union(*[sa.select(first) for first in firsts]).subquery()
    page = (
        sa.select(merged).order_by(merged.c.updated_at.desc(), merged.c.id.desc()).limit(limit).offset(offset)
    )
    # Counted the same way, each case once: the cases of each way not seen in an earlier one.
    counted = sa.select(
        sum(
            (
                sa.select(sa.func.count())
                .select_from(cases)
                .where(*filters, way, *[sa.not_(earlier) for earlier in visible[:i]])
                .scalar_subquery()
                for i, way in enumerate(visible)
            ),
            sa.literal(0),
        )
    )
    return page, counted


@cache
def _list_in_one(names: frozenset[str], include_court_linked: bool, hide_sensitive: bool) -> sa.Select[Any]:
    """PostgreSQL: the page and its count in one round trip. The count is the outer side, so
    an empty page (past the end) still comes back as one row: ``total`` and NULLs."""
    page, counted = _list_statements(names, include_court_linked, hide_sensitive)
    total = sa.select(counted.scalar_subquery().label("total")).subquery("total")
    rows = page.subquery("page").lateral()
    return (
        sa.select(total.c.total, *rows.c)
        .select_from(total.outerjoin(rows, sa.true()))
        .order_by(rows.c.updated_at.desc(), rows.c.id.desc())
    )


async def list_cases(engine: AsyncEngine, f: CaseFilter, *, limit: int, offset: int) -> tuple[list[Any], int]:
    """One page of cases, newest activity first, and how many there are in all."""
    params = _list_params(f)
    names = frozenset(params)
    values = {**params, "limit": limit, "offset": offset, "reach": offset + limit}
    fast = fastpg.for_engine(engine)
    if fast is not None:
        # One statement per filter set and list lengths, compiled once (``fastpg.Statement``).
        expanded = {name: len(v) for name, v in params.items() if isinstance(v, list)}
        key = ("list", names, f.include_court_linked, f.hide_sensitive, tuple(sorted(expanded.items())))
        statement = fast.statement(
            key, lambda: _list_in_one(names, f.include_court_linked, f.hide_sensitive), expanded=expanded
        )
        found = await fast.fetch(statement, values, idempotent=True)
        return [r for r in found if r.id is not None], int(found[0].total)
    page, counted = _list_statements(names, f.include_court_linked, f.hide_sensitive)
    async with reading(engine) as conn:
        rows = (await conn.execute(page, values)).all()
        total = (await conn.execute(counted, params)).scalar_one()
    return list(rows), int(total)


async def list_events(conn: AsyncConnection, case_id: int) -> Iterable[Row[Any]]:
    return (
        await conn.execute(
            sa.select(case_event).where(case_event.c.case_id == case_id).order_by(case_event.c.seq)
        )
    ).all()


async def find_idempotent(conn: AsyncConnection, username: str, key: str) -> Row[Any] | None:
    return (
        await conn.execute(
            sa.select(idempotency.c.case_id, idempotency.c.request_hash).where(
                idempotency.c.username == username, idempotency.c.key == key
            )
        )
    ).first()


async def claim_idempotency_key(
    conn: AsyncConnection, *, username: str, key: str, request_hash: str, case_id: int, now: datetime
) -> bool:
    """Record the key for this case; False when another request already holds it.

    On PostgreSQL a concurrent insert of the same key waits for the first transaction and then
    conflicts, so exactly one of N simultaneous retries keeps its case.
    """
    values = {
        "username": username,
        "key": key,
        "request_hash": request_hash,
        "case_id": case_id,
        "created_at": now,
    }
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = (
            pg_insert(idempotency).values(**values).on_conflict_do_nothing().returning(idempotency.c.id)
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = (
            sqlite_insert(idempotency).values(**values).on_conflict_do_nothing().returning(idempotency.c.id)
        )
    return (await conn.execute(stmt)).first() is not None


async def update_party(conn: AsyncConnection, case_id: int, party_id: int, values: dict[str, Any]) -> bool:
    result = await conn.execute(
        sa.update(party).where(party.c.id == party_id, party.c.case_id == case_id).values(**values)
    )
    return bool(result.rowcount)


async def add_party(conn: AsyncConnection, case_id: int, values: dict[str, Any]) -> int:
    party_id: int = (
        await conn.execute(sa.insert(party).values(case_id=case_id, **values).returning(party.c.id))
    ).scalar_one()
    return party_id


async def referred_from(conn: AsyncConnection, case_id: int, units: frozenset[str]) -> bool:
    """Did one of these units hand this case off?"""
    found = await conn.execute(
        sa.select(referral.c.id)
        .where(referral.c.case_id == case_id, referral.c.from_unit_code.in_(sorted(units)))
        .limit(1)
    )
    return found.first() is not None


def chained(event: dict[str, Any], case_id: int, seq: int, prev_hash: str | None) -> dict[str, Any]:
    """The event with its place in the case's hash chain."""
    record = {**event, "case_id": case_id, "seq": seq}
    return {**event, "prev_hash": prev_hash or GENESIS, "hash": link(prev_hash, record, CASE_EVENT_FIELDS)}


def record_event(
    row: Any,
    *,
    kind: str,
    at: datetime,
    actor: str,
    actor_role: str,
    actor_unit_code: str | None,
    reason: str | None,
    payload: dict[str, Any],
) -> dict[str, Any]:
    """An audit event that records something about the case without moving it (edit, extension, …)."""
    return {
        "at": at,
        "kind": kind,
        "trigger": None,
        "actor": actor,
        "actor_role": actor_role,
        "actor_unit_code": actor_unit_code,
        "from_state": row.state,
        "to_state": row.state,
        "from_unit_code": row.unit_code,
        "to_unit_code": row.unit_code,
        "reason": reason,
        "payload": payload,
    }


# --- a transition in one statement, autocommit (PostgreSQL) ----------------------------------------
#
# Most moves of a case write the case, its audit event, its clocks, perhaps the referral they
# answer and the announcement to the unit the case arrives at (accept, suspend, dispatch,
# escalate, …). On PostgreSQL that is one statement: data-modifying CTEs run atomically, and every
# write after the case update selects FROM it, so it happens only when the version check passed.
# No BEGIN, no COMMIT, no read-back: the statement returns the case as it now is and the clocks
# it changed or started. Its clock updates are guarded by the status they expect (the sweep may
# breach a running clock between our read and this write without moving the case's version); the
# caller compares the clocks that changed with those it planned. A hand-off's offer and a result
# that completes referrals read and fan out: they take the transaction (effects.after_change).


@dataclass(frozen=True)
class ClockChange:
    """The clock writes of a transition, from ``deadlines.plan_clocks``."""

    ended: dict[int, str]  # deadline id → met | cancelled
    paused: tuple[int, ...]
    resumed: tuple[tuple[int, datetime, list[list[str]], datetime | None], ...]  # id, due, warnings, warn_at
    started: tuple[dict[str, Any], ...] = ()  # new rows (``deadlines.started_rows``), case_id aside

    @property
    def ids(self) -> frozenset[int]:
        """The existing clocks it changes."""
        return frozenset([*self.ended, *self.paused, *(r[0] for r in self.resumed)])


def _rows_of(table: sa.Table, written: Sequence[sa.CTE]) -> sa.Subquery:
    """The rows some INSERT/UPDATE … RETURNING CTEs wrote, as one subquery (none: empty)."""
    if not written:
        return sa.select(table).where(sa.false()).subquery()
    return sa.union_all(*(sa.select(*w.c) for w in written)).subquery()


@cache
def _at_once_statement(
    columns: tuple[str, ...],
    event_fields: tuple[str, ...],
    ended: bool,
    paused: bool,
    resumed: int,
    started: tuple[tuple[str, ...], ...],
    response: str | None,
    announced: bool,
) -> sa.Select[Any]:
    """The statement of ``change_at_once`` for one shape of transition, built once."""
    upd = _guarded_update(columns).returning(*cases.c).cte("upd")
    event = _event_of(upd, event_fields)
    now = sa.bindparam("now", type_=deadline.c.ended_at.type)
    of_case = deadline.c.case_id == upd.c.id

    def ids(name: str) -> sa.ColumnElement[Any]:
        return sa.any_(sa.bindparam(name, type_=sa.ARRAY(sa.BigInteger)))

    changed: list[sa.CTE] = []
    if ended:
        closing = sa.case(
            (deadline.c.id == ids("met_ids"), sa.literal_column("'met'")),
            else_=sa.literal_column("'cancelled'"),
        )
        changed.append(
            sa.update(deadline)
            .where(of_case, deadline.c.id == ids("ended_ids"), deadline.c.status.in_(LIVE))
            .values(status=closing, ended_at=now, warn_at=sa.null())
            .returning(*deadline.c)
            .cte("d_end")
        )
    if paused:
        # A clock the sweep has just breached stays breached (as plan_clocks leaves breached ones).
        changed.append(
            sa.update(deadline)
            .where(
                of_case,
                deadline.c.id == ids("paused_ids"),
                deadline.c.status == sa.literal_column("'active'"),
            )
            .values(status=sa.literal_column("'paused'"), paused_at=now, warn_at=sa.null())
            .returning(*deadline.c)
            .cte("d_pause")
        )
    for i in range(resumed):
        changed.append(
            sa.update(deadline)
            .where(
                of_case,
                deadline.c.id == sa.bindparam(f"r{i}_id", type_=sa.BigInteger),
                deadline.c.status == sa.literal_column("'paused'"),
            )
            .values(
                status=sa.literal_column("'active'"),
                paused_at=sa.null(),
                **_binds(f"r{i}_", deadline, ("due_at", "warnings", "warn_at")),
            )
            .returning(*deadline.c)
            .cte(f"d_res{i}")
        )
    new = [
        _inserted(deadline, f"d_new{i}", {"case_id": upd.c.id, **_binds(f"s{i}_", deadline, fields)}, upd)
        for i, fields in enumerate(started)
    ]
    select = sa.select(
        *upd.c,
        _json_rows("postgresql", _rows_of(deadline, changed), DEADLINE_FIELDS, sa.true()).label(
            "changed_deadlines"
        ),
        _json_rows("postgresql", _rows_of(deadline, new), DEADLINE_FIELDS, sa.true()).label(
            "started_deadlines"
        ),
    ).add_cte(event)
    if response is not None:
        select = select.add_cte(
            referrals.response_update(
                response,
                case_id=upd.c.id,
                unit_code=upd.c.unit_code,
                from_unit=sa.bindparam("rf_from_unit", type_=sa.String),
                status=sa.bindparam("rf_status", type_=sa.String),
                actor=sa.bindparam("rf_actor", type_=sa.String),
                reason=sa.bindparam("rf_reason", type_=sa.String),
                now=now,
            ).cte("rf")
        )
    if announced:
        select = select.add_cte(*notifications.announcement_ctes(upd))
    return select


@dataclass(frozen=True)
class AtOnce:
    """A transition's whole write (``change_at_once``): the statement, its values, the chained event."""

    statement: sa.Select[Any]
    params: dict[str, Any]
    event: dict[str, Any]


def change_at_once(
    case_id: int,
    expected_version: int,
    changes: dict[str, Any],
    event: dict[str, Any],
    *,
    prev_hash: str | None,
    clocks: ClockChange,
    response: referrals.Response | None = None,
    note: notifications.Note | None = None,
    now: datetime,
) -> AtOnce:
    """The case change, its event, its clocks, the referral it answers and its announcement as
    one statement (PostgreSQL). It returns the case as written, or no row (and writes nothing)
    when the case was not at ``expected_version``."""
    chained_event = chained(event, case_id, expected_version + 1, prev_hash)
    params = _change_params(case_id, expected_version, changes, chained_event)
    params["now"] = now
    if clocks.ended:
        params["ended_ids"] = list(clocks.ended)
        params["met_ids"] = [i for i, status in clocks.ended.items() if status == "met"]
    if clocks.paused:
        params["paused_ids"] = list(clocks.paused)
    for i, (deadline_id, due_at, warnings, warn_at) in enumerate(clocks.resumed):
        params.update({f"r{i}_id": deadline_id, f"r{i}_due_at": due_at, f"r{i}_warnings": warnings})
        params[f"r{i}_warn_at"] = warn_at
    for i, row in enumerate(clocks.started):
        params.update((f"s{i}_{f}", v) for f, v in row.items())
    if response is not None:
        params.update(
            rf_from_unit=response.from_unit,
            rf_status=response.status,
            rf_actor=response.actor,
            rf_reason=response.reason,
        )
    if note is not None:
        params.update(notifications.announcement_params(note, now=now))
    statement = _at_once_statement(
        tuple(changes),
        tuple(chained_event),
        bool(clocks.ended),
        bool(clocks.paused),
        len(clocks.resumed),
        tuple(tuple(row) for row in clocks.started),
        None if response is None else response.event,
        note is not None,
    )
    return AtOnce(statement, params, chained_event)


async def apply_change_at_once(engine: AsyncEngine, write: AtOnce) -> tuple[Any, dict[str, Any]] | None:
    """PostgreSQL, autocommit: a ``change_at_once``. The case as written and the chained event,
    or None when the case was not at the expected version."""
    row = await _one(engine, write.statement, write.params, fast_only=True)
    return None if row is None else (row, write.event)


# --- one statement, autocommit: on asyncpg directly when the engine has a fast pool ------------


async def _one(
    engine: AsyncEngine,
    statement: sa.Executable,
    params: dict[str, Any],
    *,
    idempotent: bool = False,
    fast_only: bool = False,
) -> Any:
    """The first row of one autocommit statement (``service.fastpg`` on PostgreSQL). A statement
    that writes through CTEs is ``fast_only``: the engine would compile its INSERTs and UPDATEs
    with a column for every parameter named like one."""
    fast = fastpg.for_engine(engine)
    if fast is not None:
        prepared = fast.statement(statement, lambda: statement)
        return await fast.fetchrow(prepared, params, idempotent=idempotent)
    if fast_only:
        raise RuntimeError("this statement runs only on the fast pool (service.fastpg)")
    async with reading(engine) as conn:
        return (await conn.execute(statement, params)).first()


@cache
def _version_of() -> sa.Select[Any]:
    return sa.select(cases.c.version).where(cases.c.id == sa.bindparam("case_id"))


async def read_case(engine: AsyncEngine, case_id: int) -> Any:
    """A case with its children (``fetch_case``) outside any transaction: a Row, or None."""
    return await _one(engine, case_by_id(engine.dialect.name), {"case_id": case_id}, idempotent=True)


async def read_version(engine: AsyncEngine, case_id: int) -> int | None:
    row = await _one(engine, _version_of(), {"case_id": case_id}, idempotent=True)
    return None if row is None else int(row.version)
