"""The case file (卷宗) check, item by item, on the shipped config/case_file.yaml."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from service.config.case_file import load_case_file_rules
from service.config.loading import ConfigError
from workflows.case_file import CaseFileRules, FileFacts, Item, Status, check

CONFIG = Path(__file__).resolve().parents[2] / "config" / "case_file.yaml"
RULES = load_case_file_rules(CONFIG)

WRITTEN: dict[str, Any] = {
    "form": "written",
    "terms": "赔偿维修费 2000 元",
    "facts": "楼上漏水致楼下墙面霉变",
    "performance_manner": "银行转账",
    "performance_deadline": "2026-04-30",
    "signed_by_parties": True,
    "signed_by_mediator": True,
    "sealed": True,
}
GIVEN = ({"party_id": 1, "decision": "given"}, {"party_id": 2, "decision": "given"})


def facts(**overrides: Any) -> FileFacts:
    base = FileFacts(
        state="mediating",
        outcome=None,
        termination_reason=None,
        summary="楼上卫生间漏水",
        parties=((1, "applicant"), (2, "respondent")),
        consents=GIVEN,
        agreement=None,
        performance=None,
        sessions=1,
        signed_scans=0,
        file_number=None,
    )
    return replace(base, **overrides)


def status(f: FileFacts, item: Item) -> Status:
    return next(i.status for i in check(f, RULES).items if i.item == item)


def test_the_shipped_rules_list_every_item_with_labels_and_a_source() -> None:
    assert set(RULES.items) == set(Item)
    assert all(rule.zh and rule.en and rule.source for rule in RULES.items.values())


def test_registration_needs_an_applicant_and_a_description() -> None:
    assert status(facts(), Item.registration) == Status.met
    assert status(facts(summary="  "), Item.registration) == Status.missing
    assert status(facts(parties=((2, "respondent"),)), Item.registration) == Status.missing


def test_every_partys_latest_decision_must_be_a_consent() -> None:
    assert status(facts(), Item.consents) == Status.met
    refused_later = (*GIVEN, {"party_id": 2, "decision": "refused"})
    assert status(facts(consents=refused_later), Item.consents) == Status.missing
    one_only = check(facts(consents=GIVEN[:1]), RULES)
    item = next(i for i in one_only.items if i.item == Item.consents)
    assert (item.status, item.why_zh) == (Status.missing, "尚有 1 名当事人未记录同意调解")
    # a third party's consent is not asked
    third = facts(parties=((1, "applicant"), (2, "respondent"), (3, "third_party")))
    assert status(third, Item.consents) == Status.met


def test_at_least_one_session_record() -> None:
    assert status(facts(sessions=0), Item.session_record) == Status.missing
    assert status(facts(sessions=2), Item.session_record) == Status.met


def test_a_written_agreement_needs_its_signed_scan() -> None:
    assert status(facts(), Item.signed_agreement) == Status.not_applicable
    assert status(facts(agreement=WRITTEN), Item.signed_agreement) == Status.missing
    assert status(facts(agreement=WRITTEN, signed_scans=1), Item.signed_agreement) == Status.met
    oral = {"form": "oral", "terms": "道歉"}
    assert status(facts(agreement=oral), Item.signed_agreement) == Status.not_applicable


def test_a_written_agreement_states_the_art_29_contents_each_gap_named() -> None:
    assert status(facts(agreement=WRITTEN), Item.art29_contents) == Status.met
    bare = {"form": "written", "terms": "赔偿 2000 元"}
    result = next(i for i in check(facts(agreement=bare), RULES).items if i.item == Item.art29_contents)
    assert result.status == Status.missing
    assert result.why_zh == "协议未载明：纠纷的主要事实、争议事项、履行方式、履行期限"
    assert "the manner of performance" in result.why_en
    one_party = facts(agreement=WRITTEN, parties=((1, "applicant"),))
    assert status(one_party, Item.art29_contents) == Status.missing


def test_an_oral_agreement_needs_its_terms_recorded() -> None:
    assert status(facts(agreement={"form": "oral", "terms": "道歉"}), Item.oral_terms) == Status.met
    assert status(facts(agreement={"form": "oral", "terms": " "}), Item.oral_terms) == Status.missing
    assert status(facts(agreement=WRITTEN), Item.oral_terms) == Status.not_applicable


def test_a_follow_up_is_needed_after_an_agreement_when_the_outcome_needs_one() -> None:
    oral = {"form": "oral", "terms": "道歉"}
    assert status(facts(), Item.follow_up) == Status.not_applicable
    assert status(facts(state="settled", agreement=oral), Item.follow_up) == Status.missing
    assert (
        status(facts(state="settled", agreement=oral, performance="partially"), Item.follow_up) == Status.met
    )
    closed = facts(state="closed", outcome="confirmed", agreement=oral)
    assert status(closed, Item.follow_up) == Status.missing
    no_need = facts(state="closed", outcome="withdrawn", agreement=oral)
    assert status(no_need, Item.follow_up) == Status.not_applicable


def test_a_terminated_case_needs_its_reason() -> None:
    assert status(facts(), Item.termination_reason) == Status.not_applicable
    assert status(facts(state="terminated"), Item.termination_reason) == Status.missing
    reasoned = facts(state="closed", terminated=True, termination_reason="gap_too_wide")
    assert status(reasoned, Item.termination_reason) == Status.met
    assert status(facts(state="closed", terminated=True), Item.termination_reason) == Status.missing


def test_the_file_number_only_once_closed() -> None:
    assert status(facts(), Item.file_number) == Status.not_applicable
    assert status(facts(state="closed"), Item.file_number) == Status.missing
    numbered = check(facts(state="closed", file_number="(2026)昆张大调卷字第 0001 号"), RULES)
    item = next(i for i in numbered.items if i.item == Item.file_number)
    assert (item.status, item.why_zh) == (Status.met, "卷宗号 (2026)昆张大调卷字第 0001 号")


def test_a_complete_file_and_its_gaps() -> None:
    whole = facts(
        state="closed",
        outcome="performed",
        agreement=WRITTEN,
        performance="performed",
        signed_scans=1,
        file_number="(2026)昆张大调卷字第 0001 号",
    )
    assert check(whole, RULES).complete
    gaps = check(replace(whole, sessions=0, signed_scans=0), RULES)
    assert not gaps.complete
    assert gaps.gaps == (Item.session_record, Item.signed_agreement)


def test_an_item_not_required_is_shown_but_does_not_make_the_file_incomplete() -> None:
    data = RULES.model_dump(mode="json")
    data["items"]["session_record"]["required"] = False
    lenient = CaseFileRules.model_validate(data)
    result = check(facts(sessions=0), lenient)
    assert result.complete
    assert [i.status for i in result.items if i.item == Item.session_record] == [Status.missing]


def test_a_bad_file_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    text = CONFIG.read_text(encoding="utf-8")
    bad = tmp_path / "case_file.yaml"
    bad.write_text(
        text.replace("    source: 人民调解法第二十六条\n", "    source: ''\n    colour: red\n"), "utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_case_file_rules(bad)
    message = str(caught.value)
    assert "case_file.yaml" in message
    assert "items.termination_reason.source" in message
    assert "items.termination_reason.colour" in message
    missing = tmp_path / "missing" / "case_file.yaml"
    missing.parent.mkdir()
    missing.write_text(
        text.replace(
            "follow_up_outcomes: [performed, confirmed, mediation_statement]", "follow_up_outcomes: [paid]"
        ),
        "utf-8",
    )
    with pytest.raises(ConfigError, match=r"follow_up_outcomes\.0"):
        load_case_file_rules(missing)


def test_jiefen_config_check_checks_the_case_file_rules(tmp_path: Path) -> None:
    from tests.service.test_cli import run

    shipped = run("config", "check", tmp_path=tmp_path)
    assert shipped.returncode == 0, shipped.stderr
    assert "case file: 9 items OK" in shipped.stdout

    config = tmp_path / "config"
    shutil.copytree(CONFIG.parent, config)
    text = CONFIG.read_text(encoding="utf-8")
    (config / "case_file.yaml").write_text(
        text.replace("  file_number:\n", "  file_numbr:\n"), encoding="utf-8"
    )
    broken = run("config", "check", tmp_path=tmp_path, config_dir=config)
    assert broken.returncode == 2
    assert "case_file.yaml: items.file_numbr" in broken.stderr


def test_the_service_does_not_start_with_a_broken_case_file_rules_file(tmp_path: Path) -> None:
    from service.config.settings import Settings
    from service.main import create_app

    config = tmp_path / "config"
    shutil.copytree(CONFIG.parent, config)
    text = CONFIG.read_text(encoding="utf-8")
    (config / "case_file.yaml").write_text(text.replace("basis: ", "basis_: "), encoding="utf-8")
    with pytest.raises(SystemExit, match=r"case_file.yaml: basis"):
        create_app(Settings(config_dir=config, data_dir=tmp_path / "data"))


def test_the_binding_order_names_every_part_once_and_a_bad_one_is_refused_naming_the_key(
    tmp_path: Path,
) -> None:
    from workflows.case_file import DEFAULT_ORDER, Part, binding_rank

    assert RULES.order == DEFAULT_ORDER
    assert binding_rank(RULES.order, "application") < binding_rank(RULES.order, "signed_agreement")
    assert binding_rank(RULES.order, "mediation_statement") == len(Part)  # a kind added later: last
    text = CONFIG.read_text(encoding="utf-8")
    OTHER_LINE = "  - other                    # 其他材料（扫描件）\n"
    assert OTHER_LINE in text
    for broken, says in (
        (OTHER_LINE, "missing: other"),
        (OTHER_LINE, "more than once: party_id"),
        (OTHER_LINE, "order.14"),
    ):
        replacement = {
            "missing: other": "",
            "more than once: party_id": "  - other\n  - party_id\n",
            "order.14": "  - other\n  - minutes\n",
        }[says]
        bad = tmp_path / "case_file.yaml"
        bad.write_text(text.replace(broken, replacement), "utf-8")
        with pytest.raises(ConfigError) as caught:
            load_case_file_rules(bad)
        message = str(caught.value)
        assert "case_file.yaml" in message and "order" in message and says in message, message
