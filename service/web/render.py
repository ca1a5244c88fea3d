"""Jinja2 rendering with the reader's language, the signed-in user and the formatting helpers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from service.clock import SHANGHAI
from service.context import AppContext
from service.i18n import HTML_LANG, LANGUAGES, catalogue, pick_language, server_text
from service.web.session import LANGUAGE_COOKIE, WebSession
from workflows.lifecycle import Role


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("service.web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def language_of(request: Request) -> str:
    return pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


def local_time(value: datetime | None) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if value else ""


def local_date(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    return value.isoformat()


def money(value: Decimal | float | int | None) -> str:
    if value is None:
        return ""
    return f"{Decimal(str(value)):,.2f}"


def nav_items(role: Role) -> list[tuple[str, str]]:
    """(path, catalogue key) of the navigation a role needs, in the order they use it."""
    # An administrator manages accounts and sees no case (the case list refuses them).
    items = [] if role == Role.admin else [("/cases", "nav.cases")]
    if role in (Role.mediator, Role.coordinator):
        items.insert(0, ("/me", "nav.me"))  # issue 18: a mediator's own cases and deadlines
    if role in (Role.mediator, Role.coordinator, Role.agency_officer, Role.court_clerk):
        items.append(("/cases/new", "nav.new"))
    if role in (Role.mediator, Role.coordinator, Role.agency_officer, Role.court_clerk, Role.auditor):
        items.append(("/inbox", "nav.inbox"))
    if role in (Role.mediator, Role.coordinator, Role.agency_officer, Role.court_clerk):
        items.append(("/sent", "nav.sent"))
    if role in (Role.coordinator, Role.auditor):
        items.append(("/cases?overdue=1", "nav.overdue"))
    if role in (Role.mediator, Role.coordinator, Role.agency_officer):
        items.append(("/reports", "nav.reports"))
    if role in (Role.mediator, Role.coordinator, Role.auditor):
        items.append(("/screening", "nav.screening"))  # the screening register (排查)
    if role == Role.court_clerk:
        items.insert(0, ("/court", "nav.court"))
    if role in (Role.mediator, Role.coordinator, Role.admin, Role.auditor):
        items.append(("/roster", "nav.roster"))
    if role in (Role.mediator, Role.coordinator, Role.auditor):
        items.append(("/subsidy", "nav.subsidy"))
    if role in (Role.coordinator, Role.auditor, Role.admin):
        items.append(("/dashboard", "nav.dashboard"))
    if role in (Role.coordinator, Role.auditor, Role.admin):
        items.append(("/filings", "nav.filings"))
    if role == Role.auditor:
        items.append(("/audit", "nav.audit"))
    if role == Role.admin:
        items.append(("/admin/role-grants", "nav.grants"))
    return items


class Page:
    """What every template gets: t(), label(), the unit names, the user, the CSRF token."""

    def __init__(self, request: Request, ctx: AppContext, session: WebSession | None) -> None:
        self.request = request
        self.ctx = ctx
        self.session = session
        self.lang = language_of(request)
        self.cat = catalogue()

    def t(self, key: str, **values: Any) -> str:
        return self.cat.text(self.lang, key, **values)

    def label(self, vocabulary: str, value: Any) -> str:
        return self.cat.label(self.lang, vocabulary, None if value is None else str(value))

    def options(self, vocabulary: str) -> list[tuple[str, str]]:
        return self.cat.options(self.lang, vocabulary)

    def deadline(self, kind: str, chinese: str) -> str:
        return self.cat.deadline_name(self.lang, kind, chinese)

    def unit(self, code: str | None) -> str:
        if not code:
            return ""
        unit = self.ctx.org.find(code)
        if unit is None:
            return code
        return unit.name_in(self.lang)

    def units(self, codes: list[str]) -> str:
        """Several units' names as a list reads in the language (张浦镇、昆山市矛调中心)."""
        return self.t("word.list").join(self.unit(c) for c in codes)

    def legal(self, text: str | None) -> str:
        return self.cat.legal_text(self.lang, text or "")

    def server_text(self, text: str | None) -> str:
        """A text the server made in Chinese (a triage reason, a notice) in the reader's language."""
        names = {policy.name: policy.kind for policy in self.ctx.policies.policies}
        return server_text(self.lang, text or "", self.cat, self.ctx.org, names)

    def unit_path(self, code: str) -> str:
        """A village reads better with its town: 张浦镇 · 大市社区."""
        town = self.ctx.org.town_of(code)
        if town is None or town.code == code:
            return self.unit(code)
        return f"{self.unit(town.code)} · {self.unit(code)}"

    def tier(self, value: str | None) -> str:
        return self.t(f"tier.{value}") if value else ""

    def other_language(self) -> str:
        return next(lang for lang in LANGUAGES if lang != self.lang)

    def render(self, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        html = (
            environment()
            .get_template(template)
            .render(
                page=self,
                t=self.t,
                label=self.label,
                unit=self.unit,
                html_lang=HTML_LANG[self.lang],
                user=self.session.actor if self.session else None,
                csrf=self.session.csrf if self.session else "",
                nav=nav_items(self.session.actor.role) if self.session else [],
                path=self.request.url.path,
                local_time=local_time,
                local_date=local_date,
                money=money,
                **values,
            )
        )
        # Pages carry personal data: never kept by a shared cache or the back-forward cache of a
        # phone that is handed to someone else.
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
