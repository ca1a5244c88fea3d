"""What every request needs besides the database: the org tree, the triage rules, the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from service.config.settings import Settings
from service.config.webhooks import ConfiguredWebhook
from service.personal.crypto import DataCipher, new_key_line
from workflows.calendar import BusinessCalendar
from workflows.deadlines import PolicySet
from workflows.org import OrgTree
from workflows.triage import RuleSet


@dataclass
class AppContext:
    settings: Settings
    org: OrgTree
    rules: RuleSet
    calendar: BusinessCalendar
    policies: PolicySet
    cipher: DataCipher = field(default_factory=lambda: DataCipher.from_text(new_key_line()))
    webhooks: list[ConfiguredWebhook] = field(default_factory=list)
    # What registration writes with a new case besides its own rows, decided from the request:
    # each hook is called (ctx, body, actor, now) and answers None or an async (conn, case_id)
    # write for the case's transaction (a group dispute's major report, service.screening.major).
    # Wired by service.main.load_context, so the cases package imports none of them.
    after_registration: list[Callable[..., Any]] = field(default_factory=list)
    # What a correction of a case (service.cases.edits.edit_case) writes besides its own event:
    # each hook is called (ctx, row, columns, actor, now) with the case as read and the columns
    # changed, and answers None or an async (conn) write for the correction's transaction (a
    # group-dispute flag added later: its major report). Wired like ``after_registration``.
    after_edit: list[Callable[..., Any]] = field(default_factory=list)


async def get_context(request: Request) -> AppContext:
    # async: FastAPI runs a plain-def dependency in a worker thread, a hop on every request.
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]
