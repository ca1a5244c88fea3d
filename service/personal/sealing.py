"""A party's personal fields sealed for storage, opened for use, and masked for display."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.personal.crypto import PERSONAL_FIELDS, DataCipher
from service.personal.masking import MASKS

INDEXED = ("id_number", "phone")  # the fields with a blind index, for look-ups by value


def seal(values: Mapping[str, Any], cipher: DataCipher) -> dict[str, Any]:
    """Encrypt the personal fields present in ``values`` and refresh their blind indexes."""
    sealed = dict(values)
    for field in PERSONAL_FIELDS:
        if field in sealed:
            plain = sealed[field]
            sealed[field] = cipher.encrypt(plain, field)
            if field in INDEXED:
                sealed[f"{field}_index"] = cipher.blind_index(plain, field)
    return sealed


def unseal(values: Mapping[str, Any], cipher: DataCipher) -> dict[str, Any]:
    opened = dict(values)
    for field in PERSONAL_FIELDS:
        if field in opened:
            opened[field] = cipher.decrypt(opened[field], field)
    return opened


def mask(values: Mapping[str, Any]) -> dict[str, Any]:
    masked = dict(values)
    for field, hide in MASKS.items():
        if field in masked:
            masked[field] = hide(masked[field])
    return masked
