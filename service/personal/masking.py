"""How personal data reads by default: enough to recognise, not enough to misuse."""

from __future__ import annotations


def mask_id_number(value: str | None) -> str | None:
    """First 6 and last 4 (docs/domain.md, Least privilege): 320583********1234."""
    if not value:
        return value
    if len(value) <= 10:
        return value[:2] + "*" * (len(value) - 2)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str | None) -> str | None:
    """138****5678."""
    if not value:
        return value
    digits = value.replace(" ", "").replace("-", "")
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_address(value: str | None) -> str | None:
    """The first six characters (town level), the rest hidden."""
    if not value:
        return value
    return value[:6] + "****" if len(value) > 6 else value[:2] + "****"


MASKS = {"id_number": mask_id_number, "phone": mask_phone, "address": mask_address}
