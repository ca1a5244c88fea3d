"""以案定补 use cases: read a unit's month (computed, or frozen once approved), approve it, record a
correction, export it. Each write is one transaction with its security event.

Who may do what (the API and the pages alike):

- a coordinator reads, approves, corrects and exports the months of the units in their subtree;
- a mediator reads and exports their own station's month, and sees only their own lines (the
  other mediators' shares are not theirs to read); approving or correcting is 403;
- an auditor reads and exports any unit's month (the ledger is audited), changes nothing (403);
- other roles (agency officers, the court desk, administrators): 403.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.audit.events import record_security_event
from service.casefile import service as casefile
from service.casefile.queries import Holding
from service.errors import Conflict, Forbidden, NotFound, field_error
from service.stats.queries import Period
from service.subsidy import queries
from service.subsidy.schemas import (
    ApprovalIn,
    CaseLine,
    CorrectionIn,
    CorrectionOut,
    Label,
    MediatorTotal,
    Share,
    SubsidyMonthOut,
)
from workflows.case_file import check
from workflows.lifecycle import Actor, Role
from workflows.org import OrgTree
from workflows.subsidy import (
    DIFFICULTY_LABELS,
    REASON_LABELS,
    CaseFile,
    Difficulty,
    Reason,
    SubsidyRules,
    assess,
    split,
)
from workflows.vocab import DISPUTE_TYPE_LABELS, DisputeType

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Access:
    unit_code: str
    units: frozenset[str]  # the unit's subtree: whose closed cases the month counts
    may_write: bool
    own_mediator: int | None  # a mediator's roster id; None: every line
    own_lines_only: bool


def _unit_of(org: OrgTree, unit_code: str) -> str:
    if unit_code not in org:
        raise field_error("path.unit_code", f"no unit with code {unit_code!r}")
    return unit_code


def check_access(actor: Actor, org: OrgTree, unit_code: str) -> tuple[str, bool, bool]:
    """(unit, may write, own lines only) for ``actor`` on ``unit_code``'s ledger: 403 for a role
    that has no ledger, 404 for a unit outside the actor's scope, 422 for an unknown unit."""
    if actor.role not in (Role.coordinator, Role.mediator, Role.auditor):
        raise Forbidden(f"The {actor.role} role has no subsidy ledger; coordinators keep it.")
    unit = _unit_of(org, unit_code)
    if actor.role == Role.coordinator:
        if unit not in org.subtree(actor.unit_code):
            raise NotFound(f"Unit {unit} is not within your scope.")
        return unit, True, False
    if actor.role == Role.mediator:
        if unit != actor.unit_code:
            raise NotFound(f"Unit {unit} is not within your scope.")
        return unit, False, True
    return unit, False, False


async def _access(conn: AsyncConnection, actor: Actor, org: OrgTree, unit_code: str) -> Access:
    unit, may_write, own_only = check_access(actor, org, unit_code)
    own = await queries.mediator_of_user(conn, actor.user_id) if own_only else None
    return Access(unit, org.subtree(unit), may_write, own, own_only)


def _type_label(code: str) -> str:
    return DISPUTE_TYPE_LABELS.get(DisputeType(code), code) if code in DisputeType.__members__ else code


def _with_file_gaps(case: queries.ClosedCase, holding: Holding, rules: SubsidyRules) -> CaseFile:
    """The case as the rules see it, with what its case file check finds missing."""
    record = case.record
    found = check(
        casefile.facts(
            state=record.state,
            outcome=case.file.outcome,
            termination_reason=record.termination_reason,
            summary=record.summary,
            parties=record.parties,
            consents=record.consents,
            agreement=case.file.agreement,
            performance=case.file.performance,
            holding=holding,
        ),
        rules.file_rules,
    )
    return replace(case.file, file_gaps=tuple(item.value for item in found.gaps))


