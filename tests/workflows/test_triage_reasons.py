"""Triage's reasons read back into English from the Chinese stored with the case."""

from __future__ import annotations

import pytest

from workflows.triage_reasons import REASONS, EnglishWords, reason_in_english, say

UNITS = {"320583106005": ("大市社区", "Dashi Community"), "320583106": ("张浦镇", "Zhangpu Town")}
WORDS = EnglishWords(
    unit=lambda code: UNITS[code][1] if code in UNITS else None,
    unit_named=lambda name: next((en for zh, en in UNITS.values() if zh == name), None),
    label=lambda vocabulary, value: f"<{vocabulary}:{value}>",
    tier=lambda tier: tier.value,
)


@pytest.mark.parametrize(
    ("key", "values", "english"),
    [
        ("catch_all", {}, "No other routing rule matched (the catch-all rule)"),
        (
            "station",
            {"unit": "大市社区(320583106005)"},
            "Assigned to the mediation committee where the dispute arose: Dashi Community (320583106005)",
        ),
        ("dispute_type", {"dispute_type": "邻里"}, "Dispute type: <dispute_type:NEIGHBOUR>"),
        ("flags", {"flags": "民转刑风险、群体性纠纷"}, "Flags: <flag:criminal_risk>, <flag:group_dispute>"),
        ("amount_below", {"amount": "500", "limit": "50000"}, "Amount in dispute 500 yuan < 50000 yuan"),
        ("requested_tier", {"tier": "镇级"}, "A party asked for a mediation body at town level"),
        (
            "committee",
            {"scope": "全市", "unit": "张浦镇(320583106)"},
            "Assigned to the city's sectoral committee: Zhangpu Town (320583106)",
        ),
        (
            "location_kind",
            {"location_kind": "村(社区)", "place": "大市社区"},
            "The place is a village or community: Dashi Community",
        ),
    ],
)
def test_a_stored_reason_reads_in_english(key: str, values: dict[str, str], english: str) -> None:
    assert reason_in_english(say(key, **values), WORDS) == english


def test_what_is_not_a_reason_or_names_an_unknown_unit_is_not_guessed() -> None:
    assert reason_in_english("等待伤情鉴定结果", WORDS) is None
    assert reason_in_english(say("station", unit="某村(320583999999)"), WORDS) is None
    assert reason_in_english(say("dispute_type", dispute_type="不存在的类型"), WORDS) is None


def test_every_reason_has_both_languages() -> None:
    assert [key for key, (zh, en) in REASONS.items() if not (zh.strip() and en.strip())] == []
