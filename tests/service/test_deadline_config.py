"""Deadline policies as configuration: the real file loads, and every validation rule names file and key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config.deadlines import load_deadlines
from service.config.loading import ConfigError, ConfigProblem
from workflows.deadlines import Applies, Authority, Basis, BreachAction, Extension, PeriodUnit, WarnPoint
from workflows.lifecycle import CaseState, Role
from workflows.org import Channel
from workflows.vocab import DisputeType

DEADLINES_YAML = Path(__file__).resolve().parents[2] / "config" / "deadlines.yaml"
RAW: dict[str, Any] = yaml.safe_load(DEADLINES_YAML.read_text(encoding="utf-8"))

# Indexes into the real file, so a mutation reads as what it breaks.
ACCEPTANCE, REFERRAL, PEOPLE, LABOUR = 0, 1, 2, 3
CONFIRMATION_DECISION = 9

Data = dict[str, Any]


def problems_for(tmp_path: Path, mutate: Callable[[Data], None]) -> tuple[str, list[ConfigProblem]]:
    data = copy.deepcopy(RAW)
    mutate(data)
    path = tmp_path / "deadlines.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_deadlines(path)
    return str(path), caught.value.problems


def policy(data: Data, index: int) -> dict[str, Any]:
    item: dict[str, Any] = data["policies"][index]
    return item


# ----------------------------------------------------------------------------- the real file


def test_the_real_file_loads_with_every_clock() -> None:
    policies = load_deadlines(DEADLINES_YAML)

    assert [p.kind for p in policies.policies] == [
        "acceptance",
        "referral_acceptance",
        "people_mediation",
        "labour_mediation",
        "court_delegation_ordinary",
        "court_delegation_simplified",
        "court_assignment",
        "confirmation_window",
        "confirmation_acceptance",
        "confirmation_decision",
        "performance_followup",
    ]


def test_the_real_file_reads_into_the_policy_the_brief_describes() -> None:
    people = load_deadlines(DEADLINES_YAML).by_kind("people_mediation")

    assert people.starts_on == {"accept", "amend"}  # amend: after a refused judicial confirmation
    assert people.applies == Applies(
        not_dispute_types=frozenset({DisputeType.LABOUR_WAGE_ARREARS, DisputeType.LABOUR_OTHER}),
        channels=frozenset({Channel.people}),
        court_delegated=False,
    )
    assert people.runs_while == {CaseState.mediating, CaseState.suspended}
    assert people.pauses_while == {CaseState.suspended}
    assert people.met_on == {"settle"}
    assert people.warn == (WarnPoint("75pct", fraction=0.75), WarnPoint("last_day", last_working_day=True))
    assert people.extension == Extension(
        roles=frozenset({Role.mediator, Role.coordinator}),
        consent="both_parties",
        max_length=1,
        max_unit=PeriodUnit.months,
        authority=Authority(
            Basis.local_policy, decided_by="昆山市司法局 (实践：经双方当事人同意可继续调解; 上限可配置)"
        ),
    )
    assert people.breach == BreachAction.escalate
    # The period is law (a soft one), the extension and the escalation are Kunshan's choices.
    assert people.authority == Authority(
        Basis.law, '人民调解工作若干规定(2002) 第33条 ("一般在一个月内调结"：一般性期限)'
    )
    assert "宁波" not in people.source
    assert people.breach_authority.basis == Basis.local_policy
    assert people.breach_authority.decided_by and "昆山市司法局" in people.breach_authority.decided_by


def test_the_court_assignment_may_be_extended_with_both_parties_consent_by_law() -> None:
    assignment = load_deadlines(DEADLINES_YAML).by_kind("court_assignment")

    assert assignment.extension is not None
    assert assignment.extension.consent == "both_parties"
    assert assignment.extension_authority == assignment.authority
    assert assignment.authority.basis == Basis.law
    assert "特邀调解的规定 第27条第1款" in assignment.source and "在线调解规则 第24条" in assignment.source


@pytest.mark.parametrize(
    ("kind", "basis"),
    [
        ("acceptance", Basis.local_policy),
        ("referral_acceptance", Basis.local_policy),
        ("people_mediation", Basis.law),
        ("labour_mediation", Basis.law),
        ("court_delegation_ordinary", Basis.law),
        ("court_delegation_simplified", Basis.law),
        ("court_assignment", Basis.law),
        ("confirmation_window", Basis.law),
        ("confirmation_acceptance", Basis.law),
        ("confirmation_decision", Basis.law),
        ("performance_followup", Basis.local_policy),
    ],
)
def test_every_clock_says_whether_it_is_law_or_local_policy_as_the_product_table_does(
    kind: str, basis: Basis
) -> None:
    found = load_deadlines(DEADLINES_YAML).by_kind(kind)

    assert found.authority.basis == basis
    if basis == Basis.local_policy:
        assert found.authority.decided_by and "本地规定" in found.authority.decided_by
    else:
        assert found.authority.source and "第" in found.authority.source


def test_the_confirmation_decision_extension_needs_no_consent() -> None:
    decision = load_deadlines(DEADLINES_YAML).by_kind("confirmation_decision")

    assert decision.extension == Extension(frozenset({Role.court_clerk}), None, 10, PeriodUnit.days)
    assert decision.starts_on == {"accept_confirmation"}


# ----------------------------------------------------------------------------- file-level problems


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "deadlines.yaml"
    with pytest.raises(ConfigError) as caught:
        load_deadlines(missing)
    assert caught.value.problems == [ConfigProblem(str(missing), "", "file not found")]


def test_a_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "deadlines.yaml"
    path.write_text("policies:\n  - kind: [acceptance\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_deadlines(path)
    [problem] = caught.value.problems
    assert (problem.file, problem.key) == (str(path), "")
    assert "YAML syntax error at line" in problem.message


def test_the_top_level_must_be_a_mapping_with_policies(tmp_path: Path) -> None:
    path = tmp_path / "deadlines.yaml"
    path.write_text("- acceptance\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_deadlines(path)
    assert caught.value.problems == [ConfigProblem(str(path), "", "expected a mapping with 'policies'")]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    def break_three(data: Data) -> None:
        policy(data, ACCEPTANCE)["length"] = 0
        policy(data, PEOPLE)["warn"][0]["fraction"] = 1.5
        policy(data, LABOUR)["breach"] = "shout"

    file, problems = problems_for(tmp_path, break_three)

    assert [(p.file, p.key) for p in problems] == [
        (file, "policies[0].length"),
        (file, "policies[2].warn[0].fraction"),
        (file, "policies[3].breach"),
    ]
    assert str(problems[1]) == (
        f"{file}: policies[2].warn[0].fraction: "
        "expected a fraction of the window strictly between 0 and 1 (e.g. 0.75), got 1.5"
    )


# ----------------------------------------------------------------------------- each rule


def _set(index: int, key: str, value: object) -> Callable[[Data], None]:
    def mutate(data: Data) -> None:
        policy(data, index)[key] = value

    return mutate


def _drop(index: int, key: str) -> Callable[[Data], None]:
    def mutate(data: Data) -> None:
        del policy(data, index)[key]

    return mutate


def _set_in(index: int, section: str, key: str, value: object) -> Callable[[Data], None]:
    def mutate(data: Data) -> None:
        policy(data, index)[section][key] = value

    return mutate


def _set_warn(index: int, warn: list[dict[str, Any]]) -> Callable[[Data], None]:
    return _set(index, "warn", warn)


RULES: list[tuple[str, Callable[[Data], None], str, str]] = [
    # (what, mutation, key, part of the message)
    ("unknown top-level key", lambda d: d.update(policy_set=1), "policy_set", "unknown key 'policy_set'"),
    ("no policies", lambda d: d.update(policies=[]), "policies", "non-empty list of policies"),
    ("a policy not a mapping", lambda d: d["policies"].append("x"), "policies[11]", "expected a mapping"),
    ("unknown policy key", _set(ACCEPTANCE, "lenght", 3), "policies[0].lenght", "allowed: kind, name"),
    ("kind format", _set(ACCEPTANCE, "kind", "Accept-Case"), "policies[0].kind", "lower-case letters"),
    ("kind too long", _set(ACCEPTANCE, "kind", "a" * 41), "policies[0].kind", "at most 40"),
    ("duplicate kind", _set(REFERRAL, "kind", "acceptance"), "policies[1].kind", "first at policies[0]"),
    ("missing name", _drop(ACCEPTANCE, "name"), "policies[0].name", "a name is required"),
    (
        "missing source of a law",
        _drop(PEOPLE, "source"),
        "policies[2].source",
        "a rule of law names its source",
    ),
    ("blank source", _set(PEOPLE, "source", "  "), "policies[2].source", "source must be non-blank text"),
    (
        "missing basis",
        _drop(PEOPLE, "basis"),
        "policies[2].basis",
        "unknown basis (law or local_policy) None",
    ),
    (
        "unknown basis",
        _set(PEOPLE, "basis", "custom"),
        "policies[2].basis",
        "unknown basis (law or local_policy) 'custom'; allowed: law, local_policy",
    ),
    (
        "a local policy without who decided it",
        _drop(ACCEPTANCE, "decided_by"),
        "policies[0].decided_by",
        "a local policy names who decided it",
    ),
    (
        "a law with decided_by",
        _set(PEOPLE, "decided_by", "某人"),
        "policies[2].decided_by",
        "decided_by is for local policy",
    ),
    (
        "a breach basis of local policy without who decided it",
        _drop(PEOPLE, "breach_decided_by"),
        "policies[2].breach_decided_by",
        "a local policy names who decided it",
    ),
    (
        "who decided the breach action without its basis",
        _drop(PEOPLE, "breach_basis"),
        "policies[2].breach_decided_by",
        "give breach_basis (law or local_policy) with it",
    ),
    (
        "an extension basis of law without a source",
        _set_in(PEOPLE, "extension", "basis", "law"),
        "policies[2].extension.source",
        "a rule of law names its source",
    ),
    ("zero length", _set(ACCEPTANCE, "length", 0), "policies[0].length", "at least 1, got 0"),
    ("negative length", _set(ACCEPTANCE, "length", -3), "policies[0].length", "at least 1, got -3"),
    ("length as text", _set(ACCEPTANCE, "length", "3"), "policies[0].length", "got '3'"),
    ("length as bool", _set(ACCEPTANCE, "length", True), "policies[0].length", "got True"),
    (
        "unknown unit",
        _set(ACCEPTANCE, "unit", "weeks"),
        "policies[0].unit",
        "unknown period unit 'weeks'; allowed: working_days, days, months",
    ),
    (
        "unknown breach",
        _set(ACCEPTANCE, "breach", "shout"),
        "policies[0].breach",
        "allowed: notify, escalate, return_referral, flag_overdue, prompt",
    ),
    (
        "unknown start event",
        _set(ACCEPTANCE, "starts_on", ["open", "arrive"]),
        "policies[0].starts_on[1]",
        "unknown event 'arrive'",
    ),
    (
        "empty starts_on",
        _set(ACCEPTANCE, "starts_on", []),
        "policies[0].starts_on",
        "non-empty list of events",
    ),
    (
        "unknown met event",
        _set(ACCEPTANCE, "met_on", ["acept"]),
        "policies[0].met_on[0]",
        "unknown event 'acept'",
    ),
    ("missing met_on", _drop(ACCEPTANCE, "met_on"), "policies[0].met_on", "non-empty list of events"),
    (
        "unknown state",
        _set(PEOPLE, "runs_while", ["mediating", "paused"]),
        "policies[2].runs_while[1]",
        "unknown case state 'paused'",
    ),
    (
        "missing runs_while",
        _drop(PEOPLE, "runs_while"),
        "policies[2].runs_while",
        "non-empty list of case states",
    ),
    (
        "pauses_while outside runs_while",
        _set(PEOPLE, "pauses_while", ["suspended", "settled"]),
        "policies[2].pauses_while",
        "settled not in runs_while",
    ),
    (
        "a start event that never leads into runs_while",
        _set(ACCEPTANCE, "starts_on", ["accept"]),
        "policies[0].starts_on[0]",
        "the clock could never start",
    ),
    (
        "a met event that never happens while running",
        _set(ACCEPTANCE, "met_on", ["settle"]),
        "policies[0].met_on[0]",
        "could never be met",
    ),
    (
        "fraction of zero",
        _set_warn(PEOPLE, [{"level": "a", "fraction": 0}]),
        "policies[2].warn[0].fraction",
        "got 0",
    ),
    (
        "fraction of one",
        _set_warn(PEOPLE, [{"level": "a", "fraction": 1}]),
        "policies[2].warn[0].fraction",
        "got 1",
    ),
    (
        "fraction as text",
        _set_warn(PEOPLE, [{"level": "a", "fraction": "0.5"}]),
        "policies[2].warn[0].fraction",
        "got '0.5'",
    ),
    (
        "fraction and last day",
        _set_warn(PEOPLE, [{"level": "a", "fraction": 0.5, "last_working_day": True}]),
        "policies[2].warn[0]",
        "exactly one of fraction",
    ),
    ("neither", _set_warn(PEOPLE, [{"level": "a"}]), "policies[2].warn[0]", "exactly one of fraction"),
    (
        "last_working_day false",
        _set_warn(PEOPLE, [{"level": "a", "last_working_day": False}]),
        "policies[2].warn[0].last_working_day",
        "expected true",
    ),
    (
        "bad level",
        _set_warn(PEOPLE, [{"level": "75 %", "fraction": 0.75}]),
        "policies[2].warn[0].level",
        "warning level",
    ),
    (
        "duplicate level",
        _set_warn(PEOPLE, [{"level": "a", "fraction": 0.5}, {"level": "a", "fraction": 0.75}]),
        "policies[2].warn[1].level",
        "duplicate level 'a'",
    ),
    (
        "unknown warn key",
        _set_warn(PEOPLE, [{"level": "a", "fraction": 0.5, "at": 1}]),
        "policies[2].warn[0].at",
        "unknown key",
    ),
    ("warn not a list", _set(PEOPLE, "warn", {"level": "a"}), "policies[2].warn", "expected a list"),
    (
        "unknown extension role",
        _set_in(PEOPLE, "extension", "roles", ["mediator", "judge"]),
        "policies[2].extension.roles[1]",
        "unknown role 'judge'; allowed: mediator, coordinator",
    ),
    (
        "empty extension roles",
        _set_in(PEOPLE, "extension", "roles", []),
        "policies[2].extension.roles",
        "non-empty",
    ),
    (
        "unknown consent",
        _set_in(PEOPLE, "extension", "consent", "one_party"),
        "policies[2].extension.consent",
        "unknown consent 'one_party'",
    ),
    (
        "zero extension",
        _set_in(PEOPLE, "extension", "max_length", 0),
        "policies[2].extension.max_length",
        "at least 1",
    ),
    (
        "unknown extension unit",
        _set_in(PEOPLE, "extension", "max_unit", "years"),
        "policies[2].extension.max_unit",
        "unknown period unit 'years'",
    ),
    (
        "unknown extension key",
        _set_in(PEOPLE, "extension", "by", "court"),
        "policies[2].extension.by",
        "allowed: roles, consent, max_length, max_unit",
    ),
    (
        "extension not a mapping",
        _set(PEOPLE, "extension", "1 month"),
        "policies[2].extension",
        "expected a mapping",
    ),
    (
        "unknown applies key",
        _set_in(PEOPLE, "applies", "tiers", ["village"]),
        "policies[2].applies.tiers",
        "unknown key 'tiers'",
    ),
    (
        "unknown dispute type",
        _set_in(LABOUR, "applies", "dispute_types", ["LABOUR"]),
        "policies[3].applies.dispute_types[0]",
        "unknown dispute type 'LABOUR'",
    ),
    (
        "unknown channel",
        _set_in(PEOPLE, "applies", "channels", ["civil"]),
        "policies[2].applies.channels[0]",
        "allowed: people, administrative, judicial",
    ),
    (
        "unknown court procedure",
        _set(PEOPLE, "applies", {"court_procedures": ["summary"]}),
        "policies[2].applies.court_procedures[0]",
        "allowed: assignment, ordinary, simplified",
    ),
    (
        "court_delegated not a bool",
        _set_in(PEOPLE, "applies", "court_delegated", "no"),
        "policies[2].applies.court_delegated",
        "expected true or false",
    ),
    (
        "contradicting dispute types",
        _set_in(PEOPLE, "applies", "dispute_types", ["LABOUR_OTHER"]),
        "policies[2].applies.not_dispute_types",
        "LABOUR_OTHER also in dispute_types",
    ),
    (
        "court procedure on a clock for cases not from the court",
        _set_in(PEOPLE, "applies", "court_procedures", ["ordinary"]),
        "policies[2].applies.court_procedures",
        "court_delegated is false",
    ),
    ("urgent not a bool", _set(ACCEPTANCE, "urgent", "yes"), "policies[0].urgent", "expected true or false"),
]


def _missing_consent(data: Data) -> None:
    del policy(data, CONFIRMATION_DECISION)["extension"]["consent"]


RULES.append(("consent omitted", _missing_consent, "policies[9].extension.consent", "both_parties, or null"))


@pytest.mark.parametrize(("mutate", "key", "message"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_validation_rule_names_file_and_key(
    tmp_path: Path, mutate: Callable[[Data], None], key: str, message: str
) -> None:
    file, problems = problems_for(tmp_path, mutate)

    matching = [p for p in problems if p.key == key]
    assert matching, f"no problem at {key!r}; got {[str(p) for p in problems]}"
    assert all(p.file == file for p in problems)
    assert any(message in p.message for p in matching), [str(p) for p in matching]
