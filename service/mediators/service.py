"""The roster's use cases: read, add, correct, deactivate and import mediators, in scope.

Who may do what (docs/domain.md, Least privilege): a mediator reads the roster of their own unit
and changes nothing; a coordinator reads and keeps the rosters of their subtree (a town's
coordinator: the town and its villages); an administrator keeps every roster; an auditor reads
them all. Anything outside one's scope is 404, as if absent. Every change is a security event
(who, which record, which fields) in the same transaction, never with the personal data itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.audit.events import record_security_event
from service.context import AppContext
from service.errors import Conflict, Forbidden, InvalidInput, NotFound, StaleVersion, field_error
from service.mediators import queries
from service.mediators.importer import ParsedRoster, RowError, parse_roster, read_table
from service.mediators.queries import MediatorRow, RosterFilter
from service.mediators.schemas import (
    ImportedRow,
    ImportResult,
    MediatorEdit,
    MediatorIn,
    MediatorPage,
    MediatorPublic,
)
from service.personal.crypto import DataCipher
from service.personal.masking import mask_id_number, mask_phone
from service.personal.sealing import seal
from workflows.lifecycle import Actor, Role
from workflows.mediators import Employment
from workflows.org import OrgTree
from workflows.vocab import DisputeType

READERS = {Role.mediator, Role.coordinator, Role.admin, Role.auditor, Role.system}
KEEPERS = {Role.coordinator, Role.admin, Role.system}
SEALED = ("id_number", "phone")


# --- scope ------------------------------------------------------------------------------------


def readable_units(actor: Actor, org: OrgTree) -> frozenset[str] | None:
    """The units whose rosters the actor reads; None: all of them."""
    if actor.role not in READERS:
        raise Forbidden(f"The {actor.role} role does not read the mediators' roster.")
    if actor.role in (Role.admin, Role.auditor, Role.system):
        return None
    if actor.role == Role.coordinator:
        return org.subtree(actor.unit_code)
    return frozenset({actor.unit_code})


def writable_units(actor: Actor, org: OrgTree) -> frozenset[str] | None:
    """The units whose rosters the actor keeps; None: all of them."""
    if actor.role not in KEEPERS:
        raise Forbidden(f"The {actor.role} role may read the roster but not change it.")
    if actor.role == Role.coordinator:
        return org.subtree(actor.unit_code)
    return None


def _in(units: Iterable[str], scope: frozenset[str] | None) -> bool:
    return scope is None or any(code in scope for code in units)


def may_keep(actor: Actor, org: OrgTree, row: MediatorRow) -> bool:
    """For the pages: whether to offer the edit and deactivate buttons."""
    return actor.role in KEEPERS and _in(row.units, writable_units(actor, org))


# --- reading ----------------------------------------------------------------------------------


def mediator_public(row: MediatorRow, ctx: AppContext) -> MediatorPublic:
    return MediatorPublic(
        id=row.id,
        name=row.name,
        units=list(row.units),
        username=row.username,
        employment=Employment(row.employment),
        specialties=[DisputeType(s) for s in row.specialties],
        languages=row.languages,
        qualifications=row.qualifications,
        grade=row.grade,
        court_roster_no=row.court_roster_no,
        court_roster_from=row.court_roster_from,
        court_roster_until=row.court_roster_until,
        id_number=mask_id_number(ctx.cipher.decrypt(row.id_number, "id_number")),
        phone=mask_phone(ctx.cipher.decrypt(row.phone, "phone")),
        active=row.active,
        deactivated_at=row.deactivated_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


async def list_mediators(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    *,
    unit: str | None = None,
    active: bool | None = None,
    specialty: DisputeType | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> MediatorPage:
    scope = readable_units(actor, ctx.org)
    units = scope
    if unit is not None:
        if unit not in ctx.org or (scope is not None and unit not in scope):
            raise NotFound(f"No unit {unit} whose roster you may read.")
        units = ctx.org.subtree(unit) if scope is None else ctx.org.subtree(unit) & scope
    f = RosterFilter(
        unit_codes=units, active=active, specialty=specialty.value if specialty else None, name=q
    )
    async with engine.connect() as conn:
        rows, total = await queries.list_mediators(conn, f, limit=limit, offset=offset)
    return MediatorPage(items=[mediator_public(row, ctx) for row in rows], total=total)


async def visible_mediator(
    engine: AsyncEngine, ctx: AppContext, mediator_id: int, actor: Actor
) -> MediatorRow:
    scope = readable_units(actor, ctx.org)
    async with engine.connect() as conn:
        row = await queries.fetch_mediator(conn, mediator_id)
    if row is None or not _in(row.units, scope):
        raise NotFound(f"No mediator {mediator_id} on a roster you may read.")
    return row


async def get_mediator(
    engine: AsyncEngine, ctx: AppContext, mediator_id: int, actor: Actor
) -> MediatorPublic:
    return mediator_public(await visible_mediator(engine, ctx, mediator_id, actor), ctx)


# --- checks -----------------------------------------------------------------------------------


def _check_units(units: Sequence[str], org: OrgTree, scope: frozenset[str] | None, field: str) -> None:
    for index, code in enumerate(units):
        if code not in org:
            raise field_error(f"{field}[{index}]", f"no unit with the code {code!r}")
    for code in units:
        if scope is not None and code not in scope:
            # Outside one's scope reads as absent, as everywhere (404, not 403).
            raise NotFound(f"No unit {code} whose roster you keep.")


def _check_dates(since: date | None, until: date | None) -> None:
    if since is not None and until is not None and since > until:
        raise field_error(
            "body.court_roster_until", "the 特邀 entry cannot end before it starts (court_roster_from)"
        )


async def _user_to_link(
    conn: AsyncConnection, username: str, mediator_id: int | None, scope: frozenset[str] | None
) -> int:
    # A coordinator links only the sign-ins of their own units: one of another town's people would
    # otherwise be given this record (and, with it, its cases).
    found = await queries.user_ids(conn, [username], scope)
    if username not in found:
        raise field_error("body.username", f"no sign-in named {username!r} in the units you manage")
    user_id = found[username]
    linked = (await queries.linked_mediators(conn, [user_id])).get(user_id)
    if linked is not None and linked != mediator_id:
        raise Conflict(
            f"The sign-in {username} is already linked to mediator {linked}: one roster record per person.",
            mediator_id=linked,
        )
    return user_id


def _sealed(values: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
    """Seal the personal fields given (an emptied one clears its blind index too)."""
    sealed = seal({k: v for k, v in values.items() if k in SEALED and v}, ctx.cipher)
    out = {k: v for k, v in values.items() if k not in SEALED}
    for name in SEALED:
        if name in values:
            out[name] = sealed.get(name)
    out.update({k: v for k, v in sealed.items() if k.endswith("_index")})
    if "id_number" in values and not values["id_number"]:
        out["id_number_index"] = None
    if "phone" in values and not values["phone"]:
        out["phone_index"] = None
    return out


def _columns(body: MediatorIn) -> dict[str, Any]:
    data = body.model_dump(exclude={"units", "username"})
    data["employment"] = body.employment.value
    data["specialties"] = [s.value for s in body.specialties]
    return data


async def _event(
    conn: AsyncConnection,
    kind: str,
    actor: Actor,
    now: datetime,
    payload: dict[str, Any],
    reason: str | None = None,
    client_ip: str | None = None,
) -> None:
    await record_security_event(
        conn,
        kind=kind,
        actor=actor.username,
        actor_role=actor.role.value,
        actor_unit_code=actor.unit_code,
        reason=reason,
        payload=payload,
        client_ip=client_ip,
        now=now,
    )


# --- writing ----------------------------------------------------------------------------------


async def create_mediator(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    body: MediatorIn,
    *,
    now: datetime,
    client_ip: str | None = None,
) -> MediatorPublic:
    scope = writable_units(actor, ctx.org)
    units = list(dict.fromkeys(body.units))
    _check_units(units, ctx.org, scope, "body.units")
    _check_dates(body.court_roster_from, body.court_roster_until)
    values = _sealed(_columns(body), ctx)
    try:
        async with engine.begin() as conn:
            user_id = await _user_to_link(conn, body.username, None, scope) if body.username else None
            mediator_id = await queries.insert_mediator(
                conn,
                {
                    **values,
                    "user_id": user_id,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                },
                units,
            )
            given = sorted(body.model_dump(exclude_unset=True, exclude_defaults=True))
            await _event(
                conn,
                "mediator_created",
                actor,
                now,
                {"mediator_id": mediator_id, "units": units, "fields": given},
                client_ip=client_ip,
            )
    except IntegrityError:
        # Two people linked the same sign-in at once: the unique index kept one.
        raise Conflict(f"The sign-in {body.username} was just linked to another roster record.") from None
    async with engine.connect() as conn:
        row = await queries.fetch_mediator(conn, mediator_id)
    assert row is not None
    return mediator_public(row, ctx)


async def _kept_row(
    engine: AsyncEngine, ctx: AppContext, mediator_id: int, actor: Actor, if_match: int | None
) -> tuple[MediatorRow, frozenset[str] | None]:
    scope = writable_units(actor, ctx.org)
    async with engine.connect() as conn:
        row = await queries.fetch_mediator(conn, mediator_id)
    if row is None or not _in(row.units, scope):
        raise NotFound(f"No mediator {mediator_id} on a roster you keep.")
    if if_match is not None and if_match != row.version:
        raise StaleVersion(
            f"You edited version {if_match}, but the record is now at version {row.version}; reload it.",
            current_version=row.version,
        )
    return row, scope


async def _stale(engine: AsyncEngine, mediator_id: int) -> StaleVersion:
    async with engine.connect() as conn:
        row = await queries.fetch_mediator(conn, mediator_id)
    current = row.version if row else None
    return StaleVersion(
        f"Someone else changed the record while you were working (now version {current}); reload it.",
        current_version=current,
    )


async def edit_mediator(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    mediator_id: int,
    body: MediatorEdit,
    *,
    if_match: int | None,
    now: datetime,
    client_ip: str | None = None,
) -> MediatorPublic:
    row, scope = await _kept_row(engine, ctx, mediator_id, actor, if_match)
    given = body.model_dump(exclude_unset=True, exclude={"reason"})
    if not given:
        raise field_error("body", "name at least one field to change")
    for required in ("name", "units", "employment", "specialties", "languages", "qualifications", "grade"):
        if required in given and given[required] is None:
            raise field_error(f"body.{required}", "cannot be emptied")
    changes: dict[str, Any] = {}
    changed: list[str] = []
    units = list(row.units)
    if body.units is not None:
        wanted = list(dict.fromkeys(body.units))
        _check_units(wanted, ctx.org, scope, "body.units")
        # Units outside the editor's scope stay: a town cannot take a person off the city's roster.
        kept = [code for code in row.units if scope is not None and code not in scope]
        units = sorted(set(wanted) | set(kept))
        if units != sorted(row.units):
            changed.append("units")
    _check_dates(
        given["court_roster_from"] if "court_roster_from" in given else row.court_roster_from,
        given["court_roster_until"] if "court_roster_until" in given else row.court_roster_until,
    )
    for name in (
        "name",
        "employment",
        "specialties",
        "languages",
        "qualifications",
        "grade",
        "court_roster_no",
        "court_roster_from",
        "court_roster_until",
    ):
        if name in given:
            value = given[name]
            if name == "employment":
                value = Employment(value).value
            elif name == "specialties":
                value = [DisputeType(s).value for s in value]
            if getattr(row, name) != value:
                changes[name] = value
                changed.append(name)
    opened = {name: ctx.cipher.decrypt(getattr(row, name), name) for name in SEALED}
    personal = {name: given[name] for name in SEALED if name in given and given[name] != opened[name]}
    changed += sorted(personal)
    changes.update(_sealed(personal, ctx))
    try:
        async with engine.begin() as conn:
            # The sign-in already linked stays linked even if its unit is outside the editor's scope.
            if "username" in given and given["username"] != row.username:
                user_id = (
                    await _user_to_link(conn, given["username"], row.id, scope) if given["username"] else None
                )
                if user_id != row.user_id:
                    changes["user_id"] = user_id
                    changed.append("username")
            if not changed:
                return mediator_public(row, ctx)
            if not await queries.update_mediator(conn, row.id, row.version, {**changes, "updated_at": now}):
                await conn.rollback()
                raise await _stale(engine, row.id)
            if "units" in changed:
                await queries.set_units(conn, row.id, units)
            await _event(
                conn,
                "mediator_changed",
                actor,
                now,
                {"mediator_id": row.id, "fields": sorted(changed), "units": units},
                reason=body.reason,
                client_ip=client_ip,
            )
    except IntegrityError:
        raise Conflict(
            f"The sign-in {given.get('username')} was just linked to another roster record."
        ) from None
    async with engine.connect() as conn:
        fresh = await queries.fetch_mediator(conn, row.id)
    assert fresh is not None
    return mediator_public(fresh, ctx)


async def set_active(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    mediator_id: int,
    active: bool,
    *,
    reason: str | None,
    if_match: int | None,
    now: datetime,
    client_ip: str | None = None,
) -> MediatorPublic:
    """Deactivate (kept on file, no longer assigned) or reactivate; asking twice changes nothing."""
    row, _ = await _kept_row(engine, ctx, mediator_id, actor, if_match)
    if row.active == active:
        return mediator_public(row, ctx)
    async with engine.begin() as conn:
        values = {"active": active, "deactivated_at": None if active else now, "updated_at": now}
        if not await queries.update_mediator(conn, row.id, row.version, values):
            await conn.rollback()
            raise await _stale(engine, row.id)
        await _event(
            conn,
            "mediator_reactivated" if active else "mediator_deactivated",
            actor,
            now,
            {"mediator_id": row.id, "units": list(row.units)},
            reason=reason,
            client_ip=client_ip,
        )
    async with engine.connect() as conn:
        fresh = await queries.fetch_mediator(conn, row.id)
    assert fresh is not None
    return mediator_public(fresh, ctx)


# --- import -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    line: int
    row: MediatorIn
    existing: MediatorRow | None
    user_id: int | None


class RosterRejected(InvalidInput):
    """422 listing every bad row: nothing of the file was written."""

    slug = "roster-rejected"
    title = "The roster has bad rows; nothing was imported"

    def __init__(self, errors: Sequence[RowError]) -> None:
        ordered = sorted(errors, key=lambda e: (e.line, e.position))
        lines = sorted({e.line for e in ordered})
        super().__init__(
            f"{len(ordered)} problem(s) on line(s) {', '.join(map(str, lines))}; nothing was imported.",
            [e.as_problem() for e in ordered],
        )
        self.rows = ordered


async def _plan(
    conn: AsyncConnection, ctx: AppContext, parsed: ParsedRoster, scope: frozenset[str] | None
) -> tuple[list[_Plan], list[RowError]]:
    errors = list(parsed.errors)
    users = await queries.user_ids(conn, {row.username for _, row in parsed.rows if row.username}, scope)
    linked = await queries.linked_mediators(conn, set(users.values()))
    seen_ids: dict[str, int] = {}
    seen_names: dict[tuple[str, str], int] = {}
    seen_users: dict[str, int] = {}
    plans: list[_Plan] = []
    for line, row in parsed.rows:
        bad = len(errors)
        index = ctx.cipher.blind_index(row.id_number, "id_number") if row.id_number else None
        # The same person twice in one file would be written twice: say which lines.
        if index is not None:
            if index in seen_ids:
                errors.append(
                    parsed.error(
                        line,
                        "id_number",
                        "duplicate",
                        f"the same id number as line {seen_ids[index]}",
                    )
                )
            seen_ids.setdefault(index, line)
        else:
            for code in row.units:
                first = seen_names.setdefault((row.name, code), line)
                if first != line:
                    errors.append(
                        parsed.error(line, "name", "duplicate", f"the same name and unit as line {first}")
                    )
                    break
        # The same person: the same id number; else the same name in one of the row's units (a
        # row without an id number matches whoever has that name there, one with an id number only
        # someone whose number was never recorded).
        existing = await queries.find_by_id_index(conn, index) if index is not None else None
        if existing is None:
            existing = await queries.find_by_name_in_units(
                conn, row.name, row.units, without_id_number=index is not None
            )
        if existing is not None and not _in(existing.units, scope):
            errors.append(
                parsed.error(
                    line,
                    "id_number" if index is not None else "name",
                    "outside_scope_person",
                    "this person is on the roster of a unit you do not manage; ask its coordinator",
                )
            )
        user_id = None
        if existing is not None and row.username and row.username == existing.username:
            user_id = existing.user_id  # already this person's sign-in
        elif row.username:
            if row.username not in users:
                errors.append(
                    parsed.error(line, "username", "unknown_user", f"no sign-in named {row.username!r}")
                )
            else:
                user_id = users[row.username]
                holder = linked.get(user_id)
                if holder is not None and (existing is None or holder != existing.id):
                    errors.append(
                        parsed.error(
                            line,
                            "username",
                            "user_linked",
                            "this sign-in is linked to another mediator",
                        )
                    )
                first = seen_users.setdefault(row.username, line)
                if first != line:
                    errors.append(
                        parsed.error(line, "username", "duplicate", f"the same sign-in as line {first}")
                    )
        if len(errors) == bad:
            plans.append(_Plan(line, row, existing, user_id))
    return plans, errors


async def import_roster(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    filename: str,
    content: bytes,
    *,
    dry_run: bool,
    now: datetime,
    client_ip: str | None = None,
) -> ImportResult:
    """All or nothing: every row is checked before the first is written, and one bad row rejects
    the file with every problem listed. A person already on the roster (the same id number, or
    with none the same name in one of the row's units) is updated, not added twice."""
    scope = writable_units(actor, ctx.org)
    parsed = parse_roster(read_table(filename, content), ctx.org, scope)
    async with engine.begin() as conn:
        plans, errors = await _plan(conn, ctx, parsed, scope)
        if errors:
            raise RosterRejected(errors)
        results: list[ImportedRow] = []
        for plan in plans:
            if dry_run:
                action = "update" if plan.existing else "create"
                results.append(
                    ImportedRow(
                        line=plan.line,
                        action=action,
                        name=plan.row.name,
                        mediator_id=plan.existing.id if plan.existing else None,
                    )
                )
                continue
            results.append(await _write_row(conn, ctx, plan, parsed.columns, scope, now))
        created = sum(1 for r in results if r.action == "create")
        if not dry_run:
            await _event(
                conn,
                "roster_imported",
                actor,
                now,
                {
                    "rows": len(results),
                    "created": created,
                    "updated": len(results) - created,
                    "mediator_ids": [r.mediator_id for r in results],
                },
                client_ip=client_ip,
            )
        else:
            await conn.rollback()
    return ImportResult(dry_run=dry_run, created=created, updated=len(results) - created, rows=results)


async def _write_row(
    conn: AsyncConnection,
    ctx: AppContext,
    plan: _Plan,
    columns: dict[str, str],
    scope: frozenset[str] | None,
    now: datetime,
) -> ImportedRow:
    row = plan.row
    data = _columns(row)
    if plan.existing is None:
        values = _sealed(data, ctx)
        mediator_id = await queries.insert_mediator(
            conn,
            {
                **values,
                "user_id": plan.user_id,
                "active": True,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            },
            list(dict.fromkeys(row.units)),
        )
        return ImportedRow(line=plan.line, action="create", name=row.name, mediator_id=mediator_id)
    existing = plan.existing
    # The file's columns say what it holds; a column the file lacks keeps what is stored, and an
    # empty id number, phone or sign-in never wipes the one on file.
    update = {name: value for name, value in data.items() if name in columns and name not in SEALED}
    update.update(_sealed({name: data[name] for name in SEALED if data.get(name)}, ctx))
    if plan.user_id is not None:
        update["user_id"] = plan.user_id
    if not await queries.update_mediator(conn, existing.id, existing.version, {**update, "updated_at": now}):
        raise Conflict(f"Mediator {existing.id} was changed while the roster was imported; import it again.")
    kept = [code for code in existing.units if scope is not None and code not in scope]
    await queries.set_units(conn, existing.id, sorted(set(row.units) | set(kept)))
    return ImportedRow(line=plan.line, action="update", name=row.name, mediator_id=existing.id)


# --- key rotation -------------------------------------------------------------------------------


async def reseal_mediators(engine: AsyncEngine, cipher: DataCipher) -> int:
    """Re-encrypt every mediator's id number and phone under the key ring's current key, and
    recompute their blind indexes (derived from that key): after a rotation, a re-import and a
    conflict check find the person by the same number again. Returns how many were re-sealed."""
    changed = 0
    last_id = 0
    while True:
        async with engine.begin() as conn:
            rows = await queries.sealed_after(conn, last_id, limit=500)
            for mediator_id, id_number, phone in rows:
                opened = {
                    "id_number": cipher.decrypt(id_number, "id_number"),
                    "phone": cipher.decrypt(phone, "phone"),
                }
                values = seal({k: v for k, v in opened.items() if v}, cipher)
                await queries.reseal(conn, mediator_id, values)
                changed += 1
        if len(rows) < 500:
            return changed
        last_id = rows[-1][0]
