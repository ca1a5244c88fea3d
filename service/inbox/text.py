"""An inbox item in words, in the reader's language, made at read time from its kind and payload
through the one message catalogue: unit names, labels of states, outcomes and dispute types, and
times in Kunshan's local time (12月4日 00:00 前 / before 4 Dec 00:00) — never a code or an ISO
string. What was stored in Chinese when the item was written (its ``reason``) is shown only when
it is a person's own words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from service.clock import SHANGHAI
from service.i18n import Catalogue, catalogue
from workflows.deadlines import PolicySet
from workflows.org import OrgTree

# Items whose reason the system wrote (in Chinese, with codes or UTC times in older items): their
# words come from the payload alone. Other kinds' reasons are what the person typed.
GENERATED_REASONS = frozenset(
    {
        "new_case",  # the triage's explanation, shown in words on the case page
        "referral_result",
        "sent_case_result",
        "warning",
        "breach",
        "crime_report",
        "crime_report_acknowledged",
        "crime_report_overdue",
        "major_report",
        "major_report_acknowledged",
        "major_report_escalated",
        "screening_missing",
        "mediator_assigned",  # service.assignment's sentence; the payload names the mediator and role
    }
)


@dataclass(frozen=True)
class Words:
    """The catalogue in one language, with the names the service knows."""

    lang: str
    org: OrgTree
    policies: PolicySet
    now: datetime
    cat: Catalogue

    def t(self, key: str, **values: Any) -> str:
        return self.cat.text(self.lang, key, **values)

    def label(self, vocabulary: str, value: Any) -> str:
        return self.cat.label(self.lang, vocabulary, None if value is None else str(value))

    def unit(self, code: str) -> str:
        unit = self.org.find(code)
        if unit is None:
            return code
        return unit.name_in(self.lang)

    def deadline(self, kind: str) -> str:
        policy = self.policies.get(kind)
        return self.cat.deadline_name(self.lang, kind, policy.name if policy else kind)

    def when(self, at: datetime) -> str:
        """12月4日 00:00 / 4 Dec 00:00, with the year when it is not this year's."""
        local = at.astimezone(SHANGHAI)
        month = self.t("inbox.months").split()[local.month - 1]
        values = {"month": month, "day": local.day, "time": local.strftime("%H:%M")}
        if local.year != self.now.astimezone(SHANGHAI).year:
            return self.t("inbox.when_year", year=local.year, **values)
        return self.t("inbox.when", **values)

    def on_day(self, day: date) -> str:
        month = self.t("inbox.months").split()[day.month - 1]
        return self.t("inbox.date", month=month, day=day.day)


def words(lang: str, org: OrgTree, policies: PolicySet, *, now: datetime) -> Words:
    return Words(lang, org, policies, now, catalogue())


def kind_label(w: Words, kind: str) -> str:
    key = f"inbox.kind.{kind}"
    return w.t(key) if key in w.cat.messages else w.t("inbox.kind.other")


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _result(w: Words, result: Mapping[str, Any]) -> str:
    state = w.label("state", result.get("state")) if result.get("state") else ""
    detail = ""
    if result.get("outcome"):
        detail = w.label("outcome", result["outcome"])
    elif result.get("termination_reason"):
        detail = w.label("termination_reason", result["termination_reason"])
    if state and detail:
        return w.t("inbox.text.result_detail", state=state, detail=detail)
    return state or detail


def _deadline(w: Words, kind: str, payload: Mapping[str, Any]) -> str | None:
    due = _time(payload.get("due_at"))
    if due is None or not payload.get("deadline"):
        return None
    key = "inbox.text.due_passed" if kind == "breach" else "inbox.text.due_before"
    return w.t(key, deadline=w.deadline(str(payload["deadline"])), when=w.when(due))


