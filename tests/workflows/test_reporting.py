"""Who receives a report of a risk of crime, who answers for it, and when it is overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.config.units import load_units
from workflows.org import Channel, OrgTree, Tier, Unit, UnitKind
from workflows.reporting import Addressee, ack_due_at, is_overdue, police_for, recipients, supervisor_of

ORG: OrgTree = load_units(Path(__file__).resolve().parents[2] / "config" / "units")
DASHI, PENGLANG, ZHANGPU, CITY = "320583106005", "320583104010", "320583106", "320583"
AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def codes(location: str, *, mass_incident: bool = False) -> list[tuple[str, Addressee]]:
    return [(r.unit.code, r.addressee) for r in recipients(ORG, location, mass_incident=mass_incident)]


def test_a_village_dispute_is_reported_to_its_towns_police_station_and_justice_office() -> None:
    assert codes(DASHI) == [("PS-320583106", Addressee.police), (ZHANGPU, Addressee.justice)]


def test_a_possible_mass_incident_also_goes_to_the_city_centre_standing_in_for_the_government() -> None:
    assert codes(DASHI, mass_incident=True)[-1] == (CITY, Addressee.government)


def test_a_place_follows_its_handling_town_not_its_legal_one() -> None:
    # 蓬朗 is legally 花桥镇's but handled by 开发区: its police station and centre are 开发区's.
    assert codes(PENGLANG) == [("PS-320583400", Addressee.police), ("320583400", Addressee.justice)]


def test_a_place_under_no_town_goes_to_the_bureau_and_the_city_centre_once() -> None:
    assert codes(CITY, mass_incident=True) == [("PSB-320583", Addressee.police), (CITY, Addressee.justice)]


def test_a_town_without_its_own_station_falls_back_to_the_bureau() -> None:
    town = Unit("999", "新镇", UnitKind.town_centre, Tier.town, Channel.people, parent_code=CITY)
    bigger = OrgTree.of([*ORG, town])
    assert police_for(bigger, "999") == ORG.get("PSB-320583")


def test_no_police_at_all_leaves_only_the_justice_office() -> None:
    bare = OrgTree.of([u for u in ORG if not u.code.startswith(("PS-", "PSB-"))])
    assert [r.addressee for r in recipients(bare, DASHI, mass_incident=False)] == [Addressee.justice]


def test_a_stations_reports_are_answered_for_by_its_town_centre_and_a_centre_by_itself() -> None:
    assert supervisor_of(ORG, DASHI).code == ZHANGPU
    assert supervisor_of(ORG, ZHANGPU).code == ZHANGPU
    assert supervisor_of(ORG, CITY).code == CITY
    assert supervisor_of(ORG, "SC-MEDICAL").code == CITY  # a city-wide committee: the city centre


def test_a_report_is_overdue_from_the_configured_hour_until_it_is_acknowledged() -> None:
    assert ack_due_at(AT, 24) == AT + timedelta(hours=24)
    assert not is_overdue(AT, None, AT + timedelta(hours=23, minutes=59), 24)
    assert is_overdue(AT, None, AT + timedelta(hours=24), 24)
    assert not is_overdue(AT, AT + timedelta(hours=30), AT + timedelta(hours=48), 24)
    assert is_overdue(AT, None, AT + timedelta(hours=2), 2)
