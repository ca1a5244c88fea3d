"""What the API accepts and returns for cases; one pydantic model per trigger's fields."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints, model_validator

from service.deadlines.schemas import DeadlinePublic
from service.safe_text import NoBidi
from workflows.agreement import Art355
from workflows.lifecycle import (
    CaseState,
    Outcome,
    Performance,
    TerminationReason,
    Trigger,
)
from workflows.org import Channel, Tier
from workflows.vocab import (
    AgreementForm,
    ConsentDecision,
    ConsentManner,
    CourtProcedure,
    DisputeType,
    Flag,
    IdType,
    LabourMatter,
    PartyKind,
    PartyRole,
    PriorAuthority,
    ReferralKind,
    RiskColour,
    Source,
)

# Money is exact in the database and a plain JSON number on the wire (≤ 13 digits + 2 decimals
# round-trips through a double exactly enough for yuan amounts).
Yuan = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("9999999999999.99"), max_digits=15, decimal_places=2),
    PlainSerializer(float, return_type=float, when_used="json"),
]
# Free text refuses invisible direction controls (service.safe_text), naming the field.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), NoBidi]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoBidi]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), NoBidi]
UnitCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32, pattern=r"^\+?[0-9][0-9 \-]*$")
]

IdNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64, pattern=r"^[0-9A-Za-z\-()]+$")
]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), NoBidi]


def _reject_nul(value: Any, path: str = "") -> None:
    # PostgreSQL text cannot hold NUL; refuse it up front with the field's name.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(f"{path or 'value'} contains a NUL character")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_nul(item, f"{path}[{index}]")


class NoNul(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        _reject_nul(data)
        return data


class Strict(NoNul):
    model_config = ConfigDict(extra="forbid")


class PartyIn(Strict):
    name: ShortText
    role: PartyRole
    kind: PartyKind = PartyKind.person
    id_type: IdType | None = None
    id_number: IdNumber | None = None
    phone: Phone | None = None
    address: Address | None = None


class PriorProceedingsIn(Strict):
    """人民调解工作若干规定 (2002) art. 22: has a court, public security organ, petition office or other
    authority already accepted this matter? ``unknown`` holds acceptance until an edit answers it."""

    authority: PriorAuthority
    authority_name: ShortText | None = Field(default=None, description="e.g. 昆山市公安局张浦派出所")
    accepted_on: date | None = Field(default=None, description="the day that authority accepted the matter")
    case_number: ShortText | None = Field(default=None, description="its case or receipt number, if any")


class CaseCreate(Strict):
    dispute_type: DisputeType
    summary: Text
    location_code: UnitCode = Field(description="the village/community (or town) where the dispute arose")
    amount_yuan: Yuan | None = None
    people_involved: int = Field(default=1, ge=1, le=1_000_000)
    flags: list[Flag] = Field(default_factory=list, max_length=len(Flag))
    source: Source = Source.application
    parties: list[PartyIn] = Field(min_length=1, max_length=100)
    prior_proceedings: PriorProceedingsIn = Field(
        description="required: whether another authority already accepted the matter (none | court | police "
        "| petition | other | unknown)"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "dispute_type": "NEIGHBOUR",
                    "summary": "楼上漏水导致楼下墙面受损，双方就维修费用发生争执",
                    "location_code": "320583106005",
                    "amount_yuan": 3000,
                    "people_involved": 2,
                    "flags": [],
                    "source": "application",
                    "parties": [
                        {"name": "王秀英", "role": "applicant", "phone": "13800001234"},
                        {"name": "李建国", "role": "respondent"},
                    ],
                    "prior_proceedings": {"authority": "none"},
                }
            ]
        },
    )


class CaseEdit(Strict):
    """Corrections to a case's facts; only the fields given change. Triage is not re-run."""

    summary: Text | None = None
    dispute_type: DisputeType | None = None
    amount_yuan: Yuan | None = None
    people_involved: int | None = Field(default=None, ge=1, le=1_000_000)
    flags: list[Flag] | None = Field(default=None, max_length=len(Flag))
    source: Source | None = None
    prior_proceedings: PriorProceedingsIn | None = None
    reason: Reason | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"amount_yuan": 4500, "reason": "当事人补充维修发票"}]},
    )


