"""Binding a 卷宗: the cover (卷宗封面) and the index (卷内目录) set with fpdf2, then every part's
pages appended with pypdf: a generated document's PDF and a scanned PDF as they are, a photo
(JPEG, PNG) on an A4 page of its own. Synchronous and CPU-bound: the caller runs it in a worker
thread. No I/O but a scratch directory for the font cut to the characters used.

The index's page numbers are counted, not guessed: every part is turned into pages first and
counted, the index is set once to count its own pages, then the start pages follow; every page
then carries its number in the top right corner, as the index counts them.
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from PIL import Image, ImageOps
from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError

from service.documents.render import (
    MARGIN_MM,
    WEIGHT_BOLD,
    WEIGHT_REGULAR,
    covers,
    static_instance,
)

log = logging.getLogger(__name__)

A4_MM = (210.0, 297.0)
MISSING_GLYPH = "〓"  # 〓 (GETA MARK): the typesetter's mark for a character the font lacks
# A photo larger than this is not drawn (a PNG may claim 65,535 × 65,535 pixels: 17 GB unpacked).
MAX_PIXELS = 60_000_000
INDEX_WIDTHS_MM = (14.0, 96.0, 34.0, 16.0)  # 序号, 材料名称, 日期, 页号 (160 mm between margins)


@dataclass(frozen=True, slots=True)
class Cover:
    """What the 卷宗封面 states (already in words, Chinese dates)."""

    file_number: str | None
    committee: str
    case_number: str
    dispute_type: str
    parties: tuple[tuple[str, str], ...]  # (role in words, name)
    mediators: tuple[str, ...]
    registered: str
    accepted: str | None
    closed: str | None
    outcome: str | None


@dataclass(frozen=True, slots=True)
class Piece:
    """One item of the file: a generated document or a scan, with its bytes (opened)."""

    title: str
    date: str
    media_type: str  # application/pdf | image/jpeg | image/png
    data: bytes


@dataclass(frozen=True, slots=True)
class IndexEntry:
    title: str
    date: str
    start_page: int
    pages: int


@dataclass(frozen=True, slots=True)
class Bound:
    data: bytes
    pages: int
    cover_pages: int
    index_pages: int
    entries: tuple[IndexEntry, ...]


class _Fonts:
    """Noto Sans SC cut to the characters the bound file's own pages use, regular and bold."""

    def __init__(self, text: str, scratch: Path) -> None:
        chars = "".join(sorted(set(text + MISSING_GLYPH + "0123456789页共本卷第（）")))
        self.regular = static_instance(chars, WEIGHT_REGULAR, scratch / "regular.ttf")
        self.bold = static_instance(chars, WEIGHT_BOLD, scratch / "bold.ttf")

    def document(self, title: str) -> FPDF:
        pdf = FPDF(format="A4", unit="mm")
        pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
        pdf.set_auto_page_break(True, margin=MARGIN_MM)
        pdf.set_title(title)
        pdf.set_creator("Jiefen 解纷")
        pdf.add_font("cjk", "", str(self.regular))
        pdf.add_font("cjk", "B", str(self.bold))
        return pdf


def printable(text: str) -> str:
    """``text`` with each character the font cannot print shown as 〓, never silently dropped."""
    return "".join(ch if ch.isspace() or covers(ch) else MISSING_GLYPH for ch in text)


def _cover_rows(cover: Cover, total_pages: int) -> list[tuple[str, str]]:
    applicants = "；".join(f"{role}：{name}" for role, name in cover.parties)
    return [
        ("卷宗号", cover.file_number or "（尚未编号）"),
        ("调解组织", cover.committee),
        ("案件编号", cover.case_number),
        ("纠纷类型", cover.dispute_type),
        ("当事人", applicants or "—"),
        ("调解员", "、".join(cover.mediators) or "—"),
        ("登记日期", cover.registered),
        ("受理日期", cover.accepted or "—"),
        ("结案日期", cover.closed or "—"),
        ("调解结果", cover.outcome or "—"),
        ("本卷页数", f"共 {total_pages} 页"),
    ]


