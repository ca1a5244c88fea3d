"""The routes the law opens on a labour dispute in mediation (劳动争议调解仲裁法), told to the mediator
at the moment they open.

- **Arbitration** (art. 14 ¶3): when no agreement is reached within 15 days of the day the mediation
  organisation received the application, either party may apply for labour arbitration. The
  15 days are the ``labour_mediation`` clock (``config/deadlines.yaml``), which starts when the
  application arrives at a unit; once it has run out while the case is still without agreement, the
  route is open.
- **支付令** (art. 16): when an agreement on unpaid wages (劳动报酬), work-injury medical costs
  (工伤医疗费), or economic compensation or damages (经济补偿或者赔偿金) is not performed by the
  employer within the agreed period, the worker may apply to the court for a payment order on the
  strength of the agreement. A wage-arrears dispute settles wages by its nature; any other labour
  agreement says which of these matters it settles (``labour_matters``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workflows.lifecycle import CaseState, Performance
from workflows.vocab import DisputeType, LabourMatter

LABOUR_TYPES = frozenset({DisputeType.LABOUR_WAGE_ARREARS, DisputeType.LABOUR_OTHER})
LABOUR_CLOCK = "labour_mediation"  # the policy kind of the 15 days (art. 14 ¶3)

ARBITRATION = "arbitration"
PAYMENT_ORDER = "payment_order"

ROUTE_TEXT = {
    ARBITRATION: "自收到调解申请之日起十五日内未达成调解协议，任何一方当事人可以依法申请劳动争议仲裁"
    "（劳动争议调解仲裁法 第14条第3款）",
    PAYMENT_ORDER: "用人单位在协议约定期限内未履行拖欠劳动报酬、工伤医疗费、经济补偿或者赔偿金的调解协议，"
    "劳动者可以持调解协议书依法向人民法院申请支付令（劳动争议调解仲裁法 第16条）",
}
ROUTE_BASIS = {ARBITRATION: "劳动争议调解仲裁法 第14条第3款", PAYMENT_ORDER: "劳动争议调解仲裁法 第16条"}

# Still without agreement: the 15 days count against these states.
_WITHOUT_AGREEMENT = frozenset({CaseState.assigned, CaseState.mediating, CaseState.suspended})
_LIVE_CLOCK = frozenset({"active", "paused", "breached"})
_NOT_PERFORMED = frozenset({Performance.partially.value, Performance.not_performed.value})


@dataclass(frozen=True)
class Clock:
    """A clock of the case as the routes need it."""

    kind: str
    status: str
    due_at: datetime


def route(name: str) -> dict[str, Any]:
    return {"route": name, "text": ROUTE_TEXT[name], "basis": ROUTE_BASIS[name]}


def arbitration_open(
    dispute_type: DisputeType, state: CaseState, clocks: Iterable[Clock], now: datetime
) -> bool:
    """Art. 14 ¶3: the 15 days since the application arrived have run out without agreement."""
    if dispute_type not in LABOUR_TYPES or state not in _WITHOUT_AGREEMENT:
        return False
    return any(
        c.kind == LABOUR_CLOCK and c.status in _LIVE_CLOCK and (c.status == "breached" or c.due_at <= now)
        for c in clocks
    )


def settles_payment_matters(dispute_type: DisputeType, agreement: Mapping[str, Any] | None) -> bool:
    """The agreement settles wages, work-injury medical costs, or compensation or damages."""
    if dispute_type not in LABOUR_TYPES or not agreement:
        return False
    if dispute_type == DisputeType.LABOUR_WAGE_ARREARS:
        return True
    matters = {str(m) for m in agreement.get("labour_matters") or ()}
    return bool(matters & {m.value for m in LabourMatter})


def payment_order_open(
    dispute_type: DisputeType, state: CaseState, agreement: Mapping[str, Any] | None, performance: str | None
) -> bool:
    """Art. 16: such an agreement was found not (fully) performed at the last follow-up."""
    return (
        state in (CaseState.settled, CaseState.closed)
        and performance in _NOT_PERFORMED
        and settles_payment_matters(dispute_type, agreement)
    )


def labour_routes(
    dispute_type: DisputeType,
    state: CaseState,
    clocks: Iterable[Clock],
    agreement: Mapping[str, Any] | None,
    performance: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The routes open now, each with what to tell the parties and its legal basis."""
    opened = []
    if arbitration_open(dispute_type, state, clocks, now):
        opened.append(route(ARBITRATION))
    if payment_order_open(dispute_type, state, agreement, performance):
        opened.append(route(PAYMENT_ORDER))
    return opened


def opened_by_breach(clock_kind: str) -> dict[str, Any] | None:
    """The route a clock's breach opens (told once, with the breach): the labour clock's opens
    arbitration."""
    return route(ARBITRATION) if clock_kind == LABOUR_CLOCK else None
