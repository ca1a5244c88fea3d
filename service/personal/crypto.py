"""Personal data at rest: AES-GCM with a key ring, plus a keyed blind index for exact search.

A stored value reads ``v1:<key id>:<base64(nonce | ciphertext+tag)>``; the field name is bound as
associated data, so a phone number cannot be swapped into the ID-number column unnoticed. The
first key of the ring encrypts; every key decrypts, so ``jiefen privacy rotate-key`` can
re-encrypt row by row. Keys come from the environment or a key file, never the repository.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "v1"
PERSONAL_FIELDS = ("id_number", "phone", "address")


class DataKeyError(ValueError):
    """The configured key material is missing or malformed."""


def parse_keyring(text: str) -> list[tuple[str, bytes]]:
    """``kid:base64key[,kid:base64key…]`` (first is current) or a single base64 key (id ``k1``)."""
    ring: list[tuple[str, bytes]] = []
    for part in (p.strip() for p in text.replace("\n", ",").split(",") if p.strip()):
        # A key without an id is k1: what it sealed when it stood alone is tagged k1, so it keeps
        # that id behind a newer key ("k2:NEW,OLD").
        kid, _, material = part.rpartition(":") if ":" in part else ("k1", "", part)
        try:
            key = base64.b64decode(material, validate=True)
        except ValueError as exc:
            raise DataKeyError(f"key {kid!r} is not valid base64") from exc
        if len(key) != 32:
            raise DataKeyError(f"key {kid!r} must be 32 bytes (AES-256), got {len(key)}")
        if not (kid.isascii() and kid.isalnum()):
            raise DataKeyError(f"key id {kid!r} must be letters and digits (a-z, A-Z, 0-9)")
        if any(kid == seen for seen, _ in ring):
            raise DataKeyError(
                f"key id {kid!r} appears twice in the key ring: give the new key its own id "
                "(`jiefen privacy new-key` with JIEFEN_DATA_KEY set picks the next one)"
            )
        ring.append((kid, key))
    if not ring:
        raise DataKeyError("no key given")
    return ring


def new_key_line(kid: str = "k1") -> str:
    return f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def next_kid(ring_text: str | None) -> str:
    """The id for a key added to ``ring_text`` (the ring in use, if any): one past the highest
    ``k<n>``, so that a rotation's ring never names two keys alike."""
    if not ring_text:
        return "k1"
    numbers = [
        int(kid[1:])
        for kid, _ in parse_keyring(ring_text)
        if kid[:1] == "k" and kid[1:].isascii() and kid[1:].isdigit()
    ]
    return f"k{max(numbers, default=0) + 1}"


def load_or_create_key_file(path: Path, make: Callable[[], str] = new_key_line) -> str:
    """The embedded default keeps its keys beside its database (each created once by ``make``,
    owner-only): the data key ring, and the audit key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make() + "\n")
    return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class DataCipher:
    ring: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_text(cls, text: str) -> DataCipher:
        return cls(tuple(parse_keyring(text)))

    @property
    def current_kid(self) -> str:
        return self.ring[0][0]

    def _key(self, kid: str) -> bytes:
        for candidate, key in self.ring:
            if candidate == kid:
                return key
        raise DataKeyError(f"no key {kid!r} in the key ring (was it removed before rotating?)")

    def encrypt(self, value: str | None, field: str) -> str | None:
        if value is None or value == "":
            return value
        kid, key = self.ring[0]
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(key).encrypt(nonce, value.encode(), field.encode())
        return f"{PREFIX}:{kid}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str | None, field: str) -> str | None:
        if token is None or not token.startswith(PREFIX + ":"):
            return token  # not encrypted (yet): rows written before encryption, migrated at start
        _, kid, body = token.split(":", 2)
        key = self._key(kid)
        try:
            raw = base64.b64decode(body, validate=True)
            return AESGCM(key).decrypt(raw[:12], raw[12:], field.encode()).decode()
        except (InvalidTag, ValueError) as exc:  # binascii.Error is a ValueError
            raise DataKeyError(f"{field}: ciphertext does not verify under key {kid!r}") from exc

    def seal_bytes(self, data: bytes, context: bytes) -> tuple[str, bytes]:
        """Bytes (a slice of a file) under the current key: (its kid, nonce + ciphertext + tag),
        bound to ``context`` (what the bytes are, and where they sit)."""
        kid, key = self.ring[0]
        nonce = secrets.token_bytes(12)
        return kid, nonce + AESGCM(key).encrypt(nonce, data, context)

    def open_bytes(self, kid: str, sealed: bytes, context: bytes) -> bytes:
        key = self._key(kid)
        try:
            return AESGCM(key).decrypt(sealed[:12], sealed[12:], context)
        except (InvalidTag, ValueError) as exc:
            raise DataKeyError(f"{context[:40]!r}: ciphertext does not verify under key {kid!r}") from exc

    def is_current(self, token: str | None) -> bool:
        return token is None or token == "" or token.startswith(f"{PREFIX}:{self.current_kid}:")

    def blind_index(self, value: str | None, field: str) -> str | None:
        """A keyed hash for exact-match search; normalised so '3205…x' finds '3205…X'."""
        if not value:
            return None
        normal = "".join(value.split()).upper()
        return hmac.new(self._index_key, f"{field}:{normal}".encode(), hashlib.sha256).hexdigest()

    @cached_property
    def _index_key(self) -> bytes:
        # Derived from the current key: a rotation re-indexes every row (rotate-key does).
        return hmac.new(self.ring[0][1], b"jiefen-blind-index", hashlib.sha256).digest()
