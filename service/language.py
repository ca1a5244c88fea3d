"""The language an API reader asked for: ``Accept-Language: en`` gives English unit names.

Chinese is the product's language and the default. The choice is kept for the request in a
context variable, set by ``read_accept_language`` (a dependency of the API routers) and read
where a unit's name is put into an answer: ``org.name_of(code, answer_language())``.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Annotated

from fastapi import Header

LANGUAGES = ("zh", "en")
_reading: ContextVar[str] = ContextVar("reading_language", default="zh")


def answer_language() -> str:
    """The language of the current request's answer: "zh" or "en"."""
    return _reading.get()


def language_of(accept_language: str | None) -> str:
    """The first of zh/en the header names, by the order and weights it gives; zh when neither."""
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "")[:200].split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and weight > 0:
            choices.append((-weight, position, primary))
    return min(choices)[2] if choices else "zh"


async def read_accept_language(
    accept_language: Annotated[
        str | None,
        # No length limit: a browser's long header is read (its first 200 characters), not refused.
        Header(description="en for English unit names in the answer; Chinese (zh-CN) otherwise"),
    ] = None,
) -> None:
    _reading.set(language_of(accept_language))
