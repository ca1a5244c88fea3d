"""Restart PostgreSQL under load: 503 + Retry-After while it is away, never a 500 or a stack
trace, /readyz truthful throughout, /healthz always 200, and recovery without a restart."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from tests.builders import case_body
from tests.faults.conftest import Api, PrivateCluster, service_env, sign_in

DB_ROUTES = ("read", "list", "create")
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Seen:
    what: str  # read | list | create | readyz | healthz
    started: float
    ended: float
    status: int | None  # None: no HTTP answer at all
    retry_after: str | None = None
    content_type: str = ""
    body: str = ""


class Recorder:
    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base, self.headers = base, headers
        self.seen: list[Seen] = []
        self.created: dict[int, str] = {}  # acknowledged creates: case id → key
        self.stop = asyncio.Event()

    async def call(self, client: httpx.AsyncClient, what: str, method: str, url: str, **kw: object) -> None:
        started = time.monotonic()
        try:
            response = await client.request(method, url, **kw)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            self.seen.append(Seen(what, started, time.monotonic(), None, body=type(exc).__name__))
            return
        self.seen.append(
            Seen(
                what,
                started,
                time.monotonic(),
                response.status_code,
                response.headers.get("Retry-After"),
                response.headers.get("Content-Type", ""),
                response.text[:500],
            )
        )
        if what == "create" and response.status_code == 201:
            self.created[response.json()["id"]] = str(kw["headers"]["Idempotency-Key"])  # type: ignore[index]

    async def reader(self, case_id: int) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=10) as client:
            while not self.stop.is_set():
                await self.call(client, "read", "GET", f"/api/v1/cases/{case_id}", headers=self.headers)
                await self.call(client, "list", "GET", "/api/v1/cases?limit=5", headers=self.headers)
                await asyncio.sleep(0.02)

    async def creator(self, number: int) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=10) as client:
            serial = 0
            while not self.stop.is_set():
                serial += 1
                key = f"restart-{number}-{serial}"
                headers = {**self.headers, "Idempotency-Key": key}
                await self.call(client, "create", "POST", "/api/v1/cases", json=case_body(), headers=headers)
                await asyncio.sleep(0.02)

    async def prober(self) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=10) as client:
            while not self.stop.is_set():
                await self.call(client, "readyz", "GET", "/readyz")
                await self.call(client, "healthz", "GET", "/healthz")
                await asyncio.sleep(0.05)


async def test_postgres_restart_under_load_answers_503_then_recovers_by_itself(
    private_cluster: PrivateCluster, tmp_path: Path
) -> None:
    api = Api(service_env(private_cluster.url), tmp_path)
    api.spawn()
    try:
        await api.wait_ready()
        headers = await sign_in(api.base, "dashi.mediator")
        async with httpx.AsyncClient(base_url=api.base, timeout=10) as client:
            first = await client.post("/api/v1/cases", json=case_body(), headers=headers)
        assert first.status_code == 201, first.text
        record = Recorder(api.base, headers)
        tasks = [
            asyncio.create_task(record.reader(first.json()["id"])),
            asyncio.create_task(record.reader(first.json()["id"])),
            asyncio.create_task(record.creator(1)),
            asyncio.create_task(record.creator(2)),
            asyncio.create_task(record.prober()),
        ]
        await asyncio.sleep(1.5)  # steady load first

        stopping = time.monotonic()
        await asyncio.to_thread(private_cluster.stop, "fast")  # as `systemctl restart` stops it
        down = time.monotonic()
        await asyncio.sleep(3)
        starting = time.monotonic()
        await asyncio.to_thread(private_cluster.start)
        up = time.monotonic()

        # Recovery by itself: wait (bounded) for the first database-backed success.
        recovered: float | None = None
        while recovered is None and time.monotonic() - up < 15:
            await asyncio.sleep(0.05)
            recovered = next(
                (
                    s.ended
                    for s in record.seen
                    if s.what in DB_ROUTES and s.started >= up and s.status in (200, 201)
                ),
                None,
            )
        await asyncio.sleep(1.5)  # and it stays recovered under load
        record.stop.set()
        await asyncio.gather(*tasks)
    finally:
        api.stop()
    seen = record.seen
    output = api.output

    assert recovered is not None, "the service did not recover within 15 s of PostgreSQL being back"
    recovery = recovered - up

    # No 500 storm: no 500 at all, and no dropped connection, before, during or after.
    assert [s for s in seen if s.status is None or (s.status >= 500 and s.status != 503)] == []
    # Liveness: the process is fine even while its database is not.
    assert {s.status for s in seen if s.what == "healthz"} == {200}

    # Steady state before the stop: everything answered.
    before = [s for s in seen if s.ended < stopping]
    assert before and all(s.status in (200, 201) for s in before), {s.status for s in before}

    # While PostgreSQL is down: every database-backed request is a problem+json 503 with Retry-After…
    while_down = [s for s in seen if s.started >= down and s.ended <= starting]
    db_down = [s for s in while_down if s.what in DB_ROUTES]
    assert len(db_down) >= 10, f"too few requests while PostgreSQL was down: {len(db_down)}"
    wrong = [s for s in db_down if s.status != 503 or not s.retry_after or PROBLEM_JSON not in s.content_type]
    assert wrong == [], wrong[:3]
    assert all(
        '"status":503' in s.body and '"type":"/problems/service-unavailable"' in s.body for s in db_down
    )
    # …and /readyz says so: 503, never 200, while the database is away.
    ready_down = [s.status for s in while_down if s.what == "readyz"]
    assert ready_down and set(ready_down) == {503}

    # After recovery: everything answers again, /readyz included, without restarting the service.
    after = [s for s in seen if s.started >= recovered]
    assert after and all(s.status in (200, 201) for s in after), [
        s for s in after if s.status not in (200, 201)
    ][:3]
    assert api.process is not None and api.starts == 1

    # No stack traces in the service's output: one warning line per failed request is enough.
    assert "Traceback" not in output, output[output.index("Traceback") - 500 :][:3000]

    # Every acknowledged create is in the database.
    conn = await asyncpg.connect(private_cluster.url.replace("+asyncpg", ""))
    try:
        stored = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM cases WHERE id = ANY($1::bigint[])", list(record.created)
            )
        }
    finally:
        await conn.close()
    assert stored == set(record.created)

    print(
        f"\nPostgreSQL restart: down {starting - down:.1f} s; {len(db_down)} requests answered 503 with "
        f"Retry-After while down ({len(ready_down)} /readyz 503); 0 of {len(seen)} answers were 500; "
        f"recovered {recovery:.2f} s after PostgreSQL was back; {len(record.created)} creates "
        f"acknowledged, all stored; {output.count('database unavailable')} warning lines, no traceback"
    )
