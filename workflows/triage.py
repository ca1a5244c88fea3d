"""Graded triage (分级分类): ordered rules, kept as data, decide where a new case goes.

The first rule whose conditions all hold decides the route, the risk colour and whether the case
must be reported at once (人民调解法 art. 25 makes reporting a risk of crime a duty). The decision
carries the rule id and the facts that matched, in Chinese with the numbers, because PIPL art. 24
requires automated decisions to be explainable and a coordinator must see *why* a case landed
where it did.

Pure: ``parse_rules`` takes already-loaded data (``service.config.triage`` reads the YAML and turns
``RuleError`` into the service's ``ConfigError``) and ``triage`` takes the org tree as an argument.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

from workflows.org import Channel, OrgTree, Tier, Unit, UnitKind
from workflows.parsing import (
    E,
    Problems,
    ProblemsError,
    check_unique,
    enum_set,
    enum_value,
    flag,
    text,
    unknown_keys,
)
from workflows.triage_reasons import LOCATION_KIND_LABELS, TIER_LABELS, say
from workflows.vocab import (
    DISPUTE_TYPE_LABELS,
    FLAG_LABELS,
    SOURCE_LABELS,
    DisputeType,
    Flag,
    RiskColour,
    Source,
)


class Route(StrEnum):
    station = "station"  # the village/community station where the dispute arose
    town = "town"  # the town centre handling the location
    city = "city"  # the city centre
    sectoral = "sectoral"  # the sectoral committee for the dispute type (local first, then city-wide)
    manual = "manual"  # registered at the town hub for a coordinator to dispatch by hand


CaseState = Literal["assigned", "registered"]

# A case is located where the parties live: a village/community, or "somewhere in the town" when
# intake only knows the town. Other unit kinds (committees, agencies, courts) are never locations.
LOCATION_KINDS = frozenset({UnitKind.village_station, UnitKind.town_centre})


class UnknownLocation(ValueError):
    """The case's location is not a unit in the org tree, or not a place a case can be located at."""


class RuleError(ProblemsError):
    """Invalid triage rules: every problem found, each as (key path, message); see ``ProblemsError``."""


# ----------------------------------------------------------------------------- facts and rules


@dataclass(frozen=True)
class TriageFacts:
    """What intake knows about a new case; the only inputs triage looks at."""

    dispute_type: DisputeType
    amount_yuan: Decimal | None  # None: no money claimed (a noise or boundary dispute)
    people_involved: int
    location_code: str
    source: Source
    flags: frozenset[Flag]
    requested_tier: Tier | None = None  # a party's request to be heard at a given tier

    def __post_init__(self) -> None:
        if self.amount_yuan is not None and self.amount_yuan < 0:
            raise ValueError(f"amount_yuan must not be negative, got {self.amount_yuan}")
        if self.people_involved < 0:
            raise ValueError(f"people_involved must not be negative, got {self.people_involved}")


