"""The case statements, as explicit SQLAlchemy Core on the engine (asyncpg or aiosqlite).

Create, read and transition do not go through the ORM's unit of work: a transition reads the
case once, lets the lifecycle decide in Python, then writes the case and its audit event guarded
by ``version = :expected`` (one statement with a CTE on PostgreSQL; UPDATE … RETURNING plus
INSERT on SQLite, which has no DML in CTEs), with its other consequences in the same transaction.
Statements are built once per shape. The writes' bound parameters carry a prefix no column has
(``c_``, ``e_``, ``v_``, ``b_``), so no value can be compiled into a SET or VALUES clause it was
not meant for. Reads answer typed rows (``service.cases.rows``), built once from the statement's
row. Every function here is tested on both databases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.audit.keys import AuditKey, key_of
from service.cases.models import Case, CaseEvent, IdempotencyRecord, Party
from service.cases.rows import (
    CaseListRow,
    CaseRecord,
    CaseRow,
    EventRow,
    IdempotencyRow,
    case_row,
    event_row,
    list_row,
    recorded,
)
from service.db import reading
from service.deadlines.models import Deadline
from service.referrals.models import Referral
from workflows.chain import CASE_EVENT_FIELDS, GENESIS, recorded_facts
from workflows.lifecycle import CaseState
from workflows.referrals import ReferralStatus
from workflows.transition import SENDING_TRIGGERS
from workflows.vocab import ReferralKind

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
    "warnings",  # pending warnings (when each next falls due)
)
REFERRAL_FIELDS = ("id", "kind", "status", "from_unit_code", "to_unit_code")
OPEN_REFERRAL = ("offered", "accepted")


def json_rows(
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


# --- who sent a case on ------------------------------------------------------------------------------
#
# Read from the audit trail, which already records every move with its units: a transition that
# sent the case from one unit to another (``SENDING_TRIGGERS``; the sender is its from-unit), and a
# registration that triage sent elsewhere (the sender is the registering person's unit). Each has a
# partial index (``ix_case_event_sent_from``, ``ix_case_event_registered_elsewhere``) holding only
# such events, so a unit's "sent by us" list reads its own entries and never scans the trail; the
# same events keyed by the case (``ix_case_event_case_sent``, ``ix_case_event_case_registered_
# elsewhere``) give one case's senders without reading its whole trail.

SENDING = sorted(t.value for t in SENDING_TRIGGERS)


def _sent_on() -> sa.ColumnElement[bool]:
    """The transitions that sent a case away (the predicate of ``ix_case_event_sent_from``, then
    the sending triggers among them)."""
    return sa.and_(
        case_event.c.kind == sa.literal_column("'transition'"),
        case_event.c.from_unit_code != case_event.c.to_unit_code,
        case_event.c.trigger.in_([sa.literal_column(f"'{t}'") for t in SENDING]),
    )


def _registered_elsewhere() -> sa.ColumnElement[bool]:
    """A registration that triage sent to another unit (``ix_case_event_registered_elsewhere``)."""
    return sa.and_(
        case_event.c.kind == sa.literal_column("'created'"),
        case_event.c.actor_unit_code != case_event.c.to_unit_code,
    )


def sent_by(units: sa.BindParameter[Any]) -> sa.CompoundSelect[Any]:
    """The ids of the cases one of ``units`` sent on (a case may come twice)."""
    return sa.union_all(
        sa.select(case_event.c.case_id).where(_sent_on(), case_event.c.from_unit_code.in_(units)),
        sa.select(case_event.c.case_id).where(
            _registered_elsewhere(), case_event.c.actor_unit_code.in_(units)
        ),
    )


def _senders_of(dialect: str) -> sa.ColumnElement[Any]:
    """One case's sender units as a JSON array, from its own events."""
    of_case = case_event.c.case_id == cases.c.id
    units = sa.union(
        sa.select(case_event.c.from_unit_code.label("u")).where(of_case, _sent_on()).correlate(cases),
        sa.select(case_event.c.actor_unit_code.label("u"))
        .where(of_case, _registered_elsewhere())
        .correlate(cases),
    ).subquery()
    if dialect == "postgresql":
        agg = sa.func.coalesce(sa.func.json_agg(units.c.u), sa.text("'[]'::json"))
    else:
        agg = sa.func.coalesce(sa.func.json_group_array(units.c.u), "[]")
    return sa.type_coerce(sa.select(agg).select_from(units).scalar_subquery(), sa.JSON)


