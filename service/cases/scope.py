"""Who may see which cases (docs/domain.md, Least privilege). Outside scope is 404, never 403."""

from __future__ import annotations

from service.cases.queries import CaseFilter
from service.errors import Forbidden
from workflows.lifecycle import Actor, Role
from workflows.org import OrgTree

CASE_READERS = {
    Role.mediator,
    Role.coordinator,
    Role.agency_officer,
    Role.court_clerk,
    Role.auditor,
    Role.system,
}
CASE_REGISTRARS = {Role.mediator, Role.coordinator, Role.agency_officer, Role.court_clerk}


def can_see(
    actor: Actor, unit_code: str, court_linked: bool, org: OrgTree, *, sensitive: bool = False
) -> bool:
    """A sensitive case (minors, health, finances: PIPL art. 28) is seen only by the unit that holds
    it and the coordinators above it — not by auditors, by the court for a case it no longer
    holds, or by a unit that referred it on."""
    match actor.role:
        case Role.system:
            return True
        case Role.auditor:
            return not sensitive
        case Role.mediator | Role.agency_officer:
            return unit_code == actor.unit_code
        case Role.coordinator:
            return unit_code in org.subtree(actor.unit_code)
        case Role.court_clerk:
            return unit_code in org.court_units() or (court_linked and not sensitive)
        case _:
            return False


def scope_filter(actor: Actor, org: OrgTree) -> CaseFilter:
    """The SQL restriction that matches ``can_see`` for lists."""
    match actor.role:
        case Role.system:
            return CaseFilter()
        case Role.auditor:
            return CaseFilter(hide_sensitive=True)
        case Role.mediator | Role.agency_officer:
            return CaseFilter(unit_codes=frozenset({actor.unit_code}))
        case Role.coordinator:
            subtree = org.subtree(actor.unit_code)
            return CaseFilter() if len(subtree) == len(org) else CaseFilter(unit_codes=subtree)
        case Role.court_clerk:
            return CaseFilter(unit_codes=org.court_units(), include_court_linked=True)
        case _:
            raise Forbidden(f"The {actor.role} role does not work on cases.")


def require_registrar(actor: Actor) -> None:
    if actor.role not in CASE_REGISTRARS:
        raise Forbidden(f"The {actor.role} role cannot register cases.")


def sender_units(actor: Actor, org: OrgTree) -> frozenset[str]:
    """The units whose sent-on cases the actor follows, read only, after the case has left them:
    their own unit, or a coordinator's subtree."""
    match actor.role:
        case Role.mediator | Role.agency_officer | Role.court_clerk:
            return frozenset({actor.unit_code})
        case Role.coordinator:
            return org.subtree(actor.unit_code)
        case _:
            return frozenset()
