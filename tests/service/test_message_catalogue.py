"""English that is complete: every text the product writes has an English counterpart without Chinese.

Each test fails naming what is missing: the catalogue key, the unit code, the triage reason.
"""

from __future__ import annotations

import itertools
import re
import string
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from service.config.units import cjk_in, load_units
from service.i18n import LANGUAGES, catalogue, english_words, server_text
from workflows.org import OrgTree, Tier, UnitKind
from workflows.referrals import RETURNS
from workflows.triage import RuleSet, TriageFacts, parse_rules, triage
from workflows.triage_reasons import REASONS, reason_in_english, say
from workflows.vocab import DisputeType, Flag, Source

ROOT = Path(__file__).parents[2]
WEB = ROOT / "service" / "web"
MESSAGES = WEB / "messages.yaml"

# The switch to Chinese is named in Chinese on English pages (marked lang="zh-CN"), as a reader who
# wants Chinese looks for it.
OWN_NAMES = {"nav.language"}

# t('key'), page.t("key"), text(lang, "key"): the literal keys code and templates ask for.
ASKED = re.compile(r"""\b(?:t|text)\((?:[a-z_.]+,\s*)?['"]([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)['"]""")


@pytest.fixture(scope="module")
def org() -> OrgTree:
    return load_units(ROOT / "config" / "units")


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return parse_rules(
        yaml.safe_load((ROOT / "config" / "triage.yaml").read_text(encoding="utf-8")), "triage"
    )


def test_every_message_has_chinese_and_english_and_the_english_has_no_chinese() -> None:
    raw = yaml.safe_load(MESSAGES.read_text(encoding="utf-8"))["messages"]
    problems = []
    for key, entry in raw.items():
        missing = [
            lang
            for lang in LANGUAGES
            if not isinstance(entry, dict) or not str(entry.get(lang) or "").strip()
        ]
        if missing:
            problems.append(f"{key}: no {', '.join(missing)}")
        elif key not in OWN_NAMES and (found := cjk_in(str(entry["en"]))) is not None:
            problems.append(f"{key}: Chinese {found!r} in the English {entry['en']!r}")

    assert problems == []


def test_english_labels_and_deadline_names_have_no_chinese() -> None:
    cat = catalogue()
    problems = [
        f"labels.{vocabulary}.{member}: {texts['en']!r}"
        for vocabulary, members in cat.labels.items()
        for member, texts in members.items()
        if not texts["en"].strip() or cjk_in(texts["en"])
    ]
    problems += [f"deadline_names_en.{k}: {v!r}" for k, v in cat.deadline_names_en.items() if cjk_in(v)]

    assert problems == []


def test_every_deadline_policy_has_an_english_name() -> None:
    policies = yaml.safe_load((ROOT / "config" / "deadlines.yaml").read_text(encoding="utf-8"))["policies"]
    kinds = {policy["kind"] for policy in policies}

    assert sorted(kinds - set(catalogue().deadline_names_en)) == []


def test_every_key_templates_and_code_ask_for_exists() -> None:
    messages = catalogue().messages
    sources = [*WEB.glob("templates/*.html"), *(ROOT / "service").rglob("*.py")]
    asked = {(path.name, key) for path in sources for key in ASKED.findall(path.read_text(encoding="utf-8"))}

    missing = sorted(f"{name}: {key}" for name, key in asked if key not in messages)

    assert len(asked) > 100 and missing == []


def test_every_unit_has_an_english_name_without_chinese(org: OrgTree) -> None:
    problems = [f"{u.code} {u.name}: {u.name_en!r}" for u in org if not u.name_en or cjk_in(u.name_en)]

    assert problems == []


def test_every_triage_reason_has_english_with_the_same_placeholders() -> None:
    fields = string.Formatter()
    problems = []
    for key, (zh, en) in REASONS.items():
        zh_names = {name for _, name, _, _ in fields.parse(zh) if name}
        en_names = {name for _, name, _, _ in fields.parse(en) if name}
        if zh_names != en_names:
            problems.append(
                f"{key}: placeholders {sorted(zh_names)} in Chinese, {sorted(en_names)} in English"
            )
        if cjk_in(en):
            problems.append(f"{key}: Chinese in {en!r}")

    assert problems == []


