"""The routes the law opens on a labour dispute (workflows/labour.py): arbitration after 15 days
without agreement (劳动争议调解仲裁法 art. 14 ¶3), a 支付令 when a wage, medical-cost or compensation
agreement is not performed (art. 16)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from workflows.calendar import SHANGHAI
from workflows.labour import (
    ARBITRATION,
    PAYMENT_ORDER,
    Clock,
    arbitration_open,
    labour_routes,
    opened_by_breach,
    payment_order_open,
    settles_payment_matters,
)
from workflows.lifecycle import CaseState
from workflows.vocab import DisputeType

S = CaseState
WAGES = DisputeType.LABOUR_WAGE_ARREARS
LABOUR = DisputeType.LABOUR_OTHER
NOW = datetime(2026, 3, 20, 10, tzinfo=SHANGHAI)
RAN_OUT = Clock("labour_mediation", "active", NOW - timedelta(hours=1))
RUNNING = Clock("labour_mediation", "active", NOW + timedelta(days=2))


def test_arbitration_opens_when_the_fifteen_days_ran_out_without_agreement() -> None:
    assert arbitration_open(WAGES, S.mediating, [RAN_OUT], NOW)
    assert arbitration_open(LABOUR, S.suspended, [Clock("labour_mediation", "breached", NOW)], NOW)
    assert not arbitration_open(WAGES, S.mediating, [RUNNING], NOW)


@pytest.mark.parametrize(
    ("dispute_type", "state", "clock"),
    [
        (DisputeType.NEIGHBOUR, S.mediating, RAN_OUT),  # not a labour dispute
        (WAGES, S.settled, RAN_OUT),  # agreement reached
        (WAGES, S.mediating, Clock("labour_mediation", "met", NOW - timedelta(days=1))),
        (WAGES, S.mediating, Clock("people_mediation", "breached", NOW)),  # another clock
    ],
)
def test_arbitration_is_not_shown_otherwise(
    dispute_type: DisputeType, state: CaseState, clock: Clock
) -> None:
    assert not arbitration_open(dispute_type, state, [clock], NOW)


def test_a_wage_agreement_settles_wages_and_another_labour_agreement_says_what_it_settles() -> None:
    assert settles_payment_matters(WAGES, {"terms": "支付工资 8000 元"})
    assert not settles_payment_matters(LABOUR, {"terms": "恢复劳动关系"})
    assert settles_payment_matters(LABOUR, {"labour_matters": ["medical_costs"]})
    assert not settles_payment_matters(DisputeType.CONTRACT, {"labour_matters": ["wages"]})
    assert not settles_payment_matters(WAGES, None)


@pytest.mark.parametrize("performance", ["partially", "not_performed"])
def test_a_payment_order_opens_when_such_an_agreement_is_not_fully_performed(performance: str) -> None:
    assert payment_order_open(WAGES, S.settled, {"terms": "工资"}, performance)
    assert not payment_order_open(WAGES, S.settled, {"terms": "工资"}, "performed")
    assert not payment_order_open(WAGES, S.settled, {"terms": "工资"}, None)


def test_the_routes_say_what_to_tell_the_parties_and_on_which_article() -> None:
    routes = labour_routes(WAGES, S.settled, [], {"terms": "工资"}, "not_performed", NOW)

    assert [r["route"] for r in routes] == [PAYMENT_ORDER]
    assert routes[0]["basis"] == "劳动争议调解仲裁法 第16条" and "支付令" in routes[0]["text"]
    waiting = labour_routes(WAGES, S.mediating, [RAN_OUT], None, None, NOW)
    assert [r["route"] for r in waiting] == [ARBITRATION] and "仲裁" in waiting[0]["text"]
    assert labour_routes(DisputeType.NEIGHBOUR, S.mediating, [RAN_OUT], None, None, NOW) == []


def test_only_the_labour_clocks_breach_opens_a_route() -> None:
    opened = opened_by_breach("labour_mediation")

    assert opened is not None and opened["route"] == ARBITRATION
    assert opened_by_breach("people_mediation") is None