class PartyEdit(Strict):
    """Corrections to a party; only the fields given change (null clears an optional one)."""

    name: ShortText | None = None
    role: PartyRole | None = None
    kind: PartyKind | None = None
    id_type: IdType | None = None
    id_number: IdNumber | None = None
    phone: Phone | None = None
    address: Address | None = None
    reason: Reason | None = None


class TriagePreview(Strict):
    dispute_type: DisputeType
    location_code: UnitCode
    amount_yuan: Yuan | None = None
    people_involved: int = Field(default=1, ge=1, le=1_000_000)
    flags: list[Flag] = Field(default_factory=list, max_length=len(Flag))
    source: Source = Source.application


class TriagePublic(BaseModel):
    rule: str
    reasons: list[str]
    route: str
    unit_code: str
    unit_name: str | None = None
    tier: Tier
    risk: RiskColour
    state: CaseState
    hub_code: str
    report: bool


class PartyPublic(BaseModel):
    id: int
    name: str
    role: PartyRole
    kind: PartyKind
    id_type: IdType | None = None
    id_number: str | None = None
    phone: str | None = None
    address: str | None = None


class CaseSummary(BaseModel):
    id: int
    number: str
    dispute_type: DisputeType
    summary: str
    location_code: str
    state: CaseState
    state_label: str
    unit_code: str
    tier: Tier
    channel: Channel
    risk: RiskColour
    outcome: Outcome | None = None
    version: int
    created_at: datetime
    updated_at: datetime


class CasePublic(CaseSummary):
    amount_yuan: Yuan | None = None
    people_involved: int
    flags: list[Flag]
    source: Source
    unit_name: str | None = None
    termination_reason: TerminationReason | None = None
    returns_to_code: str | None = None
    court_linked: bool
    agreement: dict[str, Any] | None = None
    registered_by: str
    registered_unit_code: str
    closed_at: datetime | None = None
    parties: list[PartyPublic]
    triage: TriagePublic
    court_procedure: str | None = None
    court_case_number: str | None = None
    deadlines: list[DeadlinePublic] = Field(default_factory=list)
    prior_proceedings: dict[str, Any] | None = Field(
        default=None, description="the intake's declaration; null on cases registered before it was asked"
    )
    consents: list[dict[str, Any]] = Field(
        default_factory=list, description="each party's consent or refusal, in the order recorded"
    )
    labour_routes: list[dict[str, Any]] = Field(
        default_factory=list,
        description="routes the law has opened on a labour dispute (arbitration: art. 14; 支付令: art. 16)",
    )


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int = Field(
        description="how many cases the list holds; with total_is_lower_bound, at least this many "
        "(a text search, q, counts up to 1000 matches)"
    )
    total_is_lower_bound: bool = Field(
        default=False,
        description="true when a text search (q) found more than 1000 cases: total is then 1000 and "
        "means 1000 or more; the pages go on past it",
    )
    limit: int
    offset: int


class SentStep(BaseModel):
    """One change of state or unit in a sent case's timeline: no actor, reason or fields."""

    at: datetime
    trigger: Trigger | None = None  # None: the registration
    trigger_label: str | None = None
    from_state: CaseState | None = None
    to_state: CaseState
    to_state_label: str
    from_unit_code: str | None = None
    to_unit_code: str
    to_unit_name: str | None = None


class SentCase(BaseModel):
    """The read-only view of a case for a unit that sent it on (docs/domain.md, Least privilege):
    where it is, how it ended and when, with no personal data and nothing to act on."""

    view: Literal["sent"] = "sent"
    id: int
    number: str
    version: int
    dispute_type: DisputeType
    state: CaseState
    state_label: str
    unit_code: str
    unit_name: str | None = None
    tier: Tier
    channel: Channel
    outcome: Outcome | None = None
    termination_reason: TerminationReason | None = None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    timeline: list[SentStep]
    allowed: list[Trigger] = Field(default_factory=list, description="always empty: a sender only reads")


