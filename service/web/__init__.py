"""Server-rendered pages for mediators, town centres, the court desk and the city centre."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"


class CompressPages:
    """Gzip for pages and their assets (a phone on a weak connection), never for the JSON API:
    its responses are small and its hot paths are measured against the database's own limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=1000, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/api/"):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    from service.web import (
        assignment,
        attachments,
        audit,
        case_file,
        consents,
        dashboard,
        desk,
        documents,
        filings,
        majors,
        me,
        pages,
        reports,
        roster,
        screening,
        sessions,
        subsidy,
    )

    app.include_router(reports.router)  # before pages: /cases/{id}/crime-reports/new is not a case
    app.include_router(consents.router)
    app.include_router(assignment.router)  # before pages: /cases/{id}/mediators is not a case
    app.include_router(documents.router)  # before pages: /cases/{id}/documents is not a case
    app.include_router(attachments.router)  # before pages: /cases/{id}/attachments is not a case
    app.include_router(sessions.router)  # issue 19: the case's session records
    app.include_router(case_file.router)  # before pages: /cases/{id}/file-number is not a case
    app.include_router(majors.router)  # before pages: /cases/{id}/major-reports is not a case
    app.include_router(pages.router)
    app.include_router(desk.router)
    app.include_router(dashboard.router)
    app.include_router(audit.router)
    app.include_router(me.router)
    app.include_router(roster.router)
    app.include_router(subsidy.router)
    app.include_router(filings.router)
    app.include_router(screening.router)  # the screening register's form and list
    app.mount("/static/app", StaticFiles(directory=STATIC), name="web-static")
    app.add_middleware(CompressPages)
