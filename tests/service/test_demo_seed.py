"""The demo data `jiefen serve --demo` seeds, on both databases, the way the command runs it."""

from __future__ import annotations

import sqlalchemy as sa

from service.demo import seed_cases
from service.integrity.verify import verify_audit
from tests.conftest import FIXED_NOW, Backend
from workflows.transition import ARRIVAL_KINDS


async def test_demo_cases_walk_their_paths_and_each_row_holds_its_own_values(db: Backend) -> None:
    made = await seed_cases(db.engine, db.ctx, 40, FIXED_NOW)

    assert made == 40
    async with db.engine.connect() as conn:
        states = dict((await conn.execute(sa.text("SELECT state, count(*) FROM cases GROUP BY state"))).all())
        kinds = set((await conn.execute(sa.text("SELECT DISTINCT kind FROM deadline"))).scalars())
        inbox = set((await conn.execute(sa.text("SELECT DISTINCT kind FROM inbox_item"))).scalars())
    assert sum(states.values()) == 40 and len(states) > 3, states
    # Each clock is one of the configured legal time limits, and each inbox item an arrival, a
    # referral notice or a report of a crime risk (a demo case flagged criminal_risk files them):
    # no statement wrote one row's values into another's columns.
    assert kinds and kinds <= {policy.kind for policy in db.ctx.policies.policies}, kinds
    assert inbox and inbox <= ARRIVAL_KINDS | {
        "referral_sent",
        "sent_case_result",
        "referral_result",
        "warning",
        "breach",
        "crime_report",
    }, inbox
    report = await verify_audit(db.engine)
    assert report.intact and report.cases == 40
