"""The API's shapes for generated documents."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from service.documents.render import DocumentFormat, DocumentKind


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DocumentKind
    format: DocumentFormat = DocumentFormat.pdf
    session_id: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="the session a session_record is of (only then)"
    )


class DocumentPublic(BaseModel):
    id: int
    case_id: int
    kind: DocumentKind
    kind_label: str
    session_id: int | None = None  # the session a session record is of
    format: DocumentFormat
    version: int
    number: str | None
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    generated_at: datetime
    generated_by: str
    content_url: str
