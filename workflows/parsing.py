"""Shared pieces for validating policy files kept as data (triage rules, deadline policies).

Each loader checks a whole file and reports every problem at once, each as (key path, message),
so a policy owner fixes the file in one pass. The helpers here are the ones those loaders had in
common; messages are part of the contract (tests and policy owners read them), so keep them stable.

Pure: the data is already loaded; nothing here reads files or knows about ``service``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

E = TypeVar("E", bound=StrEnum)


class ProblemsError(ValueError):
    """Invalid configuration: every problem found, each as (key path, message).

    A base so each loader raises its own error (``RuleError``, ``PolicyError``) that lists problems
    one way. Workflows may not import ``service``; the service-side loader adds the file name and
    turns this into its ``ConfigError``.
    """

    def __init__(self, problems: Sequence[tuple[str, str]], file: str = "") -> None:
        self.problems: list[tuple[str, str]] = list(problems)
        self.file = file
        listed = "; ".join(f"{key or '(top level)'}: {message}" for key, message in self.problems)
        super().__init__(f"{file}: {listed}" if file else listed)


class Problems:
    """Collects every problem so a policy owner fixes the file in one pass, not one error per run."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, key: str, message: str) -> None:
        self.items.append((key, message))

    def count(self) -> int:
        """How many so far: compare before and after parsing a part to know whether it was valid."""
        return len(self.items)


def join(prefix: str, key: str) -> str:
    """A key path: ``prefix.key``, or just ``key`` at the top level (empty prefix)."""
    return f"{prefix}.{key}" if prefix else key


def unknown_keys(data: Mapping[Any, Any], allowed: Sequence[str], prefix: str, problems: Problems) -> None:
    """Report keys outside ``allowed``: a misspelt key would otherwise be silently ignored."""
    for key in data:
        if key not in allowed:
            problems.add(join(prefix, str(key)), f"unknown key {key!r}; allowed: {', '.join(allowed)}")


def enum_value(enum: type[E], value: object, key: str, what: str, problems: Problems) -> E | None:
    """``value`` as a member of ``enum``, or None after reporting it with the allowed values."""
    if isinstance(value, str):
        try:
            return enum(value)
        except ValueError:
            pass
    allowed = ", ".join(m.value for m in enum)
    problems.add(key, f"unknown {what} {value!r}; allowed: {allowed}")
    return None


def enum_set(
    enum: type[E], raw: Mapping[str, Any], name: str, prefix: str, what: str, problems: Problems
) -> frozenset[E] | None:
    """A non-empty list of enum values; None when absent. An empty list is a mistake, not "none".

    An empty list would never match; a bare string is almost always a forgotten "[...]". Invalid
    members are reported and left out of the set.
    """
    if name not in raw:
        return None
    key = f"{prefix}.{name}"
    values = raw[name]
    if not isinstance(values, list) or not values:
        problems.add(key, f"expected a non-empty list of {what} codes")
        return None
    parsed = [enum_value(enum, value, f"{key}[{i}]", what, problems) for i, value in enumerate(values)]
    return frozenset(p for p in parsed if p is not None)


def text(raw: object, key: str, message: str, problems: Problems) -> str | None:
    """Non-blank text, stripped; otherwise report ``message`` (which says why the field matters)."""
    if not isinstance(raw, str) or not raw.strip():
        problems.add(key, message)
        return None
    return raw.strip()


def flag(raw: object, key: str, problems: Problems) -> bool | None:
    """A boolean; anything else (a quoted "yes", a 1) is reported rather than guessed at."""
    if not isinstance(raw, bool):
        problems.add(key, f"expected true or false, got {raw!r}")
        return None
    return raw


def check_unique(raw: Sequence[Any], list_key: str, field: str, what: str, problems: Problems) -> None:
    """Report each item of ``raw`` whose text ``field`` repeats an earlier one's.

    Reads the raw items, so it still reports when an item is broken in other ways; items whose
    ``field`` is missing or not text are left to the item's own checks.
    """
    first_seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        value = item.get(field) if isinstance(item, Mapping) else None
        if not isinstance(value, str):
            continue
        if value in first_seen:
            problems.add(
                f"{list_key}[{index}].{field}",
                f"duplicate {what} {value!r} (first at {list_key}[{first_seen[value]}])",
            )
        else:
            first_seen[value] = index