async def _computed(
    conn: AsyncConnection, rules: SubsidyRules, access: Access, period: Period
) -> tuple[list[CaseLine], list[MediatorTotal]]:
    start, end = period.start_at, period.end_at
    closed = await queries.closed_cases(conn, access.units, start, end)
    who = await queries.mediating(conn, access.units, start, end)
    paid = await queries.paid_elsewhere(conn, access.units, start, end)
    held = await casefile.holdings(conn, [case.file.case_id for case in closed])
    out: list[CaseLine] = []
    for case in closed:
        on_case = who.get(case.file.case_id, [])
        result = assess(_with_file_gaps(case, held[case.file.case_id], rules), rules, mediators=len(on_case))
        reasons = list(result.reasons)
        earlier = paid.get(case.file.case_id)
        if earlier is not None:
            reasons.append(Reason.already_paid)
        amount = result.amount if not reasons else ZERO
        names = {m.mediator_id: m.name for m in on_case}
        shares = (
            [
                Share(mediator_id=s.mediator_id, name=names[s.mediator_id], role=s.role, amount_yuan=s.amount)
                for s in split(amount, [(m.mediator_id, m.role) for m in on_case], rules)
            ]
            if not reasons
            else []
        )
        out.append(
            CaseLine(
                case_id=case.file.case_id,
                number=case.number,
                dispute_type=case.file.dispute_type,
                dispute_type_label=_type_label(case.file.dispute_type),
                difficulty=result.difficulty.value,
                difficulty_label=DIFFICULTY_LABELS[result.difficulty],
                unit_code=case.unit_code,
                closed_at=case.closed_at,
                eligible=not reasons,
                amount_yuan=amount,
                reasons=[Label(code=r.value, label=REASON_LABELS[r]) for r in reasons],
                missing_file=list(result.missing),
                paid_in_unit=earlier.unit_code if earlier else None,
                paid_in_month=earlier.month if earlier else None,
                shares=shares,
                mediator_ids=[m.mediator_id for m in on_case],
            )
        )
    return out, _totals(out, [])


@dataclass
class _Tally:
    name: str
    cases: int = 0
    shares: Decimal = ZERO
    corrections: Decimal = ZERO


def _totals(case_lines: list[CaseLine], corrections: list[CorrectionOut]) -> list[MediatorTotal]:
    """Per mediator: the cases shared in, the shares, the corrections, the total to pay."""
    totals: dict[int, _Tally] = {}
    for line in case_lines:
        for share in line.shares:
            tally = totals.setdefault(share.mediator_id, _Tally(share.name))
            tally.cases += 1
            tally.shares += share.amount_yuan
    for correction in corrections:
        totals.setdefault(
            correction.mediator_id, _Tally(correction.name)
        ).corrections += correction.amount_yuan
    return [
        MediatorTotal(
            mediator_id=mediator_id,
            name=t.name,
            cases=t.cases,
            shares_yuan=t.shares,
            corrections_yuan=t.corrections,
            total_yuan=t.shares + t.corrections,
        )
        for mediator_id, t in sorted(totals.items(), key=lambda kv: (kv[1].name, kv[0]))
    ]


async def _frozen(
    conn: AsyncConnection, month: queries.ApprovedMonth
) -> tuple[list[CaseLine], list[CorrectionOut]]:
    rows = await queries.ledger_lines(conn, month.id)
    shares: dict[int, list[Share]] = {}
    corrections: list[CorrectionOut] = []
    for line in rows:
        if line.kind == "share" and line.case_id is not None:
            shares.setdefault(line.case_id, []).append(
                Share(
                    mediator_id=line.mediator_id,
                    name=line.mediator_name,
                    role=line.role or "",
                    amount_yuan=line.amount_yuan,
                )
            )
        else:
            corrections.append(
                CorrectionOut(
                    id=line.id,
                    mediator_id=line.mediator_id,
                    name=line.mediator_name,
                    case_id=line.case_id,
                    amount_yuan=line.amount_yuan,
                    reason=line.reason or "",
                    recorded_at=line.recorded_at,
                    recorded_by=line.recorded_by,
                )
            )
    case_lines = [
        CaseLine(
            case_id=c.case_id,
            number=c.number,
            dispute_type=c.dispute_type,
            dispute_type_label=_type_label(c.dispute_type),
            difficulty=c.difficulty,
            difficulty_label=DIFFICULTY_LABELS.get(Difficulty(c.difficulty), c.difficulty),
            closed_at=c.closed_at,
            eligible=True,
            amount_yuan=c.amount_yuan,
            shares=shares.get(c.case_id, []),
            mediator_ids=[share.mediator_id for share in shares.get(c.case_id, [])],
        )
        for c in await queries.ledger_cases(conn, month.id)
    ]
    return case_lines, corrections


