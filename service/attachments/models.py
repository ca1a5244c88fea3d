"""A file kept on a case: a signed agreement's scan, a party's ID copy, evidence.

The bytes live in ``case_attachment.content`` (PostgreSQL ``bytea``, SQLite ``BLOB``), sealed
with the data key like every other piece of personal data (an ID copy is one), beside their SHA-256, so the database backup carries them and every API replica reads the same files
(docs/attachments.md). A row is never deleted or its bytes changed: a wrong upload is marked
withdrawn, with who, when and why; the upload and the withdrawal are each a case event. Only
retention erases the bytes of a long-closed case's files (``erased_at``), keeping the row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, Text
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class CaseAttachment(SQLModel, table=True):
    __tablename__ = "case_attachment"
    __table_args__ = (Index("ix_case_attachment_case", "case_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    case_id: int = Field(sa_column=Column(BigId, ForeignKey("cases.id"), nullable=False))
    kind: str = Field(max_length=24)  # workflows-free vocabulary: service.attachments.schemas.AttachmentKind
    media_type: str = Field(max_length=32)  # as sniffed from the content, never as declared
    filename: str = Field(max_length=120)  # sanitised, for display only
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Sealed with the data key ring (JIEFEN_DATA_KEY), slice by slice: see service.attachments.sealing.
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_id: str = Field(max_length=16)  # the key the content is sealed under
    uploaded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    uploaded_by: str = Field(max_length=64)
    uploaded_by_unit: str | None = Field(default=None, max_length=32)
    withdrawn_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    withdrawn_by: str | None = Field(default=None, max_length=64)
    withdrawn_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Retention (jiefen privacy anonymise-closed): the bytes, the name and the note are gone; the
    # row, its SHA-256 and its case events stay, so the trail still says what was there.
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
