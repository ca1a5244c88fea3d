"""The organisation tree: units, tiers, channels and who sits above whom.

Pure data and lookups; loading it from YAML lives in ``service.units``. A unit has a legal
parent (the statistical division it belongs to) and optionally a *handling* parent, because
Kunshan's management zones overlap legal towns (the 蓬朗 area of 花桥镇 is handled by 开发区).
Escalation, scope and triage all follow the handling parent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class Tier(StrEnum):
    village = "village"
    town = "town"
    city = "city"


TIER_RANK = {Tier.village: 0, Tier.town: 1, Tier.city: 2}


class Channel(StrEnum):
    people = "people"  # 人民调解
    administrative = "administrative"  # 行政调解
    judicial = "judicial"  # 司法调解


class UnitKind(StrEnum):
    city_centre = "city_centre"  # 市矛调中心 / 综治中心
    town_centre = "town_centre"  # 镇矛调中心 / 司法所
    village_station = "village_station"  # 村/社区调委会
    sectoral_committee = "sectoral_committee"  # 行业性专业性调委会
    agency = "agency"  # 派出所, 人社局, 市场监管局, ...
    court = "court"
    court_desk = "court_desk"  # 诉讼服务中心 / 立案庭
    procuratorate = "procuratorate"
    petition_office = "petition_office"  # 信访局


class OrgType(StrEnum):
    """The kind of people's mediation organisation, as the Ministry of Justice report groups them
    (村(居)民调委会, 乡镇(街道)调委会, 企事业单位调委会, 社会团体调委会, 行业性专业性调委会)."""

    village = "village"  # 村民委员会调委会
    community = "community"  # 居民委员会(社区)调委会
    township = "township"  # 乡镇调委会
    subdistrict = "subdistrict"  # 街道调委会
    enterprise = "enterprise"  # 企事业单位调委会
    social_group = "social_group"  # 社会团体调委会
    sectoral = "sectoral"  # 行业性专业性调委会
    other = "other"  # 其他 (the county-level centre)


ORG_TYPE_LABELS: dict[OrgType, str] = {
    OrgType.village: "村",
    OrgType.community: "居",
    OrgType.township: "乡镇",
    OrgType.subdistrict: "街道",
    OrgType.enterprise: "企事业",
    OrgType.social_group: "社会团体",
    OrgType.sectoral: "行业专业",
    OrgType.other: "其他",
}


def default_org_type(kind: UnitKind, name: str, channel: Channel) -> OrgType | None:
    """The organisation type a unit's kind and name suggest, or None where they do not tell
    (a station named neither …村 nor …社区) or the unit is no people's mediation committee.

    A village station named …村 is a 村 committee, …社区/…居委会 a 居 one; a town centre named …街道
    serves a 街道, any other a 乡镇; sectoral committees are 行业专业; the city centre is 其他.
    The YAML states each unit's type explicitly; this only checks it and fills imported stations.
    """
    if channel != Channel.people:
        return None
    match kind:
        case UnitKind.village_station:
            if name.endswith(("村", "村民委员会", "村委会")):
                return OrgType.village
            if name.endswith(("社区", "居委会", "居民委员会")):
                return OrgType.community
            return None
        case UnitKind.town_centre:
            return OrgType.subdistrict if name.endswith("街道") else OrgType.township
        case UnitKind.sectoral_committee:
            return OrgType.sectoral
        case UnitKind.city_centre:
            return OrgType.other
        case _:
            return None


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: UnitKind
    tier: Tier
    channel: Channel
    parent_code: str | None = None
    handling_parent_code: str | None = None
    sector: str | None = None  # for sectoral committees: the dispute type they specialise in
    name_en: str | None = None
    org_type: OrgType | None = None  # people's mediation committees only (the MoJ report's rows)

    def name_in(self, lang: str) -> str:
        """The name in ``lang`` ("zh" or "en"); the Chinese one where no English is known."""
        return (self.name_en or self.name) if lang == "en" else self.name

    @property
    def handled_by(self) -> str | None:
        """The unit this one reports to for escalation and supervision."""
        return self.handling_parent_code or self.parent_code


@dataclass
class OrgTree:
    """Lookups over a validated set of units (see ``service.config.units`` for validation)."""

    units: dict[str, Unit]
    _children: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _subtrees: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _court_units: frozenset[str] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, units: Iterable[Unit]) -> OrgTree:
        tree = cls({u.code: u for u in units})
        for unit in tree.units.values():
            if unit.handled_by is not None:
                tree._children.setdefault(unit.handled_by, []).append(unit.code)
        return tree

    def __contains__(self, code: object) -> bool:
        return code in self.units

    def __iter__(self) -> Iterator[Unit]:
        return iter(self.units.values())

    def __len__(self) -> int:
        return len(self.units)

    def get(self, code: str) -> Unit:
        return self.units[code]

    def find(self, code: str | None) -> Unit | None:
        return self.units.get(code) if code is not None else None

    def name_of(self, code: str | None, lang: str = "zh") -> str | None:
        """The unit's name in ``lang``, or None for a code the tree does not hold (a unit since removed)."""
        unit = self.find(code)
        return unit.name_in(lang) if unit else None

    def parent(self, code: str) -> Unit | None:
        return self.find(self.units[code].handled_by)

    def ancestors(self, code: str) -> list[Unit]:
        """Handling ancestors, nearest first (not including the unit itself)."""
        chain: list[Unit] = []
        seen = {code}
        parent = self.parent(code)
        while parent is not None and parent.code not in seen:
            chain.append(parent)
            seen.add(parent.code)
            parent = self.parent(parent.code)
        return chain

    def children(self, code: str) -> list[Unit]:
        return [self.units[c] for c in self._children.get(code, [])]

    def subtree(self, code: str) -> frozenset[str]:
        """Codes of the unit and everything handled below it."""
        cached = self._subtrees.get(code)
        if cached is not None:
            return cached
        found: set[str] = set()
        stack = [code]
        while stack:
            current = stack.pop()
            if current in found:
                continue
            found.add(current)
            stack.extend(self._children.get(current, []))
        result = frozenset(found)
        self._subtrees[code] = result
        return result

    def is_within(self, code: str, root: str) -> bool:
        return code == root or any(a.code == root for a in self.ancestors(code))

    def town_of(self, code: str) -> Unit | None:
        """The town centre that handles a unit (the unit itself if it is one)."""
        unit = self.find(code)
        if unit is None:
            return None
        for candidate in [unit, *self.ancestors(code)]:
            if candidate.kind == UnitKind.town_centre:
                return candidate
        return None

    def city_centre(self) -> Unit:
        for unit in self.units.values():
            if unit.kind == UnitKind.city_centre:
                return unit
        raise LookupError("the organisation has no city centre")

    def court_units(self) -> frozenset[str]:
        """The court and its desk: asked on every court clerk's request, so computed once."""
        if self._court_units is None:
            self._court_units = frozenset(u.code for u in self.of_kind(UnitKind.court, UnitKind.court_desk))
        return self._court_units

    def court_desk(self) -> Unit | None:
        return next((u for u in self.units.values() if u.kind == UnitKind.court_desk), None)

    def escalation_target(self, code: str) -> Unit | None:
        """The nearest handling ancestor of the same channel on a higher tier."""
        unit = self.units[code]
        for ancestor in self.ancestors(code):
            if ancestor.channel == unit.channel and TIER_RANK[ancestor.tier] > TIER_RANK[unit.tier]:
                return ancestor
        return None

    def sectoral_committee(self, sector: str, near: str | None = None) -> Unit | None:
        """A committee for ``sector``: one inside the town of ``near`` if any, else a city-wide one."""
        committees = [
            u for u in self.units.values() if u.kind == UnitKind.sectoral_committee and u.sector == sector
        ]
        town = self.town_of(near) if near else None
        if town is not None:
            local = [u for u in committees if u.code in self.subtree(town.code)]
            if local:
                return local[0]
        city_wide = [u for u in committees if u.tier == Tier.city]
        return city_wide[0] if city_wide else None

    def of_kind(self, *kinds: UnitKind) -> list[Unit]:
        return [u for u in self.units.values() if u.kind in kinds]