def test_every_reason_triage_gives_reads_in_english(org: OrgTree, rules: RuleSet) -> None:
    """Triage run over every location and a spread of facts: each reason it gives has English."""
    words = english_words(catalogue(), org)
    locations = [u.code for u in org if u.kind in (UnitKind.village_station, UnitKind.town_centre)]
    facts = [
        TriageFacts(
            dispute_type=dispute_type,
            amount_yuan=amount,
            people_involved=people,
            location_code=location,
            source=source,
            flags=frozenset(flags),
            requested_tier=tier,
        )
        for dispute_type, amount, people, flags, source, tier in itertools.product(
            DisputeType,
            (None, Decimal("500"), Decimal("60000"), Decimal("2000000")),
            (1, 12, 60),
            ((), (Flag.criminal_risk,), tuple(Flag)),
            (Source.application, Source.police),
            (None, Tier.town, Tier.city),
        )
        for location in locations[:: max(1, len(locations) // 6)]
    ]
    seen: set[str] = set()
    untranslated: set[str] = set()
    for fact in facts:
        for reason in triage(fact, rules, org).reasons:
            seen.add(reason)
            english = reason_in_english(reason, words)
            if english is None or cjk_in(english):
                untranslated.add(f"{reason!r} -> {english!r}")

    assert len(seen) > 30 and sorted(untranslated) == []


def test_an_agencys_intake_reasons_read_in_english(org: OrgTree) -> None:
    intake = say("agency_intake", agency="张浦派出所")
    suggestion = say("agency_suggestion", suggested="大市社区", rule="R-10")

    english = server_text("en", f"{intake}；{suggestion}", catalogue(), org)

    assert english == (
        "Registered by Zhangpu Police Station (administrative mediation); Triage suggested: Dashi Community (rule R-10)"
    )
    assert server_text("zh", intake, catalogue(), org) == intake


def test_what_people_typed_is_left_as_typed(org: OrgTree) -> None:
    assert server_text("en", "等待伤情鉴定结果", catalogue(), org) == "等待伤情鉴定结果"


def test_what_each_hand_off_owes_back_is_in_both_languages_as_the_workflow_says_it() -> None:
    messages = catalogue().messages
    problems = [
        f"referral.returns.{kind.value}: {messages.get(f'referral.returns.{kind.value}')!r} vs {chinese!r}"
        for kind, chinese in RETURNS.items()
        if messages.get(f"referral.returns.{kind.value}", {}).get("zh") != chinese
    ]

    assert problems == []


def test_chinese_and_english_fill_in_the_same_values() -> None:
    """An English text that drops {unit} says less than the Chinese; one that adds {x} fails at run time."""
    fields = string.Formatter()
    problems = []
    for key, texts in catalogue().messages.items():
        names = {lang: {name for _, name, _, _ in fields.parse(texts[lang]) if name} for lang in LANGUAGES}
        if names["zh"] != names["en"]:
            problems.append(f"{key}: zh {sorted(names['zh'])}, en {sorted(names['en'])}")

    assert problems == []


@pytest.mark.parametrize(
    ("chinese", "english"),
    [
        ("案件结果：已结案（协议履行完毕）", "Case result: Closed (Agreement performed)"),
        ("警调对接结果：调解中", "Police referral result: Mediating"),
        (
            "依《人民调解法》第二十五条报告张浦镇（司法所 / 镇矛调中心）",
            "Reported to Zhangpu Town under the People's Mediation Law, art. 25 (Justice office / town centre)",
        ),
        (
            "人民调解期限将于 2026-12-14T16:00:00+00:00 届满（人民调解法 第33条; 民事诉讼法 第205条）",
            "People's mediation period ends 2026-12-15 00:00 (People's Mediation Law, art. 33; Civil Procedure Law, art. 205)",
        ),
        (
            "协议涉及婚姻关系、收养关系，不属于司法确认范围 (民诉解释 第355条)",
            "The agreement concerns marital status, adoption, which judicial confirmation does not cover "
            "(SPC Interpretation of the Civil Procedure Law, art. 355)",
        ),
    ],
)
def test_server_notices_read_in_english(org: OrgTree, chinese: str, english: str) -> None:
    policies = {"人民调解期限": "people_mediation"}

    assert server_text("en", chinese, catalogue(), org, policies) == english


def test_templates_hold_no_chinese_of_their_own() -> None:
    """A page's words and punctuation come from the catalogue, so English has its own; comments may explain in Chinese."""
    problems = []
    for path in sorted(WEB.glob("templates/*.html")):
        text = re.sub(
            r"\{#.*?#\}", lambda m: "\n" * m.group().count("\n"), path.read_text(encoding="utf-8"), flags=re.S
        )
        for number, line in enumerate(text.splitlines(), 1):
            if (found := cjk_in(line)) is not None:
                problems.append(f"{path.name}:{number}: {found!r} in {line.strip()[:80]!r}")

    assert problems == []
