"""What the attachment API takes and gives."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class AttachmentKind(StrEnum):
    signed_agreement = "signed_agreement"  # 签字协议书: the agreement as the parties signed it
    party_id = "party_id"  # 身份证明: a copy of a party's ID
    evidence = "evidence"  # 证据
    other = "other"  # 其他


KIND_LABELS: dict[AttachmentKind, str] = {
    AttachmentKind.signed_agreement: "签字协议书",
    AttachmentKind.party_id: "身份证明",
    AttachmentKind.evidence: "证据",
    AttachmentKind.other: "其他",
}

NOTE_LIMIT = 500


class AttachmentPublic(BaseModel):
    id: int
    case_id: int
    kind: AttachmentKind
    kind_label: str
    media_type: str = Field(description="as the content showed it (application/pdf, image/jpeg, image/png)")
    filename: str = Field(description="the uploaded name, sanitised, for display only")
    size_bytes: int
    sha256: str = Field(description="hex SHA-256 of the content, as the case event records it")
    note: str | None
    uploaded_at: datetime
    uploaded_by: str
    uploaded_by_unit: str | None
    withdrawn: bool
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdrawn_reason: str | None
    erased_at: datetime | None = Field(
        default=None, description="when retention destroyed the bytes, name and note (download: 410)"
    )
    content_url: str


class WithdrawalIn(BaseModel):
    reason: str = Field(min_length=1, max_length=NOTE_LIMIT, description="why the file was wrong")
