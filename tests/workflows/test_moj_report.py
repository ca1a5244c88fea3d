"""The MoJ report's rules, pure: each case once, first event decides, windows, folding, the rate."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from service.config.units import load_units
from workflows.moj_report import (
    ROW_BY_KEY,
    ROWS,
    CaseFact,
    Column,
    EventFact,
    Measure,
    Window,
    case_view,
    cell_key,
    evaluate_row,
    parse_cell,
    rate,
)
from workflows.org import OrgTree
from workflows.screening import prevented_at
from workflows.vocab import DisputeType

ORG: OrgTree = load_units(Path(__file__).resolve().parents[2] / "config" / "units")
MARCH = Window(datetime(2026, 2, 28, 16, tzinfo=UTC), datetime(2026, 3, 31, 16, tzinfo=UTC))
DASHI, WULIAN, ZHANGPU, POLICE = "320583106005", "320583100210", "320583106", "PS-320583106"


def at(day: int) -> datetime:
    return datetime(2026, 3, day, 2, tzinfo=UTC)


def fact(
    case_id: int, dispute_type: str = "NEIGHBOUR", source: str = "application", people: int = 2
) -> CaseFact:
    return CaseFact(case_id, dispute_type, source, people)


def count(
    row: str, events: list[EventFact], cases: dict[int, CaseFact], **kw: object
) -> tuple[object, list[int]]:
    tally = evaluate_row(
        ROW_BY_KEY[row],
        events,
        cases,
        kw.get("delegations", {}),  # type: ignore[arg-type]
        ORG,
        kw.get("units"),  # type: ignore[arg-type]
        kw.get("window", MARCH),  # type: ignore[arg-type]
    )
    return tally.value, tally.case_ids


def test_a_case_accepted_twice_counts_once_where_it_was_first_accepted() -> None:
    events = [EventFact(1, at(3), "accept", DASHI), EventFact(1, at(9), "accept", ZHANGPU)]
    cases = {1: fact(1)}

    assert count("accepted", events, cases) == (1, [1])
    assert count("org_community", events, cases) == (1, [1])
    assert count("org_township", events, cases) == (0, [])


def test_events_outside_the_window_or_the_channel_do_not_count() -> None:
    events = [
        EventFact(1, datetime(2026, 2, 28, 15, 59, tzinfo=UTC), "accept", DASHI),  # 23:59 on 28 Feb
        EventFact(2, at(5), "accept", POLICE),  # administrative mediation
        EventFact(3, MARCH.end, "accept", DASHI),  # 1 April in Kunshan
    ]
    cases = {i: fact(i) for i in (1, 2, 3)}

    assert count("accepted", events, cases) == (0, [])
    assert count("admin_accepted", events, cases) == (1, [2])


def test_scope_limits_the_units_whose_events_count() -> None:
    events = [EventFact(1, at(3), "accept", DASHI), EventFact(2, at(3), "accept", WULIAN)]
    cases = {1: fact(1), 2: fact(2)}

    assert count("accepted", events, cases, units=ORG.subtree(ZHANGPU)) == (1, [1])


def test_types_fold_and_labour_has_its_total() -> None:
    types = ["FINANCE", "VILLAGE_AFFAIRS", "OTHER", "LABOUR_WAGE_ARREARS", "LABOUR_OTHER"]
    cases = {i: fact(i, t) for i, t in enumerate(types, start=1)}
    events = [EventFact(i, at(4), "accept", DASHI) for i in cases]

    assert count("type_OTHER", events, cases)[0] == 3
    assert count("type_LABOUR", events, cases)[0] == 2
    assert count("type_LABOUR_WAGE_ARREARS", events, cases)[0] == 1
    type_rows = [r for r in ROWS if r.key.startswith("type_") and r.level == 0]
    assert sum(count(r.key, events, cases)[0] for r in type_rows) == 5  # type: ignore[misc]
    assert "type_FINANCE" not in ROW_BY_KEY and "type_VILLAGE_AFFAIRS" not in ROW_BY_KEY
    assert len(type_rows) == len(DisputeType) - 3  # FINANCE, VILLAGE_AFFAIRS folded; labour in one


def test_a_court_delegation_makes_the_source_court_only_once_it_happened() -> None:
    base = fact(1, source="application")
    in_march, in_april = [at(20)], [datetime(2026, 4, 2, tzinfo=UTC)]

    assert case_view(base, in_march, MARCH).source == "court"
    assert case_view(base, in_april, MARCH).source == "application"
    events = [EventFact(1, at(3), "accept", DASHI)]
    assert count("source_court", events, {1: base}, delegations={1: in_march}) == (1, [1])
    assert count("source_application", events, {1: base}, delegations={1: in_march}) == (0, [])


def test_amounts_are_the_agreed_ones_and_people_are_the_cases() -> None:
    events = [
        EventFact(1, at(3), "settle", DASHI, amount=Decimal("2000")),
        EventFact(2, at(4), "settle", DASHI, amount=None),
        EventFact(3, at(5), "prevented_crime", WULIAN),
        EventFact(3, at(6), "prevented_crime", WULIAN),  # two reports handled: one case
    ]
    cases = {1: fact(1), 2: fact(2), 3: fact(3, people=7)}

    assert count("agreed_amount", events, cases) == (Decimal("2000.00"), [1, 2])
    assert count("criminal_prevented", events, cases) == (1, [3])
    assert count("criminal_prevented_people", events, cases) == (7, [3])


@pytest.mark.parametrize(
    ("top", "bottom", "expected"), [(3, 4, Decimal("0.7500")), (0, 0, None), (2, 2, Decimal("1"))]
)
def test_the_rate_has_a_denominator_or_is_blank(top: int, bottom: int, expected: Decimal | None) -> None:
    assert rate(top, bottom) == expected


def test_every_success_is_among_the_concluded_so_the_rate_stays_under_one() -> None:
    events = [
        EventFact(1, at(3), "settle", DASHI),
        EventFact(2, at(3), "terminate", DASHI),
        EventFact(2, at(9), "settle", DASHI),  # ended, then settled after all
    ]
    cases = {1: fact(1), 2: fact(2)}
    settled, concluded = count("settled", events, cases), count("concluded", events, cases)

    assert set(settled[1]) <= set(concluded[1])
    assert rate(settled[0], concluded[0]) == Decimal("1")  # type: ignore[arg-type]


def test_every_row_is_defined_and_every_cell_parses() -> None:
    for row in ROWS:
        assert row.label_zh and row.label_en and row.item and row.definition_zh and row.definition_en
        assert (row.measure == Measure.rate) == (row.rate_of is not None)
        assert row.measure in (Measure.stock, Measure.rate, Measure.register) or row.triggers
        for column in Column:
            assert parse_cell(cell_key(row.key, column)) == (row, column)
    assert parse_cell("accepted.week") is None and parse_cell("nothing.month") is None


def test_the_docs_define_every_row() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "moj_report.md").read_text(encoding="utf-8")
    assert [row.key for row in ROWS if f"`{row.key}`" not in docs] == []


def test_a_risk_counts_as_prevented_once_acknowledged_and_closed_unless_it_happened_by_then() -> None:
    closed, acked = at(10), at(20)

    assert prevented_at(closed, acked, []) == acked  # the later of the two: a late acknowledgement
    assert prevented_at(acked, closed, []) == acked
    assert prevented_at(None, acked, []) is None and prevented_at(closed, None, []) is None
    assert prevented_at(closed, acked, [at(15)]) is None  # it happened before it was handled
    assert prevented_at(closed, acked, [at(20)]) is None
    assert prevented_at(closed, acked, [at(25)]) == acked  # recorded later: the count stands
