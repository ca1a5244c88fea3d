"""What a complete people's mediation case file (卷宗) still lacks. Pure.

The items a file needs come from ``config/case_file.yaml`` (validated by ``CaseFileRules``): each
with its zh and en label and its source, a statute (人民调解法) or "local practice" (案卷评查
checklists used by justice bureaus). Which items apply depends on the case: a written agreement
needs the signed scan and the art. 29 contents, an oral one its terms recorded, a terminated case
its reason, a closed case its 卷宗 number. ``check(facts, rules)`` returns every item with its
status (met, missing, not applicable) and why, so the page and the subsidy ledger say the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workflows.agreement import ART29_CONTENTS, missing_contents
from workflows.intake import CONSENTING_ROLES, standing
from workflows.lifecycle import Outcome
from workflows.vocab import AgreementForm, ConsentDecision

# The art. 29 contents this check asks of the agreement record (signatures are the scan's job).
ART29_KEYS = ("parties", "facts", "terms", "performance_manner", "performance_deadline")
ART29_EN: dict[str, str] = {
    "parties": "the parties' basic details",
    "facts": "the main facts and issues",
    "terms": "the agreed terms",
    "performance_manner": "the manner of performance",
    "performance_deadline": "the time limit for performance",
}


class Item(StrEnum):
    registration = "registration"  # 申请书或口头申请登记
    consents = "consents"  # 当事人同意调解
    session_record = "session_record"  # 调解记录
    signed_agreement = "signed_agreement"  # 调解协议书（签字扫描件）
    art29_contents = "art29_contents"  # 协议书载明事项（第二十九条）
    oral_terms = "oral_terms"  # 口头协议内容记录
    follow_up = "follow_up"  # 回访记录
    termination_reason = "termination_reason"  # 终止调解理由
    file_number = "file_number"  # 卷宗号


class Part(StrEnum):
    """What the bound 卷宗 holds after its cover and index, by kind: a generated document (the
    latest PDF version of each; of a session record, of each session) or the scans of one kind
    (each one not withdrawn, oldest first)."""

    application = "application"  # 人民调解申请书 (document)
    handoff_letter = "handoff_letter"  # 移交函 / 委托（委派）调解函 (document)
    acceptance_register = "acceptance_register"  # 人民调解受理登记表 (document)
    rights_notice = "rights_notice"  # 人民调解权利义务告知书 (document)
    party_id = "party_id"  # 当事人身份证明 (scans)
    evidence = "evidence"  # 证据材料 (scans)
    session_record = "session_record"  # 调解记录, one per session (document)
    written_agreement = "written_agreement"  # 人民调解协议书 (document)
    signed_agreement = "signed_agreement"  # 签字协议书 (scans)
    oral_agreement_register = "oral_agreement_register"  # 口头调解协议登记表 (document)
    judicial_confirmation = "judicial_confirmation"  # 司法确认联合申请书 (document)
    follow_up_record = "follow_up_record"  # 人民调解回访记录 (document)
    termination_notice = "termination_notice"  # 终止调解通知书 (document)
    other = "other"  # 其他材料 (scans)


# The order most 案卷评查 checklists bind a people's mediation file in: how the case came and was
# accepted, who the parties are and the evidence, each session, the agreement as generated and as
# signed (or the oral one registered), its confirmation and follow-up, the notice ending mediation.
DEFAULT_ORDER: tuple[Part, ...] = tuple(Part)


class Status(StrEnum):
    met = "met"
    missing = "missing"
    not_applicable = "not_applicable"


class ItemRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    source: str = Field(min_length=1)  # the article, or "local practice" (地方实践)
    source_en: str = Field(min_length=1, pattern=r"^[^\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+$")
    required: bool = True  # false: shown, but a gap does not make the file incomplete


class CaseFileRules(BaseModel):
    """``config/case_file.yaml``, validated: every item named once, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    basis: str = Field(min_length=1)
    items: dict[Item, ItemRule]
    # The outcomes after which the agreement's performance must be followed up (回访).
    follow_up_outcomes: list[Outcome] = Field(default_factory=list)
    # The order of the 卷宗's parts after the cover and the index: every part once.
    order: tuple[Part, ...] = DEFAULT_ORDER

    @field_validator("items")
    @classmethod
    def _every_item(cls, value: dict[Item, ItemRule]) -> dict[Item, ItemRule]:
        missing = [i.value for i in Item if i not in value]
        if missing:
            raise ValueError(f"every item needs its labels and source; missing: {', '.join(missing)}")
        return value

    @field_validator("order")
    @classmethod
    def _every_part_once(cls, value: tuple[Part, ...]) -> tuple[Part, ...]:
        twice = sorted({p.value for p in value if value.count(p) > 1})
        if twice:
            raise ValueError(f"each part once; listed more than once: {', '.join(twice)}")
        missing = [p.value for p in Part if p not in value]
        if missing:
            raise ValueError(f"every part of the file needs its place; missing: {', '.join(missing)}")
        return value


def binding_rank(order: tuple[Part, ...], kind: str) -> int:
    """Where a part of ``kind`` goes in the bound file: its place in ``order``; a kind the order
    does not name yet (a document kind added later) after every named one."""
    names = [p.value for p in order]
    return names.index(kind) if kind in names else len(names)


@dataclass(frozen=True)
class FileFacts:
    """What the case file holds today."""

    state: str
    outcome: str | None
    termination_reason: str | None
    summary: str
    parties: tuple[tuple[int, str], ...]  # (party id, role)
    consents: tuple[Mapping[str, Any], ...]  # the case's consent records, oldest first
    agreement: Mapping[str, Any] | None
    performance: str | None
    sessions: int  # session records (调解记录) on the case
    signed_scans: int  # signed_agreement attachments not withdrawn
    file_number: str | None  # the 卷宗 number, once given
    terminated: bool = False  # the case was terminated at some point (its trail says so)


