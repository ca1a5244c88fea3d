"""The one translation catalogue of the web pages: zh-CN by default, English as the switch.

Page strings live in ``messages.yaml``. The workflow's vocabularies (states, triggers, dispute
types, …) take their Chinese from ``workflows/`` — the same words the API and the audit trail use —
and their English from the catalogue's ``labels`` section. Loading fails loudly when a key lacks a
language or a vocabulary member lacks a label, so a missing translation is caught by the tests,
not by a user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml

from workflows.agreement import ART355_LABELS, Art355
from workflows.lifecycle import (
    OUTCOME_LABELS,
    STATE_LABELS,
    TRIGGER_LABELS,
    CaseState,
    Outcome,
    Performance,
    TerminationReason,
    Trigger,
)
from workflows.org import OrgTree, Tier
from workflows.referrals import REFERRAL_LABELS
from workflows.triage import EnglishWords, reason_in_english
from workflows.vocab import (
    CONSENT_MANNER_LABELS,
    DISPUTE_TYPE_LABELS,
    FLAG_LABELS,
    PRIOR_AUTHORITY_LABELS,
    RISK_LABELS,
    SOURCE_LABELS,
    AgreementForm,
    ConsentDecision,
    ConsentManner,
    CourtProcedure,
    DisputeType,
    Flag,
    PartyRole,
    PriorAuthority,
    ReferralKind,
    RiskColour,
    Source,
)

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}

# vocabulary name → (its enum, the Chinese labels kept in workflows/ or None: both in the catalogue)
VOCABULARIES: dict[str, tuple[type[StrEnum], Mapping[Any, str] | None]] = {
    "state": (CaseState, STATE_LABELS),
    "trigger": (Trigger, TRIGGER_LABELS),
    "dispute_type": (DisputeType, DISPUTE_TYPE_LABELS),
    "source": (Source, SOURCE_LABELS),
    "flag": (Flag, FLAG_LABELS),
    "risk": (RiskColour, RISK_LABELS),
    "outcome": (Outcome, OUTCOME_LABELS),
    "referral_kind": (ReferralKind, REFERRAL_LABELS),
    "art355": (Art355, ART355_LABELS),
    "termination_reason": (TerminationReason, None),
    "performance": (Performance, None),
    "agreement_form": (AgreementForm, None),
    "procedure": (CourtProcedure, None),
    "party_role": (PartyRole, None),
    "prior_authority": (PriorAuthority, PRIOR_AUTHORITY_LABELS),
    "consent_manner": (ConsentManner, CONSENT_MANNER_LABELS),
    "consent_decision": (ConsentDecision, None),
}


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True)
class Catalogue:
    messages: dict[str, dict[str, str]]
    labels: dict[str, dict[str, dict[str, str]]]  # vocabulary → member → language → text
    deadline_names_en: dict[str, str]  # policy kind → English (Chinese: the policy's own name)
    legal_texts_en: dict[str, str] = field(default_factory=dict)  # a legal source's Chinese → English

    def text(self, lang: str, key: str, **values: Any) -> str:
        entry = self.messages.get(key)
        if entry is None:
            raise KeyError(f"no message {key!r} in the catalogue")
        template = entry[lang]
        return template.format(**values) if values else template

    def label(self, lang: str, vocabulary: str, value: str | None) -> str:
        if value is None:
            return ""
        member = self.labels[vocabulary].get(str(value))
        return member[lang] if member else str(value)

    def deadline_name(self, lang: str, kind: str, chinese: str) -> str:
        return self.deadline_names_en.get(kind, chinese) if lang == "en" else chinese

    def legal_text(self, lang: str, chinese: str) -> str:
        """A deadline's legal source or local decision in ``lang``; each known text is replaced,
        longest first, so a source joined from several ("…; …") reads in English too."""
        if lang != "en" or not chinese:
            return chinese
        for known in sorted(self.legal_texts_en, key=len, reverse=True):
            chinese = chinese.replace(known, self.legal_texts_en[known])
        return chinese

    def options(self, lang: str, vocabulary: str) -> list[tuple[str, str]]:
        """(value, label) for every member, in the vocabulary's own order."""
        return [(value, texts[lang]) for value, texts in self.labels[vocabulary].items()]


def _parse(raw: Any) -> Catalogue:
    problems: list[str] = []
    messages: dict[str, dict[str, str]] = {}
    for key, entry in (raw.get("messages") or {}).items():
        if not isinstance(key, str) or not isinstance(entry, dict) or set(entry) != set(LANGUAGES):
            problems.append(f"messages.{key}: needs exactly the languages {', '.join(LANGUAGES)}")
            continue
        messages[key] = {lang: str(entry[lang]) for lang in LANGUAGES}
    labels: dict[str, dict[str, dict[str, str]]] = {}
    english = raw.get("labels") or {}
    for name, (enum, chinese) in VOCABULARIES.items():
        given = english.get(name) or {}
        labels[name] = {}
        for member in enum:
            entry = given.get(member.value)
            if entry is None:
                problems.append(f"labels.{name}.{member.value}: missing")
                continue
            if chinese is not None:
                labels[name][member.value] = {"zh": chinese[member], "en": str(entry)}
            elif isinstance(entry, dict) and set(entry) == set(LANGUAGES):
                labels[name][member.value] = {lang: str(entry[lang]) for lang in LANGUAGES}
            else:
                problems.append(f"labels.{name}.{member.value}: needs zh and en")
    if problems:
        raise CatalogueError("messages.yaml: " + "; ".join(problems))
    names = raw.get("deadline_names_en") or {}
    legal = raw.get("legal_texts_en") or {}
    return Catalogue(
        messages=messages,
        labels=labels,
        deadline_names_en={str(k): str(v) for k, v in names.items()},
        legal_texts_en={str(k): str(v) for k, v in legal.items()},
    )


@cache
def catalogue() -> Catalogue:
    text = resources.files("service.web").joinpath("messages.yaml").read_text(encoding="utf-8")
    return _parse(yaml.safe_load(text))


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The reader's choice (the switch sets a cookie); otherwise zh-CN, the product's language."""
    if cookie in LANGUAGES:
        return str(cookie)
    return DEFAULT_LANGUAGE


# Server-made texts join several reasons with a full-width semicolon (the case's "created" event,
# an inbox item); each part is put in English on its own.
_PARTS = "；"


def english_words(cat: Catalogue, org: OrgTree) -> EnglishWords:
    named = {unit.name: unit for unit in org}

    def unit_named(name: str) -> str | None:
        unit = named.get(name)
        return unit.name_in("en") if unit else None

    def tier(value: Tier) -> str:
        return cat.text("en", f"tier.{value.value}").lower()

    return EnglishWords(
        unit=lambda code: org.name_of(code, "en"),
        unit_named=unit_named,
        label=lambda vocabulary, value: cat.label("en", vocabulary, value),
        tier=tier,
    )


def server_text(lang: str, text: str, cat: Catalogue, org: OrgTree) -> str:
    """A text the server wrote in Chinese (a triage reason, …) in the reader's language.

    Texts it does not know are returned as they are: what people typed stays as typed.
    """
    if lang != "en" or not text:
        return text
    words = english_words(cat, org)
    parts = [reason_in_english(part, words) or part for part in text.split(_PARTS)]
    return "; ".join(parts)
