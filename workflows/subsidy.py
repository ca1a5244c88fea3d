"""以案定补: the per-case subsidy for mediators, as pure rules.

Paying people's mediators per case is local practice, not national law: 财行〔2007〕179号 (the
Ministry of Finance and Ministry of Justice opinion on funding people's mediation) lets local
finance pay mediators' subsidies and leaves the standard to each place, and many districts pay
"one dispute, one payment" to whoever mediated it once the file is complete. Every amount,
condition and split here therefore comes from ``config/subsidy.yaml`` (local policy); this module
only validates that configuration and applies it to one case at a time:

- ``SubsidyRules``: the validated configuration (amounts by dispute type and difficulty, the
  conditions a case must meet, the split between the lead and the co-mediators);
- ``assess(case, rules) -> Assessment``: does the case qualify, for how much, and if not, why;
- ``split(amount, mediators, rules) -> list[Share]``: each mediator's share, to the fen, summing
  exactly to the case's amount.

Difficulty follows graded triage (分级诊疗: simple disputes are settled at the village, ordinary
ones at the town, hard ones at the city), so by default it is the tier of the unit that held the
case when it closed; the mapping is configuration too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from workflows.case_file import CaseFileRules
from workflows.lifecycle import Outcome
from workflows.org import Tier
from workflows.vocab import AgreementForm, DisputeType

FEN = Decimal("0.01")


class Difficulty(StrEnum):
    simple = "simple"  # 简易
    ordinary = "ordinary"  # 一般
    hard = "hard"  # 疑难


DIFFICULTY_LABELS: dict[Difficulty, str] = {
    Difficulty.simple: "简易",
    Difficulty.ordinary: "一般",
    Difficulty.hard: "疑难",
}


class Reason(StrEnum):
    """Why a case closed in the month is not paid (each shown with its label)."""

    outcome = "outcome"  # not closed with an outcome the configuration pays
    agreement_form = "agreement_form"  # no agreement, or of a form not paid
    file_incomplete = "file_incomplete"
    not_followed_up = "not_followed_up"  # no performance follow-up (回访) recorded
    no_mediator = "no_mediator"  # nobody recorded as mediating it
    already_paid = "already_paid"  # paid in an earlier approved month: a case pays once


REASON_LABELS: dict[Reason, str] = {
    Reason.outcome: "结案方式不在补贴范围",
    Reason.agreement_form: "未达成补贴范围内的调解协议",
    Reason.file_incomplete: "卷宗不完整",
    Reason.not_followed_up: "未回访履行情况",
    Reason.no_mediator: "未登记调解员",
    Reason.already_paid: "已由其他台账发放",
}


class SplitMode(StrEnum):
    lead_share = "lead_share"  # the lead gets ``lead_share``, the co-mediators share the rest equally
    equal = "equal"  # everyone who mediated gets the same


Yuan = Annotated[Decimal, Field(ge=0, le=100_000, decimal_places=2)]


class AmountTable(BaseModel):
    """Yuan per difficulty."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    simple: Yuan
    ordinary: Yuan
    hard: Yuan

    def of(self, difficulty: Difficulty) -> Decimal:
        amount: Decimal = getattr(self, Difficulty(difficulty).value)
        return amount.quantize(FEN, ROUND_HALF_UP)


class Conditions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outcomes: list[Outcome] = Field(min_length=1)
    agreement_forms: list[AgreementForm] = Field(min_length=1)
    # true: the case file's own completeness check (workflows.case_file, config/case_file.yaml)
    # must find no required item missing
    file_complete: bool = True
    performance_followed_up: bool = False


