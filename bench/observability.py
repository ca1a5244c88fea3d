"""What the observability middleware costs per request, measured in process (no sockets).

`.venv/bin/python -m bench.observability [--requests 20000]` drives the ASGI app directly with
GET /healthz (no database) and GET /api/v1/cases/{id} without a token (401, routed with a path
parameter; a throw-away SQLite file), and compares the app without the middleware, with the request id and metrics, and
with the JSON access log written to /dev/null too; then the middleware alone around a bare
ASGI app. Best of five rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import tempfile
import time
from typing import Any

from fastapi import FastAPI

from service.config.settings import Settings
from service.main import create_app
from service.observability.logging import ACCESS_LOGGER, JsonFormatter
from service.observability.middleware import ObservabilityMiddleware
from tests.conftest import CONFIG_DIR, TEST_AUDIT_KEY, TEST_DATA_KEY


def app_variant(database_url: str, *, observed: bool, access: bool) -> FastAPI:
    settings = Settings(
        database_url=database_url,
        config_dir=CONFIG_DIR,
        data_key=TEST_DATA_KEY,
        audit_key=TEST_AUDIT_KEY,
        access_log=access,
    )
    app = create_app(settings)
    if not observed:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not ObservabilityMiddleware]
    return app


async def per_request_us(app: FastAPI, path: str, requests: int) -> float:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(requests):
            await app(dict(scope), receive, send)
        best = min(best, (time.perf_counter() - started) / requests * 1e6)
    return best


def log_access_to_devnull() -> None:
    sink = logging.StreamHandler(open(os.devnull, "w"))  # lives as long as the process
    sink.setFormatter(JsonFormatter())
    access = logging.getLogger(ACCESS_LOGGER)
    access.addHandler(sink)
    access.setLevel(logging.INFO)
    access.propagate = False


async def middleware_alone_us(requests: int) -> None:
    """The middleware around a bare ASGI app that answers at once: its cost without the noise of
    the whole app (which varies by more than the middleware costs on a busy machine)."""

    class Route:
        path = "/api/v1/cases/{case_id}"

    route = Route()

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = route
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    scope = {"type": "http", "method": "GET", "path": "/api/v1/cases/1", "headers": [(b"host", b"b")] * 4}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    async def best(app: Any) -> float:
        rounds = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(requests):
                await app(dict(scope), receive, send)
            rounds.append((time.perf_counter() - started) / requests * 1e6)
        return min(rounds)

    base = await best(bare)
    for name, app in {
        "request id": ObservabilityMiddleware(bare, metrics=False, access=False),
        "request id + metrics": ObservabilityMiddleware(bare, metrics=True, access=False),
        "request id + metrics + JSON access log": ObservabilityMiddleware(bare, metrics=True, access=True),
    }.items():
        print(f"middleware alone       {name:<40} +{await best(app) - base:5.1f} µs/request")


async def main(requests: int) -> None:
    log_access_to_devnull()
    await middleware_alone_us(requests)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        variants = {
            "without the middleware": app_variant(url, observed=False, access=False),
            "request id + metrics": app_variant(url, observed=True, access=False),
            "request id + metrics + JSON access log": app_variant(url, observed=True, access=True),
        }
        async with contextlib.AsyncExitStack() as stack:
            for app in variants.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
            for path in ("/healthz", "/api/v1/cases/12345"):
                base = None
                for name, app in variants.items():
                    us = await per_request_us(app, path, requests)
                    base = us if base is None else base
                    print(f"{path:<22} {name:<40} {us:7.1f} µs/request  (+{us - base:5.1f} µs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    asyncio.run(main(parser.parse_args().requests))
