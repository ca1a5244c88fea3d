"""The API's shapes for generated documents."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from service.documents.render import DocumentFormat, DocumentKind


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DocumentKind
    format: DocumentFormat = DocumentFormat.pdf


class DocumentPublic(BaseModel):
    id: int
    case_id: int
    kind: DocumentKind
    kind_label: str
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
