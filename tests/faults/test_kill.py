"""kill -9 the API and the scheduler in the middle of a load of creates and transitions.

Afterwards every write the client saw acknowledged is in the database, no Idempotency-Key made
two cases, the audit chain verifies, and every deadline that fell due was acted on exactly once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from tests.builders import case_body, consents
from tests.faults.conftest import Api, Proc, Tally, run_jiefen, service_env, sign_in

MEDIATOR = "dashi.mediator"
BACKLOG = 250  # cases whose acceptance deadlines are made due: the sweep needs several batches
WORKERS = 6


@dataclass
class Ledger:
    """Every acknowledged write: the client's proof of what the service promised."""

    created: dict[str, int] = field(default_factory=dict)  # Idempotency-Key → case id
    versions: dict[int, int] = field(default_factory=dict)  # case id → highest acknowledged version
    keys_sent: set[str] = field(default_factory=set)
    replayed: int = 0  # creates retried after a lost answer that returned the first attempt's case
    cut_off_creates: int = 0  # creates sent whose answer the kill cut off
    transitions: Counter[str] = field(default_factory=Counter)
    tally: Tally = field(default_factory=Tally)

    def ack(self, case: dict[str, Any]) -> None:
        self.versions[case["id"]] = max(self.versions.get(case["id"], 0), case["version"])


def body_for(key: str) -> dict[str, Any]:
    """The case a key creates; the key is in the summary, so duplicates can be found in SQL."""
    return case_body(summary=f"故障测试 {key}：楼上卫生间漏水致楼下墙面霉变")


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], ledger: Ledger, key: str, give_up_at: float
) -> dict[str, Any] | None:
    """Create a case, retrying with the same Idempotency-Key until an answer comes back."""
    body = body_for(key)
    ledger.keys_sent.add(key)
    tries = 0
    while time.monotonic() < give_up_at:
        tries += 1
        try:
            response = await client.post(
                "/api/v1/cases", json=body, headers={**headers, "Idempotency-Key": key}
            )
        except httpx.TransportError as exc:
            ledger.tally.transport_errors[type(exc).__name__] += 1
            if not isinstance(exc, httpx.ConnectError):
                ledger.cut_off_creates += 1  # sent, but the answer never came: retried below
            await asyncio.sleep(0.1)
            continue
        ledger.tally.saw(response)
        if response.status_code == 201:
            case: dict[str, Any] = response.json()
            ledger.created[key] = case["id"]
            ledger.ack(case)
            if tries > 1 and response.headers.get("Idempotent-Replayed") == "true":
                ledger.replayed += 1
            return case
        if response.status_code in (500, 503):
            await asyncio.sleep(0.1)
            continue
        return None
    return None


async def transition(
    client: httpx.AsyncClient, headers: dict[str, str], ledger: Ledger, case: dict[str, Any], trigger: str
) -> dict[str, Any] | None:
    """One attempt (a transition is not idempotent): acknowledged or not, never retried."""
    body: dict[str, Any] = {"trigger": trigger}
    if trigger == "accept":
        body["consents"] = consents(case)
    if trigger == "settle":
        body["agreement"] = {"form": "written", "terms": "赔偿 2000 元"}
    try:
        response = await client.post(
            f"/api/v1/cases/{case['id']}/transitions",
            json=body,
            headers={**headers, "If-Match": f'"{case["version"]}"'},
        )
    except httpx.TransportError as exc:
        ledger.tally.transport_errors[type(exc).__name__] += 1
        return None
    ledger.tally.saw(response)
    if response.status_code != 200:
        return None
    after: dict[str, Any] = response.json()
    ledger.ack(after)
    ledger.transitions[trigger] += 1
    return after


