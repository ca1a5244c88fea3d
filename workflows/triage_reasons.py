"""What triage says about its decision, in Chinese and in English.

Triage writes each reason from a template here (``say``); the Chinese is stored with the case as
the explanation PIPL art. 24 asks for. ``reason_in_english`` reads a stored Chinese reason back
into English for a reader who chose English, so cases registered before English existed read in
English too. Pure: the English of units and vocabularies comes in through ``EnglishWords``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from workflows.org import Tier, UnitKind
from workflows.vocab import DISPUTE_TYPE_LABELS, FLAG_LABELS, SOURCE_LABELS

TIER_LABELS: dict[Tier, str] = {Tier.village: "村(社区)级", Tier.town: "镇级", Tier.city: "市级"}
LOCATION_KIND_LABELS: dict[UnitKind, str] = {
    UnitKind.village_station: "村(社区)",
    UnitKind.town_centre: "镇(未指明村/社区)",
}

# Every reason triage (and an agency's intake) gives, in Chinese and English, by key. The Chinese is
# what is stored with the case and shown by default; the English is produced from the stored Chinese
# when a reader chose English (``reason_in_english``), so cases registered before it had English read
# in English too. Placeholders: {unit} is "name(code)", {place}/{agency}/{suggested} a unit's name,
# {dispute_type}/{sector}/{flags}/{source}/{tier}/{location_kind}/{scope} Chinese labels, the rest numbers.
REASONS: dict[str, tuple[str, str]] = {
    "catch_all": ("未匹配其他分流规则(兜底规则)", "No other routing rule matched (the catch-all rule)"),
    "report": (
        "存在民转刑风险, 须立即报告(《人民调解法》第二十五条)",
        "Risk of the dispute turning criminal: to be reported at once (People's Mediation Law, art. 25)",
    ),
    "station": (
        "分派至纠纷发生地调解组织: {unit}",
        "Assigned to the mediation committee where the dispute arose: {unit}",
    ),
    "town_only": (
        "发生地仅登记到镇, 未指明村(社区), 由{unit}处理",
        "The place is known only to the town, not the village or community; handled by {unit}",
    ),
    "town": ("分派至镇级中心: {unit}", "Assigned to the town centre: {unit}"),
    "no_town": ("发生地不属任何镇, 由{unit}处理", "The place belongs to no town; handled by {unit}"),
    "city": ("分派至市级中心: {unit}", "Assigned to the city centre: {unit}"),
    "manual": ("登记后交由{unit}人工分派", "Registered for {unit} to assign by hand"),
    "sector_of": (
        "{dispute_type}纠纷由{sector}类调委会受理",
        "{dispute_type} disputes are heard by the {sector} committee",
    ),
    "no_committee": (
        "无{sector}类行业性专业性调委会, 转由{unit}处理",
        "There is no sectoral committee for {sector}; handled by {unit}",
    ),
    "committee": (
        "分派至{scope}行业性专业性调委会: {unit}",
        "Assigned to {scope} sectoral committee: {unit}",
    ),
    "dispute_type": ("纠纷类型: {dispute_type}", "Dispute type: {dispute_type}"),
    "amount_at_least": (
        "争议金额 {amount} 元 ≥ {limit} 元",
        "Amount in dispute {amount} yuan ≥ {limit} yuan",
    ),
    "no_amount": (
        "未涉及争议金额(视为低于 {limit} 元)",
        "No amount in dispute (taken as below {limit} yuan)",
    ),
    "amount_below": ("争议金额 {amount} 元 < {limit} 元", "Amount in dispute {amount} yuan < {limit} yuan"),
    "people_at_least": ("涉及人数 {people} 人 ≥ {limit} 人", "People involved: {people} ≥ {limit}"),
    "people_below": ("涉及人数 {people} 人 < {limit} 人", "People involved: {people} < {limit}"),
    "flags": ("标记: {flags}", "Flags: {flags}"),
    "source": ("来源: {source}", "Source: {source}"),
    "requested_tier": (
        "当事人请求由{tier}调解组织处理",
        "A party asked for a mediation body at {tier} level",
    ),
    "location_kind": ("发生地为{location_kind}: {place}", "The place is a {location_kind}: {place}"),
    "agency_intake": ("由{agency}受理登记（行政调解）", "Registered by {agency} (administrative mediation)"),
    "agency_suggestion": (
        "分级诊疗建议: {suggested}（规则 {rule}）",
        "Triage suggested: {suggested} (rule {rule})",
    ),
}

REPORT_REASON = REASONS["report"][0]
LOCATION_KIND_EN: dict[UnitKind, str] = {
    UnitKind.village_station: "village or community",
    UnitKind.town_centre: "town (no village or community given)",
}
SCOPE_EN = {"本镇": "the town's", "全市": "the city's"}


def say(key: str, **values: str) -> str:
    """The Chinese reason ``key`` with its values filled in."""
    return REASONS[key][0].format(**values)


@dataclass(frozen=True)
class EnglishWords:
    """Where the English of a reason's values comes from: the units and the catalogue's labels."""

    unit: Callable[[str], str | None]  # by code
    unit_named: Callable[[str], str | None]  # by Chinese name
    label: Callable[[str, str], str]  # (vocabulary, member value) -> English
    tier: Callable[[Tier], str]


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
    return re.compile(regex)


_PATTERNS = [(key, _pattern(zh), en) for key, (zh, en) in REASONS.items()]
_UNIT_WITH_CODE = re.compile(r"(?P<name>.+)\((?P<code>[0-9A-Z-]+)\)")
_BY_LABEL: dict[str, dict[str, str]] = {
    "dispute_type": {label: member.value for member, label in DISPUTE_TYPE_LABELS.items()},
    "flag": {label: member.value for member, label in FLAG_LABELS.items()},
    "source": {label: member.value for member, label in SOURCE_LABELS.items()},
}


def reason_in_english(text: str, words: EnglishWords) -> str | None:
    """The English of one reason triage gave, or None when ``text`` is not one of ``REASONS``."""
    for _key, pattern, english in _PATTERNS:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        values = {name: _value_in_english(name, value, words) for name, value in found.groupdict().items()}
        if all(value is not None for value in values.values()):
            return english.format(**values)
    return None


def _value_in_english(name: str, value: str, words: EnglishWords) -> str | None:
    if name == "unit":
        found = _UNIT_WITH_CODE.fullmatch(value)
        english = words.unit(found.group("code")) if found else None
        return f"{english} ({found.group('code')})" if found and english else None
    if name in ("place", "agency", "suggested"):
        return words.unit_named(value) or (value if value.isascii() else None)
    if name in ("dispute_type", "sector"):
        member = _BY_LABEL["dispute_type"].get(value)
        return words.label("dispute_type", member) if member else None
    if name == "flags":
        members = [_BY_LABEL["flag"].get(part) for part in value.split("、")]
        return ", ".join(words.label("flag", m) for m in members if m) if all(members) else None
    if name == "source":
        member = _BY_LABEL["source"].get(value)
        return words.label("source", member) if member else None
    if name == "tier":
        tier = next((t for t, label in TIER_LABELS.items() if label == value), None)
        return words.tier(tier) if tier else None
    if name == "location_kind":
        kind = next((k for k, label in LOCATION_KIND_LABELS.items() if label == value), None)
        return LOCATION_KIND_EN[kind] if kind else None
    if name == "scope":
        return SCOPE_EN.get(value)
    return value if value.isascii() else None