@dataclass(frozen=True)
class Conditions:
    """All set conditions must hold (AND); ``None`` means "not a condition of this rule"."""

    dispute_types: frozenset[DisputeType] | None = None
    amount_at_least: Decimal | None = None
    amount_below: Decimal | None = None
    people_at_least: int | None = None
    people_below: int | None = None
    flags_any: frozenset[Flag] | None = None
    flags_all: frozenset[Flag] | None = None
    sources: frozenset[Source] | None = None
    requested_tier: Tier | None = None
    location_kind: UnitKind | None = None

    @property
    def is_catch_all(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


@dataclass(frozen=True)
class Action:
    route: Route
    risk: RiskColour
    report: bool = False  # immediate report duty (人民调解法 art. 25)


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    conditions: Conditions
    action: Action


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    # Which committee sector serves a dispute type when it differs from the type itself: the
    # labour committee (sector LABOUR_OTHER) also hears wage arrears. Unlisted types map to themselves.
    sectors: Mapping[DisputeType, DisputeType] = field(default_factory=dict)

    def sector_for(self, dispute_type: DisputeType) -> DisputeType:
        return self.sectors.get(dispute_type, dispute_type)


# ----------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class TriageDecision:
    rule: str
    reasons: tuple[str, ...]
    route: Route
    unit_code: str  # the unit that receives the case; for a manual route, the hub
    tier: Tier
    channel: Channel
    risk: RiskColour
    state: CaseState
    hub_code: str  # where a declined case goes back: the town centre, or the city centre
    report: bool

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form to store with the case (plain strings, lists and booleans)."""
        return {
            "rule": self.rule,
            "reasons": list(self.reasons),
            "route": self.route.value,
            "unit_code": self.unit_code,
            "tier": self.tier.value,
            "channel": self.channel.value,
            "risk": self.risk.value,
            "state": self.state,
            "hub_code": self.hub_code,
            "report": self.report,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TriageDecision:
        state = data["state"]
        if state not in ("assigned", "registered"):
            raise ValueError(f"unknown triage state {state!r}")
        return cls(
            rule=str(data["rule"]),
            reasons=tuple(str(r) for r in data["reasons"]),
            route=Route(data["route"]),
            unit_code=str(data["unit_code"]),
            tier=Tier(data["tier"]),
            channel=Channel(data["channel"]),
            risk=RiskColour(data["risk"]),
            state=state,
            hub_code=str(data["hub_code"]),
            report=bool(data["report"]),
        )


# ----------------------------------------------------------------------------- triage


def triage(facts: TriageFacts, rules: RuleSet, org: OrgTree) -> TriageDecision:
    """Apply the first rule that matches ``facts`` and say where the case goes and why."""
    location = _location(facts.location_code, org)
    hub = _hub(location, org)
    for rule in rules.rules:
        reasons = match(rule.conditions, facts, location)
        if reasons is None:
            continue
        if not reasons:  # the catch-all: say so, so the explanation is never empty
            reasons = [say("catch_all")]
        unit, notes = _receiving_unit(rule.action.route, facts, location, hub, rules, org)
        reasons.extend(notes)
        if rule.action.report:
            reasons.append(say("report"))
        return TriageDecision(
            rule=rule.id,
            reasons=tuple(reasons),
            route=rule.action.route,
            unit_code=unit.code,
            tier=unit.tier,
            channel=unit.channel,
            risk=rule.action.risk,
            state="registered" if rule.action.route == Route.manual else "assigned",
            hub_code=hub.code,
            report=rule.action.report,
        )
    # parse_rules requires a final catch-all, so this means the RuleSet was built by hand badly.
    raise ValueError("no triage rule matched; a rule set must end with a catch-all rule")


def _location(code: str, org: OrgTree) -> Unit:
    unit = org.find(code)
    if unit is None:
        raise UnknownLocation(f"location {code!r} is not a unit in the organisation tree")
    if unit.kind not in LOCATION_KINDS:
        raise UnknownLocation(
            f"location {code!r} ({unit.name}) is a {unit.kind.value}; "
            "a case is located at a village station or a town centre"
        )
    return unit


def _hub(location: Unit, org: OrgTree) -> Unit:
    """The town centre handling the location; the city centre for places directly under the city."""
    return org.town_of(location.code) or org.city_centre()


def _describe(unit: Unit) -> str:
    return f"{unit.name}({unit.code})"


def _receiving_unit(
    route: Route, facts: TriageFacts, location: Unit, hub: Unit, rules: RuleSet, org: OrgTree
) -> tuple[Unit, list[str]]:
    """The unit a route lands on, plus notes explaining any fallback taken."""
    if route == Route.station:
        if location.kind == UnitKind.village_station:
            return location, [say("station", unit=_describe(location))]
        return hub, [say("town_only", unit=_describe(hub))]
    if route == Route.town:
        if hub.kind == UnitKind.town_centre:
            return hub, [say("town", unit=_describe(hub))]
        return hub, [say("no_town", unit=_describe(hub))]
    if route == Route.city:
        city = org.city_centre()
        return city, [say("city", unit=_describe(city))]
    if route == Route.sectoral:
        return _sectoral_route(facts, location, hub, rules, org)
    return hub, [say("manual", unit=_describe(hub))]


def _sectoral_route(
    facts: TriageFacts, location: Unit, hub: Unit, rules: RuleSet, org: OrgTree
) -> tuple[Unit, list[str]]:
    sector = rules.sector_for(facts.dispute_type)
    notes: list[str] = []
    if sector != facts.dispute_type:
        notes.append(
            say(
                "sector_of",
                dispute_type=DISPUTE_TYPE_LABELS[facts.dispute_type],
                sector=DISPUTE_TYPE_LABELS[sector],
            )
        )
    committee = org.sectoral_committee(sector.value, near=location.code)
    if committee is None:
        # docs/domain.md, Triage: the sectoral committee when one exists, else the town centre.
        notes.append(say("no_committee", sector=DISPUTE_TYPE_LABELS[sector], unit=_describe(hub)))
        return hub, notes
    scope = "本镇" if hub.kind == UnitKind.town_centre and committee.code in org.subtree(hub.code) else "全市"
    notes.append(say("committee", scope=scope, unit=_describe(committee)))
    return committee, notes


# ----------------------------------------------------------------------------- matching

# Each check returns None when its condition fails, else the reasons it contributes (empty when
# the rule does not set that condition), so a decision lists exactly the facts that decided it.
_Check = Callable[[Conditions, TriageFacts, Unit], "list[str] | None"]


def match(conditions: Conditions, facts: TriageFacts, location: Unit) -> list[str] | None:
    """The matched facts as readable reasons, or None when some condition fails."""
    reasons: list[str] = []
    for check in _CHECKS:
        found = check(conditions, facts, location)
        if found is None:
            return None
        reasons.extend(found)
    return reasons


def _yuan(amount: Decimal) -> str:
    # 80000.00 reads as "80000", 1234.50 as "1234.5": no exponent, no trailing zeros.
    return format(amount.normalize(), "f")


def _check_dispute_type(c: Conditions, facts: TriageFacts, _: Unit) -> list[str] | None:
    if c.dispute_types is None:
        return []
    if facts.dispute_type not in c.dispute_types:
        return None
    return [say("dispute_type", dispute_type=DISPUTE_TYPE_LABELS[facts.dispute_type])]


def _check_amount(c: Conditions, facts: TriageFacts, _: Unit) -> list[str] | None:
    reasons: list[str] = []
    amount = facts.amount_yuan
    if c.amount_at_least is not None:
        # An unknown/absent amount is never "large": only a stated amount can push a case up.
        if amount is None or amount < c.amount_at_least:
            return None
        reasons.append(say("amount_at_least", amount=_yuan(amount), limit=_yuan(c.amount_at_least)))
    if c.amount_below is not None:
        if amount is None:
            # No money claimed counts as small, so a noise dispute still goes to the village.
            reasons.append(say("no_amount", limit=_yuan(c.amount_below)))
        elif amount < c.amount_below:
            reasons.append(say("amount_below", amount=_yuan(amount), limit=_yuan(c.amount_below)))
        else:
            return None
    return reasons


def _check_people(c: Conditions, facts: TriageFacts, _: Unit) -> list[str] | None:
    reasons: list[str] = []
    people = facts.people_involved
    if c.people_at_least is not None:
        if people < c.people_at_least:
            return None
        reasons.append(say("people_at_least", people=str(people), limit=str(c.people_at_least)))
    if c.people_below is not None:
        if people >= c.people_below:
            return None
        reasons.append(say("people_below", people=str(people), limit=str(c.people_below)))
    return reasons


def _flag_names(flags: frozenset[Flag]) -> str:
    return "、".join(FLAG_LABELS[f] for f in Flag if f in flags)  # enum order: stable text


def _check_flags(c: Conditions, facts: TriageFacts, _: Unit) -> list[str] | None:
    reasons: list[str] = []
    if c.flags_any is not None:
        present = c.flags_any & facts.flags
        if not present:
            return None
        reasons.append(say("flags", flags=_flag_names(present)))
    if c.flags_all is not None:
        if not c.flags_all <= facts.flags:
            return None
        reasons.append(say("flags", flags=_flag_names(c.flags_all)))
    return reasons


def _check_source(c: Conditions, facts: TriageFacts, _: Unit) -> list[str] | None:
    if c.sources is None:
        return []
    if facts.source not in c.sources:
        return None
    return [say("source", source=SOURCE_LABELS[facts.source])]


def _check_requested_tier(c: Conditions, facts: TriageFacts, _: Unit) -> list[str] | None:
    if c.requested_tier is None:
        return []
    if facts.requested_tier != c.requested_tier:
        return None
    return [say("requested_tier", tier=TIER_LABELS[c.requested_tier])]


def _check_location_kind(c: Conditions, _: TriageFacts, location: Unit) -> list[str] | None:
    if c.location_kind is None:
        return []
    if location.kind != c.location_kind:
        return None
    return [say("location_kind", location_kind=LOCATION_KIND_LABELS[location.kind], place=location.name)]


_CHECKS: tuple[_Check, ...] = (
    _check_dispute_type,
    _check_amount,
    _check_people,
    _check_flags,
    _check_source,
    _check_requested_tier,
    _check_location_kind,
)


# ----------------------------------------------------------------------------- parsing

_KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_TOP_KEYS = ("sectors", "rules")
_RULE_KEYS = ("id", "description", "conditions", "action")
_ACTION_KEYS = ("route", "risk", "report")
_CONDITION_KEYS = tuple(f.name for f in fields(Conditions))


def parse_rules(data: object, file: str) -> RuleSet:
    """Validate loaded YAML/JSON data into a RuleSet, or raise RuleError listing every problem.

    ``file`` names the source in the error; key paths look like ``rules[3].conditions.amount_at_least``
    (the top level itself is the empty key).
    """
    problems = Problems()
    if not isinstance(data, Mapping):
        problems.add("", "expected a mapping with 'rules' (and optionally 'sectors')")
        raise RuleError(problems.items, file)
    unknown_keys(data, _TOP_KEYS, "", problems)
    sectors = _parse_sectors(data.get("sectors"), problems)
    rules = _parse_rule_list(data.get("rules"), problems)
    if problems.items:
        raise RuleError(problems.items, file)
    return RuleSet(rules=tuple(rules), sectors=sectors)


def _parse_sectors(raw: object, problems: Problems) -> dict[DisputeType, DisputeType]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.add("sectors", "expected a mapping of dispute type to committee sector")
        return {}
    sectors: dict[DisputeType, DisputeType] = {}
    for raw_type, raw_sector in raw.items():
        key = f"sectors.{raw_type}"
        dispute_type = enum_value(DisputeType, raw_type, key, "dispute type", problems)
        sector = enum_value(DisputeType, raw_sector, key, "sector (a dispute type)", problems)
        if dispute_type is not None and sector is not None:
            sectors[dispute_type] = sector
    return sectors


def _parse_rule_list(raw: object, problems: Problems) -> list[Rule]:
    if not isinstance(raw, list) or not raw:
        problems.add("rules", "expected a non-empty list of rules")
        return []
    rules = [_parse_rule(raw_rule, f"rules[{i}]", problems) for i, raw_rule in enumerate(raw)]
    # Both checks read the raw data, so they still report when a rule is broken in other ways.
    check_unique(raw, "rules", "id", "rule id", problems)
    _check_catch_all(raw, problems)
    return [rule for rule in rules if rule is not None]


def _is_catch_all(raw_rule: object) -> bool:
    return isinstance(raw_rule, Mapping) and raw_rule.get("conditions") in (None, {})


def _check_catch_all(raw: list[Any], problems: Problems) -> None:
    """One catch-all, at the end: every case gets a decision and no rule is unreachable."""
    for index, raw_rule in enumerate(raw[:-1]):
        if _is_catch_all(raw_rule):
            problems.add(
                f"rules[{index}].conditions",
                "this rule has no conditions, so the rules after it can never match; "
                "only the last rule may be a catch-all",
            )
    if not _is_catch_all(raw[-1]):
        problems.add(
            f"rules[{len(raw) - 1}].conditions",
            "the last rule must be a catch-all (no conditions) so every case gets a decision",
        )


def _parse_rule(raw: object, key: str, problems: Problems) -> Rule | None:
    if not isinstance(raw, Mapping):
        problems.add(key, "expected a mapping with id, description, conditions, action")
        return None
    before = len(problems.items)
    unknown_keys(raw, _RULE_KEYS, key, problems)
    rule_id = _parse_id(raw.get("id"), f"{key}.id", problems)
    description = _parse_description(raw.get("description"), f"{key}.description", problems)
    conditions = _parse_conditions(raw.get("conditions"), f"{key}.conditions", problems)
    action = _parse_action(raw.get("action"), f"{key}.action", problems)
    if len(problems.items) > before or rule_id is None or description is None or action is None:
        return None
    return Rule(id=rule_id, description=description, conditions=conditions, action=action)


def _parse_id(raw: object, key: str, problems: Problems) -> str | None:
    if not isinstance(raw, str) or not _KEBAB.match(raw):
        problems.add(key, f"rule id must be kebab-case text like 'group-dispute', got {raw!r}")
        return None
    return raw


def _parse_description(raw: object, key: str, problems: Problems) -> str | None:
    return text(raw, key, "a description is required: coordinators read it to understand the rule", problems)


def _parse_action(raw: object, key: str, problems: Problems) -> Action | None:
    if not isinstance(raw, Mapping):
        problems.add(key, "expected a mapping with route, risk and optionally report")
        return None
    unknown_keys(raw, _ACTION_KEYS, key, problems)
    route = enum_value(Route, raw.get("route"), f"{key}.route", "route", problems)
    risk = enum_value(RiskColour, raw.get("risk"), f"{key}.risk", "risk colour", problems)
    report = flag(raw.get("report", False), f"{key}.report", problems)
    if report is None or route is None or risk is None:
        return None
    return Action(route=route, risk=risk, report=report)


def _parse_conditions(raw: object, key: str, problems: Problems) -> Conditions:
    if raw is None:
        return Conditions()  # no conditions: the catch-all
    if not isinstance(raw, Mapping):
        problems.add(key, "expected a mapping of conditions (or none, for the catch-all)")
        return Conditions()
    unknown_keys(raw, _CONDITION_KEYS, key, problems)
    conditions = Conditions(
        dispute_types=enum_set(DisputeType, raw, "dispute_types", key, "dispute type", problems),
        amount_at_least=_amount(raw, "amount_at_least", key, problems),
        amount_below=_amount(raw, "amount_below", key, problems),
        people_at_least=_count(raw, "people_at_least", key, problems),
        people_below=_count(raw, "people_below", key, problems),
        flags_any=enum_set(Flag, raw, "flags_any", key, "flag", problems),
        flags_all=enum_set(Flag, raw, "flags_all", key, "flag", problems),
        sources=enum_set(Source, raw, "sources", key, "source", problems),
        requested_tier=_optional_enum(Tier, raw, "requested_tier", key, "tier", problems),
        location_kind=_location_kind(raw, key, problems),
    )
    _check_range(conditions.amount_at_least, conditions.amount_below, "amount", key, problems)
    _check_range(conditions.people_at_least, conditions.people_below, "people", key, problems)
    return conditions


def _optional_enum(
    enum: type[E], raw: Mapping[str, Any], name: str, prefix: str, what: str, problems: Problems
) -> E | None:
    if name not in raw:
        return None
    return enum_value(enum, raw[name], f"{prefix}.{name}", what, problems)


def _location_kind(raw: Mapping[str, Any], prefix: str, problems: Problems) -> UnitKind | None:
    if "location_kind" not in raw:
        return None
    key = f"{prefix}.location_kind"
    value = raw["location_kind"]
    if value not in {k.value for k in LOCATION_KINDS}:
        allowed = ", ".join(sorted(k.value for k in LOCATION_KINDS))
        problems.add(key, f"unknown location kind {value!r}; allowed: {allowed}")
        return None
    return UnitKind(value)


def _amount(raw: Mapping[str, Any], name: str, prefix: str, problems: Problems) -> Decimal | None:
    if name not in raw:
        return None
    key = f"{prefix}.{name}"
    value = raw[name]
    amount = _to_decimal(value)
    if amount is None:
        problems.add(key, f"expected an amount in yuan (a number), got {value!r}")
        return None
    if amount < 0:
        problems.add(key, f"must not be negative, got {value!r}")
        return None
    return amount


def _to_decimal(value: object) -> Decimal | None:
    # bool is an int subclass: "amount_below: yes" is a typo, not 1 yuan.
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))  # via str, so 0.1 stays 0.1 rather than its binary expansion
    if isinstance(value, str):
        try:
            amount = Decimal(value.strip().replace("_", ""))
        except InvalidOperation:
            return None
        return amount if amount.is_finite() else None
    return None


def _count(raw: Mapping[str, Any], name: str, prefix: str, problems: Problems) -> int | None:
    if name not in raw:
        return None
    key = f"{prefix}.{name}"
    value = raw[name]
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(key, f"expected a whole number of people, got {value!r}")
        return None
    if value < 0:
        problems.add(key, f"must not be negative, got {value!r}")
        return None
    return value


def _check_range(
    low: Decimal | int | None, high: Decimal | int | None, what: str, prefix: str, problems: Problems
) -> None:
    if low is not None and high is not None and low >= high:
        problems.add(
            f"{prefix}.{what}_at_least",
            f"{what}_at_least ({low}) must be below {what}_below ({high}), or the rule never matches",
        )
