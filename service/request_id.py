"""The request id: taken from ``X-Request-ID`` when it is a sane token, otherwise made up.

It lives in a context variable for the length of a request, so every log line and every
problem+json body of that request carries it without being passed around.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

HEADER = "X-Request-ID"
MAX_LENGTH = 64

_SANE = re.compile(rb"[A-Za-z0-9._-]{1,%d}" % MAX_LENGTH)

request_id_var: ContextVar[str | None] = ContextVar("jiefen_request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def new_request_id() -> str:
    # 128 random bits, like a uuid4's hex, at a fifth of uuid4()'s cost (this runs per request).
    return os.urandom(16).hex()


def accept_request_id(raw: bytes | None) -> str:
    """The client's (or proxy's) id when it is short and plain; a fresh one otherwise.

    Anything else (too long, spaces, quotes, control characters) is replaced rather than
    cleaned: it ends up in log lines and response headers, where it must not inject anything.
    """
    if raw is not None and _SANE.fullmatch(raw):
        return raw.decode("ascii")
    return new_request_id()
