"""What a mediation agreement must say, and whether a court may confirm it. Pure.

- A written agreement (人民调解法 art. 29) states the parties' basic details, the main facts and
  issues, the agreed terms and the manner and time of performance; it takes effect when the parties
  sign (or seal, or thumbprint) and the mediator signs and the committee seals it.
- A labour agreement must be written, signed or sealed by both parties, signed by the mediator and
  sealed by the mediation organisation (劳动争议调解仲裁法 art. 14 ¶1–2): a settle that misses any of
  these is refused.
- A court does not confirm an agreement on marriage, adoption or parent-child status, or on the
  ownership of property or intellectual property (民诉解释 2022 art. 355): the agreement form asks
  which of these it touches, and for a marriage/family dispute "marriage" is assumed until the
  mediator says otherwise.

``eligibility`` is recorded on the agreement at settle and checked again when the parties apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from workflows.vocab import AgreementForm, DisputeType


class Art355(StrEnum):
    """Content a court does not confirm (民诉解释 2022 art. 355)."""

    marriage = "marriage"  # 婚姻关系
    adoption = "adoption"  # 收养关系
    parent_child = "parent_child"  # 亲子关系
    property_ownership = "property_ownership"  # 物权归属
    ip_ownership = "ip_ownership"  # 知识产权归属


ART355_LABELS: dict[Art355, str] = {
    Art355.marriage: "婚姻关系",
    Art355.adoption: "收养关系",
    Art355.parent_child: "亲子关系",
    Art355.property_ownership: "物权归属",
    Art355.ip_ownership: "知识产权归属",
}

# The 人民调解法 art. 29 contents of a written agreement, as the agreement records them.
ART29_CONTENTS: dict[str, str] = {
    "parties": "当事人的基本情况",
    "facts": "纠纷的主要事实、争议事项",
    "terms": "调解协议的内容",
    "performance_manner": "履行方式",
    "performance_deadline": "履行期限",
    "signed_by_parties": "当事人签名、盖章或者按指印",
    "signed_by_mediator": "人民调解员签名",
    "sealed": "人民调解委员会印章",
}

LABOUR_TYPES = frozenset({DisputeType.LABOUR_WAGE_ARREARS, DisputeType.LABOUR_OTHER})
# Dispute types whose agreements are taken to touch marriage unless the mediator says otherwise.
PRE_TICKED: dict[DisputeType, tuple[Art355, ...]] = {DisputeType.MARRIAGE_FAMILY: (Art355.marriage,)}


def touches(agreement: Mapping[str, Any], dispute_type: DisputeType) -> tuple[Art355, ...]:
    """The art. 355 matters the agreement touches: as ticked, or the dispute type's default when the
    form did not say (None); an empty list is the mediator's word that it touches none."""
    stated = agreement.get("touches")
    if stated is None:
        return PRE_TICKED.get(dispute_type, ())
    return tuple(Art355(v) for v in stated)


def missing_contents(agreement: Mapping[str, Any], party_count: int) -> list[str]:
    """The art. 29 contents a written agreement lacks (keys of ``ART29_CONTENTS``)."""
    present = {
        "parties": party_count >= 2,
        "facts": bool(agreement.get("facts")),
        "terms": bool(agreement.get("terms")),
        "performance_manner": bool(agreement.get("performance_manner")),
        "performance_deadline": bool(agreement.get("performance_deadline")),
        "signed_by_parties": bool(agreement.get("signed_by_parties")),
        "signed_by_mediator": bool(agreement.get("signed_by_mediator")),
        "sealed": bool(agreement.get("sealed")),
    }
    return [key for key in ART29_CONTENTS if not present[key]]


def labour_problem(agreement: Mapping[str, Any], dispute_type: DisputeType) -> str | None:
    """Why a labour agreement may not be recorded as it is (劳动争议调解仲裁法 art. 14), or None."""
    if dispute_type not in LABOUR_TYPES:
        return None
    if agreement.get("form") != AgreementForm.written:
        return "a labour dispute agreement must be a written 调解协议书 (劳动争议调解仲裁法 第14条)"
    unsigned = [
        label
        for key, label in (
            ("signed_by_parties", "双方当事人签名或者盖章"),
            ("signed_by_mediator", "调解员签名"),
            ("sealed", "调解组织印章"),
        )
        if not agreement.get(key)
    ]
    if unsigned:
        return (
            "a labour dispute agreement takes effect only when signed or sealed by both parties, signed "
            "by the mediator and sealed by the mediation organisation (劳动争议调解仲裁法 第14条); missing: "
            + "、".join(unsigned)
        )
    return None


@dataclass(frozen=True)
class Eligibility:
    """Whether the parties may apply for judicial confirmation of the agreement, and why not."""

    confirmable: bool
    reasons: tuple[str, ...]

    def recorded(self) -> dict[str, Any]:
        return {"confirmable": self.confirmable, "reasons": list(self.reasons)}


def eligibility(agreement: Mapping[str, Any], dispute_type: DisputeType, party_count: int) -> Eligibility:
    reasons: list[str] = []
    if agreement.get("form") != AgreementForm.written:
        # Local practice: the court is given a written agreement to examine (人民调解法 art. 28 lets
        # the parties settle orally; the mediator then records the terms, which no court reviews).
        reasons.append("口头协议: 申请司法确认须先制作书面调解协议书 (本地做法; 人民调解法 第28、29条)")
    else:
        missing = missing_contents(agreement, party_count)
        if missing:
            names = "、".join(ART29_CONTENTS[k] for k in missing)
            reasons.append(f"书面调解协议缺少: {names} (人民调解法 第29条)")
    touched = touches(agreement, dispute_type)
    if touched:
        names = "、".join(ART355_LABELS[m] for m in touched)
        reasons.append(f"协议涉及{names}，不属于司法确认范围 (民诉解释 第355条)")
    return Eligibility(not reasons, tuple(reasons))