@cache
def case_select(dialect: str) -> sa.Select[Any]:
    """A case with its parties, its deadlines, its open referrals and the hash its next event
    chains to: everything a transition is planned from, in one round trip."""
    open_referral = sa.and_(referral.c.case_id == cases.c.id, referral.c.status.in_(OPEN_REFERRAL))
    return sa.select(
        cases,
        json_rows(dialect, party, PARTY_FIELDS, party.c.case_id == cases.c.id).label("parties"),
        json_rows(dialect, deadline, DEADLINE_FIELDS, deadline.c.case_id == cases.c.id).label("deadlines"),
        json_rows(dialect, referral, REFERRAL_FIELDS, open_referral).label("open_referrals"),
        _senders_of(dialect).label("senders"),
        sa.select(case_event.c.hash)
        .where(case_event.c.case_id == cases.c.id, case_event.c.seq == cases.c.version)
        .scalar_subquery()
        .label("last_event_hash"),
    )


@cache
def case_by_id(dialect: str) -> sa.Select[Any]:
    # Built once, not composed again on every read.
    return case_select(dialect).where(cases.c.id == sa.bindparam("case_id"))


async def fetch_case(conn: AsyncConnection, case_id: int) -> CaseRow | None:
    row = (await conn.execute(case_by_id(conn.dialect.name), {"case_id": case_id})).first()
    return None if row is None else case_row(row._mapping)


async def fetch_cases(conn: AsyncConnection, case_ids: Sequence[int]) -> dict[int, CaseRow]:
    """Many cases in one query (the sweep's batches), by id."""
    stmt = case_select(conn.dialect.name).where(cases.c.id.in_(list(case_ids)))
    return {row.id: case_row(row._mapping) for row in (await conn.execute(stmt)).all()}


def number_prefix(year: int) -> str:
    """一案一码: KS-<year>-, then the case's id padded to (at least) six digits."""
    return f"KS-{year}-"


def case_number(year: int, case_id: int) -> str:
    """A case's number as ``_insert_case`` computes it in SQL (six digits at least, never cut)."""
    return f"{number_prefix(year)}{case_id:06d}"


@cache
def _next_case_id_unless_keyed() -> sa.Select[Any]:
    """PostgreSQL: a new case's id, or NULL (no id drawn) when the user's key is already recorded."""
    known = (
        sa.select(idempotency.c.id)
        .where(
            idempotency.c.username == sa.bindparam("k_username", type_=sa.String),
            idempotency.c.key == sa.bindparam("k_key", type_=sa.String),
        )
        .exists()
    )
    return sa.select(sa.case((known, sa.null()), else_=_next_case_id().selected_columns.id).label("id"))


async def draw_case_id(conn: AsyncConnection, key: tuple[str, ...] | None) -> int | None:
    """PostgreSQL: draw a new case's id (the created event's hash covers it); None when the user
    already recorded this Idempotency-Key (a retry: answer with its case). A retry after a lost
    connection only leaves a gap in the numbers."""
    if key is None:
        return int((await conn.execute(_next_case_id())).scalar_one())
    drawn = (
        await conn.execute(_next_case_id_unless_keyed(), {"k_username": key[0], "k_key": key[1]})
    ).scalar_one()
    return None if drawn is None else int(drawn)


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
    facts = new_case_facts(values, case_id, str(inserted.number), parties)
    await conn.execute(
        sa.insert(case_event),
        {"case_id": case_id, "seq": 1, **chained(key_of(conn), event, case_id, 1, GENESIS, facts)},
    )
    return case_id, str(inserted.number)


def binds(prefix: str, table: sa.Table, fields: Sequence[str]) -> dict[str, Any]:
    """A bound parameter per column, named ``<prefix><column>`` and typed as the column."""
    return {f: sa.bindparam(f"{prefix}{f}", type_=table.c[f].type) for f in fields}


def guarded_insert(table: sa.Table, values: dict[str, Any], guard: sa.CTE) -> sa.Insert:
    """INSERT … SELECT the values FROM ``guard``: written only if the guard has a row."""
    items = [v if isinstance(v, sa.ColumnElement) else sa.literal(v) for v in values.values()]
    return sa.insert(table).from_select(list(values), sa.select(*items).select_from(guard))


