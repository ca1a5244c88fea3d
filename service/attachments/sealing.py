"""A file's bytes sealed with the data key ring, slice by slice, so a download opens and sends
one slice at a time and never holds the whole file.

Stored layout: the plaintext cut into SLICE-byte slices (the last one shorter), each stored as
nonce (12) + ciphertext + tag (16). Each slice is bound to the file's SHA-256 and its position,
so slices cannot be swapped between files or reordered. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator

from service.personal.crypto import DataCipher

SLICE = 512 * 1024
OVERHEAD = 12 + 16  # AES-GCM nonce and tag per slice


def _context(sha256: str, index: int) -> bytes:
    return f"case_attachment.content:{sha256}:{index}".encode()


def seal(cipher: DataCipher, data: bytes, sha256: str) -> tuple[str, bytes]:
    """(the key id, the sealed content) of ``data``."""
    kid = cipher.current_kid
    parts = []
    for index, start in enumerate(range(0, len(data), SLICE)):
        kid, sealed = cipher.seal_bytes(data[start : start + SLICE], _context(sha256, index))
        parts.append(sealed)
    return kid, b"".join(parts)


def stored_slices(size: int) -> Iterator[tuple[int, int, int]]:
    """(index, start, length) of each sealed slice of a file of ``size`` plaintext bytes."""
    for index, start in enumerate(range(0, size, SLICE)):
        plain = min(SLICE, size - start)
        yield index, index * (SLICE + OVERHEAD), plain + OVERHEAD


def open_slice(cipher: DataCipher, kid: str, sealed: bytes, sha256: str, index: int) -> bytes:
    return cipher.open_bytes(kid, sealed, _context(sha256, index))


def open_all(cipher: DataCipher, kid: str, content: bytes, sha256: str, size: int) -> bytes:
    return b"".join(
        open_slice(cipher, kid, content[start : start + length], sha256, index)
        for index, start, length in stored_slices(size)
    )