def _only_own(out: SubsidyMonthOut, mediator_id: int | None) -> SubsidyMonthOut:
    """A mediator's view: the cases they mediated (paid, or why not), their own share and
    corrections only."""
    cases = [
        c.model_copy(
            update={
                "shares": [s for s in c.shares if s.mediator_id == mediator_id],
                "amount_yuan": sum((s.amount_yuan for s in c.shares if s.mediator_id == mediator_id), ZERO),
                "mediator_ids": [mediator_id],
            }
        )
        for c in out.cases
        if mediator_id in c.mediator_ids
    ]
    corrections = [c for c in out.corrections if c.mediator_id == mediator_id]
    mediators = [m for m in out.mediators if m.mediator_id == mediator_id]
    return out.model_copy(
        update={
            "cases": cases,
            "corrections": corrections,
            "mediators": mediators,
            "eligible_cases": sum(1 for c in cases if c.eligible),
            "total_yuan": sum((m.total_yuan for m in mediators), ZERO),
        }
    )


async def _month(
    conn: AsyncConnection, rules: SubsidyRules, access: Access, period: Period
) -> SubsidyMonthOut:
    label = period.months()[0]
    approved = await queries.approved_month(conn, access.unit_code, label)
    if approved is None:
        case_lines, totals = await _computed(conn, rules, access, period)
        corrections: list[CorrectionOut] = []
    else:
        case_lines, corrections = await _frozen(conn, approved)
        totals = _totals(case_lines, corrections)
    out = SubsidyMonthOut(
        unit_code=access.unit_code,
        month=label,
        status="computed" if approved is None else "approved",
        approved_at=approved.approved_at if approved else None,
        approved_by=approved.approved_by if approved else None,
        basis=rules.basis,
        own_lines_only=access.own_lines_only,
        eligible_cases=sum(1 for c in case_lines if c.eligible),
        total_yuan=sum((m.total_yuan for m in totals), ZERO),
        mediators=totals,
        cases=case_lines,
        corrections=corrections,
    )
    return _only_own(out, access.own_mediator) if access.own_lines_only else out


def month_period(month: str) -> Period:
    return Period.month(month, "path.month")


async def read_month(
    engine: AsyncEngine, org: OrgTree, rules: SubsidyRules, actor: Actor, unit_code: str, month: str
) -> SubsidyMonthOut:
    period = month_period(month)
    async with engine.connect() as conn:
        access = await _access(conn, actor, org, unit_code)
        return await _month(conn, rules, access, period)


def _writer(actor: Actor, org: OrgTree, unit_code: str) -> None:
    _, may_write, _ = check_access(actor, org, unit_code)
    if not may_write:
        raise Forbidden("Only a coordinator of the unit approves or corrects its subsidy ledger.")


