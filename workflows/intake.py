"""Intake and consent: who had the matter before us, and whether the parties agree to mediation.

Two rules of people's mediation, kept as pure functions of what the case records:

- **Prior proceedings** (人民调解工作若干规定 (2002) art. 22): a dispute a court, a public security
  organ or another authority has already accepted is not accepted by people's mediation. The
  registrar declares at intake who, if anyone, has it (``PriorAuthority``); ``unknown`` is an
  honest answer that holds acceptance until an edit answers it. Administrative and judicial
  channels are not bound: the rule is about people's mediation stepping into a matter another
  authority is handling, and those channels *are* the authorities (a 派出所 mediating a matter it
  accepted, the court delegating its own case).
- **Consent** (人民调解法 arts. 17, 18, 26; 特邀调解规定 art. 11): people's mediation runs on the
  parties' consent, and either party may refuse or stop at any time. Each party's consent is a
  record (who, how, when, at which step); a refusal is a record too, and it outweighs an earlier
  consent of the same party.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workflows.vocab import PRIOR_AUTHORITY_LABELS, ConsentDecision, PartyRole, PriorAuthority

# The parties whose consent people's mediation needs: both sides of the dispute. A third party
# (第三人) may be recorded too, but mediation does not wait for it.
CONSENTING_ROLES = frozenset({PartyRole.applicant, PartyRole.respondent})

# Where a matter another authority accepted can go instead: that authority's channel.
HAND_BACK: dict[PriorAuthority, str] = {
    PriorAuthority.court: "移交法院（诉讼服务中心）或引导当事人向受理法院主张",
    PriorAuthority.police: "移交受理的公安机关（警调对接由公安机关发起）",
    PriorAuthority.petition: "移交信访部门",
    PriorAuthority.other: "移交受理该事项的机关",
}


@dataclass(frozen=True)
class PartyRef:
    """A party as the consent rule sees it."""

    id: int
    name: str
    role: PartyRole


class PriorProceedingsBar(Exception):
    """People's mediation may not accept this case (yet); the message says why and what to do."""

    def __init__(self, authority: PriorAuthority, message: str) -> None:
        super().__init__(message)
        self.authority = authority


def declaration_problem(prior: Mapping[str, Any]) -> tuple[str, str] | None:
    """What is missing from a declaration, as (field under ``prior_proceedings``, message), or None:
    an authority that accepted the matter is named, with the day it did."""
    authority = PriorAuthority(prior["authority"])
    if authority in (PriorAuthority.none, PriorAuthority.unknown):
        for extra in ("authority_name", "accepted_on", "case_number"):
            if prior.get(extra):
                return extra, f"only for a matter an authority accepted, not with authority {authority.value}"
        return None
    if not prior.get("authority_name"):
        return "authority_name", "name the authority that accepted the matter (e.g. 张浦派出所)"
    if not prior.get("accepted_on"):
        return "accepted_on", "the day the authority accepted the matter"
    return None


def acceptance_bar(prior: Mapping[str, Any] | None) -> PriorProceedingsBar | None:
    """Why people's mediation may not accept a case with this declaration, or None.

    ``None`` (a case registered before intake asked) does not bar: it is shown as undeclared and
    the case page asks for the answer, but cases already in mediation are not stopped by an upgrade.
    """
    if not prior:
        return None
    authority = PriorAuthority(prior["authority"])
    if authority == PriorAuthority.none:
        return None
    if authority == PriorAuthority.unknown:
        return PriorProceedingsBar(
            authority,
            "登记时未确认是否已有法院、公安机关或其他机关受理本纠纷；请先更正案件的“前置程序声明”再受理"
            "（人民调解工作若干规定 第22条）。 Whether a court, police or another authority has "
            "already accepted this dispute was not answered at registration: correct the case's "
            "prior_proceedings first.",
        )
    who = prior.get("authority_name") or PRIOR_AUTHORITY_LABELS[authority]
    when = f"（{prior['accepted_on']}）" if prior.get("accepted_on") else ""
    return PriorProceedingsBar(
        authority,
        f"本纠纷已由{who}{when}受理，人民调解委员会不予受理（人民调解工作若干规定 第22条）。"
        f"可以：{HAND_BACK[authority]}；或以“不予受理”结案。 This dispute was already accepted by "
        f"{who}; people's mediation does not accept it. Hand it off to that authority's channel "
        "(hand_off), or close it as rejected (close, outcome rejected).",
    )


def standing(records: Iterable[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    """Each party's latest consent record (a later refusal outweighs an earlier consent)."""
    latest: dict[int, Mapping[str, Any]] = {}
    for record in records:
        latest[int(record["party_id"])] = record
    return latest


def missing_consent(
    parties: Sequence[PartyRef],
    on_record: Iterable[Mapping[str, Any]],
    given_now: Iterable[Mapping[str, Any]],
) -> list[PartyRef]:
    """The parties (applicants and respondents) without a standing consent once ``given_now`` is
    added to the case's ``on_record`` consents, in party order."""
    latest = standing([*on_record, *given_now])
    return [
        p
        for p in parties
        if p.role in CONSENTING_ROLES
        and latest.get(p.id, {}).get("decision", ConsentDecision.refused.value) != ConsentDecision.given.value
    ]


def refused_by(records: Iterable[Mapping[str, Any]]) -> list[int]:
    """The parties whose standing record is a refusal."""
    return [pid for pid, r in standing(records).items() if r.get("decision") == ConsentDecision.refused.value]


def consent_records(
    given: Iterable[Mapping[str, Any]],
    parties: Sequence[PartyRef],
    *,
    step: str,
    actor: str,
    recorded_at: str,
    decision: ConsentDecision = ConsentDecision.given,
) -> list[dict[str, Any]]:
    """The records to append for the consents (or refusal) given at ``step``: each names the
    party, how and when the party answered, who recorded it and when."""
    names = {p.id: p for p in parties}
    out: list[dict[str, Any]] = []
    for item in given:
        party = names[int(item["party_id"])]
        out.append(
            {
                "party_id": party.id,
                "party_name": party.name,
                "party_role": party.role.value,
                "decision": decision.value,
                "manner": item["manner"],
                "on": item["on"],
                "step": step,
                "recorded_by": actor,
                "recorded_at": recorded_at,
            }
        )
    return out


def unknown_parties(given: Iterable[Mapping[str, Any]], parties: Sequence[PartyRef]) -> list[int]:
    """Party ids in ``given`` that are not parties of the case."""
    known = {p.id for p in parties}
    return [int(item["party_id"]) for item in given if int(item["party_id"]) not in known]