async def worker(
    base: str, headers: dict[str, str], ledger: Ledger, number: int, stop: asyncio.Event
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        serial = 0
        while not stop.is_set():
            serial += 1
            case = await create(client, headers, ledger, f"w{number}-{serial}", time.monotonic() + 30)
            for trigger in ("accept", "settle"):
                if case is None or stop.is_set():
                    break
                case = await transition(client, headers, ledger, case, trigger)
            if case is None and not stop.is_set():
                await asyncio.sleep(0.05)


async def backlog(base: str, headers: dict[str, str], ledger: Ledger) -> list[int]:
    """Cases left at 'assigned': their acceptance deadlines are what the sweep will breach."""
    made: list[int] = []
    queue = [f"backlog-{uuid.uuid4().hex[:8]}-{n}" for n in range(BACKLOG)]

    async def one_by_one() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            while queue:
                case = await create(client, headers, ledger, queue.pop(), time.monotonic() + 30)
                assert case is not None
                made.append(case["id"])

    await asyncio.gather(*(one_by_one() for _ in range(8)))
    return made


async def sweeper_role(db: asyncpg.Connection, url: str) -> tuple[str, str]:
    """A login role of its own for the scheduler, so pg_stat_activity shows its transactions."""
    role, password = f"jiefen_sweeper_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await db.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
    for grant in ("ALL ON ALL TABLES IN SCHEMA public", "ALL ON ALL SEQUENCES IN SCHEMA public"):
        await db.execute(f'GRANT {grant} TO "{role}"')
    return role, make_url(url).set(username=role, password=password).render_as_string(hide_password=False)


async def drop_role(db: asyncpg.Connection, role: str) -> None:
    await db.execute(f'DROP OWNED BY "{role}"')  # its grants in this database
    await db.execute(f'DROP ROLE IF EXISTS "{role}"')


async def test_kill_9_api_and_scheduler_mid_load_loses_no_acknowledged_write_and_fires_no_deadline_twice(
    pg_url: str, tmp_path: Path
) -> None:
    db = await asyncpg.connect(dsn(pg_url))
    role, sweeper_url = await sweeper_role(db, pg_url)
    env = service_env(pg_url)
    api = Api(env, tmp_path)
    # Webhook delivery runs once at start-up only, so every transaction of this role is a sweep.
    scheduler_env = service_env(
        sweeper_url, JIEFEN_SWEEP_INTERVAL_SECONDS="0.5", JIEFEN_DELIVERY_INTERVAL_SECONDS="3600"
    )
    scheduler = Proc("scheduler", ["scheduler"], scheduler_env, tmp_path)
    ledger = Ledger()
    stop = asyncio.Event()
    load: list[asyncio.Task[None]] = []
    try:
        api.spawn()
        scheduler.spawn()
        await asyncio.gather(api.wait_ready(), scheduler.wait_for_output("scheduler running"))
        headers = await sign_in(api.base, MEDIATOR)
        backlog_ids = await backlog(api.base, headers, ledger)

        load = [asyncio.create_task(worker(api.base, headers, ledger, n, stop)) for n in range(WORKERS)]
        await asyncio.sleep(1.0)

        # Make the backlog's acceptance deadlines fall due: the running scheduler's next sweep
        # breaches (escalates) them in batches, one transaction per batch.
        due = await db.fetch(
            "UPDATE deadline SET due_at = now() - interval '1 minute'"
            " WHERE status = 'active' AND kind = 'acceptance' AND case_id = ANY($1::bigint[]) RETURNING id",
            backlog_ids,
        )
        due_ids = {row["id"] for row in due}
        assert len(due_ids) == BACKLOG

        # kill -9 the scheduler while a sweep transaction is open (it has locked or written rows)…
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up:
            if await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND backend_xid IS NOT NULL", role
            ):
                break
            await asyncio.sleep(0.005)
        else:
            raise AssertionError("the scheduler never started sweeping the due deadlines")
        scheduler.kill()
        # …and the API in the middle of the creates and transitions in flight.
        api.kill()
        acked_at_kill = len(ledger.created)
        breached_at_kill = await db.fetchval("SELECT count(*) FROM deadline_action WHERE action = 'breach'")
        assert breached_at_kill < BACKLOG, "the scheduler was to be killed before its sweep was done"

        await asyncio.sleep(0.5)  # the clients meet a closed port meanwhile
        api.spawn()
        scheduler.spawn()
        recovered_in = await api.wait_ready()
        await scheduler.wait_for_output("scheduler running")
        await asyncio.sleep(1.5)  # the load runs on against the restarted API
        stop.set()
        await asyncio.gather(*load)

        # A create retried after the restart with its Idempotency-Key gives back the same case, or,
        # when the sweep has escalated it out of the mediator's sight meanwhile, says which case it
        # registered (409) without showing it: never a second case.
        async with httpx.AsyncClient(base_url=api.base, timeout=10) as client:
            for key, case_id in list(ledger.created.items())[:: max(1, len(ledger.created) // 20)]:
                again = await client.post(
                    "/api/v1/cases", json=body_for(key), headers={**headers, "Idempotency-Key": key}
                )
                if again.status_code == 409:
                    assert again.json()["type"] == "/problems/idempotency-key-used", again.text
                    assert again.json()["case_id"] == case_id
                    continue
                assert again.status_code == 201, again.text
                assert again.json()["id"] == case_id
                assert again.headers.get("Idempotent-Replayed") == "true"
        scheduler.stop()
        api.stop()

        # A last sweep (as an operator would run it): nothing due may be left behind by the kill.
        final = run_jiefen(env, "sweep", "--once")
        assert final.returncode == 0, final.stderr
        verify = run_jiefen(env, "audit", "verify")
        assert verify.returncode == 0 and verify.stdout.startswith("intact"), verify.stdout + verify.stderr

        # 1. Every acknowledged write is there: the case at least at the acknowledged version,
        #    with its events up to that seq (an event's seq is the version it produced).
        rows = await db.fetch(
            "SELECT id, version FROM cases WHERE id = ANY($1::bigint[])", list(ledger.versions)
        )
        stored = {row["id"]: row["version"] for row in rows}
        events: dict[int, set[int]] = {}
        for row in await db.fetch(
            "SELECT case_id, seq FROM case_event WHERE case_id = ANY($1::bigint[])", list(ledger.versions)
        ):
            events.setdefault(row["case_id"], set()).add(row["seq"])
        missing = [
            (case_id, version)
            for case_id, version in ledger.versions.items()
            if stored.get(case_id, 0) < version
            or not set(range(1, version + 1)) <= events.get(case_id, set())
        ]
        assert missing == [], f"acknowledged writes lost: {missing[:10]}"

        # 2. One case per Idempotency-Key, retried or not; acknowledged keys map to their case.
        per_key = Counter[str]()
        key_case: dict[str, int] = {}
        for row in await db.fetch("SELECT id, summary FROM cases WHERE summary LIKE '故障测试 %'"):
            key = row["summary"].split(" ", 1)[1].split("：", 1)[0]
            per_key[key] += 1
            key_case[key] = row["id"]
        assert [k for k, n in per_key.items() if n > 1] == []
        assert set(per_key) <= ledger.keys_sent
        assert all(key_case.get(key) == case_id for key, case_id in ledger.created.items())
        unacknowledged_committed = len(set(per_key) - set(ledger.created))

        # 3. Deadlines: no (deadline, action, level) twice; every due deadline handled, once.
        assert (
            await db.fetch(
                "SELECT deadline_id, action, level FROM deadline_action GROUP BY 1, 2, 3 HAVING count(*) > 1"
            )
            == []
        )
        left_due = await db.fetchval(
            "SELECT count(*) FROM deadline WHERE status = 'active' AND (due_at <= now() OR warn_at <= now())"
        )
        assert left_due == 0, "a deadline that fell due was never handled"
        # Breached by a sweep (an escalation then ends the clock: cancelled, breached_at kept),
        # or met first by a person's accept: never lost, never still running.
        fate = {
            row["id"]: "breached" if row["breached_at"] is not None else row["status"]
            for row in await db.fetch(
                "SELECT id, status, breached_at FROM deadline WHERE id = ANY($1::bigint[])", list(due_ids)
            )
        }
        assert set(fate.values()) <= {"breached", "met"}, Counter(fate.values())
        breached = {d for d, f in fate.items() if f == "breached"}
        breach_rows = Counter(
            row["deadline_id"]
            for row in await db.fetch("SELECT deadline_id FROM deadline_action WHERE action = 'breach'")
        )
        assert breached and {d: breach_rows[d] for d in breached} == dict.fromkeys(breached, 1)
        assert set(breach_rows) == {
            row["id"] for row in await db.fetch("SELECT id FROM deadline WHERE breached_at IS NOT NULL")
        }
        # …and its effects happened once: one escalation event per breach that escalated, and
        # no unit told twice about the same breach.
        escalations = Counter(
            row["case_id"]
            for row in await db.fetch(
                "SELECT case_id FROM case_event WHERE trigger = 'escalate' AND actor_role = 'system'"
            )
        )
        escalated = Counter(
            row["case_id"]
            for row in await db.fetch(
                "SELECT d.case_id FROM deadline_action a JOIN deadline d ON d.id = a.deadline_id"
                " WHERE a.action = 'breach' AND a.result = 'escalated'"
            )
        )
        assert escalations == escalated
        assert (
            await db.fetch(
                "SELECT case_id, unit_code, payload->>'due_at' FROM inbox_item WHERE kind = 'breach'"
                " GROUP BY 1, 2, 3 HAVING count(*) > 1"
            )
            == []
        )

        # The load really straddled the kill, and the API never answered 500.
        assert ledger.tally.statuses[500] == 0, ledger.tally.samples.get(500)
        assert ledger.tally.transport_errors, "no request was cut off by the kill"
        assert len(ledger.created) > acked_at_kill, "the load did not go on after the restart"
        print(
            f"\nkill -9: {len(ledger.created)} creates and {sum(ledger.transitions.values())} transitions "
            f"acknowledged ({len(ledger.versions)} cases, all found); {unacknowledged_committed} committed "
            f"but unacknowledged; {ledger.cut_off_creates} creates cut off, {ledger.replayed} of them had "
            f"committed and were replayed by Idempotency-Key; statuses "
            f"{dict(ledger.tally.statuses)}, cut off {dict(ledger.tally.transport_errors)}; API ready "
            f"{recovered_in:.1f} s after restart. Scheduler killed mid-sweep with {breached_at_kill}/{BACKLOG} "
            f"breaches committed; "
            f"after restart {len(breached)} breached once, {len(due_ids) - len(breached)} met by accept "
            f"first; {verify.stdout.strip()}"
        )
    finally:
        stop.set()
        for task in load:
            task.cancel()
        scheduler.stop()
        api.stop()
        await drop_role(db, role)
        await db.close()
