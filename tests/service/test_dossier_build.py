"""Binding a 卷宗 from awkward scans, without a database: a PDF turned sideways, one whose page
does not start at the origin, a damaged PDF, a photo the phone stored sideways (EXIF), a PNG, and a
file that only looks like a JPEG. Every item keeps its place, every page is counted and numbered
in its top right corner, and what cannot be drawn is replaced by a page that names it."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import RectangleObject

from service.dossier.build import NOTE_UNDRAWABLE, NOTE_UNREADABLE, Cover, Piece, bind

COVER = Cover(
    file_number="(2026)昆张大调卷字第 0007 号",
    committee="大市社区人民调解委员会",
    case_number="KS-2026-000007",
    dispute_type="邻里纠纷",
    parties=(("申请人", "王秀英"), ("被申请人", "李堃")),
    mediators=("孙红（主办调解员）", "周明（协办调解员）"),
    registered="2026年3月2日",
    accepted="2026年3月3日",
    closed="2026年4月1日",
    outcome="协议履行完毕",
)


def pdf(pages: int, text: str = "page") -> bytes:
    doc = FPDF(format="A4")
    doc.set_font("courier", size=14)  # the page numbers are set in Helvetica: told apart by font
    for n in range(1, pages + 1):
        doc.add_page()
        doc.cell(0, 10, f"{text} {n}")
    return bytes(doc.output())


def rotated(data: bytes) -> bytes:
    """The scan as a scanner that stores landscape pages turned (/Rotate 90) writes it."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for page in writer.pages:
        page.rotate(90)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def shifted(data: bytes) -> bytes:
    """Its page box starting at (100, 200) rather than the origin."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for page in writer.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        page.mediabox = RectangleObject([100, 200, 100 + width, 200 + height])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sideways_photo() -> bytes:
    """A 1600 × 1200 JPEG the phone marks "turn 90° to view" (EXIF orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), (30, 60, 200)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 400), (20, 160, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def corner(page: Any) -> str:
    """The page number: Helvetica text in the top right corner of the page as it is seen."""
    box = page.mediabox
    left, bottom = float(box.left), float(box.bottom)
    width, height = float(box.width), float(box.height)
    found: list[str] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, *_: Any) -> None:
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4] - left
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5] - bottom
        helvetica = font is not None and "Helvetica" in str(font.get("/BaseFont"))
        if helvetica and text.strip() and x > width * 0.75 and y > height * 0.9:
            found.append(text.strip())

    page.extract_text(visitor_text=visit)
    return "".join(found)


def test_awkward_scans_each_keep_their_place_counted_and_numbered() -> None:
    pieces = [
        Piece("证据：横向扫描.pdf", "2026年3月3日", "application/pdf", rotated(pdf(2, "sideways"))),
        Piece("证据：偏移.pdf", "2026年3月3日", "application/pdf", shifted(pdf(1, "shifted"))),
        Piece("证据：损坏.pdf", "2026年3月4日", "application/pdf", b"%PDF-1.7\n1 0 obj <<>>\n%%EOF\n"),
        Piece("身份证明：竖拍.jpg", "2026年3月4日", "image/jpeg", sideways_photo()),
        Piece("证据：截图.png", "2026年3月5日", "image/png", png()),
        Piece(
            "其他：假图片.jpg", "2026年3月5日", "image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
        ),
    ]

    bound = bind(COVER, pieces)

    reader = PdfReader(io.BytesIO(bound.data))
    assert (bound.cover_pages, bound.index_pages) == (1, 1)
    assert bound.pages == len(reader.pages) == 1 + 1 + 2 + 1 + 1 + 1 + 1 + 1
    assert [(e.title, e.start_page, e.pages) for e in bound.entries] == [
        ("证据：横向扫描.pdf", 3, 2),
        ("证据：偏移.pdf", 5, 1),
        ("证据：损坏.pdf", 6, 1),
        ("身份证明：竖拍.jpg", 7, 1),
        ("证据：截图.png", 8, 1),
        ("其他：假图片.jpg", 9, 1),
    ]
    for number, page in enumerate(reader.pages, start=1):
        assert corner(page) == str(number), (number, corner(page))
    texts = [page.extract_text() for page in reader.pages]
    assert "sideways 1" in texts[2] and "sideways 2" in texts[3] and "shifted 1" in texts[4]
    assert "证据：损坏.pdf" in texts[5] and NOTE_UNREADABLE in texts[5]
    assert "其他：假图片.jpg" in texts[8] and NOTE_UNDRAWABLE in texts[8]
    # The sideways photo is drawn upright: taller than wide on its A4 page.
    photo = reader.pages[6]
    images = list(photo.images)
    assert len(images) == 1
    assert images[0].image is not None and images[0].image.height > images[0].image.width
    assert "孙红（主办调解员）、周明（协办调解员）" in texts[0] and "共 9 页" in texts[0]
    assert "本卷共 9 页（含封面、目录）" in texts[1]


def test_a_long_file_has_an_index_of_several_pages_and_still_the_right_numbers() -> None:
    pieces = [
        Piece(f"证据：第{n}份材料.pdf", "2026年3月3日", "application/pdf", pdf(1)) for n in range(1, 61)
    ]

    bound = bind(COVER, pieces)

    assert bound.index_pages >= 2
    first = 1 + bound.index_pages + 1
    assert [e.start_page for e in bound.entries] == list(range(first, first + 60))
    reader = PdfReader(io.BytesIO(bound.data))
    assert len(reader.pages) == bound.pages == 1 + bound.index_pages + 60
    index_text = "".join(reader.pages[n].extract_text() for n in range(1, 1 + bound.index_pages))
    assert f"60 证据：第60份材料.pdf 2026年3月3日 {first + 59}" in index_text
    assert f"本卷共 {bound.pages} 页" in index_text


def test_a_name_the_font_cannot_print_is_marked_not_dropped() -> None:
    cover = replace(COVER, parties=(("申请人", "𠮷田"),))

    bound = bind(cover, [])

    text = PdfReader(io.BytesIO(bound.data)).pages[0].extract_text()
    assert "申请人：〓田" in text
