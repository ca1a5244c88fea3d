"""The lifecycle as data (``GET /api/v1/workflow``); the health probes are ``service.health``."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

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