def _alert(w: Words, kind: str, payload: Mapping[str, Any]) -> str | None:
    """The auditors' alerts (service.audit.alerts), each in its own sentence."""
    user = str(payload.get("user", ""))
    if kind == "role_granted":
        requested, approved = payload.get("requested_by"), payload.get("approved_by")
        by = (
            w.t("inbox.text.by_approved", requested=requested, approved=approved)
            if approved
            else w.t("inbox.text.by_created", requested=requested)
        )
        role_key = f"role.{payload.get('role')}"
        role = w.t(role_key) if role_key in w.cat.messages else str(payload.get("role"))
        unit = w.unit(str(payload.get("unit_code", "")))
        return w.t("inbox.text.role_granted", user=user, role=role, unit=unit, by=by)
    if kind == "reveal_after_hours" and (at := _time(payload.get("at"))) is not None:
        return w.t("inbox.text.reveal_after_hours", user=user, when=w.when(at))
    if kind == "reveal_volume":
        try:
            day = w.on_day(date.fromisoformat(str(payload.get("day"))))
        except ValueError:
            return None
        return w.t(
            "inbox.text.reveal_volume",
            user=user,
            day=day,
            count=payload.get("count"),
            limit=payload.get("limit"),
        )
    return None


def item_text(w: Words, kind: str, payload: Mapping[str, Any]) -> str:
    """One line: what happened, to which case, from or to whom, and by when."""
    alert = _alert(w, kind, payload)
    if alert is not None:
        return w.t("inbox.text.head", kind=kind_label(w, kind), rest=alert)
    parts: list[str] = []
    if payload.get("number"):
        parts.append(str(payload["number"]))
    if payload.get("dispute_type"):
        parts.append(w.label("dispute_type", payload["dispute_type"]))
    if payload.get("referral_kind") and kind != "referral_result":
        parts.append(w.label("referral_kind", payload["referral_kind"]))
    if payload.get("mediator") and kind == "mediator_assigned":
        role_key = f"inbox.mediator_role.{payload.get('role')}"
        if role_key in w.cat.messages:
            parts.append(w.t("inbox.text.mediator", mediator=payload["mediator"], role=w.t(role_key)))
        else:
            parts.append(str(payload["mediator"]))
    if payload.get("from_unit_code"):
        parts.append(w.t("inbox.text.from", unit=w.unit(str(payload["from_unit_code"]))))
    if payload.get("to_unit_code"):
        parts.append(w.t("inbox.text.to", unit=w.unit(str(payload["to_unit_code"]))))
    if payload.get("unit_code") and kind == "sent_case_result":
        parts.append(w.t("inbox.text.at", unit=w.unit(str(payload["unit_code"]))))
    if payload.get("state") and isinstance(payload["state"], str):
        parts.append(w.t("inbox.text.state", state=w.label("state", payload["state"])))
    if isinstance(payload.get("result"), Mapping):
        result = _result(w, payload["result"])
        if result:
            parts.append(w.t("inbox.text.result", result=result))
    deadline = _deadline(w, kind, payload)
    if deadline:
        parts.append(deadline)
    if kind == "crime_report" and payload.get("addressee"):
        key = f"inbox.addressee.{payload['addressee']}"
        if key in w.cat.messages:
            parts.append(w.t("inbox.text.addressee", who=w.t(key)))
    if kind.startswith("major_report") and isinstance(payload.get("risks"), list):
        risks = w.t("inbox.text.sep").join(w.label("major_risk", r) for r in payload["risks"])
        parts.append(w.t("inbox.text.risks", risks=risks))
    if kind == "screening_missing" and payload.get("unit_code"):
        parts.append(
            w.t("inbox.text.period", unit=w.unit(str(payload["unit_code"])), period=payload.get("period", ""))
        )
    if payload.get("user"):
        parts.append(w.t("inbox.text.user", user=payload["user"]))
    head = kind_label(w, kind)
    if not parts:
        return head
    return w.t("inbox.text.head", kind=head, rest=w.t("inbox.text.sep").join(parts))


def note_of(kind: str, reason: str | None, caused_by: str | None) -> str | None:
    """The reason as the person who acted wrote it; None when the system wrote it."""
    if not reason or caused_by is None or kind in GENERATED_REASONS:
        return None
    return reason
