"""The receiver's verification example in docs/webhooks.md accepts what the service signs, and
nothing altered, re-signed by someone else, or replayed after the five-minute tolerance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from service.notifications.delivery import SIGNATURE_TOLERANCE, sign
from tests.conftest import FIXED_NOW

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = "a-receiver-secret-of-32-characters"
BODY = b'{"case_id": 42, "event": "escalation"}'


def documented_verify() -> Callable[..., bool]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Verifying the signature", 1)[1]
    code = section.split("```python\n", 1)[1].split("\n```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    verify: Callable[..., bool] = namespace["verify"]
    return verify


def test_the_documented_receiver_accepts_a_fresh_signature_and_refuses_the_rest() -> None:
    verify = documented_verify()
    header = sign(SECRET, BODY, at=FIXED_NOW)
    sent = FIXED_NOW.timestamp()
    tolerance = SIGNATURE_TOLERANCE.total_seconds()

    assert header.startswith(f"t={int(sent)},v1=")
    assert verify(SECRET, header, BODY, now=sent)
    assert verify(SECRET, header, BODY, now=sent + tolerance)
    assert not verify(SECRET, header, BODY, now=sent + tolerance + 1)  # a replay, later
    assert not verify(SECRET, header, BODY, now=sent - tolerance - 1)
    assert not verify(SECRET, header, BODY + b" ", now=sent)  # the body altered
    assert not verify("another-secret-entirely-000000000", header, BODY, now=sent)
    # A new timestamp on an old signature does not verify: t is signed with the body.
    later = header.replace(f"t={int(sent)}", f"t={int(sent) + 3600}")
    assert not verify(SECRET, later, BODY, now=sent + 3600)
    assert not verify(SECRET, "sha256=" + "0" * 64, BODY, now=sent)  # the old format


def test_each_moment_signs_differently() -> None:
    assert sign(SECRET, BODY, at=FIXED_NOW) != sign(SECRET, BODY, at=FIXED_NOW + timedelta(seconds=1))
