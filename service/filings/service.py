"""Filing a month (报表报送): freeze the report's cells and the cases behind each, hash them, put
the hash in the audit trail; correct by a new version with its reason; read versions and the
cases behind a filed cell. Each write is one transaction with its security event.

Who may do what (the API and the pages alike):

- a coordinator files, corrects, reads and exports the months of the town centres and (the city
  coordinator) the city centre within their subtree; an administrator likewise for any;
- an auditor reads and exports any filing, files nothing (403);
- other roles: 403. A unit outside the reader's subtree: 404.

A town's filing is the report over its subtree at the moment of filing. The city's is built from
the towns' current filed versions (their cells and case lists as filed, each key prefixed with the
town's code), the city's own cases (those of units under no town) counted then, and the sums of
every figure the parts share; while a town has not filed it is refused (409 naming the towns)
unless ``filing_city_allows_missing_towns`` is set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.audit.events import record_security_event
from service.cases.scope import can_see
from service.context import AppContext
from service.errors import Conflict, Forbidden, NotFound, field_error
from service.filings import queries
from service.filings.schemas import (
    CellCase,
    CellCases,
    FiledCell,
    FilingOut,
    FilingPage,
    FilingSummary,
    SourceFiling,
)
from service.filings.source import FrozenCell, FrozenReport, report_for
from service.stats.queries import Period
from workflows.lifecycle import Actor, Role
from workflows.moj_report import Measure, parse_cell
from workflows.org import OrgTree, UnitKind

FILERS = {Role.coordinator, Role.admin}
READERS = {Role.coordinator, Role.admin, Role.auditor}
TOWN, CITY = "town", "city"
SUM_PREFIX = "sum"


@dataclass(frozen=True)
class Built:
    """What a new version freezes."""

    report: FrozenReport
    sources: list[dict[str, Any]]
    missing_towns: list[str]


def _towns(org: OrgTree) -> list[str]:
    return sorted(u.code for u in org.of_kind(UnitKind.town_centre))


def kind_of(org: OrgTree, unit_code: str, field: str) -> str:
    """town or city: 422 naming ``field`` for an unknown unit or one that files nothing."""
    unit = org.find(unit_code)
    if unit is None:
        raise field_error(field, f"no unit with code {unit_code!r}")
    if unit.kind == UnitKind.town_centre:
        return TOWN
    if unit.kind == UnitKind.city_centre:
        return CITY
    raise field_error(field, "a month is filed by a town centre, or consolidated by the city centre")


def visible_units(actor: Actor, org: OrgTree) -> frozenset[str] | None:
    """Units whose filings ``actor`` reads (None: all); 403 for a role that reads none."""
    if actor.role not in READERS:
        raise Forbidden(f"The {actor.role} role does not read the filed reports.")
    if actor.role == Role.coordinator:
        return org.subtree(actor.unit_code)
    return None


def check_unit(actor: Actor, org: OrgTree, unit_code: str, *, write: bool, field: str) -> str:
    """The unit's kind after checking the role (403), the unit (422) and the scope (404)."""
    if write and actor.role not in FILERS:
        raise Forbidden("Only a coordinator (or an administrator) files or corrects a month.")
    units = visible_units(actor, org)
    kind = kind_of(org, unit_code, field)
    if units is not None and unit_code not in units:
        raise NotFound(f"Unit {unit_code} is not within your scope.")
    return kind


def canonical(values: Mapping[Any, Any]) -> bytes:
    """The bytes a filing's hash is taken of: sorted keys, no spaces, UTF-8 (not ASCII-escaped)."""
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def hashed_part(row: Mapping[Any, Any]) -> dict[str, Any]:
    """What the hash covers: the unit, month, version, kind, reason, cells, case lists, sources."""
    return {
        k: row[k] for k in ("unit_code", "month", "version", "kind", "reason", "cells", "case_ids", "sources")
    }


def digest(row: Mapping[Any, Any]) -> str:
    return hashlib.sha256(canonical(hashed_part(row))).hexdigest()


def _decimal(value: int | str) -> Decimal | None:
    if isinstance(value, int):
        return Decimal(value)
    try:
        return Decimal(value) if value and not value.endswith("%") else None
    except InvalidOperation:
        return None


