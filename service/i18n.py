"""The one translation catalogue of the pages and the API: zh-CN by default, English as the switch.

It sits at the top of ``service`` (not in ``service.web``) so the API can answer in English too
without a domain package importing the pages.

Page strings live in ``messages.yaml``. The workflow's vocabularies (states, triggers, dispute
types, …) take their Chinese from ``workflows/`` — the same words the API and the audit trail use —
and their English from the catalogue's ``labels`` section. Loading fails loudly when a key lacks a
language or a vocabulary member lacks a label, so a missing translation is caught by the tests,
not by a user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml

from service.clock import SHANGHAI
from workflows.agreement import ART29_CONTENTS, ART355_LABELS, Art355
from workflows.labour import ARBITRATION, PAYMENT_ORDER, ROUTE_TEXT
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
from workflows.reporting import ADDRESSEE_LABELS
from workflows.screening import MAJOR_RISK_LABELS, MajorRisk
from workflows.triage_reasons import EnglishWords, reason_in_english
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
    "major_risk": (MajorRisk, MAJOR_RISK_LABELS),
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


# Other texts the server writes in Chinese and keeps (an event's or an inbox item's reason, a
# report's statement, the agreement's eligibility): each Chinese template with its English.
# A placeholder's name says what it holds and so how it is put in English (``_value``).
SERVER_TEXTS: tuple[tuple[str, str], ...] = (
    (
        "依《人民调解法》第二十五条报告{unit_name}（{addressee}）",
        "Reported to {unit_name} under the People's Mediation Law, art. 25 ({addressee})",
    ),
    (
        "民转刑风险报告（{addressee}）：{number}，请查阅并确认收到",
        "Report of a risk of crime ({addressee}): {number}; please read it and confirm receipt",
    ),
    ("{reason}。登记摘要：{summary}", "{reason}. Summary at registration: {summary}"),
    ("{unit_name}确认收到民转刑风险报告", "{unit_name} confirmed receipt of the report of a risk of crime"),
    (
        "{unit_name}已确认收到 {number} 的民转刑风险报告",
        "{unit_name} has confirmed receipt of the report of a risk of crime on {number}",
    ),
    (
        "{unit_name}未在 {hours} 小时内确认收到 {number} 的民转刑风险报告，请跟进",
        "{unit_name} has not confirmed receipt of the report of a risk of crime on {number} within {hours} "
        "hours; please follow up",
    ),
    ("{policy}将于 {due} 届满（{source}）", "{policy} ends {due} ({source})"),
    (
        "{policy}已届满（{source}）。依法可选：经双方当事人同意延长调解期限；"
        "或终止调解（期满未同意延长），并告知当事人可以依法通过仲裁、行政、司法等途径维护权利"
        "（人民调解法 第26条）。办理前本案显示为已逾期。",
        "{policy} has ended ({source}). The law allows: extending the period with both parties' consent; "
        "or ending mediation (period expired, no extension agreed) and telling the parties they may use "
        "arbitration, administrative or judicial routes (People's Mediation Law, art. 26). Until then the "
        "case shows as overdue.",
    ),
    ("{policy}已届满（{source}）", "{policy} has ended ({source})"),
    (
        "口头协议: 申请司法确认须先制作书面调解协议书 (本地做法; 人民调解法 第28、29条)",
        "An oral agreement: a written agreement must be made before applying for judicial confirmation "
        "(local practice; People's Mediation Law, arts. 28 and 29)",
    ),
    (
        "书面调解协议缺少: {contents} (人民调解法 第29条)",
        "The written agreement lacks: {contents} (People's Mediation Law, art. 29)",
    ),
    (
        "协议涉及{art355}，不属于司法确认范围 (民诉解释 第355条)",
        "The agreement concerns {art355}, which judicial confirmation does not cover "
        "(SPC Interpretation of the Civil Procedure Law, art. 355)",
    ),
    # What became of a case or hand-off the reader's unit sent (workflows.transition._result_note).
    ("{of}结果：{state}（{outcome}）", "{of} result: {state} ({outcome})"),
    ("{of}结果：{state}", "{of} result: {state}"),
    (
        ROUTE_TEXT[ARBITRATION],
        "Without an agreement within fifteen days of receiving the application for mediation, either party "
        "may apply for labour dispute arbitration (Labour Dispute Mediation and Arbitration Law, art. 14(3))",
    ),
    (
        ROUTE_TEXT[PAYMENT_ORDER],
        "Where the employer does not perform, within the agreed period, an agreement on unpaid wages, "
        "medical costs of a work injury, economic compensation or damages, the worker may apply to the "
        "people's court for a payment order with the agreement (Labour Dispute Mediation and Arbitration "
        "Law, art. 16)",
    ),
)

# Server-made texts join several reasons with a full-width semicolon (the case's "created" event,
# an inbox item); each part is put in English on its own when the whole is not one known text.
_PARTS = "；"
_ADDRESSEES = {label: member.value for member, label in ADDRESSEE_LABELS.items()}
_ART29 = {label: key for key, label in ART29_CONTENTS.items()}
_ART355 = {label: member.value for member, label in ART355_LABELS.items()}
_STATES = {label: member.value for member, label in STATE_LABELS.items()}
_OUTCOMES = {label: member.value for member, label in OUTCOME_LABELS.items()}
_REFERRALS = {label: member.value for member, label in REFERRAL_LABELS.items()}


def _template(zh: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", zh)
    # A value never spans the full-width semicolon that joins texts, except the typed summary at the end.
    return re.compile(
        "".join(
            re.escape(p) if i % 2 == 0 else f"(?P<{p}>{'.+' if p == 'summary' else '[^；]+?'})"
            for i, p in enumerate(parts)
        )
    )


_SERVER_PATTERNS = [(_template(zh), en) for zh, en in SERVER_TEXTS]


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


@dataclass(frozen=True)
class _Reader:
    cat: Catalogue
    words: EnglishWords
    policy_names: Mapping[str, str]  # a deadline policy's Chinese name → its kind

    def text(self, text: str) -> str | None:
        """``text`` in English, or None where it is not a text the server makes."""
        english = reason_in_english(text, self.words)
        if english is not None:
            return english
        for pattern, template in _SERVER_PATTERNS:
            found = pattern.fullmatch(text)
            if found is None:
                continue
            values = {name: self._value(name, value) for name, value in found.groupdict().items()}
            if all(value is not None for value in values.values()):
                return template.format(**values)
        return None

    def _value(self, name: str, value: str) -> str | None:
        if name == "unit_name":
            return self.words.unit_named(value)
        if name == "addressee":
            member = _ADDRESSEES.get(value)
            return self.cat.text("en", f"report.addressee.{member}") if member else None
        if name == "reason":
            return reason_in_english(value, self.words)
        if name == "policy":
            kind = self.policy_names.get(value)
            return self.cat.deadline_names_en.get(kind) if kind else None
        if name == "source":
            return self.cat.legal_text("en", value)
        if name == "due":
            try:
                return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
            except ValueError:
                return None
        if name == "contents":
            keys = [_ART29.get(part) for part in value.split("、")]
            return ", ".join(self.cat.text("en", f"art29.{k}") for k in keys if k) if all(keys) else None
        if name == "art355":
            members = [_ART355.get(part) for part in value.split("、")]
            return (
                # mid-sentence: "concerns marital status, adoption"
                ", ".join(self.cat.label("en", "art355", m).lower() for m in members if m)
                if all(members)
                else None
            )
        if name == "of":
            if value == "案件":
                return self.cat.text("en", "case.result_of_case")
            kind = _REFERRALS.get(value)
            return self.cat.label("en", "referral_kind", kind) if kind else None
        if name in ("state", "outcome"):
            member = (_STATES if name == "state" else _OUTCOMES).get(value)
            return self.cat.label("en", name, member) if member else None
        if name == "summary":
            return value  # as the person registering it typed it
        return value if value.isascii() else None


def server_text(
    lang: str, text: str, cat: Catalogue, org: OrgTree, policy_names: Mapping[str, str] | None = None
) -> str:
    """A text the server wrote in Chinese (a triage reason, a notice, …) in the reader's language.

    Texts it does not know are returned as they are: what people typed stays as typed.
    """
    if lang != "en" or not text:
        return text
    reader = _Reader(cat, english_words(cat, org), policy_names or {})
    whole = reader.text(text)
    if whole is not None:
        return whole
    return "; ".join(reader.text(part) or part for part in text.split(_PARTS))
