"""A generated statutory document, kept as a version: each generation is a new row (old ones
stay), its bytes sealed with the data key like a case file, its SHA-256 in a case event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class CaseDocument(SQLModel, table=True):
    __tablename__ = "case_document"
    __table_args__ = (Index("ix_case_document_case", "case_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    case_id: int = Field(sa_column=Column(BigId, ForeignKey("cases.id"), nullable=False))
    kind: str = Field(max_length=32)  # service.documents.render.DocumentKind
    # The session a session record (调解记录) is of: its versions and number are that session's.
    session_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("mediation_session.id"), nullable=True)
    )
    format: str = Field(max_length=8)  # pdf | docx
    version: int  # 1, 2, ... per case and kind
    number: str | None = Field(default=None, max_length=64)  # the 文书编号 (service.numbering)
    filename: str = Field(max_length=120)
    media_type: str = Field(max_length=80)
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # sealed: attachments.sealing
    key_id: str = Field(max_length=16)
    generated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    generated_by: str = Field(max_length=64)
