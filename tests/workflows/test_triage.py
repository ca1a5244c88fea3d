"""Graded triage: the default rules, first-match order, routing fallbacks and rule validation.

No database: org trees are built by hand and the default rules are parsed from config/triage.yaml.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from workflows.org import Channel, OrgTree, Tier, Unit, UnitKind
from workflows.triage import (
    Action,
    Conditions,
    Route,
    Rule,
    RuleError,
    RuleSet,
    TriageDecision,
    TriageFacts,
    UnknownLocation,
    parse_rules,
    triage,
)
from workflows.triage_reasons import REPORT_REASON
from workflows.vocab import DisputeType, Flag, RiskColour, Source

REPO = Path(__file__).resolve().parents[2]
TRIAGE_YAML = REPO / "config" / "triage.yaml"

CITY = "320583"
YUSHAN = "320583100"  # 玉山镇: has no committees of its own
ZHANGPU = "320583106"  # 张浦镇: has its own medical committee
DASHI = "320583106005"  # 大市社区 (张浦镇)
WULIAN = "320583100210"  # 五联村 (玉山镇)
DIRECT = "320583999001"  # a community handled directly by the city, under no town


def _unit(code: str, name: str, kind: UnitKind, tier: Tier, parent: str | None, **extra: Any) -> Unit:
    return Unit(code, name, kind, tier, Channel.people, parent_code=parent, **extra)


def kunshan(*, with_committees: bool = True) -> OrgTree:
    units = [
        _unit(CITY, "昆山市矛调中心", UnitKind.city_centre, Tier.city, None),
        _unit(YUSHAN, "玉山镇", UnitKind.town_centre, Tier.town, CITY),
        _unit(ZHANGPU, "张浦镇", UnitKind.town_centre, Tier.town, CITY),
        _unit(DASHI, "大市社区", UnitKind.village_station, Tier.village, ZHANGPU),
        _unit(WULIAN, "五联村", UnitKind.village_station, Tier.village, YUSHAN),
        _unit(DIRECT, "直属社区", UnitKind.village_station, Tier.village, CITY),
        Unit("PS-1", "玉山派出所", UnitKind.agency, Tier.town, Channel.administrative, parent_code=YUSHAN),
    ]
    if with_committees:
        units += [
            _unit("SC-MEDICAL", "市医调委", UnitKind.sectoral_committee, Tier.city, CITY, sector="MEDICAL"),
            _unit(
                "SC-ZP-MEDICAL",
                "张浦医调委",
                UnitKind.sectoral_committee,
                Tier.town,
                ZHANGPU,
                sector="MEDICAL",
            ),
            _unit(
                "SC-TRAFFIC", "交调委", UnitKind.sectoral_committee, Tier.city, CITY, sector="ROAD_TRAFFIC"
            ),
            _unit(
                "SC-LABOUR", "劳动调委会", UnitKind.sectoral_committee, Tier.city, CITY, sector="LABOUR_OTHER"
            ),
            _unit(
                "SC-PROPERTY",
                "物业调委会",
                UnitKind.sectoral_committee,
                Tier.city,
                CITY,
                sector="PROPERTY_MGMT",
            ),
        ]
    return OrgTree.of(units)


ORG = kunshan()


def load_default_rules() -> RuleSet:
    return parse_rules(yaml.safe_load(TRIAGE_YAML.read_text(encoding="utf-8")), str(TRIAGE_YAML))


DEFAULTS = load_default_rules()


def facts(
    dispute_type: DisputeType = DisputeType.NEIGHBOUR,
    amount: str | None = "3000",
    people: int = 2,
    location: str = WULIAN,
    source: Source = Source.application,
    flags: frozenset[Flag] = frozenset(),
    requested_tier: Tier | None = None,
) -> TriageFacts:
    return TriageFacts(
        dispute_type=dispute_type,
        amount_yuan=Decimal(amount) if amount is not None else None,
        people_involved=people,
        location_code=location,
        source=source,
        flags=flags,
        requested_tier=requested_tier,
    )


# ----------------------------------------------------------------------------- default rules


def test_default_rule_ids_in_order() -> None:
    assert [r.id for r in DEFAULTS.rules] == [
        "criminal-risk",
        "group-dispute-flagged",
        "group-dispute-size",
        "repeat-petition",
        "very-large-amount",
        "cross-area",
        "wage-arrears-many-workers",
        "specialist-sectoral",
        "labour-sectoral",
        "land-and-homestead",
        "larger-amount",
        "several-people",
        "referred-with-amount",
        "party-requests-town",
        "party-requests-city",
        "simple-local",
        "manual-dispatch",
    ]
    assert DEFAULTS.sector_for(DisputeType.LABOUR_WAGE_ARREARS) == DisputeType.LABOUR_OTHER


# Each case is the smallest change from a simple neighbour dispute in 五联村 that should trip the
# rule; ``expected`` lists fragments the explanation must contain (the matched facts, with numbers).
DEFAULT_CASES: list[tuple[str, TriageFacts, str, Tier, RiskColour, list[str]]] = [
    (
        "criminal-risk",
        facts(flags=frozenset({Flag.criminal_risk})),
        CITY,
        Tier.city,
        RiskColour.red,
        ["标记: 民转刑风险", REPORT_REASON],
    ),
    (
        "group-dispute-flagged",
        facts(flags=frozenset({Flag.group_dispute})),
        CITY,
        Tier.city,
        RiskColour.orange,
        ["标记: 群体性纠纷"],
    ),
    ("group-dispute-size", facts(people=30), CITY, Tier.city, RiskColour.orange, ["涉及人数 30 人 ≥ 30 人"]),
    (
        "repeat-petition",
        facts(flags=frozenset({Flag.repeat_petition})),
        CITY,
        Tier.city,
        RiskColour.orange,
        ["标记: 重复信访"],
    ),
    (
        "very-large-amount",
        facts(amount="1500000.00"),
        CITY,
        Tier.city,
        RiskColour.orange,
        ["争议金额 1500000 元 ≥ 1000000 元"],
    ),
    (
        "cross-area",
        facts(flags=frozenset({Flag.cross_area})),
        YUSHAN,
        Tier.town,
        RiskColour.yellow,
        ["标记: 跨区域", "玉山镇(320583100)"],
    ),
    (
        "wage-arrears-many-workers",
        facts(DisputeType.LABOUR_WAGE_ARREARS, people=12),
        YUSHAN,
        Tier.town,
        RiskColour.orange,
        ["纠纷类型: 拖欠农民工工资", "涉及人数 12 人 ≥ 10 人"],
    ),
    (
        "specialist-sectoral",
        facts(DisputeType.ROAD_TRAFFIC),
        "SC-TRAFFIC",
        Tier.city,
        RiskColour.yellow,
        ["纠纷类型: 道路交通事故", "全市行业性专业性调委会: 交调委(SC-TRAFFIC)"],
    ),
    (
        "labour-sectoral",
        facts(DisputeType.LABOUR_WAGE_ARREARS, people=3),
        "SC-LABOUR",
        Tier.city,
        RiskColour.yellow,
        ["纠纷类型: 拖欠农民工工资", "拖欠农民工工资纠纷由其他劳动争议类调委会受理"],
    ),
    (
        "land-and-homestead",
        facts(DisputeType.HOUSING_HOMESTEAD),
        YUSHAN,
        Tier.town,
        RiskColour.yellow,
        ["纠纷类型: 房屋宅基地"],
    ),
    (
        "larger-amount",
        facts(amount="80000"),
        YUSHAN,
        Tier.town,
        RiskColour.yellow,
        ["争议金额 80000 元 ≥ 50000 元"],
    ),
    ("several-people", facts(people=6), YUSHAN, Tier.town, RiskColour.yellow, ["涉及人数 6 人 ≥ 5 人"]),
    (
        "referred-with-amount",
        facts(DisputeType.CONSUMER, amount="30000", source=Source.police),
        YUSHAN,
        Tier.town,
        RiskColour.yellow,
        ["来源: 公安移送", "争议金额 30000 元 ≥ 20000 元"],
    ),
    (
        "party-requests-town",
        facts(requested_tier=Tier.town),
        YUSHAN,
        Tier.town,
        RiskColour.green,
        ["当事人请求由镇级调解组织处理"],
    ),
    (
        "party-requests-city",
        facts(requested_tier=Tier.city),
        YUSHAN,
        Tier.town,
        RiskColour.green,
        ["当事人请求由市级调解组织处理", "人工分派"],
    ),
    (
        "simple-local",
        facts(),
        WULIAN,
        Tier.village,
        RiskColour.green,
        ["纠纷类型: 邻里", "争议金额 3000 元 < 50000 元", "涉及人数 2 人 < 5 人"],
    ),
    (
        "manual-dispatch",
        facts(DisputeType.CONSUMER, amount="500"),
        YUSHAN,
        Tier.town,
        RiskColour.green,
        ["兜底规则", "人工分派"],
    ),
]


@pytest.mark.parametrize(
    ("rule_id", "case", "unit", "tier", "risk", "expected"), DEFAULT_CASES, ids=[c[0] for c in DEFAULT_CASES]
)
def test_each_default_rule_fires_and_explains(
    rule_id: str, case: TriageFacts, unit: str, tier: Tier, risk: RiskColour, expected: list[str]
) -> None:
    decision = triage(case, DEFAULTS, ORG)
    assert decision.rule == rule_id
    assert decision.unit_code == unit
    assert decision.tier == tier
    assert decision.risk == risk
    explanation = " | ".join(decision.reasons)
    for fragment in expected:
        assert fragment in explanation
    assert decision.report == (rule_id == "criminal-risk")
    assert decision.state == ("registered" if decision.route == Route.manual else "assigned")


def test_every_default_rule_is_covered_by_a_case() -> None:
    assert [c[0] for c in DEFAULT_CASES] == [r.id for r in DEFAULTS.rules]


def test_simple_dispute_without_amount_still_goes_to_the_village() -> None:
    decision = triage(facts(amount=None), DEFAULTS, ORG)
    assert decision.rule == "simple-local"
    assert decision.unit_code == WULIAN
    assert "未涉及争议金额(视为低于 50000 元)" in decision.reasons


def test_no_amount_never_counts_as_large() -> None:
    # A referred consumer dispute with no stated amount must not hit the amount-based referral rule.
    decision = triage(facts(DisputeType.CONSUMER, amount=None, source=Source.court), DEFAULTS, ORG)
    assert decision.rule == "manual-dispatch"


@pytest.mark.parametrize(
    ("people", "rule_id"),
    [(4, "simple-local"), (5, "several-people"), (29, "several-people"), (30, "group-dispute-size")],
)
def test_people_thresholds_are_inclusive_below_and_exclusive_above(people: int, rule_id: str) -> None:
    assert triage(facts(people=people), DEFAULTS, ORG).rule == rule_id


@pytest.mark.parametrize(
    ("amount", "rule_id"),
    [
        ("49999.99", "simple-local"),
        ("50000", "larger-amount"),
        ("999999", "larger-amount"),
        ("1000000", "very-large-amount"),
    ],
)
def test_amount_thresholds(amount: str, rule_id: str) -> None:
    assert triage(facts(amount=amount), DEFAULTS, ORG).rule == rule_id


# ----------------------------------------------------------------------------- first match


def test_first_matching_rule_wins() -> None:
    # Criminal risk AND a group AND a big sum: the criminal-risk rule is first, so it decides,
    # and the explanation names only that rule's facts.
    decision = triage(
        facts(amount="2000000", people=40, flags=frozenset({Flag.criminal_risk, Flag.group_dispute})),
        DEFAULTS,
        ORG,
    )
    assert decision.rule == "criminal-risk"
    assert decision.report is True
    assert not any("争议金额" in r or "涉及人数" in r for r in decision.reasons)


def test_reordering_rules_changes_the_decision() -> None:
    town_first = Rule(
        "big-to-town",
        "大额到镇",
        Conditions(amount_at_least=Decimal(100)),
        Action(Route.town, RiskColour.yellow),
    )
    city_first = Rule(
        "big-to-city",
        "大额到市",
        Conditions(amount_at_least=Decimal(100)),
        Action(Route.city, RiskColour.orange),
    )
    catch_all = Rule("rest", "其余", Conditions(), Action(Route.manual, RiskColour.green))
    case = facts(amount="500")
    assert triage(case, RuleSet((town_first, city_first, catch_all)), ORG).unit_code == YUSHAN
    assert triage(case, RuleSet((city_first, town_first, catch_all)), ORG).unit_code == CITY


def test_wage_arrears_of_many_workers_beats_the_labour_committee() -> None:
    assert (
        triage(facts(DisputeType.LABOUR_WAGE_ARREARS, people=10), DEFAULTS, ORG).rule
        == "wage-arrears-many-workers"
    )
    assert triage(facts(DisputeType.LABOUR_WAGE_ARREARS, people=9), DEFAULTS, ORG).rule == "labour-sectoral"


# ----------------------------------------------------------------------------- routes and fallbacks


def test_sectoral_prefers_the_towns_own_committee() -> None:
    decision = triage(facts(DisputeType.MEDICAL, location=DASHI), DEFAULTS, ORG)
    assert decision.unit_code == "SC-ZP-MEDICAL"
    assert decision.tier == Tier.town
    assert decision.hub_code == ZHANGPU
    assert "分派至本镇行业性专业性调委会: 张浦医调委(SC-ZP-MEDICAL)" in decision.reasons


def test_sectoral_without_local_committee_uses_the_city_wide_one() -> None:
    decision = triage(facts(DisputeType.MEDICAL, location=WULIAN), DEFAULTS, ORG)
    assert decision.unit_code == "SC-MEDICAL"
    assert decision.tier == Tier.city
    assert decision.hub_code == YUSHAN
    assert "分派至全市行业性专业性调委会: 市医调委(SC-MEDICAL)" in decision.reasons


def test_sectoral_without_any_committee_falls_back_to_the_town_centre() -> None:
    decision = triage(
        facts(DisputeType.PROPERTY_MGMT, location=DASHI), DEFAULTS, kunshan(with_committees=False)
    )
    assert decision.rule == "specialist-sectoral"
    assert decision.route == Route.sectoral
    assert decision.unit_code == ZHANGPU
    assert decision.tier == Tier.town
    assert decision.state == "assigned"
    assert "无物业类行业性专业性调委会, 转由张浦镇(320583106)处理" in decision.reasons


def test_town_centre_location_with_station_route_goes_to_the_town_centre() -> None:
    decision = triage(facts(location=ZHANGPU), DEFAULTS, ORG)
    assert decision.rule == "simple-local"
    assert decision.route == Route.station
    assert decision.unit_code == ZHANGPU
    assert decision.tier == Tier.town
    assert any("未指明村(社区)" in r for r in decision.reasons)


def test_manual_route_registers_the_case_at_the_hub() -> None:
    decision = triage(facts(DisputeType.E_COMMERCE, location=DASHI), DEFAULTS, ORG)
    assert decision.route == Route.manual
    assert decision.state == "registered"
    assert decision.unit_code == decision.hub_code == ZHANGPU
    assert decision.channel == Channel.people


def test_location_directly_under_the_city_uses_the_city_centre_as_hub() -> None:
    manual = triage(facts(DisputeType.OTHER, location=DIRECT), DEFAULTS, ORG)
    assert manual.hub_code == manual.unit_code == CITY
    assert manual.state == "registered"
    town = triage(facts(amount="60000", location=DIRECT), DEFAULTS, ORG)
    assert town.rule == "larger-amount"
    assert town.unit_code == CITY
    assert any("不属任何镇" in r for r in town.reasons)
    station = triage(facts(location=DIRECT), DEFAULTS, ORG)
    assert (station.unit_code, station.hub_code) == (DIRECT, CITY)


def test_location_kind_condition() -> None:
    rules = RuleSet(
        (
            Rule(
                "village-only",
                "仅村级",
                Conditions(location_kind=UnitKind.village_station),
                Action(Route.station, RiskColour.green),
            ),
            Rule("rest", "其余", Conditions(), Action(Route.manual, RiskColour.green)),
        )
    )
    village = triage(facts(location=DASHI), rules, ORG)
    assert village.rule == "village-only"
    assert "发生地为村(社区): 大市社区" in village.reasons
    assert triage(facts(location=ZHANGPU), rules, ORG).rule == "rest"


def test_flags_all_needs_every_flag() -> None:
    both = frozenset({Flag.cross_area, Flag.repeat_petition})
    rules = RuleSet(
        (
            Rule("both", "两者", Conditions(flags_all=both), Action(Route.city, RiskColour.orange)),
            Rule("rest", "其余", Conditions(), Action(Route.manual, RiskColour.green)),
        )
    )
    assert triage(facts(flags=frozenset({Flag.cross_area})), rules, ORG).rule == "rest"
    decision = triage(facts(flags=both | {Flag.criminal_risk}), rules, ORG)
    assert decision.rule == "both"
    assert "标记: 跨区域、重复信访" in decision.reasons


@pytest.mark.parametrize("code", ["320583999999", "PS-1", "SC-MEDICAL", CITY])
def test_unknown_or_unlocatable_location_raises(code: str) -> None:
    with pytest.raises(UnknownLocation, match=code):
        triage(facts(location=code), DEFAULTS, ORG)


def test_negative_facts_are_rejected() -> None:
    with pytest.raises(ValueError, match="amount_yuan"):
        facts(amount="-1")
    with pytest.raises(ValueError, match="people_involved"):
        facts(people=-1)


def test_decision_round_trips_through_json() -> None:
    decision = triage(facts(flags=frozenset({Flag.criminal_risk})), DEFAULTS, ORG)
    stored = json.loads(json.dumps(decision.as_dict(), ensure_ascii=False))
    assert stored["rule"] == "criminal-risk"
    assert stored["tier"] == "city"
    assert stored["report"] is True
    assert TriageDecision.from_dict(stored) == decision


# ----------------------------------------------------------------------------- parse_rules


def _raw_defaults() -> dict[str, Any]:
    data = yaml.safe_load(TRIAGE_YAML.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def _problems(data: object) -> list[tuple[str, str]]:
    with pytest.raises(RuleError) as caught:
        parse_rules(data, "triage.yaml")
    assert caught.value.file == "triage.yaml"
    return caught.value.problems


def _set(data: dict[str, Any], path: list[str | int], value: object) -> None:
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


# (what is wrong, where to put it, the value, the key path reported, a fragment of the message)
BAD_VALUES: list[tuple[str, list[str | int], object, str, str]] = [
    ("unknown top-level key", ["rulez"], [], "rulez", "unknown key"),
    ("unknown rule key", ["rules", 0, "priority"], 1, "rules[0].priority", "unknown key"),
    (
        "unknown condition key",
        ["rules", 4, "conditions", "amount_above"],
        5,
        "rules[4].conditions.amount_above",
        "allowed: dispute_types, amount_at_least",
    ),
    ("unknown action key", ["rules", 0, "action", "tier"], "city", "rules[0].action.tier", "unknown key"),
    (
        "unknown dispute type",
        ["rules", 7, "conditions", "dispute_types", 1],
        "TRAFFIC",
        "rules[7].conditions.dispute_types[1]",
        "allowed: MARRIAGE_FAMILY",
    ),
    (
        "unknown flag",
        ["rules", 0, "conditions", "flags_any", 0],
        "crime",
        "rules[0].conditions.flags_any[0]",
        "allowed: cross_area",
    ),
    (
        "unknown source",
        ["rules", 12, "conditions", "sources", 0],
        "cops",
        "rules[12].conditions.sources[0]",
        "allowed: self_initiated",
    ),
    (
        "unknown tier",
        ["rules", 13, "conditions", "requested_tier"],
        "province",
        "rules[13].conditions.requested_tier",
        "allowed: village, town, city",
    ),
    (
        "unlocatable location kind",
        ["rules", 15, "conditions", "location_kind"],
        "court",
        "rules[15].conditions.location_kind",
        "allowed: town_centre, village_station",
    ),
    (
        "unknown route",
        ["rules", 0, "action", "route"],
        "province",
        "rules[0].action.route",
        "allowed: station, town, city, sectoral, manual",
    ),
    (
        "unknown risk colour",
        ["rules", 0, "action", "risk"],
        "purple",
        "rules[0].action.risk",
        "allowed: green, yellow, orange, red",
    ),
    ("missing risk", ["rules", 0, "action", "risk"], None, "rules[0].action.risk", "unknown risk colour"),
    (
        "report not a boolean",
        ["rules", 0, "action", "report"],
        "yes",
        "rules[0].action.report",
        "true or false",
    ),
    (
        "negative amount",
        ["rules", 10, "conditions", "amount_at_least"],
        -1,
        "rules[10].conditions.amount_at_least",
        "negative",
    ),
    (
        "amount not a number",
        ["rules", 10, "conditions", "amount_at_least"],
        "lots",
        "rules[10].conditions.amount_at_least",
        "amount in yuan",
    ),
    (
        "amount a boolean",
        ["rules", 15, "conditions", "amount_below"],
        True,
        "rules[15].conditions.amount_below",
        "amount in yuan",
    ),
    (
        "negative people",
        ["rules", 11, "conditions", "people_at_least"],
        -5,
        "rules[11].conditions.people_at_least",
        "negative",
    ),
    (
        "fractional people",
        ["rules", 11, "conditions", "people_at_least"],
        2.5,
        "rules[11].conditions.people_at_least",
        "whole number",
    ),
    (
        "bare string not a list",
        ["rules", 8, "conditions", "dispute_types"],
        "LABOUR_OTHER",
        "rules[8].conditions.dispute_types",
        "non-empty list",
    ),
    (
        "empty list",
        ["rules", 0, "conditions", "flags_any"],
        [],
        "rules[0].conditions.flags_any",
        "non-empty list",
    ),
    ("id not kebab-case", ["rules", 2, "id"], "Group_Size", "rules[2].id", "kebab-case"),
    (
        "missing description",
        ["rules", 2, "description"],
        "  ",
        "rules[2].description",
        "description is required",
    ),
    ("bad sector mapping key", ["sectors", "LABOR"], "LABOUR_OTHER", "sectors.LABOR", "unknown dispute type"),
    ("bad sector mapping value", ["sectors", "MEDICAL"], "DOCTORS", "sectors.MEDICAL", "unknown sector"),
]


@pytest.mark.parametrize(
    ("path", "value", "key", "message"), [c[1:] for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES]
)
def test_parse_rules_rejects_bad_values_with_key_path(
    path: list[str | int], value: object, key: str, message: str
) -> None:
    data = _raw_defaults()
    _set(data, path, value)
    problems = _problems(data)
    assert any(k == key and message in m for k, m in problems), problems


def test_parse_rules_rejects_inverted_range() -> None:
    data = _raw_defaults()
    data["rules"][15]["conditions"].update(amount_at_least=60000, amount_below=50000)
    data["rules"][15]["conditions"].update(people_at_least=5, people_below=5)
    problems = dict(_problems(data))
    assert "must be below amount_below" in problems["rules[15].conditions.amount_at_least"]
    assert "must be below people_below" in problems["rules[15].conditions.people_at_least"]


def test_parse_rules_rejects_duplicate_ids() -> None:
    data = _raw_defaults()
    data["rules"][3]["id"] = "criminal-risk"
    assert ("rules[3].id", "duplicate rule id 'criminal-risk' (first at rules[0])") in _problems(data)


def test_parse_rules_requires_a_final_catch_all() -> None:
    data = _raw_defaults()
    data["rules"].pop()
    problems = _problems(data)
    assert [k for k, _ in problems] == [f"rules[{len(data['rules']) - 1}].conditions"]
    assert "catch-all" in problems[0][1]


def test_parse_rules_rejects_a_catch_all_that_hides_later_rules() -> None:
    data = _raw_defaults()
    data["rules"][5]["conditions"] = {}
    problems = _problems(data)
    assert [k for k, _ in problems] == ["rules[5].conditions"]
    assert "can never match" in problems[0][1]


@pytest.mark.parametrize(
    ("data", "key"),
    [([], ""), ("rules", ""), ({}, "rules"), ({"rules": []}, "rules"), ({"rules": ["oops"]}, "rules[0]")],
)
def test_parse_rules_rejects_wrong_shapes(data: object, key: str) -> None:
    assert key in [k for k, _ in _problems(data)]


def test_parse_rules_reports_every_problem_at_once() -> None:
    data = _raw_defaults()
    data["rules"][0]["action"]["risk"] = "purple"
    data["rules"][1]["conditions"]["flags_any"] = ["nope"]
    data["rules"][2]["id"] = "criminal-risk"
    keys = {k for k, _ in _problems(data)}
    assert {"rules[0].action.risk", "rules[1].conditions.flags_any[0]", "rules[2].id"} <= keys


def test_parse_rules_accepts_amounts_as_text() -> None:
    data = _raw_defaults()
    data["rules"][4]["conditions"]["amount_at_least"] = "1_000_000.00"
    rules = parse_rules(data, "triage.yaml")
    assert rules.rules[4].conditions.amount_at_least == Decimal(1_000_000)


# ----------------------------------------------------------------------------- real configuration


@pytest.mark.skipif(
    importlib.util.find_spec("service.config.units") is None or not (REPO / "config" / "units").is_dir(),
    reason="the unit configuration loader is not there yet",
)
def test_default_rules_route_against_the_real_kunshan_units() -> None:
    from service.config.units import load_units

    org = load_units(REPO / "config" / "units")
    simple = triage(facts(location="320583106005"), DEFAULTS, org)
    assert (simple.unit_code, simple.hub_code, simple.tier) == ("320583106005", "320583106", Tier.village)
    medical = triage(facts(DisputeType.MEDICAL, location="320583100210"), DEFAULTS, org)
    assert medical.rule == "specialist-sectoral"
    assert org.get(medical.unit_code).sector == "MEDICAL"
    wages = triage(facts(DisputeType.LABOUR_WAGE_ARREARS, location="320583100210"), DEFAULTS, org)
    assert org.get(wages.unit_code).sector == "LABOUR_OTHER"
    risky = triage(facts(flags=frozenset({Flag.criminal_risk}), location="320583100210"), DEFAULTS, org)
    assert (risky.unit_code, risky.report) == ("320583", True)


def test_service_loader_reads_the_defaults_and_names_file_and_key(tmp_path: Path) -> None:
    # The one service import here: load_triage is a thin wrapper, checked next to the rules it loads.
    from service.config.loading import ConfigError, ConfigProblem
    from service.config.triage import load_triage

    assert load_triage(TRIAGE_YAML) == DEFAULTS

    data = _raw_defaults()
    data["rules"][3]["conditions"] = {"amount_at_least": -1}
    bad = tmp_path / "triage.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_triage(bad)
    assert caught.value.problems == [
        ConfigProblem(str(bad), "rules[3].conditions.amount_at_least", "must not be negative, got -1")
    ]
