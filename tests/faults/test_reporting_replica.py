"""Statistics and reports read from a streaming replica (``JIEFEN_REPORTING_DATABASE_URL``).

A private primary and a hot standby made from it with ``pg_basebackup -R`` (streaming, as an
operator sets one up), and a real `jiefen serve` given both URLs. With the standby's replay
paused, a case registered on the primary is in the case list (primary) but not yet in the
statistics, the dashboard or the monthly report (the replica); once replay resumes they count it.
The standby's own view of its sessions shows the service's connections there, and the XLSX
export, whose audit record is a write, still succeeds (the record goes to the primary).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from service import clock
from service.clock import SHANGHAI
from tests.builders import case_body
from tests.faults.conftest import Api, PrivateCluster, service_env, sign_in
from tests.ports import free_port


class Standby(PrivateCluster):
    """A hot standby of ``primary``: its data directory copied by pg_basebackup, which also
    writes the connection to the primary and standby.signal (-R)."""

    def __init__(self, primary: PrivateCluster) -> None:
        # initdb may be a link on PATH into PostgreSQL's own bindir, where pg_basebackup lives.
        self.bindir = (primary.bindir / "initdb").resolve().parent
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="jiefen-replica-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/jiefen"
        self.primary = primary

    def create(self) -> None:
        if os.geteuid() == 0:  # as in PrivateCluster: postgres owns the data
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            "pg_basebackup",
            "-D",
            str(self.data),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            "postgres",
            "-X",
            "stream",
            "-R",
            "--no-sync",
        )
        self.start()


def dsn(url: str) -> str:
    return url.replace("+asyncpg", "")


@pytest.fixture
async def standby(private_cluster: PrivateCluster) -> AsyncIterator[Standby]:
    replica = Standby(private_cluster)
    try:
        replica.create()
        yield replica
    finally:
        replica.destroy()


async def registered_on(url: str) -> int:
    conn = await asyncpg.connect(dsn(url), timeout=10)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM cases"))
    finally:
        await conn.close()


async def exports_on(url: str) -> int:
    """The statistics exports recorded in that database's security log."""
    conn = await asyncpg.connect(dsn(url), timeout=10)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM security_event WHERE kind = 'stats_exported'"))
    finally:
        await conn.close()


async def caught_up(primary: str, replica: str, within: float = 20) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    conn = await asyncpg.connect(dsn(primary), timeout=10)
    try:
        target = await conn.fetchval("SELECT pg_current_wal_lsn()")
    finally:
        await conn.close()
    conn = await asyncpg.connect(dsn(replica), timeout=10)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await conn.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", target):
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError(f"the replica did not replay up to {target} within {within} s")


async def test_statistics_and_reports_read_from_the_replica(
    private_cluster: PrivateCluster, standby: Standby, tmp_path: Path
) -> None:
    api = Api(service_env(private_cluster.url, JIEFEN_REPORTING_DATABASE_URL=standby.url), tmp_path)
    api.spawn()
    replica = await asyncpg.connect(dsn(standby.url), timeout=10)
    try:
        await api.wait_ready()
        assert await replica.fetchval("SELECT pg_is_in_recovery()")
        mediator = await sign_in(api.base, "dashi.mediator")
        coordinator = await sign_in(api.base, "city.coordinator")
        month = clock.now().astimezone(SHANGHAI).strftime("%Y-%m")
        async with httpx.AsyncClient(base_url=api.base, timeout=20) as client:

            async def figures() -> tuple[int, int, int]:
                overview = await client.get("/api/v1/stats/overview", headers=coordinator)
                report = await client.get(f"/api/v1/stats/report?month={month}", headers=coordinator)
                listed = await client.get("/api/v1/cases", headers=coordinator)
                for answer in (overview, report, listed):
                    assert answer.status_code == 200, answer.text
                return (
                    int(overview.json()["registered"]),
                    int(report.json()["total"]["registered"]),
                    int(listed.json()["total"]),
                )

            first = await client.post("/api/v1/cases", json=case_body(), headers=mediator)
            assert first.status_code == 201, first.text
            await caught_up(private_cluster.url, standby.url)
            assert await figures() == (1, 1, 1)
            # The service holds its reporting sessions on the replica (pg_stat_activity there).
            sessions = await replica.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'jiefen'"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            assert sessions >= 1

            # Replay paused: the primary has the second case (the list), the replica not yet.
            await replica.execute("SELECT pg_wal_replay_pause()")
            second = await client.post("/api/v1/cases", json=case_body(), headers=mediator)
            assert second.status_code == 201, second.text
            assert await registered_on(private_cluster.url) == 2
            assert await registered_on(standby.url) == 1
            assert await figures() == (1, 1, 2)
            dashboard = await client.get(
                "/dashboard", cookies={"jiefen_session": coordinator["Authorization"][7:]}
            )
            assert dashboard.status_code == 200, dashboard.text[:500]
            # The export's audit record is written to the primary, though the figures come from
            # a read-only standby.
            exported = await client.get(
                f"/api/v1/stats/report?month={month}&format=xlsx", headers=coordinator
            )
            assert exported.status_code == 200, exported.text
            # The MoJ report reads the standby too: its file, drill-down and page answer there,
            # the file's security record going to the primary.
            moj = await client.get(f"/api/v1/stats/moj?month={month}&format=csv", headers=coordinator)
            assert moj.status_code == 200, moj.text
            drill = await client.get(
                f"/api/v1/stats/moj/cells/accepted.month/cases?month={month}", headers=coordinator
            )
            assert drill.status_code == 200, drill.text
            page = await client.get(
                f"/stats/moj?month={month}", cookies={"jiefen_session": coordinator["Authorization"][7:]}
            )
            assert page.status_code == 200, page.text[:500]
            assert await exports_on(private_cluster.url) == 2

            await replica.execute("SELECT pg_wal_replay_resume()")
            await caught_up(private_cluster.url, standby.url)
            assert await figures() == (2, 2, 2)
    finally:
        await replica.close()
        api.stop()
