"""The lifecycle as data (``GET /api/v1/workflow``) and the health probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from service import clock
from service.config.calendars import calendar_warnings
from service.context import ContextDep
from service.db import EngineDep
from workflows.lifecycle import STATE_LABELS, TRANSITIONS, TRIGGER_LABELS, CaseState, Trigger, mermaid_diagram

router = APIRouter(tags=["workflow"])


class StateOut(BaseModel):
    state: CaseState
    label: str


class TriggerOut(BaseModel):
    trigger: Trigger
    label: str


class TransitionOut(BaseModel):
    trigger: Trigger
    source: list[CaseState]
    dest: CaseState
    conditions: list[str]


class WorkflowOut(BaseModel):
    states: list[StateOut]
    triggers: list[TriggerOut]
    transitions: list[TransitionOut]
    mermaid: str


@router.get("/api/v1/workflow", response_model=WorkflowOut, operation_id="get_workflow")
async def workflow() -> WorkflowOut:
    """States, triggers and the transition table, exactly as the service enforces them."""
    return WorkflowOut(
        states=[StateOut(state=s, label=STATE_LABELS[s]) for s in CaseState],
        triggers=[TriggerOut(trigger=t, label=TRIGGER_LABELS[t]) for t in Trigger],
        transitions=[
            TransitionOut(
                trigger=r.trigger,
                source=list(r.source),
                dest=r.dest,
                conditions=[g.__name__ for g in r.conditions],
            )
            for r in TRANSITIONS
        ],
        mermaid=mermaid_diagram(),
    )


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
