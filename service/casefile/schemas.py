"""What the case file check's API speaks."""

from __future__ import annotations

from pydantic import BaseModel


class FileItemOut(BaseModel):
    """One item of the file: ``status`` met | missing | not_applicable, and why."""

    item: str
    status: str
    required: bool
    label: str  # in the answer's language (Accept-Language)
    label_zh: str
    label_en: str
    source: str  # the article, or local practice, in the answer's language
    source_zh: str
    source_en: str
    why: str
    why_zh: str
    why_en: str


class FileCheckOut(BaseModel):
    """What a complete case file (卷宗) still lacks: ``complete`` when no required item is missing."""

    case_id: int
    complete: bool
    missing: list[str]  # the required items missing, in order
    basis: str
    items: list[FileItemOut]
