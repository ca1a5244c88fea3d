"""Operations: Prometheus metrics, JSON logs and the request id (README, "Deployment").

``install_observability`` is the one call ``create_app`` makes. Its imports are local: this
package's ``request_id`` module is imported by ``service.errors``, which the metrics' table
imports lead back to.
"""

from __future__ import annotations

from fastapi import FastAPI

from service.config.settings import Settings


def install_observability(app: FastAPI, settings: Settings) -> None:
    """The request-id/metrics/access-log middleware and /metrics. Call it after
    ``http_safety.install``: middleware added later wraps what was added before, so the size
    limit's 413 then carries a request id and is counted."""
    from service.observability.metrics import install_metrics_route
    from service.observability.middleware import ObservabilityMiddleware

    app.add_middleware(ObservabilityMiddleware, metrics=settings.metrics_enabled, access=settings.access_log)
    if settings.metrics_enabled:
        install_metrics_route(app, cache_seconds=settings.metrics_cache_seconds)
