"""The HTTP load generator: a separate process that drives one scenario against a running server.

    .venv/bin/python -m bench.load < spec.json > result.json

The harness (``python -m bench``) writes the spec and reads the result; run by hand only to debug.
Kept lean, because its CPU competes with the server's on a small machine: HTTP/1.1 keep-alive on
asyncio streams (one connection per client, no client library), requests pre-encoded, responses
parsed just enough to check the status and pick up ``ETag``/``Location``/the claimed case's id.

Every response is checked: an unexpected status (or a broken connection) counts as an error and
not as throughput; latencies are recorded for successful requests only. A run is bounded by time
(``duration`` seconds after ``warmup`` seconds that are not recorded) and by count
(``max_requests``); ``drain`` (claims) runs until every client is told the queue is empty.

Spec (JSON)::

    {"host": "127.0.0.1", "ports": [8000, 8001], "scenario": "create|transition|read|list|claim",
     "clients": [{"token": "...", "case_id": 1, "version": 2, "state": "mediating", "ids": [...]}, ...],
     "duration": 15, "warmup": 2, "max_requests": 200000, "drain": false, "unit": "320583106005"}
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

CREATE_BODY: dict[str, Any] = {
    "dispute_type": "NEIGHBOUR",
    "summary": "楼上漏水导致楼下墙面受损，双方就维修费用发生争执 (benchmark)",
    "location_code": "320583106005",
    "amount_yuan": 3000,
    "people_involved": 2,
    "flags": [],
    "source": "application",
    "parties": [
        {"name": "王秀英", "role": "applicant", "phone": "13800001234", "id_number": "320583198001011234"},
        {"name": "李建国", "role": "respondent"},
    ],
    "prior_proceedings": {"authority": "none"},
}


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0–100) of unsorted values; NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Response:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


class ConnectionClosed(Exception):
    pass


def parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    """Status and headers (names lower-cased) of an HTTP/1.1 response head ending in CRLF CRLF."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def read_response(reader: asyncio.StreamReader, method: bytes) -> tuple[Response, bool]:
    """One response from the stream; (response, keep the connection open?)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise ConnectionClosed("server closed the connection") from exc
    status, headers = parse_head(head[:-4])
    keep = headers.get(b"connection", b"").lower() != b"close"
    if method == b"HEAD" or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    else:
        body = await reader.read()
        keep = False
    return Response(status, headers, body), keep


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.prefix = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None

    async def request(self, method: bytes, path: bytes, body: bytes = b"", headers: bytes = b"") -> Response:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        extra = b"Content-Type: application/json\r\n" if body else b""
        self.writer.write(
            b"%s %s HTTP/1.1\r\n%s%s%sContent-Length: %d\r\n\r\n%s"
            % (method, path, self.prefix, extra, headers, len(body), body)
        )
        try:
            response, keep = await read_response(self.reader, method)
        except (ConnectionClosed, OSError, ValueError):
            await self.close()
            raise
        if not keep:
            await self.close()
        return response


class Scenario:
    """What one client sends next and whether the answer is right; may keep per-client state."""

    expected = 200
    runs_dry = False  # a 204 means "nothing left" (the court queue), not a wrong answer

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def next(self, state: dict[str, Any]) -> tuple[bytes, bytes, bytes, bytes]:
        raise NotImplementedError

    def check(self, state: dict[str, Any], response: Response) -> bool:
        return response.status == self.expected

    async def recover(self, client: Client, state: dict[str, Any]) -> None:
        """After an error, bring the client's state back in line (not timed)."""


class Create(Scenario):
    expected = 201
    body = json.dumps(CREATE_BODY, ensure_ascii=False).encode()

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.created: list[int] = []

    def next(self, state: dict[str, Any]) -> tuple[bytes, bytes, bytes, bytes]:
        return b"POST", b"/api/v1/cases", self.body, b""

    def check(self, state: dict[str, Any], response: Response) -> bool:
        if response.status != 201:
            return False
        location = response.headers.get(b"location", b"")
        if len(self.created) < 50_000 and location:
            self.created.append(int(location.rsplit(b"/", 1)[1]))
        return True


class Transition(Scenario):
    """Each client moves its own case mediating → suspended → mediating …, with If-Match."""

    suspend = json.dumps({"trigger": "suspend", "reason": "当事人申请中止 (benchmark)"}, ensure_ascii=False)
    resume = json.dumps({"trigger": "resume"})

    def next(self, state: dict[str, Any]) -> tuple[bytes, bytes, bytes, bytes]:
        body = self.suspend if state["state"] == "mediating" else self.resume
        return (
            b"POST",
            b"/api/v1/cases/%d/transitions" % state["case_id"],
            body.encode(),
            b'If-Match: "%d"\r\n' % state["version"],
        )

    def check(self, state: dict[str, Any], response: Response) -> bool:
        if response.status != 200:
            return False
        state["version"] = int(response.headers[b"etag"].strip(b'"'))
        state["state"] = "suspended" if state["state"] == "mediating" else "mediating"
        return True

    async def recover(self, client: Client, state: dict[str, Any]) -> None:
        try:
            response = await client.request(b"GET", b"/api/v1/cases/%d" % state["case_id"])
            if response.status == 200:
                case = json.loads(response.body)
                state["version"], state["state"] = case["version"], case["state"]
        except (ConnectionClosed, OSError, ValueError):
            pass