class SentSummary(BaseModel):
    """A case in the "sent by us" list: where it is now and its result."""

    id: int
    number: str
    dispute_type: DisputeType
    state: CaseState
    state_label: str
    unit_code: str
    unit_name: str | None = None
    outcome: Outcome | None = None
    created_at: datetime
    updated_at: datetime


class SentPage(BaseModel):
    items: list[SentSummary]
    total: int
    limit: int
    offset: int


class OwedReturn(BaseModel):
    """A 警调/访调/检调 hand-off whose result has not gone back to its sender yet."""

    referral_id: int
    case_id: int
    number: str
    kind: ReferralKind
    label: str
    status: str
    from_unit_code: str
    from_unit_name: str | None = None
    to_unit_code: str
    to_unit_name: str | None = None
    offered_at: datetime
    offered_by: str
    expects_back: str
    case_state: CaseState
    case_state_label: str
    outstanding_days: int


class EventPublic(BaseModel):
    seq: int
    at: datetime
    kind: str
    trigger: Trigger | None = None
    actor: str
    actor_role: str
    actor_unit_code: str | None = None
    from_state: CaseState | None = None
    to_state: CaseState
    from_unit_code: str | None = None
    to_unit_code: str
    reason: str | None = None
    payload: dict[str, Any]


class TransitionIn(NoNul):
    """``trigger`` plus that trigger's own fields (see GET …/transitions for which)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"trigger": "accept"},
                {"trigger": "settle", "agreement": {"form": "written", "terms": "赔偿维修费 2000 元"}},
                {"trigger": "escalate", "reason": "涉及跨村土地边界，需镇中心协调"},
            ]
        },
    )

    trigger: Trigger
    reason: Annotated[str, NoBidi] | None = Field(default=None, max_length=2000)


class TriggerOption(BaseModel):
    trigger: Trigger
    label: str
    fields: dict[str, Any] = Field(description="JSON schema of the fields this trigger takes")
    required: list[str]


# --- per-trigger fields -----------------------------------------------------------------------


class NoFields(Strict):
    reason: Reason | None = None


class ReasonRequired(Strict):
    reason: Reason


class DispatchFields(Strict):
    target_unit: UnitCode
    reason: Reason | None = None


PayloadValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), NoBidi]


class HandOffFields(Strict):
    target_unit: UnitCode
    referral_kind: ReferralKind
    reason: Reason
    referral_payload: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")], PayloadValue | list[PayloadValue]
    ] = Field(
        default_factory=dict,
        max_length=20,
        description="what the kind requires, e.g. police_report_number for 警调, petition_number for 访调",
    )
    consents: Consents


class ConsentIn(Strict):
    """A party's answer: who (a party of the case), how, and on which day."""

    party_id: int = Field(ge=1)
    manner: ConsentManner
    on: date = Field(description="the day the party gave (or refused) consent")


Consents = Annotated[
    list[ConsentIn],
    Field(
        default_factory=list,
        max_length=100,
        description="each party's consent to this step (人民调解法 arts. 17-18; 特邀调解规定 art. 11)",
    ),
]


class ConsentRecordIn(ConsentIn):
    """A party's consent or refusal recorded at any time (``POST /cases/{id}/consents``)."""

    decision: ConsentDecision
    reason: Reason | None = None


class AcceptFields(Strict):
    consents: Consents
    reason: Reason | None = None


