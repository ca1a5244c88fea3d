"""The case page reads the case once: the handler reads the row (with the reader's scope) and
hands it to every section, instead of each section's service call reading it again.

Statements are counted with a SQLAlchemy ``before_cursor_execute`` listener on the app's engine
while the page is served (the second view of it, so nothing cached is counted). Measured with
the test's case (accepted, one session recorded), the same on SQLite and PostgreSQL: before, 33
statements per page view, 11 of them reads of the case row (the page's own, then the events,
the actions, the crime reports, may-file, may-consent, the mediators, the suggestions, the
files, the documents and the file check each read it again); after, 24 statements with one read
of the case, the major-report section's query included."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.web.session import SESSION_COOKIE, csrf_token
from tests.api.test_sessions import lead_of, mediating, record
from tests.conftest import Backend, token_for

pytestmark = pytest.mark.usefixtures("trail_stays_intact")


@contextmanager
def counting(db: Backend) -> Iterator[list[str]]:
    """Every statement the app's engine sends while the block runs."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    target = db.engine.sync_engine
    sa.event.listen(target, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(target, "before_cursor_execute", note)


def case_reads(statements: list[str]) -> int:
    """The reads of a case with its children (``service.cases.queries.case_select``)."""
    return sum(1 for s in statements if "last_event_hash" in s and s.lstrip().upper().startswith("SELECT"))


async def page_client(db: Backend, client: httpx.AsyncClient, username: str) -> httpx.AsyncClient:
    token = await token_for(client, db, username)
    web = httpx.AsyncClient(transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test")
    web.cookies.set(SESSION_COOKIE, token)
    web.headers["X-Test-Csrf"] = csrf_token(token)
    return web


async def test_the_case_page_reads_the_case_once(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")
    recorded = await client.post(
        f"/api/v1/cases/{case['id']}/sessions", json=record(case, lead), headers=mediator
    )
    assert recorded.status_code == 201, recorded.text
    web = await page_client(db, client, "dashi.mediator")
    async with web:
        warm = await web.get(f"/cases/{case['id']}")  # caches (templates, config) filled once
        assert warm.status_code == 200
        with counting(db) as statements:
            page = await web.get(f"/cases/{case['id']}")

    assert page.status_code == 200
    assert "第1次调解" in page.text
    print(f"{db.name}: {len(statements)} statements, {case_reads(statements)} case reads per case page view")
    assert case_reads(statements) == 1
    assert len(statements) <= STATEMENTS, statements


STATEMENTS = 24  # per case page view, measured (see the module's docstring); was 33
