"""One plain ASGI middleware for the request id, the request metrics and the access log.

Plain ASGI rather than ``BaseHTTPMiddleware`` (which runs the app in a separate task and
streams the response through a memory channel): this is on every request's path.
"""

from __future__ import annotations

import logging
from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability.logging import ACCESS_LOGGER
from service.observability.metrics import UNMATCHED, RequestMetrics
from service.request_id import accept_request_id, request_id_var

access_log = logging.getLogger(ACCESS_LOGGER)

_HEADER = b"x-request-id"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: bool = True, access: bool = True) -> None:
        self.app = app
        self.metrics = RequestMetrics() if metrics else None
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = None
        for name, value in scope["headers"]:
            if name == _HEADER:
                raw = value
                break
        request_id = accept_request_id(raw)
        token = request_id_var.set(request_id)
        echo = (_HEADER, request_id.encode("ascii"))
        status = 500
        started = perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echo]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # The app's 500 handler runs outside this middleware: the id stays set for its body.
            self._done(scope, 500, perf_counter() - started, request_id)
            raise
        self._done(scope, status, perf_counter() - started, request_id)
        request_id_var.reset(token)

    def _done(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = scope.get("route")
        # The template (/api/v1/cases/{case_id}), never the raw path: bounded label values.
        template: str = getattr(route, "path", UNMATCHED) if route is not None else UNMATCHED
        method: str = scope["method"]
        if self.metrics is not None:
            self.metrics.observe(method, template, status, seconds)
        if self.access and access_log.isEnabledFor(logging.INFO):
            duration_ms = round(seconds * 1000, 1)
            access_log.info(
                "%s %s %s %.1f ms",
                method,
                scope["path"],
                status,
                duration_ms,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": duration_ms,
                    "request_id": request_id,
                },
            )