class AgreementIn(Strict):
    """人民调解协议: oral agreements are recorded too (人民调解法 art. 28)."""

    form: AgreementForm
    terms: Text
    amount_yuan: Yuan | None = None
    performance_manner: ShortText | None = Field(default=None, description="e.g. 一次性转账, 分期支付")
    performance_deadline: date | None = None
    signatories: list[ShortText] = Field(default_factory=list, max_length=50)
    effective_on: date | None = Field(
        default=None, description="the day the agreement took effect (default: today, Asia/Shanghai)"
    )
    # 人民调解法 art. 29 (and 劳动争议调解仲裁法 art. 14 for labour disputes):
    facts: Text | None = Field(default=None, description="纠纷的主要事实、争议事项")
    signed_by_parties: bool = Field(default=False, description="每方当事人签名、盖章或者按指印")
    signed_by_mediator: bool = Field(default=False, description="调解员签名")
    sealed: bool = Field(default=False, description="调解委员会(调解组织)印章")
    touches: list[Art355] | None = Field(
        default=None,
        max_length=len(Art355),
        description="民诉解释 第355条: content a court does not confirm (婚姻、收养、亲子关系, 物权、知识产权归属); "
        "not given: assumed from the dispute type (marriage for 婚姻家庭)",
    )
    labour_matters: list[LabourMatter] = Field(
        default_factory=list,
        max_length=len(LabourMatter),
        description="on a labour agreement: wages, medical costs or compensation it settles (支付令, art. 16)",
    )


class SettleFields(Strict):
    agreement: AgreementIn
    reason: Reason | None = None


class TerminateFields(Strict):
    termination_reason: TerminationReason
    refused_by: ConsentIn | None = Field(
        default=None, description="with party_refused: the party who refused, how and when (recorded)"
    )
    reason: Reason | None = None


class DelegateFields(Strict):
    target_unit: UnitCode
    court_case_number: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=4, max_length=64), NoBidi
    ]
    procedure: CourtProcedure
    materials: list[PayloadValue] = Field(
        default_factory=list, max_length=50, description="案卷材料 handed over"
    )
    consents: Consents
    reason: Reason | None = None


class ApplicantIn(Strict):
    """One party of the case applying, in person or through an agent with a written authority."""

    party: ShortText = Field(description="the party's name as registered on the case")
    agent: ShortText | None = Field(
        default=None, description="委托代理人, when the party applies through one"
    )
    authority_document: ShortText | None = Field(default=None, description="授权委托书 (its number or title)")


class RequestConfirmationFields(Strict):
    """The parties' joint application for judicial confirmation, recorded by the mediation unit."""

    applicants: list[ApplicantIn] = Field(min_length=1, max_length=50)
    court: UnitCode | None = Field(
        default=None, description="the competent court (default: the desk's court)"
    )
    applied_on: date = Field(description="the day the parties applied (not in the future)")
    materials: list[PayloadValue] = Field(
        min_length=1, max_length=50, description="申请材料: 调解协议书, 身份证明, 授权委托书 …"
    )
    reason: Reason | None = None


class RecordPerformanceFields(Strict):
    performance: Performance
    reason: Reason | None = None


class CloseFields(Strict):
    outcome: Outcome
    reason: Reason | None = None


TRIGGER_FIELDS: dict[Trigger, type[Strict]] = {
    Trigger.dispatch: DispatchFields,
    Trigger.accept: AcceptFields,
    Trigger.decline: ReasonRequired,
    Trigger.escalate: ReasonRequired,
    Trigger.hand_off: HandOffFields,
    Trigger.suspend: ReasonRequired,
    Trigger.resume: NoFields,
    Trigger.settle: SettleFields,
    Trigger.terminate: TerminateFields,
    Trigger.refer_to_court: ReasonRequired,
    Trigger.claim: NoFields,
    Trigger.release: NoFields,
    Trigger.docket: NoFields,
    Trigger.delegate: DelegateFields,
    Trigger.request_confirmation: RequestConfirmationFields,
    Trigger.accept_confirmation: NoFields,
    Trigger.confirm: NoFields,
    Trigger.refuse_confirmation: ReasonRequired,
    Trigger.reject_confirmation: ReasonRequired,
    Trigger.withdraw_confirmation: ReasonRequired,
    Trigger.amend: ReasonRequired,
    Trigger.record_performance: RecordPerformanceFields,
    Trigger.withdraw: ReasonRequired,
    Trigger.close: CloseFields,
}