@dataclass(frozen=True)
class ItemResult:
    item: Item
    status: Status
    required: bool
    zh: str
    en: str
    source: str
    source_en: str
    why_zh: str
    why_en: str

    @property
    def missing(self) -> bool:
        return self.status == Status.missing


@dataclass(frozen=True)
class FileCheck:
    items: tuple[ItemResult, ...]

    @property
    def complete(self) -> bool:
        return not any(i.missing and i.required for i in self.items)

    @property
    def gaps(self) -> tuple[Item, ...]:
        return tuple(i.item for i in self.items if i.missing and i.required)


_Verdict = tuple[Status, str, str]
NA = Status.not_applicable


def _registration(f: FileFacts) -> _Verdict:
    roles = {role for _, role in f.parties}
    if f.summary.strip() and "applicant" in roles:
        return Status.met, "已登记申请人和纠纷概况", "the applicant and the dispute are registered"
    return (
        Status.missing,
        "未登记申请人或纠纷概况",
        "no applicant or no description of the dispute registered",
    )


def _consents(f: FileFacts) -> _Verdict:
    latest = standing(f.consents)
    consenting = [pid for pid, role in f.parties if role in CONSENTING_ROLES]
    lacking = [
        pid for pid in consenting if latest.get(pid, {}).get("decision") != ConsentDecision.given.value
    ]
    if consenting and not lacking:
        return Status.met, "各方当事人均已同意调解", "every party consented to mediation"
    n = len(lacking) if consenting else 0
    return (
        Status.missing,
        f"尚有 {n} 名当事人未记录同意调解" if n else "没有需要同意调解的当事人",
        f"{n} part{'y' if n == 1 else 'ies'} without a recorded consent" if n else "no party to consent",
    )


def _sessions(f: FileFacts) -> _Verdict:
    if f.sessions:
        return Status.met, f"已有 {f.sessions} 份调解记录", f"{f.sessions} session record(s)"
    return Status.missing, "尚无调解记录", "no session record yet"


def _form(f: FileFacts) -> str | None:
    form = (f.agreement or {}).get("form")
    return str(form) if form else None


def _signed(f: FileFacts) -> _Verdict:
    if _form(f) != AgreementForm.written.value:
        return NA, "无书面调解协议", "no written agreement"
    if f.signed_scans:
        return Status.met, "已上传签字协议书", "the signed agreement is uploaded"
    return Status.missing, "书面协议尚未上传签字扫描件", "the signed agreement's scan is not uploaded"


def _art29(f: FileFacts) -> _Verdict:
    if _form(f) != AgreementForm.written.value:
        return NA, "无书面调解协议", "no written agreement"
    party_count = len(f.parties)
    lacking = [k for k in missing_contents(f.agreement or {}, party_count) if k in ART29_KEYS]
    if not lacking:
        return Status.met, "协议载明第二十九条规定事项", "the agreement states what art. 29 requires"
    return (
        Status.missing,
        "协议未载明：" + "、".join(ART29_CONTENTS[k] for k in lacking),
        "the agreement does not state: " + ", ".join(ART29_EN[k] for k in lacking),
    )


def _oral(f: FileFacts) -> _Verdict:
    if _form(f) != AgreementForm.oral.value:
        return NA, "无口头调解协议", "no oral agreement"
    if str((f.agreement or {}).get("terms") or "").strip():
        return Status.met, "已记录口头协议内容", "the oral agreement's terms are recorded"
    return Status.missing, "未记录口头协议内容", "the oral agreement's terms are not recorded"


def _follow_up(f: FileFacts, rules: CaseFileRules) -> _Verdict:
    needs = f.agreement is not None and (
        f.state != "closed" or f.outcome in {o.value for o in rules.follow_up_outcomes}
    )
    if not needs:
        return NA, "无需回访", "no follow-up needed"
    if f.performance is not None:
        return Status.met, "已记录履行回访", "the follow-up on performance is recorded"
    return Status.missing, "尚未记录履行回访", "no follow-up on performance recorded"


def _termination(f: FileFacts) -> _Verdict:
    if not (f.terminated or f.state == "terminated" or f.termination_reason):
        return NA, "未终止调解", "mediation was not terminated"
    if f.termination_reason:
        return Status.met, "已记录终止理由", "the reason for terminating is recorded"
    return Status.missing, "未记录终止理由", "no reason for terminating recorded"


def _number(f: FileFacts) -> _Verdict:
    if f.state != "closed":
        return NA, "结案后编卷宗号", "numbered once closed"
    if f.file_number:
        return Status.met, f"卷宗号 {f.file_number}", f"file number {f.file_number}"
    return Status.missing, "已结案，尚未编卷宗号", "closed without a file number"


def check(facts: FileFacts, rules: CaseFileRules) -> FileCheck:
    """Every item of the file, in the configured order, with its status and why."""
    verdicts: dict[Item, _Verdict] = {
        Item.registration: _registration(facts),
        Item.consents: _consents(facts),
        Item.session_record: _sessions(facts),
        Item.signed_agreement: _signed(facts),
        Item.art29_contents: _art29(facts),
        Item.oral_terms: _oral(facts),
        Item.follow_up: _follow_up(facts, rules),
        Item.termination_reason: _termination(facts),
        Item.file_number: _number(facts),
    }
    results = []
    for item, rule in rules.items.items():
        status, why_zh, why_en = verdicts[item]
        results.append(
            ItemResult(
                item, status, rule.required, rule.zh, rule.en, rule.source, rule.source_en, why_zh, why_en
            )
        )
    return FileCheck(tuple(results))
