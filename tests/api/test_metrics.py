"""Prometheus metrics at /metrics: per-process request metrics, database gauges at scrape time."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.config.settings import Settings
from service.main import create_app
from service.scheduler import build_scheduler
from tests.builders import open_case
from tests.conftest import CONFIG_DIR, TEST_AUDIT_KEY, TEST_DATA_KEY, Backend, FrozenClock

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def fresh_gauges(db: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read the database on every scrape (the 15 s cache would hide what the test just did)."""
    monkeypatch.setattr(db.app.state.database_gauges, "max_age", 0.0)


async def test_metrics_need_no_token_and_speak_the_classic_text_format(
    client: httpx.AsyncClient, db: Backend
) -> None:
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "# TYPE jiefen_http_requests_total counter" in response.text


async def test_metrics_are_not_in_the_openapi_schema(client: httpx.AsyncClient, db: Backend) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert "/metrics" not in paths


async def test_requests_are_counted_by_route_template_never_by_raw_path(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    labels = {"method": "GET", "route": "/api/v1/cases/{case_id}", "status": "2xx"}
    before = await scrape(client)

    for _ in range(3):
        assert (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).status_code == 200
    await client.get(f"/no/such/path/{case['id']}")
    after = await scrape(client)

    assert value(after, "jiefen_http_requests_total", **labels) - value(
        before, "jiefen_http_requests_total", **labels
    ) == pytest.approx(3)
    duration = {"method": "GET", "route": "/api/v1/cases/{case_id}"}
    assert value(after, "jiefen_http_request_duration_seconds_count", **duration) - value(
        before, "jiefen_http_request_duration_seconds_count", **duration
    ) == pytest.approx(3)
    assert value(after, "jiefen_http_requests_total", method="GET", route="unmatched", status="4xx") >= 1
    label_values = {v for _, labels_ in after for _, v in labels_}
    assert f"/api/v1/cases/{case['id']}" not in label_values
    assert not any(v.startswith("/no/") for v in label_values), label_values


async def test_unknown_methods_share_one_label_value(client: httpx.AsyncClient, db: Backend) -> None:
    await client.request("BREW", "/api/v1/cases")
    after = await scrape(client)

    assert (
        value(after, "jiefen_http_requests_total", method="other", route="/api/v1/cases", status="4xx") >= 1
    )
    assert not any(("method", "BREW") in labels for _, labels in after)


async def test_database_gauges_count_cases_by_state_and_tier_and_overdue_deadlines(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, fresh_gauges: None
) -> None:
    mediator = await auth("dashi.mediator")
    for _ in range(2):
        await open_case(client, mediator)

    now = await scrape(client)
    frozen_clock.set(frozen_clock.at + timedelta(days=400))  # every clock of those cases ran out
    later = await scrape(client)

    assert value(now, "jiefen_cases", state="assigned", tier="village") == 2
    assert value(now, "jiefen_db_metrics_ok") == 1
    assert sum(v for (name, _), v in now.items() if name == "jiefen_deadlines_overdue") == 0
    assert sum(v for (name, _), v in later.items() if name == "jiefen_deadlines_overdue") >= 2
    assert value(later, "jiefen_sweep_pending", action="breach") >= 2
    assert value(later, "jiefen_sweep_pending_age_seconds") > 300 * 24 * 3600
    for name in ("jiefen_outbox_backlog", "jiefen_outbox_backlog_age_seconds", "jiefen_outbox_dead_letters"):
        assert (name, frozenset()) in later


async def test_database_gauges_are_cached_between_scrapes(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    gauges = db.app.state.database_gauges
    gauges.max_age = 0.0
    first = await scrape(client)
    gauges.max_age = 3600.0
    try:
        await open_case(client, await auth("dashi.mediator"))
        cached = await scrape(client)
    finally:
        gauges.max_age = 15.0

    assert value(cached, "jiefen_cases", state="assigned", tier="village") == value(
        first, "jiefen_cases", state="assigned", tier="village"
    )


async def test_metrics_can_be_switched_off() -> None:
    settings = Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        config_dir=CONFIG_DIR,
        data_key=TEST_DATA_KEY,
        audit_key=TEST_AUDIT_KEY,
        metrics_enabled=False,
    )
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/metrics")

    assert response.status_code == 404
    assert response.headers["x-request-id"]


async def test_the_sweep_job_records_its_duration_and_lag(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    await open_case(client, await auth("dashi.mediator"))
    frozen_clock.set(frozen_clock.at + timedelta(days=400))
    before = await scrape(client)

    async with httpx.AsyncClient() as http:
        job = build_scheduler(db.engine, db.ctx, http).get_job("sweep")
        await job.func()
    after = await scrape(client)

    assert (
        value(after, "jiefen_sweep_duration_seconds_count")
        == value(before, "jiefen_sweep_duration_seconds_count") + 1
    )
    assert value(after, "jiefen_sweep_lag_seconds") > 300 * 24 * 3600  # the clock ran out a year ago
    assert value(after, "jiefen_sweep_actions_total", action="breached") > value(
        before, "jiefen_sweep_actions_total", action="breached"
    )