def consolidate(org: OrgTree, parts: Sequence[tuple[str, FrozenReport]]) -> FrozenReport:
    """The parts' cells with keys prefixed ``<unit>:``, then for each key every part has, its sum
    (``sum:<key>``: counts added, amounts added to the fen; rates and text are not added). The
    cases behind a sum are the union of its parts' frozen lists (``filed_ids``): not stored a
    second time, which would double a city's filing."""
    cells: list[FrozenCell] = []
    case_ids: dict[str, list[int]] = {}
    for unit, part in parts:
        name = org.name_of(unit) or unit
        for cell in part.cells:
            row = cell.row if cell.row.startswith(name) else f"{name} {cell.row}"
            cells.append(
                cell.model_copy(
                    update={"key": f"{unit}:{cell.key}", "row": row, "label": f"{row} · {cell.column}"}
                )
            )
        for key, ids in part.case_ids.items():
            case_ids[f"{unit}:{key}"] = list(ids)
    if not parts:
        return FrozenReport(cells=cells, case_ids=case_ids)
    city = org.city_centre()
    by_key = [{c.key: c for c in part.cells} for _, part in parts]
    for cell in parts[0][1].cells:
        same = [p[cell.key] for p in by_key if cell.key in p]
        if len(same) < len(parts):
            continue
        numbers = [_decimal(c.value) for c in same]
        if any(n is None for n in numbers):
            continue
        total = sum((n for n in numbers if n is not None), Decimal(0))
        value: int | str = int(total) if all(isinstance(c.value, int) for c in same) else f"{total:.2f}"
        row = f"{city.name}汇总 {cell.row}"
        key = f"{SUM_PREFIX}:{cell.key}"
        cells.append(
            cell.model_copy(
                update={"key": key, "row": row, "label": f"{row} · {cell.column}", "value": value}
            )
        )
    return FrozenReport(cells=cells, case_ids=case_ids)


def _sum_base(key: str) -> str | None:
    prefix = f"{SUM_PREFIX}:"
    return key[len(prefix) :] if key.startswith(prefix) else None


def filed_ids(case_ids: Mapping[str, list[int]], key: str) -> list[int]:
    """The cases behind a filed cell, ascending: its frozen list, or for a city's sum cell
    (``sum:<key>``) the union of the frozen lists of its parts (``<unit>:<key>``). A city filing
    made before the sums stopped storing their own list keeps it, and that list is read."""
    base = _sum_base(key)
    if base is None or key in case_ids:
        return list(case_ids.get(key, []))
    return sorted(
        {
            i
            for k, ids in case_ids.items()
            if _sum_base(k) is None and k.partition(":")[2] == base
            for i in ids
        }
    )


def filed_counts(case_ids: Mapping[str, list[int]], keys: Sequence[str]) -> dict[str, int]:
    """How many cases are behind each of ``keys`` (``filed_ids``' lengths, the parts read once)."""
    parts: dict[str, list[list[int]]] = {}
    for k, ids in case_ids.items():
        if _sum_base(k) is None and ":" in k:
            parts.setdefault(k.partition(":")[2], []).append(ids)
    counts: dict[str, int] = {}
    for key in keys:
        base = _sum_base(key)
        if base is None or key in case_ids:
            counts[key] = len(case_ids.get(key, []))
        else:
            lists = parts.get(base, [])
            counts[key] = len(lists[0]) if len(lists) == 1 else len({i for ids in lists for i in ids})
    return counts


def _frozen(row: Mapping[Any, Any]) -> FrozenReport:
    return FrozenReport.model_validate({"cells": row["cells"], "case_ids": row["case_ids"]})


async def _build(
    conn: AsyncConnection, ctx: AppContext, unit: str, kind: str, month: str, now: datetime
) -> Built:
    org = ctx.org
    if kind == TOWN:
        return Built(await report_for(conn, ctx, org.subtree(unit), month, now), [], [])
    towns = [t for t in _towns(org) if t in org.subtree(unit)]
    filed = await queries.current(conn, towns, month)
    missing = [t for t in towns if t not in filed]
    if missing and not ctx.settings.filing_city_allows_missing_towns:
        names = "、".join(f"{org.name_of(t) or t} ({t})" for t in missing)
        raise Conflict(
            f"{month} cannot be consolidated yet: these towns have not filed it: {names}.",
            missing_towns=missing,
        )
    under_towns = frozenset().union(*(org.subtree(t) for t in towns)) if towns else frozenset()
    own_units = org.subtree(unit) - under_towns
    parts = [(t, _frozen(filed[t])) for t in towns if t in filed]
    own = await report_for(conn, ctx, own_units, month, now)
    # The city's own part (units under no town: the city centre, the sectoral committees), counted
    # at filing: its cases, and its stocks (committees, mediators), which have no cases behind them.
    if own.case_ids or any(_decimal(c.value) for c in own.cells):
        parts.append((unit, own))
    sources = [
        {
            "unit": t,
            "filing_id": int(filed[t]["id"]),
            "version": int(filed[t]["version"]),
            "sha256": filed[t]["sha256"],
        }
        for t in towns
        if t in filed
    ]
    return Built(consolidate(org, parts), sources, missing)