class Split(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: SplitMode
    lead_share: Decimal | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _share_for_mode(self) -> Split:
        if self.mode == SplitMode.lead_share and self.lead_share is None:
            raise ValueError("lead_share is required when mode is lead_share (e.g. 0.6)")
        if self.mode == SplitMode.equal and self.lead_share is not None:
            raise ValueError("lead_share is only for mode lead_share")
        return self


class SubsidyRules(BaseModel):
    """``config/subsidy.yaml``, validated (unknown keys refused, every problem named by its key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    basis: str = Field(min_length=1)  # law or local policy, and who decided it
    difficulty_by_tier: dict[Tier, Difficulty]
    default_amounts: AmountTable
    amounts: dict[DisputeType, AmountTable] = Field(default_factory=dict)
    conditions: Conditions
    split: Split
    # The case file rules (config/case_file.yaml) the ledger judges "file complete" by: attached
    # at start-up (``judging_files_by``), never read from subsidy.yaml.
    _file_rules: CaseFileRules | None = PrivateAttr(default=None)

    def judging_files_by(self, file_rules: CaseFileRules) -> SubsidyRules:
        copy = self.model_copy()
        copy._file_rules = file_rules
        return copy

    @property
    def file_rules(self) -> CaseFileRules:
        if self._file_rules is None:
            raise RuntimeError("the subsidy rules were not given the case file rules (judging_files_by)")
        return self._file_rules

    @field_validator("difficulty_by_tier")
    @classmethod
    def _every_tier(cls, value: dict[Tier, Difficulty]) -> dict[Tier, Difficulty]:
        missing = [t.value for t in Tier if t not in value]
        if missing:
            raise ValueError(f"every tier needs a difficulty; missing: {', '.join(missing)}")
        return value

    def amount(self, dispute_type: str, difficulty: Difficulty) -> Decimal:
        table = self.amounts.get(DisputeType(dispute_type)) if dispute_type in DISPUTE_TYPES else None
        return (table or self.default_amounts).of(difficulty)


DISPUTE_TYPES = frozenset(t.value for t in DisputeType)


@dataclass(frozen=True)
class CaseFile:
    """What the rules know about one closed case."""

    case_id: int
    dispute_type: str
    tier: str
    outcome: str | None
    agreement: dict[str, Any] | None
    performance: str | None
    # the required items the case file check (workflows.case_file.check) finds missing, in order
    file_gaps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assessment:
    case_id: int
    difficulty: Difficulty
    amount: Decimal  # what the case would pay (zero when it does not qualify)
    reasons: tuple[Reason, ...]  # empty: it qualifies
    missing: tuple[str, ...]  # the case file's missing items (workflows.case_file.Item values)

    @property
    def eligible(self) -> bool:
        return not self.reasons


def assess(case: CaseFile, rules: SubsidyRules, *, mediators: int) -> Assessment:
    """Whether ``case`` (closed, with ``mediators`` recorded as mediating it) qualifies, and the
    amount it pays. Every failed condition is named, not only the first."""
    difficulty = rules.difficulty_by_tier.get(Tier(case.tier), Difficulty.ordinary)
    conditions = rules.conditions
    reasons: list[Reason] = []
    if case.outcome not in {o.value for o in conditions.outcomes}:
        reasons.append(Reason.outcome)
    form = (case.agreement or {}).get("form")
    if form not in {f.value for f in conditions.agreement_forms}:
        reasons.append(Reason.agreement_form)
    missing = case.file_gaps if conditions.file_complete else ()
    if missing:
        reasons.append(Reason.file_incomplete)
    if conditions.performance_followed_up and case.performance is None:
        reasons.append(Reason.not_followed_up)
    if mediators == 0:
        reasons.append(Reason.no_mediator)
    amount = rules.amount(case.dispute_type, difficulty) if not reasons else Decimal("0.00")
    return Assessment(case.case_id, difficulty, amount, tuple(reasons), missing)


@dataclass(frozen=True)
class Share:
    mediator_id: int
    role: str  # lead | co
    amount: Decimal


def split(amount: Decimal, mediators: Sequence[tuple[int, str]], rules: SubsidyRules) -> list[Share]:
    """Each of ``mediators`` ((id, role), the lead first when there is one) gets a share rounded
    down to the fen; the fen left over go one by one from the first, so the shares always add up
    to ``amount`` exactly. With no lead (only co-mediators), everyone shares equally."""
    if not mediators:
        return []
    ordered = sorted(mediators, key=lambda m: (m[1] != "lead", m[0]))
    has_lead = ordered[0][1] == "lead"
    total = amount.quantize(FEN, ROUND_HALF_UP)
    if rules.split.mode == SplitMode.lead_share and has_lead and len(ordered) > 1:
        assert rules.split.lead_share is not None  # the model validator requires it
        lead = (total * rules.split.lead_share).quantize(FEN, ROUND_HALF_UP)
        rest = _equal(total - lead, len(ordered) - 1)
        amounts = [lead, *rest]
    else:
        amounts = _equal(total, len(ordered))
    return [Share(m_id, role, value) for (m_id, role), value in zip(ordered, amounts, strict=True)]


def _equal(total: Decimal, n: int) -> list[Decimal]:
    base = (total / n).quantize(FEN, ROUND_DOWN)
    left = int((total - base * n) / FEN)
    return [base + (FEN if i < left else Decimal("0.00")) for i in range(n)]
