"""What a file is, read from its bytes alone; and the name it is shown under.

The type a phone or a browser declares, and the name's extension, are never believed: a file is a
PDF, a JPEG or a PNG only if its content says so (its signature and a header that makes sense),
and anything else is refused with 415 naming the rule it broke. Pure: no I/O.
"""

from __future__ import annotations

import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Any

from service.errors import ServiceError

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
EXTENSIONS = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png"}

# A PDF's trailer may be followed by a few line ends or a NUL padding; 1 KiB is what readers allow.
PDF_TAIL = 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# Start-of-frame markers (baseline, progressive, lossless, arithmetic); not C4 (DHT), C8, CC (DAC).
JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
MAX_PIXELS_SIDE = 65_535
NAME_LIMIT = 120


class UnsupportedFileType(ServiceError):
    """415: the content is not a PDF, JPEG or PNG, or not a sane one; ``rule`` names the check."""

    status = 415
    slug = "unsupported-file-type"
    title = "The file's content is not an accepted type"

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(detail, rule=rule, errors=[{"field": "file", "message": detail}])


class FileTooLarge(ServiceError):
    status = 413
    slug = "too-large"
    title = "Request body too large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The file is larger than the {limit} bytes a case attachment may have.",
            limit_bytes=limit,
            errors=[{"field": "file", "message": f"larger than {limit} bytes"}],
        )


@dataclass(frozen=True, slots=True)
class Sniffed:
    media_type: str
    detail: dict[str, Any]  # what the header said (pages, width × height): for the record


def _refuse(rule: str, detail: str) -> UnsupportedFileType:
    return UnsupportedFileType(rule, detail)


def _pdf(data: bytes) -> Sniffed:
    if not re.match(rb"%PDF-[12]\.\d", data[:8]):
        raise _refuse("pdf-header", "The file does not start with a PDF header (%PDF-1.x or %PDF-2.x).")
    if b"%%EOF" not in data[-PDF_TAIL:]:
        raise _refuse("pdf-trailer", "The PDF has no %%EOF trailer at its end: it is cut short or not a PDF.")
    return Sniffed(PDF, {"version": data[5:8].decode("ascii")})


def _png(data: bytes) -> Sniffed:
    # The first chunk must be IHDR, 13 bytes, with a valid CRC and a sane size and depth.
    if len(data) < 33 or data[8:16] != b"\x00\x00\x00\rIHDR":
        raise _refuse("png-header", "The PNG's first chunk is not a 13-byte IHDR header.")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    (crc,) = struct.unpack(">I", data[29:33])
    if zlib.crc32(data[12:29]) != crc:
        raise _refuse("png-header", "The PNG's IHDR header fails its checksum.")
    if not (0 < width <= MAX_PIXELS_SIDE and 0 < height <= MAX_PIXELS_SIDE):
        raise _refuse("png-header", f"The PNG says it is {width} × {height} pixels.")
    if depth not in (1, 2, 4, 8, 16) or colour not in (0, 2, 3, 4, 6):
        raise _refuse("png-header", "The PNG's bit depth or colour type is not one PNG defines.")
    if not data.endswith(PNG_END):
        raise _refuse("png-end", "The PNG does not end with its IEND chunk: it is cut short.")
    return Sniffed(PNG, {"width": width, "height": height})


def _jpeg(data: bytes) -> Sniffed:
    """Walk the segments from SOI to the first start-of-frame, which gives the picture's size."""
    pos = 2
    for _ in range(256):  # a camera's JPEG reaches its frame header within a few segments
        if pos + 4 > len(data) or data[pos] != 0xFF:
            break
        while pos < len(data) - 1 and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            break
        if marker in JPEG_FRAMES:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            if width == 0 or height == 0:
                raise _refuse("jpeg-header", f"The JPEG says it is {width} × {height} pixels.")
            # After the frame header (an Exif thumbnail before it has its own end marker); not
            # necessarily last: a phone's "moving picture" appends its video after it.
            if data.find(b"\xff\xd9", pos + 9) == -1:
                raise _refuse("jpeg-end", "The JPEG has no end-of-image marker: it is cut short.")
            return Sniffed(JPEG, {"width": width, "height": height})
        pos += 2 + length
    raise _refuse("jpeg-header", "The JPEG's segments do not lead to a frame header (its size).")


def sniff(data: bytes) -> Sniffed:
    """The file's type as its content shows it, or UnsupportedFileType naming the failed rule."""
    if data.startswith(b"%PDF-"):
        return _pdf(data)
    if data.startswith(PNG_SIGNATURE):
        return _png(data)
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data)
    if not data:
        raise _refuse("empty", "The file is empty.")
    raise _refuse(
        "signature",
        "The content is not a PDF, JPEG or PNG (judged by its first bytes, not its name or declared type).",
    )


def display_name(given: str | None, media_type: str) -> str:
    """A name to show the file under: the last path part of what the client sent, without control
    or format characters, at most NAME_LIMIT characters, ending in the extension of its real type.
    For display only: nothing is ever stored or looked up under it."""
    text = unicodedata.normalize("NFC", given or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(c for c in text if unicodedata.category(c)[0] not in ("C", "Z") or c == " ")
    text = " ".join(text.split()).strip(" .")
    stem = text.rsplit(".", 1)[0] if "." in text else text
    stem = stem.strip(" .") or "file"
    extension = EXTENSIONS[media_type]
    return stem[: NAME_LIMIT - len(extension)].rstrip(" .") + extension
