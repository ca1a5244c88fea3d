"""Server-rendered pages for mediators, town centres, the court desk and the city centre."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    from service.web import dashboard, desk, pages

    app.include_router(pages.router)
    app.include_router(desk.router)
    app.include_router(dashboard.router)
    app.mount("/static/app", StaticFiles(directory=STATIC), name="web-static")
