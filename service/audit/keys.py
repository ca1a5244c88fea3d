"""The audit key: the secret that signs the audit trail, held outside the database.

Every writer of audit records reaches it through its connection: the engine is made with the key
in its execution options (``engine_options``), so the engine that writes the trail is the one that
signs it and no call site has to carry the key. An engine made without it cannot write audit
records.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflows.chain import case_digest, link

ENGINE_OPTION = "jiefen_audit_key"
MIN_KEY_BYTES = 32
# What the fingerprint signs: a constant, so the stored fingerprint tells whether the key an
# instance holds is the one the trail was signed with, and reveals nothing about the key.
_FINGERPRINT_TEXT = b"jiefen audit key fingerprint v1"


class AuditKeyError(ValueError):
    """The audit key is missing, malformed, or not the one this database's trail was signed with."""


@dataclass(frozen=True)
class AuditKey:
    secret: bytes = field(repr=False)

    @classmethod
    def from_text(cls, text: str) -> AuditKey:
        try:
            secret = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AuditKeyError(
                "the audit key must be base64 (generate one with `jiefen audit new-key`)"
            ) from exc
        if len(secret) < MIN_KEY_BYTES:
            raise AuditKeyError(f"the audit key must be at least {MIN_KEY_BYTES} bytes, base64-encoded")
        return cls(secret)

    @property
    def fingerprint(self) -> str:
        return link(self.secret, None, {"payload": _FINGERPRINT_TEXT.decode()}, ("payload",))

    def link(self, prev_hash: str | None, record: Mapping[str, Any], fields: tuple[str, ...]) -> str:
        return link(self.secret, prev_hash, record, fields)

    def case_digest(self, recorded: Mapping[str, Any]) -> str:
        return case_digest(self.secret, recorded)


def engine_options(key: AuditKey) -> dict[str, Any]:
    """The execution options that give an engine the audit key (``service.db.create_engine``)."""
    return {ENGINE_OPTION: key}


def new_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode()


def key_of(conn: AsyncConnection) -> AuditKey:
    key = conn.sync_connection.get_execution_options().get(ENGINE_OPTION) if conn.sync_connection else None
    if not isinstance(key, AuditKey):
        raise AuditKeyError(
            "this database engine was made without the audit key: it cannot sign audit records"
        )
    return key
