"""The request id: echoed or made up, in every problem+json body and in every log line."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest

from service.config.settings import Settings
from service.main import create_app
from service.observability.logging import ACCESS_LOGGER, JsonFormatter, TextFormatter
from tests.builders import case_body, fire, open_case
from tests.conftest import CONFIG_DIR, TEST_AUDIT_KEY, TEST_DATA_KEY, Backend

GENERATED = re.compile(r"[0-9a-f]{32}")


class Lines(logging.Handler):
    """Formats each record as it is emitted (inside the request), like the real handler."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines() -> Iterator[list[dict[str, object]]]:
    handler = Lines()
    root, access = logging.getLogger(), logging.getLogger(ACCESS_LOGGER)
    levels = root.level, access.level
    root.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        access.setLevel(levels[1])


async def test_a_sane_request_id_is_echoed(client: httpx.AsyncClient, db: Backend) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "proxy-1a2B.3_c"})

    assert response.headers["x-request-id"] == "proxy-1a2B.3_c"


async def test_a_request_id_is_generated_when_absent(client: httpx.AsyncClient, db: Backend) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")

    assert GENERATED.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "a;b", "<script>", "ü", "id\ttab"])
async def test_an_unsafe_request_id_is_replaced(client: httpx.AsyncClient, db: Backend, bad: str) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": bad.encode("utf-8")})

    assert GENERATED.fullmatch(response.headers["x-request-id"])


async def test_problem_bodies_carry_the_request_id(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    responses = {
        401: await client.get("/api/v1/cases", headers={"X-Request-ID": "r-401"}),
        404: await client.get("/api/v1/cases/999999", headers={**mediator, "X-Request-ID": "r-404"}),
        422: await client.post(
            "/api/v1/cases", json=case_body(amount_yuan="lots"), headers={**mediator, "X-Request-ID": "r-422"}
        ),
        409: await fire(
            client,
            {**mediator, "X-Request-ID": "r-409"},
            case,
            "settle",
            agreement={"form": "oral", "terms": "x"},
        ),
        413: await client.post(
            "/api/v1/cases",
            content=b"x" * (db.ctx.settings.max_body_bytes + 1),
            headers={**mediator, "X-Request-ID": "r-413", "Content-Type": "application/json"},
        ),
    }

    for status, response in responses.items():
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["request_id"] == f"r-{status}" == response.headers["x-request-id"]


async def test_an_unexpected_error_is_500_with_the_request_id_in_body_header_and_log(
    log_lines: list[dict[str, object]],
) -> None:
    app = create_app(
        Settings(
            database_url="sqlite+aiosqlite:///:memory:",
            config_dir=CONFIG_DIR,
            data_key=TEST_DATA_KEY,
            audit_key=TEST_AUDIT_KEY,
        )
    )

    @app.get("/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "r-500"})

    assert response.status_code == 500
    assert response.json()["request_id"] == "r-500" == response.headers["x-request-id"]
    error = next(line for line in log_lines if line["logger"] == "service.errors")
    assert (error["level"], error["request_id"]) == ("ERROR", "r-500")
    assert "RuntimeError: boom" in str(error["exc"])
    access = next(line for line in log_lines if line["logger"] == ACCESS_LOGGER)
    assert (access["status"], access["route"], access["request_id"]) == (500, "/boom", "r-500")


async def test_one_json_access_line_per_request_with_route_status_duration_and_id(
    client: httpx.AsyncClient, auth, db: Backend, log_lines: list[dict[str, object]]
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    log_lines.clear()

    await client.get(f"/api/v1/cases/{case['id']}", headers={**mediator, "X-Request-ID": "r-access"})

    access = [line for line in log_lines if line.get("request_id") == "r-access"]
    assert len(access) == 1, log_lines
    line = access[0]
    assert line["logger"] == ACCESS_LOGGER and line["level"] == "INFO"
    assert (line["method"], line["path"], line["route"], line["status"]) == (
        "GET",
        f"/api/v1/cases/{case['id']}",
        "/api/v1/cases/{case_id}",
        200,
    )
    assert isinstance(line["duration_ms"], float)
    assert str(line["ts"]).endswith("+00:00")
    assert "Bearer" not in json.dumps(line)  # no credentials in the log


def test_text_lines_end_with_the_request_id_and_json_keeps_extras() -> None:
    record = logging.LogRecord("jiefen.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.request_id = "r-1"
    record.case_count = 3

    text = TextFormatter().format(record)
    line = json.loads(JsonFormatter().format(record))

    assert text.endswith("INFO jiefen.test: hello world [r-1]")
    assert line == {
        "ts": line["ts"],
        "level": "INFO",
        "logger": "jiefen.test",
        "msg": "hello world",
        "request_id": "r-1",
        "case_count": 3,
    }
