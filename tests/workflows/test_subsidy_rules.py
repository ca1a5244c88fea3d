"""以案定补 rules without a database: the configuration's validation, a case's eligibility and
amount, and the split between the lead and the co-mediators (to the fen, always adding up)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config.case_file import load_case_file_rules
from service.config.loading import ConfigError
from service.subsidy.rules import load_rules
from workflows.case_file import FileFacts, check
from workflows.subsidy import CaseFile, Difficulty, Reason, SubsidyRules, assess, split

CONFIG = Path(__file__).resolve().parents[2] / "config" / "subsidy.yaml"


@pytest.fixture(scope="module")
def rules() -> SubsidyRules:
    return load_rules(CONFIG)


def config(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data.update(changes)
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "subsidy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


PAID = CaseFile(
    case_id=7,
    dispute_type="NEIGHBOUR",
    tier="village",
    outcome="performed",
    agreement={"form": "oral", "terms": "道歉并修复墙面"},
    performance="performed",
)


def test_the_shipped_configuration_is_valid_and_says_it_is_local_policy(rules: SubsidyRules) -> None:
    assert "地方政策" in rules.basis and "179号" in rules.basis
    assert rules.amount("NEIGHBOUR", Difficulty.simple) == Decimal("100.00")
    assert rules.amount("MEDICAL", Difficulty.hard) == Decimal("800.00")
    assert rules.amount("SOMETHING_NEW", Difficulty.ordinary) == Decimal("200.00")  # the default table


def test_a_bad_configuration_names_every_key_that_is_wrong(tmp_path: Path) -> None:
    data = config(
        amounts={
            "NEIGHBOR": {"simple": 1, "ordinary": 2, "hard": 3},
            "MEDICAL": {"simple": -5, "ordinary": 1, "hard": 1},
        },
        split={"mode": "lead_share"},
        colour="red",
    )
    data["conditions"]["outcomes"] = ["settled_somehow"]
    with pytest.raises(ConfigError) as caught:
        load_rules(write(tmp_path, data))
    keys = {p.key for p in caught.value.problems}
    assert {
        "amounts.NEIGHBOR.[key]",
        "amounts.MEDICAL.simple",
        "conditions.outcomes.0",
        "split",
        "colour",
    } <= keys
    assert all(p.file == "subsidy.yaml" for p in caught.value.problems)


def test_every_tier_needs_a_difficulty(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_rules(write(tmp_path, config(difficulty_by_tier={"village": "simple"})))
    assert "missing: town, city" in str(caught.value)


def test_a_mediated_case_with_a_complete_file_pays_by_type_and_difficulty(rules: SubsidyRules) -> None:
    village = assess(PAID, rules, mediators=1)
    assert (village.eligible, village.difficulty, village.amount) == (
        True,
        Difficulty.simple,
        Decimal("100.00"),
    )
    town_labour = assess(replace(PAID, tier="town", dispute_type="LABOUR_WAGE_ARREARS"), rules, mediators=2)
    assert (town_labour.difficulty, town_labour.amount) == (Difficulty.ordinary, Decimal("300.00"))


def test_every_failed_condition_is_named(rules: SubsidyRules) -> None:
    failed = assess(
        replace(
            PAID,
            outcome="litigated",
            agreement=None,
            performance=None,
            file_gaps=("consents", "session_record"),
        ),
        rules,
        mediators=0,
    )
    assert failed.amount == Decimal("0.00")
    assert failed.reasons == (
        Reason.outcome,
        Reason.agreement_form,
        Reason.file_incomplete,
        Reason.not_followed_up,
        Reason.no_mediator,
    )
    assert failed.missing == ("consents", "session_record")


def test_the_file_is_judged_by_the_case_file_check(rules: SubsidyRules) -> None:
    """The ledger's "file complete" is the case file check's (config/case_file.yaml): a written
    agreement without its signed scan leaves the file, and so the payment, incomplete."""
    file_rules = load_case_file_rules(CONFIG.parent / "case_file.yaml")
    written = {
        "form": "written",
        "terms": "赔偿 2000 元",
        "facts": "楼上漏水",
        "performance_manner": "转账",
        "performance_deadline": "2026-04-30",
    }
    held = FileFacts(
        state="closed",
        outcome="performed",
        termination_reason=None,
        summary="楼上漏水",
        parties=((1, "applicant"), (2, "respondent")),
        consents=({"party_id": 1, "decision": "given"}, {"party_id": 2, "decision": "given"}),
        agreement=written,
        performance="performed",
        sessions=1,
        signed_scans=0,
        file_number="(2026)昆张大调卷字第 0001 号",
    )
    gaps = tuple(i.value for i in check(held, file_rules).gaps)
    unsigned = assess(replace(PAID, agreement=written, file_gaps=gaps), rules, mediators=1)
    assert (unsigned.reasons, unsigned.missing) == ((Reason.file_incomplete,), ("signed_agreement",))
    scanned = tuple(i.value for i in check(replace(held, signed_scans=1), file_rules).gaps)
    assert assess(replace(PAID, agreement=written, file_gaps=scanned), rules, mediators=1).eligible
    relaxed = rules.model_copy(
        update={"conditions": rules.conditions.model_copy(update={"file_complete": False})}
    )
    assert assess(replace(PAID, file_gaps=("session_record",)), relaxed, mediators=1).eligible


def test_follow_up_is_required_only_when_configured(rules: SubsidyRules) -> None:
    confirmed = replace(PAID, outcome="confirmed", performance=None)
    assert assess(confirmed, rules, mediators=1).reasons == (Reason.not_followed_up,)
    relaxed = rules.model_copy(
        update={"conditions": rules.conditions.model_copy(update={"performance_followed_up": False})}
    )
    assert assess(confirmed, relaxed, mediators=1).eligible


def test_the_lead_gets_sixty_percent_and_the_co_mediators_share_the_rest(rules: SubsidyRules) -> None:
    shares = split(Decimal("100.00"), [(5, "co"), (3, "lead"), (4, "co")], rules)
    assert [(s.mediator_id, s.role, s.amount) for s in shares] == [
        (3, "lead", Decimal("60.00")),
        (4, "co", Decimal("20.00")),
        (5, "co", Decimal("20.00")),
    ]


def test_shares_round_to_the_fen_and_always_add_up(rules: SubsidyRules) -> None:
    shares = split(Decimal("100.00"), [(1, "lead"), (2, "co"), (3, "co"), (4, "co")], rules)
    assert [s.amount for s in shares] == [
        Decimal("60.00"),
        Decimal("13.34"),
        Decimal("13.33"),
        Decimal("13.33"),
    ]
    odd = split(Decimal("0.05"), [(1, "lead"), (2, "co"), (3, "co")], rules)
    assert sum(s.amount for s in odd) == Decimal("0.05")


def test_a_lone_mediator_gets_everything_and_equal_mode_splits_evenly(rules: SubsidyRules) -> None:
    assert [s.amount for s in split(Decimal("150.00"), [(9, "lead")], rules)] == [Decimal("150.00")]
    equal = rules.model_copy(
        update={"split": rules.split.model_copy(update={"mode": "equal", "lead_share": None})}
    )
    assert [s.amount for s in split(Decimal("100.00"), [(1, "lead"), (2, "co"), (3, "co")], equal)] == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]
    # Without a lead (only co-mediators recorded) the lead share does not apply.
    assert [s.amount for s in split(Decimal("10.00"), [(1, "co"), (2, "co")], rules)] == [
        Decimal("5.00"),
        Decimal("5.00"),
    ]
