"""Fuzzing the API (issue 5, item 6).

(a) schemathesis against the service's own OpenAPI, in-process over ASGI, signed in as a village
    mediator: no 5xx, and every response matches the schema it documents. Bounded and
    derandomized so CI is stable and fast; SQLite only (the PostgreSQL suite covers the database).
(b) hand-written bad inputs, on both backends: malformed JSON, a 3 MiB body, wrong types in every
    field of a new case, unicode edge cases, SQL/HTML injection in every text field, huge
    integers, negative amounts, far-future dates. Each answers a clear 4xx problem and stores
    nothing — or, when the input is valid, stores exactly what was sent and nothing else.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import sqlalchemy as sa
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi as schemathesis_asgi

from service.config.settings import Settings
from service.demo import seed_users
from service.main import create_app
from tests.builders import DASHI, ZHANGPU, case_body, move, open_case
from tests.conftest import CONFIG_DIR, FIXED_NOW, TEST_AUDIT_KEY, TEST_DATA_KEY, TEST_PASSWORD, Backend

# --- (a) schemathesis ---------------------------------------------------------------------------

# Its own SQLite file and app: schemathesis runs the app (and its lifespan) on its own event-loop
# thread, so it must not share the engine of the `backend` fixture, which lives on pytest's loop.
FUZZ_DB = Path(tempfile.gettempdir()) / f"jiefen-fuzz-{os.getpid()}.db"
FUZZ_APP = create_app(
    Settings(
        database_url=f"sqlite+aiosqlite:///{FUZZ_DB}",
        config_dir=CONFIG_DIR,
        run_scheduler=False,
        token_ttl_hours=24 * 365 * 20,
        data_key=TEST_DATA_KEY,
        audit_key=TEST_AUDIT_KEY,
    )
)
FUZZ_USER = "dashi.mediator"
# Signing out (or failing to change a password, which counts as a failed sign-in) with the fuzzing
# token would sign out, or lock, the user every other request is made as: these operations get a
# session of their own, as another mediator.
OWN_SESSION_OPERATIONS = ("POST /api/v1/auth/revoke", "POST /api/v1/auth/password")
OWN_SESSION_USER = "zhouxiang.mediator"

schema = schemathesis.openapi.from_dict(
    FUZZ_APP.openapi(),
    config=SchemathesisConfig.from_dict({"generation": {"database": "none"}}),
)
schema.app = FUZZ_APP  # what schemathesis.openapi.from_asgi sets: requests go to the app in-process
FUZZ_CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
]


async def _sign_in(client: httpx.AsyncClient, username: str) -> str:
    response = await client.post("/api/v1/auth/token", data={"username": username, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture(scope="module")
def fuzz_app() -> Iterator[FastAPI]:
    """The fuzzing app; afterwards, stop the lifespan schemathesis started and drop the database."""
    yield FUZZ_APP
    schemathesis_asgi.shutdown_lifespans()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{FUZZ_DB}{suffix}").unlink(missing_ok=True)


@pytest.fixture(scope="module")
async def fuzz_tokens(fuzz_app: FastAPI) -> dict[str, str]:
    """Seed the fuzzing database (users, three cases at 大市 with ids 1–3) and sign in."""
    async with fuzz_app.router.lifespan_context(fuzz_app):
        await seed_users(fuzz_app.state.engine, fuzz_app.state.context, TEST_PASSWORD, FIXED_NOW)
        transport = httpx.ASGITransport(app=fuzz_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jiefen.test") as client:
            tokens = {label: await _sign_in(client, OWN_SESSION_USER) for label in OWN_SESSION_OPERATIONS}
            tokens[FUZZ_USER] = await _sign_in(client, FUZZ_USER)
            mediator = {"Authorization": f"Bearer {await _sign_in(client, 'dashi.mediator')}"}
            case = await open_case(client, mediator)
            await move(client, mediator, case, "accept")
            await open_case(client, mediator, flags=["minor"])
            await open_case(
                client, mediator, amount_yuan=None, parties=[{"name": "赵六", "role": "applicant"}]
            )
    # From here on the app runs on schemathesis's event-loop thread (it starts the lifespan itself).
    return tokens


def _fuzz_headers(case: Any, tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.get(case.operation.label, tokens[FUZZ_USER])}"}


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_api_conforms_to_its_schema(case: Any, fuzz_tokens: dict[str, str]) -> None:
    case.call_and_validate(headers=_fuzz_headers(case, fuzz_tokens), checks=FUZZ_CHECKS)


# --- (b) hand-written bad inputs ------------------------------------------------------------------

STORED_TABLES = ["cases", "party", "case_event", "deadline", "inbox_item", "referral", "idempotency_key"]
PROBLEM = "application/problem+json"


async def stored(db: Backend) -> dict[str, int]:
    """Row counts of everything a case request may write."""
    async with db.engine.connect() as conn:
        return {
            table: (await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in STORED_TABLES
        }


def assert_problem(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == PROBLEM, response.headers
    problem: dict[str, Any] = response.json()
    assert problem["status"] == response.status_code
    assert problem["title"] and problem["detail"]
    return problem


def error_fields(problem: dict[str, Any]) -> list[str]:
    return [error["field"] for error in problem.get("errors", [])]


@pytest.fixture
async def mediator(auth: Any, db: Backend) -> dict[str, str]:
    headers: dict[str, str] = await auth("dashi.mediator")
    return headers


# Malformed JSON --------------------------------------------------------------------------------

MALFORMED = {
    "truncated": '{"dispute_type": "NEIGHBOUR", "summary": "漏水'.encode(),
    "trailing comma": b'{"dispute_type": "NEIGHBOUR",}',
    "single quotes": b"{'dispute_type': 'NEIGHBOUR'}",
    "bare words": b"dispute_type=NEIGHBOUR",
    "empty": b"",
    "only whitespace": b"   \n\t ",
    "a list": b"[]",
    "a string": b'"NEIGHBOUR"',
    "a number": b"42",
    "null": b"null",
    "two documents": b"{}{}",
    "comment": b'{/* c */ "dispute_type": "NEIGHBOUR"}',
    "unclosed string": b'{"summary": "abc}',
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_json_is_a_clear_4xx_and_stores_nothing(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, body: bytes
) -> None:
    before = await stored(db)

    response = await client.post(
        "/api/v1/cases", content=body, headers={**mediator, "Content-Type": "application/json"}
    )

    assert_problem(response, 400, 422)
    assert await stored(db) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/v1/cases/{id}", b'{"summary": '),
        ("POST", "/api/v1/cases/{id}/transitions", b'{"trigger": "accept"'),
        ("POST", "/api/v1/cases/{id}/parties", b'{"name": "x", "role": }'),
        ("POST", "/api/v1/triage/preview", b"{nope}"),
    ],
    ids=["edit", "transition", "add party", "triage preview"],
)
async def test_malformed_json_on_other_writes_leaves_the_case_alone(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, method: str, path: str, body: bytes
) -> None:
    case = await open_case(client, mediator)
    before = await stored(db)

    response = await client.request(
        method,
        path.format(id=case["id"]),
        content=body,
        headers={**mediator, "Content-Type": "application/json"},
    )

    assert_problem(response, 400, 422)
    assert await stored(db) == before
    assert (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json() == case


async def test_a_json_body_sent_as_text_plain_is_refused(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend
) -> None:
    response = await client.post(
        "/api/v1/cases", content=json.dumps(case_body()), headers={**mediator, "Content-Type": "text/plain"}
    )

    assert_problem(response, 415, 422)
    assert (await stored(db))["cases"] == 0


# Huge bodies ---------------------------------------------------------------------------------------

THREE_MIB = 3 * 1024 * 1024


def _huge_case() -> bytes:
    return json.dumps(case_body(summary="漏" * (THREE_MIB // 3)), ensure_ascii=False).encode()


async def test_a_3_mib_body_is_413_before_it_is_read(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend
) -> None:
    body = _huge_case()
    assert len(body) > THREE_MIB

    response = await client.post(
        "/api/v1/cases", content=body, headers={**mediator, "Content-Type": "application/json"}
    )

    assert_problem(response, 413)
    assert (await stored(db))["cases"] == 0


async def test_a_3_mib_body_without_a_content_length_is_413_too(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend
) -> None:
    body = _huge_case()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks():
            yield chunk

    response = await client.post(
        "/api/v1/cases", content=stream(), headers={**mediator, "Content-Type": "application/json"}
    )

    assert "content-length" not in response.request.headers
    assert_problem(response, 413)
    assert (await stored(db))["cases"] == 0


async def test_many_parties_in_a_small_body_are_refused_by_the_schema(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend
) -> None:
    parties = [{"name": f"当事人{i}", "role": "respondent"} for i in range(101)]

    response = await client.post("/api/v1/cases", json=case_body(parties=parties), headers=mediator)

    assert "body.parties" in error_fields(assert_problem(response, 422))
    assert (await stored(db))["cases"] == 0


# Wrong types in every field of a new case ---------------------------------------------------------

WRONG_TYPES: list[tuple[str, Any]] = [
    ("dispute_type", 7),
    ("dispute_type", ["NEIGHBOUR"]),
    ("dispute_type", "NOT_A_TYPE"),
    ("dispute_type", None),
    ("summary", 12345),
    ("summary", ["漏水"]),
    ("summary", {"text": "漏水"}),
    ("summary", True),
    ("summary", None),
    ("summary", ""),
    ("location_code", 320583106005),
    ("location_code", ["320583106005"]),
    ("location_code", None),
    ("amount_yuan", "three thousand"),
    ("amount_yuan", [3000]),
    ("amount_yuan", {"yuan": 3000}),
    ("amount_yuan", "1e400"),
    ("people_involved", "two"),
    ("people_involved", 2.5),
    ("people_involved", [2]),
    ("people_involved", None),
    ("flags", "cross_area"),
    ("flags", {"cross_area": True}),
    ("flags", [1]),
    ("flags", ["not_a_flag"]),
    ("source", 1),
    ("source", ["application"]),
    ("source", "carrier_pigeon"),
    ("parties", "王秀英"),
    ("parties", {"name": "王秀英"}),
    ("parties", []),
    ("parties", [1]),
    ("parties", [None]),
    ("parties", None),
    ("parties.0.name", 1),
    ("parties.0.name", None),
    ("parties.0.name", ["王秀英"]),
    ("parties.0.role", "judge"),
    ("parties.0.role", 0),
    ("parties.0.kind", "robot"),
    ("parties.0.id_type", 18),
    ("parties.0.id_number", 320583198001011234),
    ("parties.0.id_number", ["320583198001011234"]),
    ("parties.0.phone", 13800001234),
    ("parties.0.phone", {"mobile": "13800001234"}),
    ("parties.0.address", 5),
    ("parties.0.address", ["张浦镇"]),
    ("unexpected_field", "x"),
    ("parties.0.unexpected_field", "x"),
]


def _with(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    *path, last = dotted.split(".")
    target: Any = body
    for step in path:
        target = target[int(step)] if step.isdigit() else target[step]
    target[last] = value
    return body


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES, ids=[f"{f}={v!r}"[:60] for f, v in WRONG_TYPES])
async def test_a_wrong_type_in_any_field_is_422_naming_that_field(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, field: str, value: Any
) -> None:
    response = await client.post("/api/v1/cases", json=_with(case_body(), field, value), headers=mediator)

    problem = assert_problem(response, 422)
    named = error_fields(problem)
    assert any(f == f"body.{field}" or f.startswith(f"body.{field}.") for f in named), named
    assert (await stored(db))["cases"] == 0


# Unicode edge cases ------------------------------------------------------------------------------

UNICODE = {
    "emoji": "调解成功🎉🙏",
    "rtl text": "عربي 混排 עברית",  # right-to-left letters, without the invisible controls
    "zero-width joiner family": "👨\u200d👩\u200d👧\u200d👦 一家",
    "zero-width space and non-joiner": "王\u200b秀\u200c英",
    "4-byte cjk": "𠀀𪚥𰻞𠮷",
    "math alphanumerics": "𝕏𝔂𝓩",
    "combining marks": "e\u0301\u0303 Z\u0351\u0352\u0353",
    "bom inside": "前\ufeff后",
    "variation selectors": "☺\ufe0f ✈\ufe0e",
    "ideographic space inside": "大市\u3000社区",
    "line separators": "第一行\u2028第二行\u2029第三段",
    "private use": "\ue000\uf8ff",
    "noncharacters": "\ufdd0\uffff",
}


def _framed(text: str) -> str:
    # Fields strip surrounding whitespace: keep the edge case inside.
    return f"甲{text}乙"


@pytest.mark.parametrize("text", list(UNICODE.values()), ids=list(UNICODE))
async def test_unicode_text_round_trips_exactly(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, text: str
) -> None:
    framed = _framed(text)
    body = case_body(
        summary=framed,
        parties=[
            {"name": framed, "role": "applicant", "address": framed, "phone": "13800001234"},
            {"name": "李建国", "role": "respondent"},
        ],
    )

    response = await client.post("/api/v1/cases", json=body, headers=mediator)

    assert response.status_code == 201, response.text
    case = (await client.get(response.headers["Location"], headers=mediator)).json()
    assert case["summary"] == framed
    assert case["parties"][0]["name"] == framed
    revealed = await client.post(
        f"/api/v1/cases/{case['id']}/parties/{case['parties'][0]['id']}/reveal",
        json={"reason": "核对地址", "fields": ["address"]},
        headers=mediator,
    )
    assert revealed.status_code == 200, revealed.text
    assert revealed.json()["address"] == framed
    found = await client.get("/api/v1/cases", params={"q": framed}, headers=mediator)
    assert [item["id"] for item in found.json()["items"]] == [case["id"]]


@pytest.mark.parametrize("field", ["summary", "parties.0.name", "parties.0.address"])
async def test_a_nul_character_is_422_naming_the_field(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, field: str
) -> None:
    response = await client.post(
        "/api/v1/cases", json=_with(case_body(), field, "漏水\x00之后"), headers=mediator
    )

    problem = assert_problem(response, 422)
    assert "NUL" in problem["detail"]
    assert (await stored(db))["cases"] == 0


@pytest.mark.parametrize("field", ["summary", "parties.0.name", "parties.0.address"])
async def test_invisible_direction_controls_are_422_naming_the_field(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, field: str
) -> None:
    marked = "\u200f\u202eعربي\u202c\u200e 混排"
    response = await client.post("/api/v1/cases", json=_with(case_body(), field, marked), headers=mediator)

    problem = assert_problem(response, 422)
    assert error_fields(problem) == [f"body.{field}"]
    assert "U+200F RIGHT-TO-LEFT MARK" in problem["detail"]
    assert (await stored(db))["cases"] == 0


# (raw JSON string literal, the status it gets): a lone surrogate parses as JSON but is not text
# (422 naming the field); bytes that are not UTF-8 do not even parse (400).
RAW_UNICODE: dict[str, tuple[bytes, int]] = {
    "lone high surrogate escape": (b'"\\ud800"', 422),
    "lone low surrogate escape": (b'"\\udfff"', 422),
    "reversed surrogate pair escape": (b'"\\udc00\\ud800"', 422),
    "surrogate as utf-8 bytes (cesu)": (b'"\xed\xa0\x80"', 422),
    "overlong slash": (b'"\xc0\xaf"', 400),
    "lone continuation byte": (b'"\x80"', 400),
    "truncated 4-byte sequence": (b'"\xf0\x9f\x98"', 400),
    "latin-1 byte": (b'"\xe9"', 400),
    "beyond U+10FFFF": (b'"\xf4\x90\x80\x80"', 400),
}


@pytest.mark.parametrize(("raw", "status"), list(RAW_UNICODE.values()), ids=list(RAW_UNICODE))
async def test_invalid_unicode_in_raw_bytes_is_a_clear_4xx_and_stores_nothing(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, raw: bytes, status: int
) -> None:
    template = json.dumps(case_body(summary="SUMMARY"), ensure_ascii=False).encode()
    body = template.replace(b'"SUMMARY"', b'"\xe6\xbc\x8f' + raw[1:])  # "漏" then the bad text
    assert template.replace(b'"SUMMARY"', b'"\xe6\xbc\x8f"') != body
    before = await stored(db)

    response = await client.post(
        "/api/v1/cases", content=body, headers={**mediator, "Content-Type": "application/json"}
    )

    problem = assert_problem(response, status)
    if status == 422:
        assert error_fields(problem) == ["body.summary"]
    assert await stored(db) == before


SURROGATES = [raw for raw, status in RAW_UNICODE.values() if status == 422]


@pytest.mark.parametrize("raw", SURROGATES, ids=list(RAW_UNICODE)[: len(SURROGATES)])
async def test_lone_surrogates_in_a_transition_reason_store_nothing(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, raw: bytes
) -> None:
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    before = await stored(db)

    response = await client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        content=b'{"trigger": "suspend", "reason": "\xe7\xad\x89' + raw[1:] + b"}",
        headers={**mediator, "Content-Type": "application/json"},
    )

    assert_problem(response, 422)
    assert await stored(db) == before
    assert (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json() == case


# SQL and HTML injection in every text field ---------------------------------------------------

INJECTIONS = {
    "sql quote": "王'; DROP TABLE cases; --",
    "sql tautology": "x' OR '1'='1' --",
    "sql union": "' UNION SELECT password_hash, username FROM users --",
    "sql comment and semicolon": "1); DELETE FROM party; /*",
    "pg sleep": "'||pg_sleep(5)||'",
    "like wildcards": "%_%\\",
    "html script": "<script>alert('xss')</script>",
    "html attribute": '"><img src=x onerror=alert(1)>',
    "template": "{{7*7}} ${7*7} <%= 7*7 %>",
    "format string": "%s%s%n %x {0} {name}",
}


async def _other_case_unchanged(
    client: httpx.AsyncClient, headers: dict[str, str], sentinel: dict[str, Any]
) -> None:
    now = (await client.get(f"/api/v1/cases/{sentinel['id']}", headers=headers)).json()
    assert now == sentinel


async def _user_count(db: Backend) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM app_user"))).scalar_one())


@pytest.mark.parametrize("text", list(INJECTIONS.values()), ids=list(INJECTIONS))
async def test_injection_in_case_fields_is_stored_verbatim(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, text: str
) -> None:
    sentinel = await open_case(client, mediator)
    users_before = await _user_count(db)
    body = case_body(
        summary=text,
        parties=[
            {"name": text, "role": "applicant", "address": text},
            {"name": "李建国", "role": "respondent"},
        ],
    )

    response = await client.post("/api/v1/cases", json=body, headers=mediator)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    case = (await client.get(response.headers["Location"], headers=mediator)).json()
    assert (case["summary"], case["parties"][0]["name"]) == (text, text)
    revealed = await client.post(
        f"/api/v1/cases/{case['id']}/parties/{case['parties'][0]['id']}/reveal",
        json={"reason": text, "fields": ["address"]},
        headers=mediator,
    )
    assert revealed.json()["address"] == text
    # Searching for it finds exactly it (wildcards and quotes are literal).
    found = await client.get("/api/v1/cases", params={"q": text}, headers=mediator)
    assert [item["id"] for item in found.json()["items"]] == [case["id"]]
    await _other_case_unchanged(client, mediator, sentinel)
    assert await _user_count(db) == users_before
    assert (await stored(db))["cases"] == 2


@pytest.mark.parametrize("text", list(INJECTIONS.values()), ids=list(INJECTIONS))
@pytest.mark.parametrize("field", ["location_code", "parties.0.phone", "parties.0.id_number"])
async def test_injection_in_a_coded_field_is_422_naming_it(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, field: str, text: str
) -> None:
    response = await client.post("/api/v1/cases", json=_with(case_body(), field, text), headers=mediator)

    assert f"body.{field}" in error_fields(assert_problem(response, 422))
    assert (await stored(db))["cases"] == 0


@pytest.mark.parametrize("text", list(INJECTIONS.values()), ids=list(INJECTIONS))
async def test_injection_in_every_transition_text_field_is_stored_verbatim(
    client: httpx.AsyncClient, auth: Any, mediator: dict[str, str], db: Backend, text: str
) -> None:
    sentinel = await open_case(client, mediator)
    users_before = await _user_count(db)
    case = await move(client, mediator, await open_case(client, mediator), "accept", reason=text)
    case = await move(client, mediator, case, "suspend", reason=text)
    case = await move(client, mediator, case, "resume", reason=text)
    edited = await client.patch(
        f"/api/v1/cases/{case['id']}", json={"summary": text, "reason": text}, headers=mediator
    )
    assert edited.status_code == 200, edited.text
    case = edited.json()
    deadline = next(d for d in case["deadlines"] if d["status"] == "active")
    extended = await client.post(
        f"/api/v1/cases/{case['id']}/deadlines/{deadline['id']}/extend",
        json={"by_length": 1, "both_parties_consent": True, "consent_record": text, "reason": text},
        headers=mediator,
    )
    assert extended.status_code == 200, extended.text
    agreement = {
        "form": "written",
        "terms": text,
        "performance_manner": text,
        "signatories": [text, "李建国"],
    }
    case = await move(client, mediator, extended.json(), "settle", agreement=agreement, reason=text)
    # A second case, handed off and delegated back, for the referral fields.
    other = await open_case(client, mediator)
    handed = await move(
        client,
        mediator,
        other,
        "hand_off",
        target_unit="PS-320583106",
        referral_kind="administrative",
        reason=text,
        referral_payload={"note": text, "items": [text]},
    )

    assert {k: case["agreement"][k] for k in agreement} == agreement
    assert case["summary"] == text
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    assert [e["reason"] for e in events[1:]] == [text] * (len(events) - 1)
    referrals = (await client.get(f"/api/v1/cases/{handed['id']}/referrals", headers=mediator)).json()
    assert referrals[0]["reason"] == text
    assert referrals[0]["payload"] == {"note": text, "items": [text]}
    await _other_case_unchanged(client, mediator, sentinel)
    assert await _user_count(db) == users_before
    assert (await stored(db))["cases"] == 3


@pytest.mark.parametrize("text", [INJECTIONS["sql quote"], INJECTIONS["html script"]], ids=["sql", "html"])
async def test_injection_in_court_fields_is_stored_verbatim(
    client: httpx.AsyncClient, auth: Any, mediator: dict[str, str], db: Backend, text: str
) -> None:
    clerk = await auth("court.clerk")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    case = await move(client, mediator, case, "terminate", termination_reason="gap_too_wide", reason=text)
    case = await move(client, mediator, case, "refer_to_court", reason=text)
    case = await move(client, clerk, case, "claim", reason=text)
    case = await move(
        client,
        clerk,
        case,
        "delegate",
        target_unit=DASHI,
        court_case_number=text[:64],
        procedure="ordinary",
        materials=[text],
        reason=text,
    )

    assert case["court_case_number"] == text[:64]
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=clerk)).json()
    assert [e["reason"] for e in events[2:]] == [text] * 4
    referrals = (await client.get(f"/api/v1/cases/{case['id']}/referrals", headers=clerk)).json()
    assert referrals[-1]["payload"] == {
        "court_case_number": text[:64],
        "procedure": "ordinary",
        "materials": [text],
    }


@pytest.mark.parametrize("text", list(INJECTIONS.values()), ids=list(INJECTIONS))
async def test_injection_in_a_transition_unit_code_is_422_and_moves_nothing(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, text: str
) -> None:
    case = await open_case(client, mediator)
    before = await stored(db)

    response = await client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={
            "trigger": "hand_off",
            "target_unit": text,
            "referral_kind": "administrative",
            "reason": "移交",
        },
        headers=mediator,
    )

    assert "body.target_unit" in error_fields(assert_problem(response, 422))
    assert await stored(db) == before
    assert (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json() == case


# Huge integers, negative amounts, far-future dates ------------------------------------------------

OUT_OF_RANGE_CASE_FIELDS: list[tuple[str, Any]] = [
    ("people_involved", 10**30),
    ("people_involved", 2**63),
    ("people_involved", 0),
    ("people_involved", -1),
    ("amount_yuan", 10**30),
    ("amount_yuan", 1e308),
    ("amount_yuan", 10_000_000_000_000),
    ("amount_yuan", 3000.001),
    ("amount_yuan", -0.01),
    ("amount_yuan", -3000),
]


@pytest.mark.parametrize(
    ("field", "value"), OUT_OF_RANGE_CASE_FIELDS, ids=[f"{f}={v!r}" for f, v in OUT_OF_RANGE_CASE_FIELDS]
)
async def test_out_of_range_numbers_are_422_naming_the_field(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, field: str, value: Any
) -> None:
    response = await client.post("/api/v1/cases", json=_with(case_body(), field, value), headers=mediator)

    assert f"body.{field}" in error_fields(assert_problem(response, 422))
    assert (await stored(db))["cases"] == 0


@pytest.mark.parametrize(
    "literal",
    ["NaN", "Infinity", "-Infinity", "1" + "0" * 5000, "-" + "9" * 5000, "1e999999"],
    ids=["nan", "infinity", "minus-infinity", "5000-digit integer", "5000-digit negative", "huge exponent"],
)
@pytest.mark.parametrize("field", ["amount_yuan", "people_involved"])
async def test_non_finite_and_enormous_json_numbers_are_a_clear_4xx(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, field: str, literal: str
) -> None:
    body = json.dumps(_with(case_body(), field, "PLACEHOLDER")).replace('"PLACEHOLDER"', literal)

    response = await client.post(
        "/api/v1/cases", content=body, headers={**mediator, "Content-Type": "application/json"}
    )

    assert_problem(response, 400, 422)
    assert (await stored(db))["cases"] == 0


async def test_the_largest_amount_round_trips_exactly(
    client: httpx.AsyncClient, auth: Any, mediator: dict[str, str], db: Backend
) -> None:
    case = await open_case(client, mediator, amount_yuan=9_999_999_999_999.99)

    # Triage sends a dispute this big up the tiers (the registrar gets its read-only view, which
    # shows no amount): read it back as the auditor.
    assert case["view"] == "sent"
    again = await client.get(f"/api/v1/cases/{case['id']}", headers=await auth("auditor"))
    assert again.json()["amount_yuan"] == 9_999_999_999_999.99


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/cases/{big}", {}),
        ("/api/v1/cases/{big}/events", {}),
        ("/api/v1/cases/1/parties/{big}/reveal", {}),
        ("/api/v1/cases", {"limit": "{big}"}),
        ("/api/v1/cases", {"offset": "{big}"}),
        ("/api/v1/cases", {"limit": "-1"}),
        ("/api/v1/cases", {"offset": "-1"}),
        ("/api/v1/court/queue", {"limit": "{big}"}),
        ("/api/v1/units/320583106005/inbox", {"offset": "{big}"}),
    ],
    ids=[
        "case id",
        "events",
        "party id",
        "limit",
        "offset",
        "negative limit",
        "negative offset",
        "queue",
        "inbox",
    ],
)
@pytest.mark.parametrize("big", [str(2**63), str(10**40), "1" + "0" * 5000])
async def test_huge_or_negative_integers_in_paths_and_queries_are_422(
    client: httpx.AsyncClient,
    mediator: dict[str, str],
    db: Backend,
    path: str,
    params: dict[str, str],
    big: str,
) -> None:
    method = "POST" if path.endswith("/reveal") else "GET"
    response = await client.request(
        method,
        path.format(big=big),
        params={k: v.format(big=big) for k, v in params.items()},
        json={"reason": "核对", "fields": ["phone"]} if method == "POST" else None,
        headers=mediator,
    )

    assert_problem(response, 422)


async def test_negative_and_huge_amounts_in_an_agreement_leave_the_case_alone(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend
) -> None:
    case = await move(client, mediator, await open_case(client, mediator), "accept")

    for amount in (-1, -0.01, 10**20):
        response = await client.post(
            f"/api/v1/cases/{case['id']}/transitions",
            json={
                "trigger": "settle",
                "agreement": {"form": "written", "terms": "赔偿", "amount_yuan": amount},
            },
            headers=mediator,
        )
        assert_problem(response, 422)
    for by_length in (0, -1, 10**12):
        deadline = next(d for d in case["deadlines"] if d["status"] == "active")
        response = await client.post(
            f"/api/v1/cases/{case['id']}/deadlines/{deadline['id']}/extend",
            json={"by_length": by_length, "both_parties_consent": True, "reason": "鉴定"},
            headers=mediator,
        )
        assert_problem(response, 422)
    for edit in ({"amount_yuan": -5}, {"people_involved": -5}, {"people_involved": 10**19}):
        response = await client.patch(f"/api/v1/cases/{case['id']}", json=edit, headers=mediator)
        assert_problem(response, 422)

    assert (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json() == case


FAR_DATES = ["9999-12-31", "2999-01-01"]


@pytest.mark.parametrize("day", FAR_DATES)
async def test_far_future_agreement_dates_are_stored_or_refused_never_mangled(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, day: str
) -> None:
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    agreement = {"form": "written", "terms": "分期支付", "performance_deadline": day, "effective_on": day}

    response = await client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"trigger": "settle", "agreement": agreement},
        headers=mediator,
    )

    if response.status_code == 200:
        stored_agreement = response.json()["agreement"]
        assert (stored_agreement["performance_deadline"], stored_agreement["effective_on"]) == (day, day)
    else:
        assert_problem(response, 422)
        assert (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json() == case


@pytest.mark.parametrize("day", ["10000-01-01", "2026-02-30", "0000-01-01", "tomorrow"])
async def test_impossible_dates_are_422(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, day: str
) -> None:
    case = await move(client, mediator, await open_case(client, mediator), "accept")

    response = await client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"trigger": "settle", "agreement": {"form": "written", "terms": "赔偿", "effective_on": day}},
        headers=mediator,
    )

    assert_problem(response, 422)
    assert (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json() == case


@pytest.mark.parametrize(
    ("instant", "in_utc_range"),
    [
        pytest.param("9999-12-31T23:59:59+08:00", True, id="far future"),
        # Later than the largest instant UTC can hold, and earlier than the smallest.
        pytest.param("9999-12-31T23:59:59-12:00", False, id="past max utc"),
        pytest.param("0001-01-01T00:00:00+14:00", False, id="before min utc"),
        pytest.param("0001-01-01T00:00:00Z", True, id="year one"),
    ],
)
@pytest.mark.parametrize("name", ["created_from", "created_to", "due_before"])
async def test_extreme_instants_in_list_filters_answer_200_or_422_never_500(
    client: httpx.AsyncClient,
    mediator: dict[str, str],
    db: Backend,
    name: str,
    instant: str,
    in_utc_range: bool,
) -> None:
    await open_case(client, mediator)

    response = await client.get("/api/v1/cases", params={name: instant}, headers=mediator)

    if in_utc_range:
        assert response.status_code == 200, response.text
    else:
        assert f"query.{name}" in error_fields(assert_problem(response, 422))


async def test_far_future_created_from_lists_nothing(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend
) -> None:
    await open_case(client, mediator)

    response = await client.get(
        "/api/v1/cases", params={"created_from": "9999-12-31T00:00:00+08:00"}, headers=mediator
    )

    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0


async def test_a_wildcard_search_by_a_coordinator_matches_only_literally(
    client: httpx.AsyncClient, auth: Any, mediator: dict[str, str], db: Backend
) -> None:
    """The text of the injection tests, found by the supervising coordinator too (scope + search)."""
    text = INJECTIONS["like wildcards"]
    case = await open_case(client, mediator, parties=[{"name": text, "role": "applicant"}])
    await open_case(client, mediator)

    found = await client.get(
        "/api/v1/cases", params={"q": text, "unit": ZHANGPU}, headers=await auth("zhangpu.coordinator")
    )

    assert [item["id"] for item in found.json()["items"]] == [case["id"]]


# The OpenAPI describes the problems it answers with ---------------------------------------------


def _operations_with_422() -> list[Any]:
    return [
        pytest.param(method, path, id=op["operationId"])
        for path, item in FUZZ_APP.openapi()["paths"].items()
        for method, op in item.items()
        if "422" in op["responses"]
    ]


@pytest.mark.parametrize(("method", "path"), _operations_with_422())
def test_a_documented_422_is_the_problem_json_the_service_sends(method: str, path: str) -> None:
    documented = FUZZ_APP.openapi()["paths"][path][method]["responses"]["422"].get("content", {})

    assert list(documented) == [PROBLEM]


# Emptying a required field with null ---------------------------------------------------------------

CLEARABLE_CASE_FIELDS = {"amount_yuan", "flags", "reason"}
CASE_EDIT_NULLS = ["summary", "dispute_type", "amount_yuan", "people_involved", "flags", "source"]
NULL_IS_500: dict[str, Any] = {}  # all fixed: null on a NOT NULL field is a 422


@pytest.mark.parametrize(
    "field", [pytest.param(f, marks=NULL_IS_500.get(f, ()), id=f) for f in CASE_EDIT_NULLS]
)
async def test_null_in_a_case_edit_clears_an_optional_field_or_is_422(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, field: str
) -> None:
    case = await open_case(client, mediator)

    response = await client.patch(
        f"/api/v1/cases/{case['id']}", json={field: None, "reason": "更正"}, headers=mediator
    )

    if field in CLEARABLE_CASE_FIELDS:
        assert response.status_code == 200, response.text
        assert response.json()[field] in (None, [])
    else:
        assert f"body.{field}" in error_fields(assert_problem(response, 422))
        assert (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json() == case


PARTY_EDIT_NULLS = ["name", "role", "kind", "id_type", "id_number", "phone", "address"]
CLEARABLE_PARTY_FIELDS = {"id_type", "id_number", "phone", "address"}


@pytest.mark.parametrize("field", PARTY_EDIT_NULLS)
async def test_null_in_a_party_edit_clears_an_optional_field_or_is_422(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, field: str
) -> None:
    case = await open_case(client, mediator)
    party = case["parties"][0]

    response = await client.patch(
        f"/api/v1/cases/{case['id']}/parties/{party['id']}",
        json={field: None, "reason": "更正"},
        headers=mediator,
    )

    if field in CLEARABLE_PARTY_FIELDS:
        assert response.status_code == 200, response.text
        assert response.json()["parties"][0][field] is None
    else:
        assert f"body.{field}" in error_fields(assert_problem(response, 422))
        assert (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json() == case
