"""OrgTree lookups: scope, handling ancestors, towns, escalation and committees.

Small hand-built trees pin each rule down; the real Kunshan tree (config/units) shows the same
rules hold for the data the service runs on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config.units import load_units
from workflows.org import Channel, OrgTree, Tier, Unit, UnitKind

UNITS_DIR = Path(__file__).resolve().parents[2] / "config" / "units"

CITY = "320583"
HUAQIAO = "320583104"  # 花桥镇
ZHANGPU = "320583106"  # 张浦镇
KAIFAQU = "320583400"  # 昆山开发区
DASHI = "320583106005"  # 大市社区 (张浦镇)
HUAXI = "320583104001"  # 花溪社区 (花桥镇)
PENGLANG = "320583104010"  # 蓬朗社区: legally 花桥镇, handled by 开发区
PSB = "PSB-320583"
PS_ZHANGPU = "PS-320583106"


def people(
    code: str, name: str, kind: UnitKind, tier: Tier, parent: str | None, sector: str | None = None
) -> Unit:
    return Unit(code, name, kind, tier, Channel.people, parent_code=parent, sector=sector)


def zhangpu_medical_committee() -> Unit:
    """A town-level 医调委 inside 张浦镇."""
    return people("SC-MED-ZP", "张浦镇医调委", UnitKind.sectoral_committee, Tier.town, ZHANGPU, "MEDICAL")


def small_tree(*extra: Unit) -> OrgTree:
    return OrgTree.of(
        [
            people(CITY, "昆山市矛调中心", UnitKind.city_centre, Tier.city, None),
            people(HUAQIAO, "花桥镇", UnitKind.town_centre, Tier.town, CITY),
            people(ZHANGPU, "张浦镇", UnitKind.town_centre, Tier.town, CITY),
            people(KAIFAQU, "昆山开发区", UnitKind.town_centre, Tier.town, CITY),
            people(DASHI, "大市社区", UnitKind.village_station, Tier.village, ZHANGPU),
            people(HUAXI, "花溪社区", UnitKind.village_station, Tier.village, HUAQIAO),
            Unit(
                PENGLANG,
                "蓬朗社区",
                UnitKind.village_station,
                Tier.village,
                Channel.people,
                parent_code=HUAQIAO,
                handling_parent_code=KAIFAQU,
            ),
            people("SC-MEDICAL", "医调委", UnitKind.sectoral_committee, Tier.city, CITY, "MEDICAL"),
            Unit(PSB, "昆山市公安局", UnitKind.agency, Tier.city, Channel.administrative, parent_code=CITY),
            Unit(
                PS_ZHANGPU, "张浦派出所", UnitKind.agency, Tier.town, Channel.administrative, parent_code=PSB
            ),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def real_tree() -> OrgTree:
    return load_units(UNITS_DIR)


# --- hand-built trees -----------------------------------------------------------------------


def test_subtree_follows_the_handling_parent_not_the_legal_one() -> None:
    tree = small_tree()

    assert tree.subtree(HUAQIAO) == {HUAQIAO, HUAXI}
    assert tree.subtree(KAIFAQU) == {KAIFAQU, PENGLANG}
    assert tree.subtree(ZHANGPU) == {ZHANGPU, DASHI}
    assert tree.subtree(CITY) == set(tree.units)


def test_a_unit_is_named_by_its_code_and_an_unknown_code_has_no_name() -> None:
    tree = small_tree()

    assert tree.name_of(DASHI) == tree.get(DASHI).name
    assert tree.name_of("NO-SUCH-UNIT") is None and tree.name_of(None) is None


def test_subtree_of_a_leaf_is_just_the_leaf() -> None:
    assert small_tree().subtree(DASHI) == {DASHI}


def test_ancestors_climb_the_handling_chain_nearest_first() -> None:
    tree = small_tree()

    assert [u.code for u in tree.ancestors(PENGLANG)] == [KAIFAQU, CITY]
    assert [u.code for u in tree.ancestors(DASHI)] == [ZHANGPU, CITY]
    assert [u.code for u in tree.ancestors(PS_ZHANGPU)] == [PSB, CITY]
    assert tree.ancestors(CITY) == []


def test_town_of_a_village_is_its_handling_town() -> None:
    tree = small_tree()

    assert tree.town_of(DASHI) == tree.get(ZHANGPU)
    assert tree.town_of(PENGLANG) == tree.get(KAIFAQU)
    assert tree.town_of(ZHANGPU) == tree.get(ZHANGPU)


def test_town_of_units_outside_any_town_is_none() -> None:
    tree = small_tree()

    assert tree.town_of(CITY) is None
    assert tree.town_of(PS_ZHANGPU) is None  # police stations hang under the bureau
    assert tree.town_of("no-such-unit") is None


def test_escalation_climbs_village_to_town_to_city() -> None:
    tree = small_tree()

    assert tree.escalation_target(DASHI) == tree.get(ZHANGPU)
    assert tree.escalation_target(ZHANGPU) == tree.get(CITY)
    assert tree.escalation_target(CITY) is None


def test_escalation_of_a_handled_community_goes_to_its_handling_town() -> None:
    tree = small_tree()

    assert tree.escalation_target(PENGLANG) == tree.get(KAIFAQU)


def test_escalation_stays_within_the_channel() -> None:
    tree = small_tree()

    assert tree.escalation_target(PS_ZHANGPU) == tree.get(PSB)
    # The bureau's parent is the (people's) city centre: nothing above it in its own channel.
    assert tree.escalation_target(PSB) is None


def test_escalation_skips_a_handler_on_the_same_tier() -> None:
    tree = small_tree(zhangpu_medical_committee())

    # A town-level committee sits under its town centre but escalates past it to the city.
    assert tree.escalation_target("SC-MED-ZP") == tree.get(CITY)


def test_sectoral_committee_is_the_city_wide_one_when_the_town_has_none() -> None:
    tree = small_tree()

    assert tree.sectoral_committee("MEDICAL") == tree.get("SC-MEDICAL")
    assert tree.sectoral_committee("MEDICAL", near=DASHI) == tree.get("SC-MEDICAL")


def test_sectoral_committee_prefers_one_inside_the_town_of_the_dispute() -> None:
    local = zhangpu_medical_committee()
    tree = small_tree(local)

    assert tree.sectoral_committee("MEDICAL", near=DASHI) == local
    assert tree.sectoral_committee("MEDICAL", near=HUAXI) == tree.get("SC-MEDICAL")


def test_sectoral_committee_for_an_uncovered_sector_is_none() -> None:
    assert small_tree().sectoral_committee("ROAD_TRAFFIC") is None


def test_is_within_follows_handling_scope() -> None:
    tree = small_tree()

    assert tree.is_within(DASHI, ZHANGPU)
    assert tree.is_within(DASHI, CITY)
    assert tree.is_within(DASHI, DASHI)
    assert tree.is_within(PENGLANG, KAIFAQU)
    assert not tree.is_within(PENGLANG, HUAQIAO)
    assert not tree.is_within(DASHI, HUAQIAO)
    assert not tree.is_within(ZHANGPU, DASHI)


# --- the real Kunshan tree ------------------------------------------------------------------


def test_real_tree_village_escalates_to_its_town_then_the_city(real_tree: OrgTree) -> None:
    assert real_tree.escalation_target(DASHI) == real_tree.get(ZHANGPU)
    assert real_tree.escalation_target(ZHANGPU) == real_tree.get(CITY)
    assert real_tree.escalation_target(CITY) is None


def test_real_tree_police_stations_escalate_to_the_bureau(real_tree: OrgTree) -> None:
    stations = [u for u in real_tree.of_kind(UnitKind.agency) if u.code.startswith("PS-")]

    assert len(stations) == len(real_tree.of_kind(UnitKind.town_centre))
    for station in stations:
        assert real_tree.escalation_target(station.code) == real_tree.get(PSB)


def test_real_tree_penglang_is_handled_by_the_development_zone(real_tree: OrgTree) -> None:
    penglang = real_tree.get(PENGLANG)

    assert penglang.parent_code == HUAQIAO
    assert real_tree.town_of(PENGLANG) == real_tree.get(KAIFAQU)
    assert real_tree.escalation_target(PENGLANG) == real_tree.get(KAIFAQU)
    assert PENGLANG in real_tree.subtree(KAIFAQU)
    assert PENGLANG not in real_tree.subtree(HUAQIAO)
    assert not real_tree.is_within(PENGLANG, HUAQIAO)


def test_real_tree_jinxi_villages_belong_to_the_tourist_resort(real_tree: OrgTree) -> None:
    resort = real_tree.get("320583401")
    names = {u.name for u in real_tree.children(resort.code)}

    assert {"长云村", "干家甸社区", "袁甸村", "陆泾村", "朱浜村", "三联村"} <= names
    assert real_tree.town_of("320583401201") == resort


def test_real_tree_every_village_lies_within_a_town_and_the_city(real_tree: OrgTree) -> None:
    for village in real_tree.of_kind(UnitKind.village_station):
        town = real_tree.town_of(village.code)
        assert town is not None, village.code
        assert real_tree.is_within(village.code, town.code)
        assert real_tree.is_within(village.code, CITY)


@pytest.mark.parametrize(
    ("sector", "code"),
    [
        ("MEDICAL", "SC-MEDICAL"),
        ("ROAD_TRAFFIC", "SC-TRAFFIC"),
        ("LABOUR_OTHER", "SC-LABOUR"),
        ("PROPERTY_MGMT", "SC-PROPERTY"),
    ],
)
def test_real_tree_sectoral_committees_are_found_by_sector(
    real_tree: OrgTree, sector: str, code: str
) -> None:
    assert real_tree.sectoral_committee(sector) == real_tree.get(code)
    assert real_tree.sectoral_committee(sector, near=DASHI) == real_tree.get(code)


def test_real_tree_court_desk_sits_under_the_court(real_tree: OrgTree) -> None:
    desk = real_tree.court_desk()

    assert desk is not None and desk.code == "COURT-320583-DESK"
    assert real_tree.escalation_target(desk.code) is None  # the court is on the same (city) tier
    assert real_tree.is_within(desk.code, "COURT-320583")