async def _write(
    conn: AsyncConnection,
    actor: Actor,
    unit: str,
    kind: str,
    month: str,
    version: int,
    reason: str | None,
    built: Built,
    *,
    now: datetime,
    client_ip: str | None,
) -> int:
    values: dict[str, Any] = {
        "unit_code": unit,
        "month": month,
        "version": version,
        "kind": kind,
        "reason": reason,
        "cells": [c.model_dump(mode="json") for c in built.report.cells],
        "case_ids": {k: list(v) for k, v in built.report.case_ids.items()},
        "sources": built.sources,
    }
    sha256 = digest(values)
    # The event first: the filing row, never updated, carries the event's id.
    event_id = await record_security_event(
        conn,
        kind="report_filed" if version == 1 else "report_corrected",
        actor=actor.username,
        actor_role=actor.role.value,
        actor_unit_code=actor.unit_code,
        reason=reason,
        payload={
            "unit": unit,
            "month": month,
            "version": version,
            "kind": kind,
            "sha256": sha256,
            "cells": len(built.report.cells),
            "missing_towns": built.missing_towns,
        },
        client_ip=client_ip,
        now=now,
    )
    return await queries.insert_filing(
        conn,
        {
            **values,
            "filed_at": now,
            "filed_by": actor.username,
            "sha256": sha256,
            "security_event_id": event_id,
        },
    )


def _month_over(month: str, now: datetime, field: str) -> str:
    period = Period.month(month, field)
    label = period.months()[0]
    if now < period.end_at:
        raise field_error(field, f"{label} has not ended yet: a month is filed once it is over")
    return label


async def file_month(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    unit: str,
    month: str,
    *,
    now: datetime,
    client_ip: str | None = None,
) -> FilingOut:
    """Version 1 of the unit's month, frozen as it stands now; filing it again is 409."""
    kind = check_unit(actor, ctx.org, unit, write=True, field="body.unit")
    label = _month_over(month, now, "body.month")
    try:
        async with engine.begin() as conn:
            filed = await queries.versions(conn, unit, label)
            if filed:
                raise Conflict(
                    f"{label} is already filed for {unit} (version {filed[-1]['version']}): "
                    "file a correction to change it.",
                    filing_id=int(filed[-1]["id"]),
                )
            built = await _build(conn, ctx, unit, kind, label, now)
            filing_id = await _write(
                conn, actor, unit, kind, label, 1, None, built, now=now, client_ip=client_ip
            )
    except IntegrityError:
        raise Conflict(f"{label} was filed for {unit} meanwhile. Read it again.") from None
    return await read_filing(engine, ctx, actor, filing_id)


async def correct(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    filing_id: int,
    reason: str,
    *,
    now: datetime,
    client_ip: str | None = None,
) -> FilingOut:
    """A new version of the month the filing belongs to, built again now, with ``reason``; the
    filing corrected must be the current version (409 otherwise). Earlier versions stay as filed."""
    try:
        async with engine.begin() as conn:
            row = await queries.get_filing(conn, filing_id)
            if row is None:
                raise NotFound(f"No filing {filing_id}.")
            try:
                kind = check_unit(actor, ctx.org, row["unit_code"], write=True, field="path.filing_id")
            except NotFound:
                raise NotFound(f"No filing {filing_id}.") from None
            filed = await queries.versions(conn, row["unit_code"], row["month"])
            latest = filed[-1]
            if latest["id"] != row["id"]:
                raise Conflict(
                    f"Filing {filing_id} is version {row['version']}; version {latest['version']} "
                    f"(filing {latest['id']}) is current: correct that one.",
                    current_filing_id=int(latest["id"]),
                )
            built = await _build(conn, ctx, row["unit_code"], kind, row["month"], now)
            new_id = await _write(
                conn,
                actor,
                row["unit_code"],
                kind,
                row["month"],
                int(latest["version"]) + 1,
                reason,
                built,
                now=now,
                client_ip=client_ip,
            )
    except IntegrityError:
        raise Conflict("The month was corrected meanwhile. Read it again.") from None
    return await read_filing(engine, ctx, actor, new_id)


def _summary(org: OrgTree, row: Mapping[Any, Any], latest: int) -> FilingSummary:
    return FilingSummary(
        id=row["id"],
        unit_code=row["unit_code"],
        unit_name=org.name_of(row["unit_code"]) or row["unit_code"],
        month=row["month"],
        version=row["version"],
        kind=row["kind"],
        current=row["version"] == latest,
        reason=row["reason"],
        filed_at=row["filed_at"],
        filed_by=row["filed_by"],
        sha256=row["sha256"],
        security_event_id=row["security_event_id"],
    )