def _cover(fonts: _Fonts, cover: Cover, total_pages: int) -> bytes:
    pdf = fonts.document("卷宗封面")
    pdf.add_page()
    pdf.set_font("cjk", "B", 26)
    pdf.ln(20)
    pdf.cell(0, 16, "人民调解卷宗", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(16)
    for label, value in _cover_rows(cover, total_pages):
        pdf.set_font("cjk", "B", 13)
        pdf.cell(32, 11, label)
        pdf.set_font("cjk", "", 13)
        pdf.multi_cell(0, 11, printable(value), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _index(fonts: _Fonts, entries: Sequence[IndexEntry], total_pages: int) -> bytes:
    pdf = fonts.document("卷内目录")
    pdf.add_page()
    pdf.set_font("cjk", "B", 20)
    pdf.cell(0, 14, "卷内目录", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("cjk", "", 11)
    with pdf.table(col_widths=INDEX_WIDTHS_MM, text_align=("CENTER", "LEFT", "LEFT", "CENTER")) as table:
        table.row(["序号", "材料名称", "日期", "页号"])
        for number, entry in enumerate(entries, start=1):
            table.row([str(number), printable(entry.title), entry.date, str(entry.start_page)])
    pdf.ln(4)
    pdf.cell(0, 8, f"本卷共 {total_pages} 页（含封面、目录）", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _note_page(fonts: _Fonts, title: str, why: str) -> bytes:
    """A page standing in for a file that cannot be bound (a damaged PDF, an undrawable photo):
    it says which, so the reader asks for the original rather than missing it."""
    pdf = fonts.document(title)
    pdf.add_page()
    pdf.set_font("cjk", "B", 14)
    pdf.multi_cell(0, 9, printable(title), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("cjk", "", 12)
    pdf.multi_cell(0, 8, why, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


NOTE_UNREADABLE = "此文件无法编入卷宗（文件损坏或加密），请在系统中查阅原件。"
NOTE_UNDRAWABLE = "此图片无法编入卷宗（图片损坏或过大），请在系统中查阅原件。"


def _photo_page(fonts: _Fonts, piece: Piece) -> bytes:
    """The photo on an A4 page, as large as the margins allow, its aspect kept, turned upright
    as the phone recorded it (EXIF orientation)."""
    try:
        with Image.open(io.BytesIO(piece.data)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                return _note_page(fonts, piece.title, NOTE_UNDRAWABLE)
            turned = probe.getexif().get(0x0112, 1) not in (1, None)
            upright = ImageOps.exif_transpose(probe) if turned else None
            if upright is not None:
                upright.load()
        pdf = fonts.document(piece.title)
        pdf.set_auto_page_break(False)
        pdf.add_page()
        width, height = A4_MM[0] - 2 * MARGIN_MM, A4_MM[1] - 2 * MARGIN_MM
        source = upright if upright is not None else io.BytesIO(piece.data)
        pdf.image(source, x=MARGIN_MM, y=MARGIN_MM, w=width, h=height, keep_aspect_ratio=True)
        return bytes(pdf.output())
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        log.warning("a photo could not be bound into the file: %s", type(exc).__name__)
        return _note_page(fonts, piece.title, NOTE_UNDRAWABLE)


def _pdf_pages(fonts: _Fonts, piece: Piece) -> PdfReader:
    """The piece as PDF pages: a PDF as it is (a note page if it cannot be read), a photo on A4."""
    if piece.media_type == "application/pdf":
        try:
            reader = PdfReader(io.BytesIO(piece.data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise PyPdfError("encrypted")
            if len(reader.pages) > 0:
                return reader
        except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
            log.warning("a PDF could not be bound into the file: %s", type(exc).__name__)
        return PdfReader(io.BytesIO(_note_page(fonts, piece.title, NOTE_UNREADABLE)))
    return PdfReader(io.BytesIO(_photo_page(fonts, piece)))


PT_PER_MM = 72 / 25.4
PAGE_NUMBER_INSET_MM = 10.0  # from the top and the right edge, where a 卷宗's 页号 is written


def _stamp_page_numbers(writer: PdfWriter) -> None:
    """Each page numbered (1 = the cover) in its top right corner, as the index counts them: a
    reader checks the index against the paper. A scanned page's own rotation is folded into its
    content first, so the number sits upright at the top right of the page as it is seen; a page
    that cannot take the stamp (a damaged scan) keeps its place in the count unstamped."""
    sizes = []
    for page in writer.pages:
        if page.get("/Rotate", 0):
            page.transfer_rotation_to_content()
        box = page.mediabox
        sizes.append((float(box.width), float(box.height), float(box.left), float(box.bottom)))
    overlay = FPDF(unit="pt")
    overlay.set_auto_page_break(False)
    overlay.set_font("helvetica", "", 11)
    inset = PAGE_NUMBER_INSET_MM * PT_PER_MM
    for number, (width, height, _, _) in enumerate(sizes, start=1):
        overlay.add_page(format=(width, height))
        overlay.set_xy(width - inset - 60, inset - 6)
        overlay.cell(60, 12, str(number), align="R")
    stamps = PdfReader(io.BytesIO(bytes(overlay.output())))
    for page, stamp, (_, _, left, bottom) in zip(writer.pages, stamps.pages, sizes, strict=True):
        try:
            page.merge_translated_page(stamp, left, bottom)
        except (PyPdfError, ValueError, KeyError, TypeError) as exc:
            log.warning("a page of the file could not take its number: %s", type(exc).__name__)


def _count(data: bytes) -> int:
    return len(PdfReader(io.BytesIO(data)).pages)


def bind(cover: Cover, pieces: Sequence[Piece]) -> Bound:
    """The whole 卷宗 as one PDF: cover, index, then each piece in the order given."""
    words = "".join(
        [
            "人民调解卷宗卷内目录序号材料名称日期页号含封面目录尚未编号—；：、",
            NOTE_UNREADABLE,
            NOTE_UNDRAWABLE,
            *(label + value for label, value in _cover_rows(cover, 0)),
            *(p.title + p.date for p in pieces),
        ]
    )
    with tempfile.TemporaryDirectory(prefix="jiefen-dossier-") as scratch:
        fonts = _Fonts(printable(words), Path(scratch))
        parts = [_pdf_pages(fonts, piece) for piece in pieces]
        counts = [len(part.pages) for part in parts]
        # The index is set once with provisional numbers to learn its length (its rows do not
        # change height with the numbers: the page column is fixed), then with the real ones.
        provisional = [IndexEntry(p.title, p.date, 0, n) for p, n in zip(pieces, counts, strict=True)]
        cover_pages = _count(_cover(fonts, cover, 0))
        index_pages = _count(_index(fonts, provisional, 0))
        total = cover_pages + index_pages + sum(counts)
        entries: list[IndexEntry] = []
        start = cover_pages + index_pages + 1
        for piece, count in zip(pieces, counts, strict=True):
            entries.append(IndexEntry(piece.title, piece.date, start, count))
            start += count
        cover_pdf = _cover(fonts, cover, total)
        index_pdf = _index(fonts, entries, total)
        if _count(cover_pdf) != cover_pages or _count(index_pdf) != index_pages:
            raise RuntimeError("the cover or the index changed length once numbered")
        writer = PdfWriter()
        writer.append(PdfReader(io.BytesIO(cover_pdf)))
        writer.append(PdfReader(io.BytesIO(index_pdf)))
        for part in parts:
            writer.append(part)
        _stamp_page_numbers(writer)
        writer.add_metadata(
            {"/Title": f"卷宗 {cover.file_number or cover.case_number}", "/Creator": "Jiefen 解纷"}
        )
        out = io.BytesIO()
        writer.write(out)
    data = out.getvalue()
    assert _count(data) == total
    return Bound(data, total, cover_pages, index_pages, tuple(entries))
