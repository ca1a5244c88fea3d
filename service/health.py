"""The health probes: ``/healthz`` (liveness) and ``/readyz`` (readiness)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from service import clock
from service.config.calendars import calendar_warnings
from service.context import ContextDep
from service.db import EngineDep

# Both tags as when the probes shared the workflow route's router: the OpenAPI document, and the
# clients generated from it, stay as they were.
router = APIRouter(tags=["workflow"])


@router.get("/healthz", operation_id="healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    """The process is up (liveness)."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", tags=["health"], responses={503: {"description": "not ready"}})
async def readyz(engine: EngineDep, ctx: ContextDep) -> JSONResponse:
    """Ready to serve: the database answers. Also says when next year's holiday calendar is missing."""
    warnings = calendar_warnings(ctx.calendar, clock.now().astimezone(clock.SHANGHAI).date())
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        return JSONResponse(
            {"status": "unavailable", "checks": {"database": f"unreachable: {type(exc).__name__}"}},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    checks = {"database": "ok", "calendar": "; ".join(warnings) if warnings else "ok"}
    return JSONResponse({"status": "ok", "checks": checks, "warnings": warnings})