async def _readable(conn: AsyncConnection, ctx: AppContext, actor: Actor, filing_id: int) -> RowMapping:
    """The filing, whole: 404 when there is none or it is outside the reader's scope."""
    units = visible_units(actor, ctx.org)
    row = await queries.get_filing(conn, filing_id)
    if row is None or (units is not None and row["unit_code"] not in units):
        raise NotFound(f"No filing {filing_id}.")
    return row


async def read_filing(engine: AsyncEngine, ctx: AppContext, actor: Actor, filing_id: int) -> FilingOut:
    async with engine.connect() as conn:
        row = await _readable(conn, ctx, actor, filing_id)
        versions = await queries.versions(conn, row["unit_code"], row["month"])
    latest = int(versions[-1]["version"])
    summary = _summary(ctx.org, row, latest)
    counts = filed_counts(row["case_ids"], [c["key"] for c in row["cells"]])
    cells = [FiledCell(**c, cases=counts[c["key"]]) for c in row["cells"]]
    missing: list[str] = []
    if row["kind"] == CITY:
        filed = {s["unit"] for s in row["sources"]}
        missing = [t for t in _towns(ctx.org) if t in ctx.org.subtree(row["unit_code"]) and t not in filed]
    return FilingOut(
        **summary.model_dump(),
        cells=cells,
        sources=[SourceFiling.model_validate(s) for s in row["sources"]],
        missing_towns=missing,
        versions=[_summary(ctx.org, v, latest) for v in versions],
    )


async def frozen_report(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, filing_id: int
) -> tuple[FilingOut, FrozenReport]:
    """The filing and its frozen report (for the exports)."""
    out = await read_filing(engine, ctx, actor, filing_id)
    async with engine.connect() as conn:
        row = await _readable(conn, ctx, actor, filing_id)
    return out, _frozen(row)


async def verify(engine: AsyncEngine, filing_id: int) -> bool:
    """Whether the stored filing still hashes to the SHA-256 it was filed with."""
    async with engine.connect() as conn:
        row = await queries.get_filing(conn, filing_id)
    return row is not None and digest(row) == row["sha256"]


async def list_filings(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    *,
    unit: str | None,
    month: str | None,
    limit: int,
    offset: int,
) -> FilingPage:
    units = visible_units(actor, ctx.org)
    if unit is not None:
        kind_of(ctx.org, unit, "query.unit")
        if units is not None and unit not in units:
            raise NotFound(f"Unit {unit} is not within your scope.")
    label = Period.month(month, "query.month").months()[0] if month else None
    async with engine.connect() as conn:
        rows, total, latest = await queries.list_filings(
            conn, units=units, unit=unit, month=label, limit=limit, offset=offset
        )
    return FilingPage(
        items=[_summary(ctx.org, r, latest[(r["unit_code"], r["month"])]) for r in rows], total=total
    )


def counts_of(key: str) -> str:
    """What a filed cell counts (``cases``, ``rounds`` or ``none``), from its report row; a city
    filing's keys are prefixed ``<unit>:`` or ``sum:``."""
    parsed = parse_cell(key.rpartition(":")[2])
    if parsed is None or parsed[0].measure in (Measure.rate, Measure.stock):
        return "none"
    return "rounds" if parsed[0].measure == Measure.register else "cases"


async def cell_cases(
    engine: AsyncEngine, ctx: AppContext, actor: Actor, filing_id: int, key: str, *, limit: int, offset: int
) -> CellCases:
    """The cases behind a filed cell, as frozen (their ids), with what each is now. A case the
    reader may not open (a sensitive case for an auditor, any case for an administrator) is
    listed by its number only."""
    async with engine.connect() as conn:
        row = await _readable(conn, ctx, actor, filing_id)
        cell = next((c for c in row["cells"] if c["key"] == key), None)
        if cell is None:
            raise NotFound(f"Filing {filing_id} has no cell {key!r}.")
        ids = filed_ids(row["case_ids"], key)
        page = ids[offset : offset + limit]
        found = await queries.case_rows(conn, page)
    items = []
    for case_id in page:
        case = found.get(case_id)
        if case is None:
            continue
        # Least privilege as for the case itself: an auditor does not open a sensitive case, and
        # an administrator opens none; both still see that it is counted, by its number.
        visible = can_see(actor, case["unit_code"], False, ctx.org, sensitive=bool(case["sensitive"]))
        items.append(
            CellCase(
                id=case_id,
                number=case["number"],
                dispute_type=case["dispute_type"] if visible else None,
                unit_code=case["unit_code"] if visible else None,
                state=str(case["state"]) if visible else None,
                visible=visible,
            )
        )
    return CellCases(
        filing_id=filing_id,
        key=key,
        label=cell["label"],
        value=cell["value"],
        counts=counts_of(key),
        total=len(ids),
        items=items,
    )