async def approve(
    engine: AsyncEngine,
    org: OrgTree,
    rules: SubsidyRules,
    actor: Actor,
    unit_code: str,
    month: str,
    body: ApprovalIn,
    *,
    now: datetime,
    client_ip: str | None = None,
) -> SubsidyMonthOut:
    """Freeze the month as computed now: the paid cases and each mediator's share are written, and
    the month can be neither computed nor approved again (a correction is the way to change it)."""
    _writer(actor, org, unit_code)
    period = month_period(month)
    if now < period.end_at:
        raise Conflict(f"{period.months()[0]} has not ended yet: a month is approved once it is over.")
    try:
        async with engine.begin() as conn:
            access = await _access(conn, actor, org, unit_code)
            if await queries.approved_month(conn, access.unit_code, period.months()[0]) is not None:
                raise Conflict(f"The subsidy of {period.months()[0]} for {unit_code} is already approved.")
            computed = await _month(conn, rules, access, period)
            if body.reviewed_total_yuan is not None and body.reviewed_total_yuan != computed.total_yuan:
                raise Conflict(
                    f"The month now totals {computed.total_yuan} yuan, not the {body.reviewed_total_yuan}"
                    " you reviewed: the cases changed since. Review it again.",
                    total_yuan=str(computed.total_yuan),
                )
            month_id = await queries.insert_month(
                conn,
                {
                    "unit_code": access.unit_code,
                    "month": computed.month,
                    "approved_at": now,
                    "approved_by": actor.username,
                    "total_yuan": computed.total_yuan,
                    "rules": rules.model_dump(mode="json"),
                },
            )
            paid = [c for c in computed.cases if c.eligible]
            await queries.insert_rows(
                conn,
                [
                    {
                        "month_id": month_id,
                        "case_id": c.case_id,
                        "case_number": c.number,
                        "dispute_type": c.dispute_type,
                        "difficulty": c.difficulty,
                        "closed_at": c.closed_at,
                        "amount_yuan": c.amount_yuan,
                    }
                    for c in paid
                ],
                [
                    {
                        "month_id": month_id,
                        "mediator_id": s.mediator_id,
                        "case_id": c.case_id,
                        "kind": "share",
                        "role": s.role,
                        "amount_yuan": s.amount_yuan,
                        "reason": None,
                        "recorded_at": now,
                        "recorded_by": actor.username,
                    }
                    for c in paid
                    for s in c.shares
                ],
            )
            await record_security_event(
                conn,
                kind="subsidy_approved",
                actor=actor.username,
                actor_role=actor.role.value,
                actor_unit_code=actor.unit_code,
                payload={
                    "unit": access.unit_code,
                    "month": computed.month,
                    "cases": len(paid),
                    "total_yuan": str(computed.total_yuan),
                },
                client_ip=client_ip,
                now=now,
            )
    except IntegrityError:
        # Another coordinator approved this month, or a month paying one of these cases, meanwhile.
        raise Conflict(
            f"The subsidy of {period.months()[0]} for {unit_code} was approved meanwhile, or one of its"
            " cases was paid by another month. Read it again."
        ) from None
    return await read_month(engine, org, rules, actor, unit_code, month)


async def correct(
    engine: AsyncEngine,
    org: OrgTree,
    rules: SubsidyRules,
    actor: Actor,
    unit_code: str,
    month: str,
    body: CorrectionIn,
    *,
    now: datetime,
    client_ip: str | None = None,
) -> CorrectionOut:
    """A new line on an approved month (the approved lines are never changed), with its reason."""
    _writer(actor, org, unit_code)
    period = month_period(month)
    async with engine.begin() as conn:
        approved = await queries.approved_month(conn, unit_code, period.months()[0])
        if approved is None:
            raise Conflict(
                f"The subsidy of {period.months()[0]} for {unit_code} is not approved yet: until it is,"
                " it follows the cases; correct the cases instead."
            )
        name = await queries.mediator_name(conn, body.mediator_id)
        if name is None:
            raise field_error("body.mediator_id", f"no mediator with id {body.mediator_id}")
        if body.case_id is not None:
            paid = {c.case_id for c in await queries.ledger_cases(conn, approved.id)}
            if body.case_id not in paid:
                raise field_error("body.case_id", "the case is not among the cases this month paid")
        line_id = await queries.insert_line(
            conn,
            {
                "month_id": approved.id,
                "mediator_id": body.mediator_id,
                "case_id": body.case_id,
                "kind": "correction",
                "role": None,
                "amount_yuan": body.amount_yuan,
                "reason": body.reason,
                "recorded_at": now,
                "recorded_by": actor.username,
            },
        )
        await record_security_event(
            conn,
            kind="subsidy_corrected",
            actor=actor.username,
            actor_role=actor.role.value,
            actor_unit_code=actor.unit_code,
            case_id=body.case_id,
            reason=body.reason,
            payload={
                "unit": unit_code,
                "month": approved.month,
                "mediator_id": body.mediator_id,
                "amount_yuan": str(body.amount_yuan),
            },
            client_ip=client_ip,
            now=now,
        )
    return CorrectionOut(
        id=line_id,
        mediator_id=body.mediator_id,
        name=name,
        case_id=body.case_id,
        amount_yuan=body.amount_yuan,
        reason=body.reason,
        recorded_at=now,
        recorded_by=actor.username,
    )


async def roster(engine: AsyncEngine, org: OrgTree, actor: Actor, unit_code: str) -> list[tuple[int, str]]:
    """The mediators a coordinator's correction may name: those serving the unit's subtree."""
    unit, _, _ = check_access(actor, org, unit_code)
    async with engine.connect() as conn:
        return await queries.roster(conn, org.subtree(unit))
