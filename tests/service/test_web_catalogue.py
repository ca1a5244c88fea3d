"""The translation catalogue: every string a page shows exists in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.i18n import LANGUAGES, VOCABULARIES, CatalogueError, _parse, catalogue
from workflows.lifecycle import Role
from workflows.org import Tier
from workflows.referrals import ReferralStatus
from workflows.transition import ARRIVAL_KINDS

TEMPLATES = Path(__file__).parents[2] / "service" / "web" / "templates"
WEB = Path(__file__).parents[2] / "service" / "web"


def template_texts() -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(TEMPLATES.glob("*.html"))}


def test_every_key_a_template_asks_for_is_in_the_catalogue() -> None:
    messages = catalogue().messages
    asked = {
        (name, key)
        for name, text in template_texts().items()
        for key in re.findall(r"\bt\(['\"]([a-z_.]+)['\"]", text)
        if not key.endswith(".")  # a prefix completed at run time: see the test of dynamic keys
    }

    missing = sorted(f"{name}: {key}" for name, key in asked if key not in messages)

    assert asked and not missing


def test_every_key_the_python_side_asks_for_is_in_the_catalogue() -> None:
    messages = catalogue().messages
    asked = {
        key
        for path in WEB.glob("*.py")
        for key in re.findall(
            r"['\"]((?:signin|error|field|act|new|case|due|inbox|court|dash)\.[a-z_.]+)['\"]",
            path.read_text(),
        )
    }

    asked = {key for key in asked if not key.endswith((".", ".html"))}

    assert asked and sorted(k for k in asked if k not in messages) == []


def test_dynamic_keys_have_an_entry_for_every_value() -> None:
    messages = catalogue().messages
    kinds = {*ARRIVAL_KINDS, "referral_sent", "referral_result", "breach", "warning", "deadline"}
    expected = (
        {f"inbox.kind.{k}" for k in kinds}
        | {f"role.{r.value}" for r in Role}
        | {f"tier.{t.value}" for t in Tier}
        | {f"case.referral.status.{s.value}" for s in ReferralStatus}
        | {f"roster.filter.active.{v}" for v in ("yes", "no", "all")}
        | {f"roster.import.action.{a}" for a in ("create", "update")}
    )

    assert sorted(expected - set(messages)) == []


def test_each_message_has_both_languages_with_the_same_placeholders() -> None:
    for key, texts in catalogue().messages.items():
        assert set(texts) == set(LANGUAGES), key
        zh, en = (set(re.findall(r"\{(\w+)\}", texts[lang])) for lang in ("zh", "en"))
        assert zh == en, key


def test_every_vocabulary_member_has_a_label_in_both_languages() -> None:
    labels = catalogue().labels
    for name, (enum, chinese) in VOCABULARIES.items():
        assert set(labels[name]) == {m.value for m in enum}, name
        for member in enum:
            assert all(labels[name][member.value][lang] for lang in LANGUAGES)
            if chinese is not None:
                assert labels[name][member.value]["zh"] == chinese[member]  # one Chinese, shared


def test_a_missing_translation_fails_loudly_at_load() -> None:
    with pytest.raises(CatalogueError, match=r"messages\.x\.y: needs exactly the languages zh, en"):
        _parse({"messages": {"x.y": {"zh": "只有中文"}}, "labels": {}})
    with pytest.raises(CatalogueError, match=r"labels\.state\.registered: missing"):
        _parse({"messages": {}, "labels": {}})


def test_templates_have_no_inline_script_or_style_the_csp_would_block() -> None:
    for name, text in template_texts().items():
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), name
        assert " style=" not in text and "<style" not in text, name
        assert "javascript:" not in text, name
        assert not re.search(r'(src|href)="(https?:)?//', text), name


def test_every_configured_deadline_policy_has_an_english_name() -> None:
    from service.config.deadlines import load_deadlines

    policies = load_deadlines(Path(__file__).parents[2] / "config" / "deadlines.yaml")

    assert sorted(p.kind for p in policies.policies) == sorted(catalogue().deadline_names_en)
