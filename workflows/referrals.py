"""Hand-off kinds (三调联动, 诉调对接): who may send what to whom, and what must come back.

Pure: the service validates a referral against these rules before it writes anything.
"""

from __future__ import annotations

from enum import StrEnum

from workflows.org import Channel, Unit, UnitKind
from workflows.vocab import ReferralKind


class ReferralStatus(StrEnum):
    offered = "offered"
    accepted = "accepted"
    declined = "declined"  # by the receiver, with a reason
    returned = "returned"  # not accepted in time: back to the sender
    completed = "completed"  # the result went back to the sender
    withdrawn = "withdrawn"  # the sender took it back (the parties withdrew a confirmation application)


REFERRAL_LABELS: dict[ReferralKind, str] = {
    ReferralKind.police: "警调对接",
    ReferralKind.petition: "访调对接",
    ReferralKind.procuratorate: "检调对接",
    ReferralKind.court_delegation: "委托调解",
    ReferralKind.court_assignment: "委派调解",
    ReferralKind.administrative: "行政移送",
    ReferralKind.sectoral: "专业调解移送",
    ReferralKind.judicial_confirmation: "司法确认",
}

# What the sender gets back when the receiver finishes (docs/domain.md, Hand-offs).
RETURNS: dict[ReferralKind, str] = {
    ReferralKind.police: "调解协议书副本或调解不成的情况说明",
    ReferralKind.petition: "化解结果",
    ReferralKind.procuratorate: "调解协议 (供不捕/不诉决定参考)",
    ReferralKind.court_delegation: "调解协议 → 撤诉/出具调解书；调解不成 → 恢复审理",
    ReferralKind.court_assignment: "调解结果",
    ReferralKind.administrative: "处理结果",
    ReferralKind.sectoral: "处理结果",
    ReferralKind.judicial_confirmation: "确认有效或不予确认的裁定",
}

# Payload fields each kind must carry (the service validates their presence and shape).
REQUIRED_PAYLOAD: dict[ReferralKind, tuple[str, ...]] = {
    ReferralKind.police: ("police_report_number",),
    ReferralKind.petition: ("petition_number",),
    ReferralKind.procuratorate: ("procuratorate_case_number",),
    ReferralKind.court_delegation: ("court_case_number", "procedure"),
    ReferralKind.court_assignment: ("court_case_number",),
    ReferralKind.administrative: (),
    ReferralKind.sectoral: (),
    ReferralKind.judicial_confirmation: (),
}

# Hand-offs a person starts with `hand_off`; the court's and the parties' come with their own triggers.
HAND_OFF_KINDS = frozenset(
    {
        ReferralKind.police,
        ReferralKind.petition,
        ReferralKind.procuratorate,
        ReferralKind.administrative,
        ReferralKind.sectoral,
    }
)


def _is_police(unit: Unit) -> bool:
    return unit.kind == UnitKind.agency and unit.code.startswith(("PS-", "PSB-"))


def _is_mediation(unit: Unit) -> bool:
    return unit.channel == Channel.people


def direction_problem(kind: ReferralKind, sender: Unit, receiver: Unit) -> str | None:
    """Why a hand-off of ``kind`` from ``sender`` to ``receiver`` makes no sense, or None."""
    if kind not in HAND_OFF_KINDS:
        return f"{kind.value} is not started by hand_off (the court delegates; parties request confirmation)"
    if kind == ReferralKind.police and not (_is_police(sender) and _is_mediation(receiver)):
        return "警调对接 goes from a police station to people's mediation"
    if kind == ReferralKind.petition and not (
        sender.kind == UnitKind.petition_office and _is_mediation(receiver)
    ):
        return "访调对接 goes from the petition office to people's mediation"
    if kind == ReferralKind.procuratorate and not (
        sender.kind == UnitKind.procuratorate and _is_mediation(receiver)
    ):
        return "检调对接 goes from the procuratorate to a mediation committee"
    if kind == ReferralKind.administrative and not (
        (sender.channel == Channel.administrative) != (receiver.channel == Channel.administrative)
    ):
        return "行政移送 goes between people's mediation and an administrative agency"
    if kind == ReferralKind.sectoral and receiver.kind != UnitKind.sectoral_committee:
        return "专业调解移送 goes to a sectoral mediation committee"
    return None
