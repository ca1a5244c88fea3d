"""The org tree over HTTP: ``GET /api/v1/units`` and ``GET /api/v1/units/{code}``."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from pydantic import BaseModel

from service.context import ContextDep
from service.errors import NotFound
from service.users.deps import ActorDep
from workflows.org import Channel, OrgTree, Tier, Unit, UnitKind

router = APIRouter(prefix="/api/v1/units", tags=["units"])


class UnitPublic(BaseModel):
    code: str
    name: str
    name_en: str | None
    kind: UnitKind
    tier: Tier
    channel: Channel
    parent_code: str | None
    handling_parent_code: str | None
    sector: str | None


class UnitDetail(UnitPublic):
    ancestors: list[str]
    children: list[UnitPublic]
    escalates_to: str | None


def _public(unit: Unit) -> UnitPublic:
    return UnitPublic(**asdict(unit))


def _detail(unit: Unit, org: OrgTree) -> UnitDetail:
    target = org.escalation_target(unit.code)
    return UnitDetail(
        **_public(unit).model_dump(),
        ancestors=[a.code for a in org.ancestors(unit.code)],
        children=[_public(c) for c in sorted(org.children(unit.code), key=lambda u: u.code)],
        escalates_to=target.code if target else None,
    )


@router.get("", response_model=list[UnitPublic], operation_id="list_units")
async def list_units(
    actor: ActorDep,
    ctx: ContextDep,
    kind: UnitKind | None = None,
    tier: Tier | None = None,
    parent: str | None = None,
) -> list[UnitPublic]:
    """All units of the network (filter by kind, tier, or handling parent)."""
    units = [
        u
        for u in ctx.org
        if (kind is None or u.kind == kind)
        and (tier is None or u.tier == tier)
        and (parent is None or u.handled_by == parent)
    ]
    return [_public(u) for u in sorted(units, key=lambda u: u.code)]


@router.get("/{code}", response_model=UnitDetail, operation_id="get_unit")
async def get_unit(code: str, actor: ActorDep, ctx: ContextDep) -> UnitDetail:
    """One unit with its ancestors, children and escalation target."""
    unit = ctx.org.find(code)
    if unit is None:
        raise NotFound(f"No unit {code!r}.")
    return _detail(unit, ctx.org)
