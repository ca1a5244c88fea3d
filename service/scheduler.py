"""The in-memory APScheduler that drives the sweep, the webhook delivery and the audit checkpoints.

It holds no state of its own: every deadline and outbox row is in the database, so any number
of processes may run it (rows are claimed with SKIP LOCKED) and a restart loses nothing —
whatever fell due while everything was stopped is picked up by the next run.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from time import perf_counter

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from service import clock
from service.config.webhooks import TargetPolicy
from service.context import AppContext
from service.integrity.checkpoint import take_checkpoint, write_checkpoint
from service.notifications.delivery import deliver_due
from service.notifications.transport import PinnedTransport, Resolver, system_resolver
from service.observability import metrics
from service.sweep import sweep

log = logging.getLogger(__name__)


def http_client(ctx: AppContext, *, resolve: Resolver = system_resolver) -> httpx.AsyncClient:
    """The webhook client: public addresses only, checked at every request (PinnedTransport)."""
    timeout = httpx.Timeout(ctx.settings.webhook_timeout_seconds)
    transport = PinnedTransport(TargetPolicy.from_settings(ctx.settings), resolve=resolve)
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": "jiefen-webhooks/1"},
    )


def build_scheduler(engine: AsyncEngine, ctx: AppContext, client: httpx.AsyncClient) -> AsyncIOScheduler:
    settings = ctx.settings

    async def sweep_job() -> None:
        now = clock.now()
        lag = await metrics.sweep_lag_seconds(engine, now)
        started = perf_counter()
        report = await sweep(engine, ctx, now=now)
        metrics.record_sweep(
            seconds=perf_counter() - started,
            lag_seconds=lag,
            warned=report.warned,
            breached=report.breached,
            duplicates=report.duplicates,
        )
        if report.warned or report.breached:
            log.info("sweep: %s warnings, %s breaches %s", report.warned, report.breached, report.actions)

    async def delivery_job() -> None:
        report = await deliver_due(
            engine, client, cipher=ctx.cipher, now=clock.now(), max_attempts=settings.webhook_max_attempts
        )
        metrics.record_delivery(delivered=report.delivered, failed=report.failed, dead=report.dead)
        if report.delivered or report.failed or report.dead:
            log.info(
                "webhooks: %s delivered, %s to retry, %s dead", report.delivered, report.failed, report.dead
            )

    async def checkpoint_job() -> None:
        directory = settings.audit_checkpoint_dir
        assert directory is not None
        settle = timedelta(seconds=settings.audit_checkpoint_settle_seconds)
        checkpoint = await take_checkpoint(engine, now=clock.now(), settle=settle)
        path = write_checkpoint(directory, checkpoint)
        log.info(
            "audit checkpoint: %s cases, %s events → %s", checkpoint["cases"], checkpoint["case_events"], path
        )

    scheduler = AsyncIOScheduler(timezone="Asia/Shanghai")
    first_run = datetime.now(clock.SHANGHAI)
    # coalesce + max_instances=1: a slow sweep is never stacked; misfires just run once, late.
    common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None, "next_run_time": first_run}
    scheduler.add_job(sweep_job, "interval", seconds=settings.sweep_interval_seconds, id="sweep", **common)
    scheduler.add_job(
        delivery_job, "interval", seconds=settings.delivery_interval_seconds, id="deliver-webhooks", **common
    )
    if settings.audit_checkpoint_dir is not None:
        minutes = settings.audit_checkpoint_minutes
        scheduler.add_job(checkpoint_job, "interval", minutes=minutes, id="audit-checkpoint", **common)
    return scheduler