def insert_cte(table: sa.Table, name: str, values: dict[str, Any], guard: sa.CTE | None) -> sa.CTE:
    """An INSERT … RETURNING as a CTE; with a ``guard``, written only if the guard has a row."""
    insert = sa.insert(table).values(values) if guard is None else guarded_insert(table, values, guard)
    return insert.returning(*table.c).cte(name)


async def apply_change(
    conn: AsyncConnection,
    case_id: int,
    expected_version: int,
    changes: dict[str, Any],
    event: dict[str, Any],
    *,
    prev_hash: str | None,
    recorded_after: Mapping[str, Any],
) -> int | None:
    """Write the case change and its audit event together; the new version, or None if stale.

    ``prev_hash`` is the hash of event ``expected_version``: the version guard makes it the right
    predecessor, so the chain cannot fork. ``recorded_after``: the case's recorded facts with the
    change applied (``workflows.chain.recorded_facts``), which the event vouches for.
    """
    event = chained(key_of(conn), event, case_id, expected_version + 1, prev_hash, recorded_after)
    params = change_params(case_id, expected_version, changes, event)
    if conn.dialect.name == "postgresql":
        stmt = _change_cte(tuple(changes), tuple(event))
        version: int | None = (await conn.execute(stmt, params)).scalar_one_or_none()
        return version
    row = (await conn.execute(_change_update(tuple(changes)), params)).first()
    if row is None:
        return None
    await conn.execute(sa.insert(case_event).values(case_id=case_id, seq=row.version, **event))
    return int(row.version)


