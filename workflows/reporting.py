"""The duty to report a risk of crime (人民调解法 art. 25): to whom, and when a report is overdue.

Pure: decided from the org tree, the case's location and flags, and the clock. A mediator who
finds a dispute that may turn into a crime (民转刑) must take preventive steps and report to the
public security organ at once; for a possible mass incident (群体性事件) also to the local
government. In Kunshan the public security organ nearest the dispute is the town's 派出所
(``PS-<town code>`` in config/units), and the town's 司法所 / mediation centre is told as the unit
that supervises people's mediation there. The org tree has no people's-government unit: the city
centre (市矛盾纠纷调处中心, the city's 综治 centre) stands in for it (docs/domain.md, "Duty to report").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from workflows.org import OrgTree, Unit, UnitKind

POLICE_STATION_PREFIX = "PS-"
POLICE_BUREAU_PREFIX = "PSB-"


class RaisedBy(StrEnum):
    triage = "triage"  # the registration's triage flagged the risk (triage.yaml `report: true`)
    mediator = "mediator"  # a mediator or coordinator working the case found it later


RAISED_BY_LABELS = {RaisedBy.triage: "登记时分级诊疗提示", RaisedBy.mediator: "调解中发现"}


class Addressee(StrEnum):
    police = "police"  # 公安机关: the town's 派出所
    justice = "justice"  # 司法所 / the town's mediation centre
    government = "government"  # 当地人民政府 (a possible mass incident)


ADDRESSEE_LABELS = {
    Addressee.police: "公安机关（派出所）",
    Addressee.justice: "司法所 / 镇矛调中心",
    Addressee.government: "当地人民政府",
}


@dataclass(frozen=True)
class Recipient:
    unit: Unit
    addressee: Addressee


def police_for(org: OrgTree, location_code: str) -> Unit | None:
    """The 派出所 of the dispute's town, else the city's public security bureau."""
    town = org.town_of(location_code)
    station = org.find(f"{POLICE_STATION_PREFIX}{town.code}") if town is not None else None
    if station is not None:
        return station
    return next(
        (u for u in org if u.kind == UnitKind.agency and u.code.startswith(POLICE_BUREAU_PREFIX)), None
    )


def government_for(org: OrgTree) -> Unit:
    """The unit that stands for the local people's government: the city centre (see above)."""
    return org.city_centre()


def recipients(org: OrgTree, location_code: str, *, mass_incident: bool) -> list[Recipient]:
    """Who a report of a crime risk at ``location_code`` goes to, each unit once: the police, the
    town's 司法所 (the city centre where the place is under no town), and for a possible mass
    incident the local government."""
    found: list[Recipient] = []
    police = police_for(org, location_code)
    if police is not None:
        found.append(Recipient(police, Addressee.police))
    justice = org.town_of(location_code) or org.city_centre()
    found.append(Recipient(justice, Addressee.justice))
    if mass_incident:
        government = government_for(org)
        if all(r.unit.code != government.code for r in found):
            found.append(Recipient(government, Addressee.government))
    return found


def supervisor_of(org: OrgTree, unit_code: str) -> Unit:
    """The coordinators who answer for a unit's reports: its town centre, else the city centre
    (a town or city centre answers for itself)."""
    unit = org.get(unit_code)
    if unit.kind in (UnitKind.town_centre, UnitKind.city_centre):
        return unit
    return org.town_of(unit_code) or org.city_centre()


def ack_due_at(reported_at: datetime, hours: int) -> datetime:
    """When an unacknowledged report becomes overdue (JIEFEN_CRIME_REPORT_ACK_HOURS: local policy)."""
    return reported_at + timedelta(hours=hours)


def is_overdue(reported_at: datetime, acknowledged_at: datetime | None, now: datetime, hours: int) -> bool:
    return acknowledged_at is None and now >= ack_due_at(reported_at, hours)
