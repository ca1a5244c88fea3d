"""The benchmark load generator's own arithmetic and HTTP parsing (the benchmarks are not run here)."""

from __future__ import annotations

import asyncio
import math

import pytest

from bench.harness import Row, summarise_profile, table
from bench.load import Client, ConnectionClosed, Transition, parse_head, percentile


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7
    assert math.isnan(percentile([], 50))


def test_parse_head_lowercases_header_names() -> None:
    status, headers = parse_head(b'HTTP/1.1 201 Created\r\nETag: "3"\r\nContent-Length: 2')
    assert status == 201
    assert headers[b"etag"] == b'"3"'
    with pytest.raises(ValueError):
        parse_head(b"SSH-2.0-OpenSSH")


async def test_client_keeps_alive_and_reads_lengths_chunks_and_no_body() -> None:
    seen: list[bytes] = []
    answers = [
        b'HTTP/1.1 200 OK\r\nETag: "5"\r\nContent-Length: 13\r\n\r\n{"state":"x"}',
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 412 Precondition Failed\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    ]
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while answers:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            seen.append(head + await reader.readexactly(length))
            writer.write(answers.pop(0))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Client("127.0.0.1", port, "jf_token")
    first = await client.request(b"POST", b"/api/v1/cases/1/transitions", b'{"a":1}', b'If-Match: "4"\r\n')
    assert (first.status, first.headers[b"etag"], first.body) == (200, b'"5"', b'{"state":"x"}')
    assert (await client.request(b"GET", b"/chunked")).body == b"abcdef"
    assert (await client.request(b"POST", b"/api/v1/court/queue/claim")).status == 204
    assert (await client.request(b"GET", b"/stale")).status == 412
    assert connections == 1  # one keep-alive connection for all four
    assert b"Authorization: Bearer jf_token\r\n" in seen[0]
    assert b'If-Match: "4"\r\n' in seen[0] and seen[0].endswith(b'{"a":1}')
    with pytest.raises((ConnectionClosed, OSError)):
        await client.request(b"GET", b"/after-close")  # the server closed it, as it said it would
    await client.close()
    server.close()
    await server.wait_closed()


def test_transition_scenario_alternates_and_carries_the_etag() -> None:
    from bench.load import Response

    scenario = Transition({})
    state = {"case_id": 7, "version": 2, "state": "mediating"}
    method, path, body, headers = scenario.next(state)
    assert (method, path, headers) == (b"POST", b"/api/v1/cases/7/transitions", b'If-Match: "2"\r\n')
    assert b'"suspend"' in body
    assert scenario.check(state, Response(200, {b"etag": b'"3"'}, b"{}"))
    assert state == {"case_id": 7, "version": 3, "state": "suspended"}
    assert b'"resume"' in scenario.next(state)[2]
    assert not scenario.check(state, Response(412, {}, b"{}"))  # an error, not throughput


def test_table_and_profile_summary(tmp_path: object) -> None:
    text = table([Row("HTTP read", 16, 1234.5, 3.21, 40.0, 0, target="p99 < 50 ms", passed=True)])
    assert "| HTTP read | 16 | 1,234 | 3.2 | 40.0 | 0 |  | p99 < 50 ms | pass |" in text
    from pathlib import Path

    raw = Path(str(tmp_path)) / "raw.txt"
    raw.write_text(
        "run_asgi (h11_impl.py:1);fetch_case (service/cases/queries.py:2) 3\n"
        "run_asgi (h11_impl.py:1);fetch_case (service/cases/queries.py:2);_async_ping (asyncpg.py:9) 1\n"
        "idle (threading.py:3) 50\n"
    )
    summary = summarise_profile(raw)
    assert "4 samples" in summary  # only stacks inside requests
    assert "25.0%  pool pre-ping" in summary
    assert "100.0%  fetch_case (service/cases/queries.py)" in summary


async def test_a_timed_claim_run_counts_a_dry_queue_apart_from_claims() -> None:
    """A 204 from the queue in a timed run is "ran dry", which the harness turns into an error that
    says to seed more cases; it is neither throughput nor a wrong answer."""
    from bench.load import run

    left = [1, 2, 3]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            if left:
                body = b'{"id": %d}' % left.pop(0)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            else:
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    spec = {"scenario": "claim", "host": "127.0.0.1", "port": port, "duration": 0.2, "warmup": 0}
    result = await run({**spec, "clients": [{"token": "t"}]})
    server.close()
    await server.wait_closed()
    assert (result["ok"], result["errors"]) == (3, 0)
    assert result["empty"] > 0


def test_city_bench_asks_for_every_statistics_route_range_and_search() -> None:
    """bench/city.py's items: every statistics route and the dashboard for three ranges and two
    scopes, each with the issue's target; its table marks a p99 over target as a failure."""
    from datetime import UTC, datetime

    from bench.city import Item, items, months_back, table

    now = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
    assert (months_back(now, 0), months_back(now, 11), months_back(now, 35)) == (
        "2026-01",
        "2025-02",
        "2023-02",
    )
    todo = items(now, "KS-2020-0000001", "王建国", postgres=True)
    urls = [i.url for i in todo]
    for route in ("overview", "monthly", "by-type", "by-tier", "by-town", "by-source", "by-mediator"):
        assert sum(f"/api/v1/stats/{route}?" in u for u in urls) == 6  # 3 ranges × city, town
    assert sum(u.startswith("/dashboard?") for u in urls) == 6
    assert "/api/v1/cases?q=KS-2020-0000001" in urls
    by_label = {i.label: i for i in todo}
    assert by_label["search by case number, city"].target_ms == 50
    assert by_label["overdue list, town"].target_ms == 100
    assert by_label["monthly report XLSX, town, 2025-12"].target_ms == 2000
    assert {i.target_ms for i in items(now, "n", "m", postgres=False)} == {1000}

    lines = table(
        "t",
        [(Item("fast", "/", "u", 100), [10.0] * 99 + [99.0], ""), (Item("slow", "/", "u", 100), [150.0], "")],
    )
    assert "| fast | 100 | 10.0 | 10.0 | p99 < 100 ms | pass |  |" in lines  # nearest rank: the 99th of 100
    assert "**FAIL**" in lines[-1]
