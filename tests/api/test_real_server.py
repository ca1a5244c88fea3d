"""The product as a user meets it: `jiefen serve` over a real socket, killed with -9 and restarted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.builders import DASHI, case_body, consents
from tests.live_server import Server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path)
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.kill()


def test_serve_prints_logins_and_the_first_journey_works_over_http_and_survives_kill_9(
    server: Server,
) -> None:
    mediator = server.token("dashi.mediator")
    created = httpx.post(
        f"{server.base}/api/v1/cases",
        json=case_body(),
        headers={**mediator, "Idempotency-Key": "real-server-1"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    case = created.json()
    assert (case["state"], case["unit_code"]) == ("assigned", DASHI)

    accepted = httpx.post(
        f"{server.base}/api/v1/cases/{case['id']}/transitions",
        json={"trigger": "accept", "consents": consents(case)},
        headers={**mediator, "If-Match": '"1"'},
        timeout=10,
    )
    settled = httpx.post(
        f"{server.base}/api/v1/cases/{case['id']}/transitions",
        json={"trigger": "settle", "agreement": {"form": "written", "terms": "赔偿 2000 元"}},
        headers={**mediator, "If-Match": '"2"'},
        timeout=10,
    )
    assert (accepted.status_code, settled.status_code) == (200, 200)
    assert (
        httpx.get(
            f"{server.base}/api/v1/cases/{case['id']}", headers=server.token("zhangpu.coordinator")
        ).status_code
        == 200
    )
    assert (
        httpx.get(
            f"{server.base}/api/v1/cases/{case['id']}", headers=server.token("wulian.mediator")
        ).status_code
        == 404
    )

    output = server.kill()
    assert "Demo logins" in output and "dashi.mediator" in output

    server.start()  # same data directory: the acknowledged writes must all be there
    after = httpx.get(
        f"{server.base}/api/v1/cases/{case['id']}", headers=server.token("dashi.mediator"), timeout=10
    )
    assert (after.json()["state"], after.json()["version"]) == ("settled", 3)
    events = httpx.get(
        f"{server.base}/api/v1/cases/{case['id']}/events", headers=server.token("dashi.mediator")
    ).json()
    assert [e["seq"] for e in events] == [1, 2, 3]
    retry = httpx.post(
        f"{server.base}/api/v1/cases",
        json=case_body(),
        headers={**server.token("dashi.mediator"), "Idempotency-Key": "real-server-1"},
        timeout=10,
    )
    assert retry.json()["id"] == case["id"]
    # The demo data was seeded once, not again on restart.
    assert "demo cases created" not in server.kill()