class Read(Scenario):
    def next(self, state: dict[str, Any]) -> tuple[bytes, bytes, bytes, bytes]:
        return b"GET", b"/api/v1/cases/%d" % random.choice(state["ids"]), b"", b""


class ListUnit(Scenario):
    def next(self, state: dict[str, Any]) -> tuple[bytes, bytes, bytes, bytes]:
        return b"GET", f"/api/v1/cases?unit={self.spec['unit']}&limit=20".encode(), b"", b""


class Floor(Scenario):
    """``GET /healthz``: no token, no database. What FastAPI, the middlewares, uvicorn and the
    kernel cost on their own on this machine: the ceiling of any route."""

    def next(self, state: dict[str, Any]) -> tuple[bytes, bytes, bytes, bytes]:
        return b"GET", b"/healthz", b"", b""


class Claim(Scenario):
    """A clerk presses "claim next"; 204 means the queue is empty: in a drain the clerk stops, in a
    timed run it is counted as ``empty`` (the harness reports it as an error: seed more cases)."""

    runs_dry = True

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.claimed: list[int] = []

    def next(self, state: dict[str, Any]) -> tuple[bytes, bytes, bytes, bytes]:
        return b"POST", b"/api/v1/court/queue/claim", b"", b""

    def check(self, state: dict[str, Any], response: Response) -> bool:
        if response.status != 200:
            return False
        self.claimed.append(int(json.loads(response.body)["id"]))
        return True


SCENARIOS: dict[str, type[Scenario]] = {
    "create": Create,
    "transition": Transition,
    "read": Read,
    "list": ListUnit,
    "claim": Claim,
    "floor": Floor,
}


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    errors: int = 0
    empty: int = 0  # claims answered 204: the queue ran dry
    samples: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.ok + self.errors

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(text[:300])


async def drive(
    scenario: Scenario,
    clients: list[Client],
    states: list[dict[str, Any]],
    *,
    until: float,
    max_requests: int,
    drain: bool,
    tally: Tally,
    record: bool,
) -> None:
    async def one(client: Client, state: dict[str, Any]) -> None:
        perf = time.perf_counter
        while perf() < until and tally.done < max_requests:
            method, path, body, headers = scenario.next(state)
            t0 = perf()
            try:
                response = await client.request(method, path, body, headers)
            except (ConnectionClosed, OSError, ValueError) as exc:
                tally.error(f"{method.decode()} {path.decode()}: {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.01)
                continue
            elapsed = perf() - t0
            if scenario.runs_dry and response.status == 204:
                tally.empty += 1
                if drain:
                    return
                await asyncio.sleep(0.05)  # the run is spoilt already: do not spin on an empty queue
                continue
            if scenario.check(state, response):
                tally.ok += 1
                if record:
                    tally.latencies.append(elapsed)
            else:
                tally.error(f"{method.decode()} {path.decode()}: {response.status} {response.body[:200]!r}")
                await scenario.recover(client, state)

    await asyncio.gather(*(one(c, s) for c, s in zip(clients, states, strict=True)))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    scenario = SCENARIOS[spec["scenario"]](spec)
    states: list[dict[str, Any]] = [dict(c) for c in spec["clients"]]
    ports = spec.get("ports") or [spec["port"]]  # several replicas: clients round-robin over them
    clients = [Client(spec["host"], ports[i % len(ports)], s["token"]) for i, s in enumerate(states)]
    drain = bool(spec.get("drain", False))
    max_requests = int(spec.get("max_requests", 1_000_000))
    warm = Tally()
    warmup = 0.0 if drain else float(spec.get("warmup", 0))
    if warmup > 0:
        await drive(
            scenario,
            clients,
            states,
            until=time.perf_counter() + warmup,
            max_requests=max_requests,
            drain=False,
            tally=warm,
            record=False,
        )
    tally = Tally()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    await drive(
        scenario,
        clients,
        states,
        until=t0 + float(spec["duration"]),
        max_requests=max_requests,
        drain=drain,
        tally=tally,
        record=True,
    )
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    for client in clients:
        await client.close()
    result: dict[str, Any] = {
        "scenario": spec["scenario"],
        "clients": len(clients),
        "ok": tally.ok,
        "errors": tally.errors + warm.errors,
        "warmup_requests": warm.done,
        "empty": tally.empty + warm.empty,
        # Every answer the API gave, warm-up and 204s included: the CPU figures cover them all.
        "answered": tally.done + tally.empty + warm.done + warm.empty,
        "elapsed_s": elapsed,
        "rps": tally.ok / elapsed if elapsed else 0.0,
        "p50_ms": percentile(tally.latencies, 50) * 1000,
        "p99_ms": percentile(tally.latencies, 99) * 1000,
        "max_ms": max(tally.latencies, default=math.nan) * 1000,
        "generator_cpu_s": cpu,
        "error_samples": warm.samples + tally.samples,
        "states": states,
    }
    if isinstance(scenario, Create):
        result["created_ids"] = scenario.created
    if isinstance(scenario, Claim):
        result["claimed_ids"] = scenario.claimed
    return result


def main() -> None:
    spec = json.load(sys.stdin)
    result = asyncio.run(run(spec))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
