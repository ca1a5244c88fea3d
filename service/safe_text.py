"""Text that reads as what it says: no invisible direction controls, no spreadsheet formulas.

- Unicode's bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C) are
  invisible and reorder what follows them on screen: "‮txt.exe" shows as "exe.txt", a case summary
  or a party's name could show other words than it holds. No legitimate Chinese or English entry
  needs them, so every free-text field refuses them (``NoBidi``, one validator for every schema),
  naming the field.
- A spreadsheet takes a cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
  return before one) as a formula: ``=HYPERLINK(…)`` in a unit's name would become a live link in
  the monthly report. Every CSV and XLSX export writes such text through ``spreadsheet_text``, which
  prefixes an apostrophe so it shows as typed; imports refuse names that ``looks_like_formula``.
"""

from __future__ import annotations

import unicodedata
from typing import TypeVar

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

V = TypeVar("V")


def bidi_control_in(text: str) -> str | None:
    """The first bidirectional control character in ``text``, described, or None."""
    for char in text:
        if char in BIDI_CONTROLS:
            return f"U+{ord(char):04X} {unicodedata.name(char)}"
    return None


BIDI_PROBLEM = (
    "contains an invisible bidirectional control character ({found}), which makes text display in "
    "another order than it was written"
)


def bidi_problem(text: str) -> str | None:
    """What is wrong with ``text`` as free text, for a use case that checks it itself; or None."""
    found = bidi_control_in(text)
    return None if found is None else BIDI_PROBLEM.format(found=found)


def refuse_bidi_controls(text: V) -> V:
    """``text`` unchanged, or a validation error naming the control (an optional field's None passes)."""
    found = bidi_control_in(text) if isinstance(text, str) else None
    if found is not None:
        raise PydanticCustomError("bidi_control", BIDI_PROBLEM, {"found": found})
    return text


# Annotated[str, StringConstraints(...), NoBidi]: after the string's own constraints.
NoBidi = AfterValidator(refuse_bidi_controls)


def looks_like_formula(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


def spreadsheet_text(value: V) -> V | str:
    """``value`` for a CSV or XLSX cell: text a spreadsheet would run as a formula gets an
    apostrophe in front (shown as typed); numbers and other text are unchanged."""
    if isinstance(value, str) and looks_like_formula(value):
        return "'" + value
    return value
