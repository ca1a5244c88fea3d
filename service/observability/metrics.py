"""Prometheus metrics: what each process measures, and what the database says at scrape time.

Two kinds, on purpose:

* **Per process** (the default registry): HTTP requests and latencies by route template, the
  sweeps and webhook deliveries this process ran, and prometheus_client's process_* metrics.
  With N replicas each exposes its own; Prometheus sums them.
* **From the database** (``DatabaseGauges``): cases by state and tier, overdue deadlines, the
  sweep's backlog, the outbox backlog and dead letters. Read with a few grouped counts when
  ``/metrics`` is scraped, cached for ``metrics_cache_seconds`` so frequent scrapes do not load
  the database; every replica reports the same numbers (aggregate them with ``max``, not
  ``sum``).

Nothing here carries personal data: labels are route templates, states, tiers, policy kinds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import clock
from service.cases.models import Case
from service.deadlines.models import Deadline
from service.notifications.models import OutboxMessage

log = logging.getLogger(__name__)

# The classic text format every Prometheus understands (prometheus_client's newest default
# announces version=1.0.0, which older servers and scrapers reject).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HTTP_REQUESTS = Counter(
    "jiefen_http_requests",
    "HTTP requests handled by this process, by method, route template and status class",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "jiefen_http_request_duration_seconds",
    "Time from request to the end of the response, by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SWEEP_DURATION = Histogram(
    "jiefen_sweep_duration_seconds",
    "Duration of one deadline sweep run by this process",
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
SWEEP_LAG = Gauge(
    "jiefen_sweep_lag_seconds",
    "At the start of this process's last sweep: how long the oldest due warning or breach had waited",
)
SWEEP_LAST_RUN = Gauge(
    "jiefen_sweep_last_run_timestamp_seconds", "When this process's last sweep finished (Unix time)"
)
SWEEP_ACTIONS = Counter(
    "jiefen_sweep_actions", "Warnings and breaches acted on by this process's sweeps", ["action"]
)
WEBHOOK_DELIVERIES = Counter(
    "jiefen_webhook_deliveries", "Webhook delivery attempts by this process, by result", ["result"]
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASSES = {code: f"{code // 100}xx" for code in range(100, 600)}
UNMATCHED = "unmatched"  # no route: raw paths would let any client create label values


class RequestMetrics:
    """Counts and times one request; the labelled children are cached (``labels()`` takes a lock
    and builds a key on every call, this is one dict lookup on the hot path)."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            if method not in _METHODS:
                method = "other"
            status_class = _STATUS_CLASSES.get(status, "other")
            children = (
                HTTP_REQUESTS.labels(method, route, status_class),
                HTTP_DURATION.labels(method, route),
            )
            if len(self._children) < 10_000:  # bounded: methods and routes are finite anyway
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def record_sweep(*, seconds: float, lag_seconds: float, warned: int, breached: int, duplicates: int) -> None:
    SWEEP_DURATION.observe(seconds)
    SWEEP_LAG.set(lag_seconds)
    SWEEP_LAST_RUN.set(time.time())
    SWEEP_ACTIONS.labels("warned").inc(warned)
    SWEEP_ACTIONS.labels("breached").inc(breached)
    SWEEP_ACTIONS.labels("duplicate").inc(duplicates)


def record_delivery(*, delivered: int, failed: int, dead: int) -> None:
    WEBHOOK_DELIVERIES.labels("delivered").inc(delivered)
    WEBHOOK_DELIVERIES.labels("failed").inc(failed)
    WEBHOOK_DELIVERIES.labels("dead").inc(dead)


deadline = Deadline.__table__  # type: ignore[attr-defined]
cases = Case.__table__  # type: ignore[attr-defined]
outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
ACTIVE = deadline.c.status == "active"


async def sweep_lag_seconds(engine: AsyncEngine, now: datetime) -> float:
    """How long the oldest due, not yet handled warning or breach has waited (0 when none):
    two lookups on the sweep's partial indexes."""
    async with engine.connect() as conn:
        return _age(now, await _oldest_due(conn, now))


async def _oldest_due(conn: AsyncConnection, now: datetime) -> datetime | None:
    due = sa.select(sa.func.min(deadline.c.due_at)).where(ACTIVE, deadline.c.due_at <= now)
    warn = sa.select(sa.func.min(deadline.c.warn_at)).where(ACTIVE, deadline.c.warn_at <= now)
    row = (await conn.execute(sa.select(due.scalar_subquery(), warn.scalar_subquery()))).one()
    return min((at for at in row if at is not None), default=None)


def _age(now: datetime, at: datetime | None) -> float:
    return max(0.0, (now - at).total_seconds()) if at is not None else 0.0


@dataclass
class Snapshot:
    cases: list[tuple[str, str, int]] = field(default_factory=list)  # state, tier, count
    overdue: list[tuple[str, int]] = field(default_factory=list)  # policy kind, count
    sweep_pending: dict[str, int] = field(default_factory=dict)  # breach|warn → count
    sweep_pending_age: float = 0.0
    outbox_pending: int = 0
    outbox_dead: int = 0
    outbox_pending_age: float = 0.0