def change_params(
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
# bound parameters, not composed again on every request.


def guarded_update(columns: tuple[str, ...]) -> sa.Update:
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


def event_of(upd: sa.CTE, event_fields: tuple[str, ...]) -> sa.CTE:
    """The audit event (``e_<field>``) of the case change ``upd``, written only if it was."""
    values = {"case_id": upd.c.id, "seq": upd.c.version, **binds("e_", case_event, event_fields)}
    return insert_cte(case_event, "ev", values, upd)


@cache
def _change_update(columns: tuple[str, ...]) -> sa.Update:
    return guarded_update(columns).returning(cases.c.id, cases.c.version)


@cache
def _change_cte(columns: tuple[str, ...], event_fields: tuple[str, ...]) -> sa.Select[Any]:
    """PostgreSQL: update the case under its version check and insert its event, one statement."""
    upd = _change_update(columns).cte("upd")
    return sa.select(upd.c.version).select_from(upd).join(event_of(upd, event_fields), sa.true())


@dataclass(frozen=True)
class CaseWrite:
    case_id: int
    expected_version: int
    changes: dict[str, Any]
    event: dict[str, Any]
    prev_hash: str | None
    recorded_after: Mapping[str, Any]


def _update_many(columns: tuple[str, ...], group: Sequence[CaseWrite]) -> sa.Update:
    """One UPDATE of every case in ``group`` (each at its expected version) from a derived table
    of their new values, not one statement per case: the statistics tally's trigger on ``cases``
    (migration 0034_tally_triggers) then runs once for the whole batch, not once per case.
    A UNION ALL of one-row SELECTs, which PostgreSQL and SQLite both read (SQLite's VALUES has
    no column names)."""
    rows = sa.union_all(
        *[
            sa.select(
                sa.literal(w.case_id, sa.BigInteger).label("b_id"),
                sa.literal(w.expected_version, sa.Integer).label("b_version"),
                *[sa.literal(w.changes[c], cases.c[c].type).label(f"b_{c}") for c in columns],
            )
            for w in group
        ]
    ).subquery("changed")
    return (
        sa.update(cases)
        .where(cases.c.id == rows.c.b_id, cases.c.version == rows.c.b_version)
        .values({**{c: rows.c[f"b_{c}"] for c in columns}, "version": cases.c.version + 1})
    )


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
        await conn.execute(_update_many(columns, group))
    rows = await conn.execute(
        sa.select(cases.c.id, cases.c.version).where(cases.c.id.in_([w.case_id for w in writes]))
    )
    moved: dict[int, int] = {row.id: row.version for row in rows}
    stale = [w.case_id for w in writes if moved.get(w.case_id) != w.expected_version + 1]
    if stale:
        raise BatchConflict(f"cases changed under the batch: {stale[:10]}")
    key = key_of(conn)
    await conn.execute(
        sa.insert(case_event),
        [
            {
                "case_id": w.case_id,
                "seq": w.expected_version + 1,
                **chained(key, w.event, w.case_id, w.expected_version + 1, w.prev_hash, w.recorded_after),
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
    (``_list_statements``), not composed again on every request."""
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
        params["text_over"] = TEXT_TOTAL_CAP + 1  # counted up to one past the cap: _text_count
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
    if "q_walk" in names:
        clauses.append(_matches_text())
    elif "q_pattern" in names:
        clauses.append(cases.c.id.in_(_found_by_text("q_grams" in names)))
    return clauses


def _matches_text() -> sa.ColumnElement[bool]:
    """``q`` tested on each case in turn (the number, the summary, a party's name): for a word
    so common that the newest 50 matches lie among the newest thousand cases or so, walking the
    (updated_at, id) index and testing each case stops sooner than reading every match through
    the bigram index to sort them (工伤: 45,300 matches in a million)."""
    pattern: sa.BindParameter[str] = sa.bindparam("q_pattern")
    named = sa.select(party.c.case_id).where(
        party.c.case_id == cases.c.id, party.c.name.like(pattern, escape="\\")
    )
    return sa.or_(
        cases.c.number == sa.bindparam("q_number"), cases.c.summary.like(pattern, escape="\\"), named.exists()
    )


def _found_by_text(bigrams: bool) -> sa.CompoundSelect[Any]:
    """The cases ``q`` finds: its number exactly, or the text in its summary or a party's name.

    Each way reads its own index (the number's unique index; on PostgreSQL the bigram GIN
    indexes of migration 0029_city: ``q_grams`` narrows to the rows holding every pair of
    adjacent characters of ``q``, the LIKE then checks the text itself), so that a search over a
    million cases reads the few it finds instead of every case. One character (no pair) or SQLite:
    the LIKE alone."""
    pattern: sa.BindParameter[str] = sa.bindparam("q_pattern")
    in_summary = [cases.c.summary.like(pattern, escape="\\")]
    in_name = [party.c.name.like(pattern, escape="\\")]
    if bigrams:
        grams = sa.func.jiefen_bigrams(sa.bindparam("q_grams", type_=sa.Text))
        in_summary.insert(0, sa.func.jiefen_bigrams(cases.c.summary).op("@>")(grams))
        in_name.insert(0, sa.func.jiefen_bigrams(party.c.name).op("@>")(grams))
    return sa.union(
        sa.select(cases.c.id).where(cases.c.number == sa.bindparam("q_number")),
        sa.select(cases.c.id).where(*in_summary),
        sa.select(party.c.case_id).where(*in_name),
    )


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


# The statistics tally (service/stats/models.py, kept by PostgreSQL's triggers in the same
# transaction as every change to a case or a clock), named here rather than imported: the stats
# package reads the cases package, not the reverse.
_tally = sa.table(
    "stats_tally",
    sa.column("dimension"),
    sa.column("unit_code"),
    sa.column("registered"),
    sa.column("breached"),
)
# The filters a list's total can take from the tally: where the cases are, and overdue.
TALLIED_FILTERS = frozenset({"unit_codes", "referred_from", "within_units", "overdue_as_of"})


def _tallied_count(names: frozenset[str]) -> sa.ScalarSelect[Any]:
    """PostgreSQL: how many cases the units in scope hold (or hold overdue), from the tally
    instead of counting them: a million cases, or fifty thousand overdue, in a few milliseconds.
    Overdue: the cases with a breached clock (tallied), and those whose clock runs past due and
    is not breached yet (few: read from the sweep's index)."""
    where: list[sa.ColumnElement[bool]] = [_tally.c.dimension == "tier"]
    held: list[sa.ColumnElement[bool]] = []
    for name in ("unit_codes", "within_units"):
        if name in names:
            where.append(_tally.c.unit_code.in_(_bound(name)))
            held.append(cases.c.unit_code.in_(_bound(name)))
    measure = _tally.c.breached if "overdue_as_of" in names else _tally.c.registered
    total: sa.ColumnElement[Any] = (
        sa.select(sa.func.coalesce(sa.func.sum(measure), 0)).where(*where).scalar_subquery()
    )
    if "overdue_as_of" in names:
        running = sa.select(deadline.c.case_id).where(
            deadline.c.status == "active", deadline.c.due_at <= sa.bindparam("overdue_as_of")
        )
        breached = sa.select(deadline.c.case_id).where(
            deadline.c.case_id == cases.c.id, deadline.c.status == "breached"
        )
        late = (
            sa.select(sa.func.count())
            .select_from(cases)
            .where(*held, cases.c.id.in_(running), ~breached.exists())
            .scalar_subquery()
        )
        total = total + late
    return sa.select(sa.cast(total, sa.BigInteger)).scalar_subquery()


# A text search counts its matches up to this many; past it the total is a lower bound
# ("1000+"): a word one case in twenty contains (45,300 of a million) would otherwise be
# counted, and each match joined back to its case, on every page of the search.
TEXT_TOTAL_CAP = 1000
_TEXT_KEYS = frozenset({"q_pattern", "q_number", "q_grams", "q_walk", "text_over"})


def _text_count(names: frozenset[str], include_court_linked: bool, hide_sensitive: bool) -> sa.Select[Any]:
    """How many cases ``q`` finds in scope, counted up to TEXT_TOTAL_CAP + 1 (``text_over``):
    more than the cap means "at least the cap" (``list_cases`` says so). Each way (the number,
    the summary, a party's name) reads its own index with the scope and filters applied to its
    rows and stops at cap + 1 distinct cases: if a way stopped early, the union holds cap + 1
    cases or more; if none did, the union's count is exact."""
    rest = names - _TEXT_KEYS
    where = _filters(rest, hide_sensitive)
    visible = _visible(rest, include_court_linked)
    if visible:
        where.append(sa.or_(*visible))
    over = sa.bindparam("text_over", type_=sa.Integer)
    pattern: sa.BindParameter[str] = sa.bindparam("q_pattern")
    in_summary = [cases.c.summary.like(pattern, escape="\\")]
    in_name = [party.c.name.like(pattern, escape="\\")]
    if "q_grams" in names:
        grams = sa.func.jiefen_bigrams(sa.bindparam("q_grams", type_=sa.Text))
        in_summary.insert(0, sa.func.jiefen_bigrams(cases.c.summary).op("@>")(grams))
        in_name.insert(0, sa.func.jiefen_bigrams(party.c.name).op("@>")(grams))
    by_number = sa.select(cases.c.id).where(*where, cases.c.number == sa.bindparam("q_number"))
    by_summary = sa.select(cases.c.id).where(*where, *in_summary).limit(over)
    by_name = (
        sa.select(party.c.case_id.label("id"))
        .distinct()  # a case found through two of its parties is one case
        .select_from(party.join(cases, cases.c.id == party.c.case_id))
        .where(*where, *in_name)
        .limit(over)
    )
    ways = [way.subquery() for way in (by_number, by_summary, by_name)]
    found = sa.union(*[sa.select(way.c.id) for way in ways]).subquery()
    return sa.select(sa.func.count()).select_from(found)


@cache
def _list_statements(
    names: frozenset[str], include_court_linked: bool, hide_sensitive: bool, tallied: bool = False
) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """A page of a list and its count, for one set of filters (values bound: ``_list_params``).
    ``tallied`` (PostgreSQL, filters within TALLIED_FILTERS, not the auditor's): the cases held
    in scope are counted from the statistics tally; the other ways into scope are counted here."""
    filters, visible = _filters(names, hide_sensitive), _visible(names, include_court_linked)
    columns = [cases.c[c] for c in SUMMARY_COLUMNS]
    newest = (cases.c.updated_at.desc(), cases.c.id.desc())
    limit, offset = sa.bindparam("limit", type_=sa.Integer), sa.bindparam("offset", type_=sa.Integer)
    if not visible or len(visible) == 1:
        where = [*filters, *(visible or [])]
        # The page's ids first, then their rows: a deep page (offset 100,000) skips its offset in
        # the (updated_at, id) index alone instead of reading every skipped case from the table.
        ids = sa.select(cases.c.id).where(*where).order_by(*newest).limit(limit).offset(offset)
        page = sa.select(*columns).where(cases.c.id.in_(ids.scalar_subquery())).order_by(*newest)
        counted = sa.select(sa.func.count()).select_from(cases).where(*where)
        if "q_pattern" in names:
            return page, _text_count(names, include_court_linked, hide_sensitive)
        return page, sa.select(_tallied_count(names)) if tallied else counted
    # "held here OR handed off from here OR court-linked" over different indexes makes
    # PostgreSQL scan every case. Each way on its own reads its index and stops after
    # offset + limit rows; the page is the newest of their union. Each way reads only the
    # order's columns and the id (from the index, not the rows: a town's offset of 10,000 reads
    # 10,050 index entries per way, not 10,050 cases), and the page's 50 rows are read last.
    reach = sa.bindparam("reach", type_=sa.Integer)
    firsts = [
        sa.select(cases.c.updated_at, cases.c.id)
        .where(*filters, way)
        .order_by(*newest)
        .limit(reach)
        .subquery()
        for way in visible
    ]
    merged = sa.union(*[sa.select(first) for first in firsts]).subquery()
    page_ids = (
        sa.select(merged.c.id)
        .order_by(merged.c.updated_at.desc(), merged.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    page = sa.select(*columns).where(cases.c.id.in_(page_ids.scalar_subquery())).order_by(*newest)
    # Counted the same way, each case once: the cases of each way not seen in an earlier one.
    counted = sa.select(
        sum(
            (
                _tallied_count(names)
                if tallied and i == 0  # the held-here way: unit_codes
                else sa.select(sa.func.count())
                .select_from(cases)
                .where(*filters, way, *[sa.not_(earlier) for earlier in visible[:i]])
                .scalar_subquery()
                for i, way in enumerate(visible)
            ),
            sa.literal(0),
        )
    )
    if "q_pattern" in names:
        return page, _text_count(names, include_court_linked, hide_sensitive)
    return page, counted


@cache
def _list_in_one(names: frozenset[str], include_court_linked: bool, hide_sensitive: bool) -> sa.Select[Any]:
    """PostgreSQL: the page and its count in one round trip. The count is the outer side, so
    an empty page (past the end) still comes back as one row: ``total`` and NULLs."""
    tallied = names <= TALLIED_FILTERS and not hide_sensitive
    page, counted = _list_statements(names, include_court_linked, hide_sensitive, tallied)
    total = sa.select(counted.scalar_subquery().label("total")).subquery("total")
    rows = page.subquery("page").lateral()
    return (
        sa.select(total.c.total, *rows.c)
        .select_from(total.outerjoin(rows, sa.true()))
        .order_by(rows.c.updated_at.desc(), rows.c.id.desc())
    )


async def list_cases(
    engine: AsyncEngine, f: CaseFilter, *, limit: int, offset: int
) -> tuple[list[CaseListRow], int, bool]:
    """One page of cases, newest activity first, how many there are in all and whether that
    number is a lower bound (a text search finding more than TEXT_TOTAL_CAP: the total is the
    cap): one statement on PostgreSQL, the page and its count on SQLite (which has no LATERAL)."""
    params = _list_params(f)
    names = frozenset(params)
    values = {**params, "limit": limit, "offset": offset, "reach": offset + limit}
    async with reading(engine) as conn:
        if conn.dialect.name == "postgresql":
            if f.q and len(f.q) >= 2:  # the bigram indexes (0029_city) narrow the text search
                params["q_grams"] = f.q
                names = frozenset(params)
                values["q_grams"] = f.q
                counted = _text_count(names, f.include_court_linked, f.hide_sensitive)
                if (await conn.execute(counted, values)).scalar_one() > TEXT_TOTAL_CAP:
                    # A common word: its newest matches are found by walking the newest cases.
                    names = names | {"q_walk"}
            found = (
                await conn.execute(_list_in_one(names, f.include_court_linked, f.hide_sensitive), values)
            ).all()
            total = int(found[0].total)
            return [list_row(r._mapping) for r in found if r.id is not None], *_capped(f, total)
        page, counted = _list_statements(names, f.include_court_linked, f.hide_sensitive)
        rows = (await conn.execute(page, values)).all()
        total = (await conn.execute(counted, params)).scalar_one()
    return [list_row(r._mapping) for r in rows], *_capped(f, int(total))


def _capped(f: CaseFilter, total: int) -> tuple[int, bool]:
    """A text search's count past the cap becomes the cap, marked as a lower bound."""
    if f.q and total > TEXT_TOTAL_CAP:
        return TEXT_TOTAL_CAP, True
    return total, False


async def list_events(conn: AsyncConnection, case_id: int) -> list[EventRow]:
    rows = await conn.execute(
        sa.select(case_event).where(case_event.c.case_id == case_id).order_by(case_event.c.seq)
    )
    return [event_row(r._mapping) for r in rows]


async def find_idempotent(conn: AsyncConnection, username: str, key: str) -> IdempotencyRow | None:
    row = (
        await conn.execute(
            sa.select(
                idempotency.c.id, idempotency.c.case_id, idempotency.c.request_hash, idempotency.c.created_at
            ).where(idempotency.c.username == username, idempotency.c.key == key)
        )
    ).first()
    if row is None:
        return None
    return IdempotencyRow(
        id=row.id, case_id=row.case_id, request_hash=row.request_hash, created_at=row.created_at
    )


async def forget_idempotency_key(conn: AsyncConnection, record_id: int, *, created_at: datetime) -> None:
    """Forget one expired key (unless a concurrent retry already replaced it)."""
    await conn.execute(
        sa.delete(idempotency).where(idempotency.c.id == record_id, idempotency.c.created_at == created_at)
    )


async def read_number(engine: AsyncEngine, case_id: int) -> str:
    async with reading(engine) as conn:
        return str((await conn.execute(sa.select(cases.c.number).where(cases.c.id == case_id))).scalar_one())


async def forget_idempotency_keys(conn: AsyncConnection, *, before: datetime) -> int:
    """The sweep: forget the keys recorded before ``before``."""
    result = await conn.execute(sa.delete(idempotency).where(idempotency.c.created_at < before))
    return int(result.rowcount or 0)


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
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(idempotency).values(**values).on_conflict_do_nothing().returning(idempotency.c.id)
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


@cache
def _sent_page(names: frozenset[str]) -> sa.Select[Any]:
    """The cases some units sent on, newest activity first, each with the number of them all.
    Sensitive cases are never followed from outside (docs/domain.md, Least privilege)."""
    where = [cases.c.id.in_(sent_by(_bound("units"))), cases.c.sensitive.is_(False)]
    if "state" in names:
        where.append(cases.c.state.in_(_bound("state")))
    if "outcome" in names:
        where.append(cases.c.outcome.in_(_bound("outcome")))
    return (
        sa.select(*[cases.c[c] for c in SUMMARY_COLUMNS], sa.func.count().over().label("total"))
        .where(*where)
        .order_by(cases.c.updated_at.desc(), cases.c.id.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .offset(sa.bindparam("offset", type_=sa.Integer))
    )


async def list_sent(
    engine: AsyncEngine,
    units: frozenset[str],
    *,
    states: Sequence[str],
    outcomes: Sequence[str],
    limit: int,
    offset: int,
) -> tuple[list[CaseListRow], int]:
    """A page of the cases ``units`` sent on and how many there are: one statement (the count
    rides on each row; a page past the end asks again from the start for it)."""
    params: dict[str, Any] = {"units": sorted(units)}
    if states:
        params["state"] = list(states)
    if outcomes:
        params["outcome"] = list(outcomes)
    statement = _sent_page(frozenset(params))
    async with reading(engine) as conn:
        rows = (await conn.execute(statement, {**params, "limit": limit, "offset": offset})).all()
        if not rows and offset:
            first = (await conn.execute(statement, {**params, "limit": 1, "offset": 0})).first()
            return [], 0 if first is None else int(first.total)
    return [list_row(r._mapping) for r in rows], int(rows[0].total) if rows else 0


async def was_sent_by(conn: AsyncConnection, case_id: int, units: frozenset[str]) -> bool:
    """Did one of these units send this case on?"""
    of_case = case_event.c.case_id == case_id
    found = await conn.execute(
        sa.union_all(
            sa.select(case_event.c.id).where(
                of_case, _sent_on(), case_event.c.from_unit_code.in_(sorted(units))
            ),
            sa.select(case_event.c.id).where(
                of_case, _registered_elsewhere(), case_event.c.actor_unit_code.in_(sorted(units))
            ),
        ).limit(1)
    )
    return found.first() is not None


async def referred_from(conn: AsyncConnection, case_id: int, units: frozenset[str]) -> bool:
    """Did one of these units hand this case off?"""
    found = await conn.execute(
        sa.select(referral.c.id)
        .where(referral.c.case_id == case_id, referral.c.from_unit_code.in_(sorted(units)))
        .limit(1)
    )
    return found.first() is not None


def chained(
    key: AuditKey,
    event: Mapping[str, Any],
    case_id: int,
    seq: int,
    prev_hash: str | None,
    recorded_after: Mapping[str, Any],
) -> dict[str, Any]:
    """The event with its keyed digest of the case it leaves (``recorded_after``: the case's
    recorded facts with the change applied) and its place in the case's keyed hash chain."""
    digest = key.case_digest(recorded_after)
    record = {**event, "case_id": case_id, "seq": seq, "case_digest": digest}
    return {
        **event,
        "case_digest": digest,
        "prev_hash": prev_hash or GENESIS,
        "hash": key.link(prev_hash, record, CASE_EVENT_FIELDS),
    }


def facts_after(
    row: CaseRecord, changes: Mapping[str, Any], parties: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The recorded facts of a case as read with ``changes`` applied and its version moved on;
    ``parties``: its parties afterwards, when the change touches them."""
    return recorded(row, changes, parties)


def new_case_facts(
    values: Mapping[str, Any], case_id: int, number: str, parties: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """A new case's recorded facts, which its `created` event vouches for."""
    return recorded_facts({**values, "id": case_id, "number": number, "version": 1}, parties)


async def add_event(
    conn: AsyncConnection, row: CaseRecord, event: dict[str, Any], *, now: datetime
) -> int | None:
    """Write an event that records something about the case without moving it (``record_event``: an extension, a recomputed clock, a crime report and its acknowledgement):
    the case's version and ``updated_at`` move on; the new version, or None if ``row`` is stale."""
    changes = {"updated_at": now}
    return await apply_change(
        conn,
        row.id,
        row.version,
        changes,
        event,
        prev_hash=row.last_event_hash,
        recorded_after=facts_after(row, changes),
    )


def record_event(
    row: CaseRecord,
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


@cache
def _version_of() -> sa.Select[Any]:
    return sa.select(cases.c.version).where(cases.c.id == sa.bindparam("case_id"))


async def read_case(engine: AsyncEngine, case_id: int) -> CaseRow | None:
    """A case with its children (``fetch_case``), read outside any transaction."""
    async with reading(engine) as conn:
        return await fetch_case(conn, case_id)


async def read_version(engine: AsyncEngine, case_id: int) -> int | None:
    async with reading(engine) as conn:
        version = (await conn.execute(_version_of(), {"case_id": case_id})).scalar_one_or_none()
    return None if version is None else int(version)


# The hand-offs whose sender is owed a result it must act on (警调, 访调, 检调: RETURNS says what).
OWED_KINDS = (ReferralKind.police.value, ReferralKind.petition.value, ReferralKind.procuratorate.value)


@dataclass(frozen=True, slots=True)
class OwedRow:
    """A hand-off whose result has not gone back yet, with its case's number and state."""

    id: int
    case_id: int
    number: str
    case_state: CaseState
    kind: ReferralKind
    status: ReferralStatus
    from_unit_code: str
    to_unit_code: str
    offered_at: datetime
    offered_by: str


async def owed_referrals(conn: AsyncConnection, units: frozenset[str]) -> list[OwedRow]:
    """The 警调/访调/检调 hand-offs sent by or to ``units`` whose result is still owed, oldest first.
    Owed until the referral is completed (the result sent back), whatever the case's state: a
    case closed without its return stays on the list. Declined or returned hand-offs owe nothing:
    the case went back to its sender. Sensitive cases are listed only to the receiving side."""
    codes = sorted(units)
    rows = await conn.execute(
        sa.select(
            referral.c.id,
            referral.c.case_id,
            cases.c.number,
            cases.c.state,
            referral.c.kind,
            referral.c.status,
            referral.c.from_unit_code,
            referral.c.to_unit_code,
            referral.c.offered_at,
            referral.c.offered_by,
        )
        .join(cases, cases.c.id == referral.c.case_id)
        .where(
            referral.c.kind.in_(OWED_KINDS),
            referral.c.status.in_(OPEN_REFERRAL),
            sa.or_(
                referral.c.to_unit_code.in_(codes),
                sa.and_(referral.c.from_unit_code.in_(codes), cases.c.sensitive.is_(False)),
            ),
        )
        .order_by(referral.c.offered_at, referral.c.id)
    )
    return [
        OwedRow(
            id=r.id,
            case_id=r.case_id,
            number=r.number,
            case_state=CaseState(r.state),
            kind=ReferralKind(r.kind),
            status=ReferralStatus(r.status),
            from_unit_code=r.from_unit_code,
            to_unit_code=r.to_unit_code,
            offered_at=r.offered_at,
            offered_by=r.offered_by,
        )
        for r in rows
    ]