async def read_snapshot(engine: AsyncEngine, now: datetime) -> Snapshot:
    snap = Snapshot()
    async with engine.connect() as conn:
        by_state = sa.select(cases.c.state, cases.c.tier, sa.func.count()).group_by(
            cases.c.state, cases.c.tier
        )
        snap.cases = [(r[0], r[1], r[2]) for r in await conn.execute(by_state)]
        # Overdue: the clock ran out and the case has not moved on (breached), or ran out and the
        # sweep has not got to it yet.
        overdue = (
            sa.select(deadline.c.kind, sa.func.count())
            .where(
                sa.or_(deadline.c.status == "breached", sa.and_(ACTIVE, deadline.c.due_at <= now)),
            )
            .group_by(deadline.c.kind)
        )
        snap.overdue = [(r[0], r[1]) for r in await conn.execute(overdue)]
        pending = sa.select(
            sa.select(sa.func.count()).where(ACTIVE, deadline.c.due_at <= now).scalar_subquery(),
            sa.select(sa.func.count()).where(ACTIVE, deadline.c.warn_at <= now).scalar_subquery(),
        )
        breach, warn = (await conn.execute(pending)).one()
        snap.sweep_pending = {"breach": breach, "warn": warn}
        snap.sweep_pending_age = _age(now, await _oldest_due(conn, now))
        backlog = (
            sa.select(outbox.c.status, sa.func.count(), sa.func.min(outbox.c.created_at))
            .where(outbox.c.status.in_(("pending", "dead")))
            .group_by(outbox.c.status)
        )
        for status, count, oldest in await conn.execute(backlog):
            if status == "pending":
                snap.outbox_pending, snap.outbox_pending_age = count, _age(now, oldest)
            else:
                snap.outbox_dead = count
    return snap


class DatabaseGauges(Collector):
    """Gauges read from the database at scrape time, at most once per ``max_age`` seconds."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self.snapshot = Snapshot()
        self.ok = False
        self._taken_at = float("-inf")
        self._lock = asyncio.Lock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    async def refresh(self, engine: AsyncEngine, now: datetime) -> None:
        if time.monotonic() - self._taken_at < self.max_age:
            return
        async with self._lock:  # concurrent scrapes wait for one refresh instead of each running one
            if time.monotonic() - self._taken_at < self.max_age:
                return
            try:
                self.snapshot, self.ok = await read_snapshot(engine, now), True
            except Exception as exc:  # a scrape must still answer with the process metrics
                log.warning("metrics: database gauges not refreshed: %s", type(exc).__name__)
                self.ok = False
            self._taken_at = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        up = GaugeMetricFamily("jiefen_db_metrics_ok", "1 if the last read of the database gauges worked")
        up.add_metric([], 1.0 if self.ok else 0.0)
        yield up
        by_state = GaugeMetricFamily(
            "jiefen_cases", "Cases by lifecycle state and tier", labels=["state", "tier"]
        )
        for state, tier, count in snap.cases:
            by_state.add_metric([state, tier], count)
        yield by_state
        overdue = GaugeMetricFamily(
            "jiefen_deadlines_overdue",
            "Deadlines past due on cases that have not moved on, by policy kind",
            labels=["kind"],
        )
        for kind, count in snap.overdue:
            overdue.add_metric([kind], count)
        yield overdue
        pending = GaugeMetricFamily(
            "jiefen_sweep_pending",
            "Active deadlines whose breach or warning time has passed but the sweep has not handled yet",
            labels=["action"],
        )
        for action, count in snap.sweep_pending.items():
            pending.add_metric([action], count)
        yield pending
        yield GaugeMetricFamily(
            "jiefen_sweep_pending_age_seconds",
            "How long the oldest unhandled due warning or breach has waited (grows if no sweeper runs)",
            value=snap.sweep_pending_age,
        )
        yield GaugeMetricFamily(
            "jiefen_outbox_backlog", "Webhook messages waiting to be delivered", value=snap.outbox_pending
        )
        yield GaugeMetricFamily(
            "jiefen_outbox_backlog_age_seconds",
            "Age of the oldest webhook message waiting to be delivered",
            value=snap.outbox_pending_age,
        )
        yield GaugeMetricFamily(
            "jiefen_outbox_dead_letters",
            "Webhook messages given up after the last attempt (`jiefen outbox retry` resends them)",
            value=snap.outbox_dead,
        )


def install_metrics_route(app: FastAPI, *, cache_seconds: float) -> DatabaseGauges:
    """``GET /metrics``: no token (operational data only), not in the OpenAPI schema."""
    gauges = DatabaseGauges(cache_seconds)
    app.state.database_gauges = gauges

    async def metrics(request: Request) -> Response:
        await gauges.refresh(request.app.state.engine, clock.now())
        body = generate_latest(REGISTRY) + generate_latest(gauges.registry)
        return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    return gauges
