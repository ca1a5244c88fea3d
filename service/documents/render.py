"""Statutory documents from template files: the text a 司法局 can adapt, set as an A4 PDF (the CJK
font embedded, subset) and as a Word .docx from the same lines.

A template (``config/documents/<kind>.txt``) is Jinja2 text. After rendering, each line is one
of: ``= title`` (centred, large), ``> text`` (right-aligned: the number, the date), ``| text`` (a
signature line, with room above it), an empty line (a gap) or a paragraph. The fields a template
may use are those of ``SAMPLE`` (docs/documents.md); an unknown field is a start-up error naming
the file, as is a template that does not parse, or a missing one.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from fontTools import subset  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from fontTools.varLib import instancer  # type: ignore[import-untyped]
from fpdf import FPDF


class DocumentKind(StrEnum):
    application = "application"  # 人民调解申请书
    written_agreement = "written_agreement"  # 人民调解协议书
    termination_notice = "termination_notice"  # 终止调解通知书


class DocumentFormat(StrEnum):
    pdf = "pdf"
    docx = "docx"


KIND_LABELS: dict[DocumentKind, str] = {
    DocumentKind.application: "人民调解申请书",
    DocumentKind.written_agreement: "人民调解协议书",
    DocumentKind.termination_notice: "终止调解通知书",
}
MEDIA_TYPES: dict[DocumentFormat, str] = {
    DocumentFormat.pdf: "application/pdf",
    DocumentFormat.docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}

_PARTY = {
    "name": "张堃",
    "role": "申请人",
    "id_number": "320583199001011234",
    "address": "昆山市张浦镇",
    "phone": "13800000000",
    "details": "，证件号码：320583199001011234，住址：昆山市张浦镇",
}
# Every field a template may use, with a value of its shape: templates are rendered against it at
# start-up, so a misspelt field fails there (StrictUndefined), not on a mediator's click.
SAMPLE: dict[str, Any] = {
    "number": "(2026)昆张调字第 0001 号",
    "case_number": "KS-2026-000001",
    "committee": "张浦镇人民调解委员会",
    "dispute_type": "邻里纠纷",
    "summary": "纠纷简要情况",
    "amount": "1000",
    "today": "2026年12月7日",
    "mediator": "王调解",
    "copies": 3,
    "termination_reason": "当事人分歧过大",
    "parties": [_PARTY],
    "applicants": [_PARTY],
    "respondents": [{**_PARTY, "role": "被申请人"}],
    "agreement": {
        "facts": "事实",
        "terms": "条款",
        "performance_manner": "一次性转账",
        "performance_deadline": "2026年12月31日",
        "effective_on": "2026年12月7日",
        "amount": "1000",
    },
}


class TemplateError(Exception):
    """A document template that cannot be used; the message names the file."""


def chinese_date(day: date) -> str:
    """2026年12月7日: how a date is printed on a document."""
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass(frozen=True)
class Templates:
    directory: Path
    compiled: Mapping[DocumentKind, jinja2.Template]

    def lines(self, kind: DocumentKind, fields: Mapping[str, Any]) -> list[str]:
        text = self.compiled[kind].render(**fields)
        lines = [line.rstrip() for line in text.splitlines()]
        while lines and not lines[0]:
            lines.pop(0)
        return lines


def load_templates(directory: Path) -> Templates:
    """Every kind's template, parsed and tried against ``SAMPLE``; TemplateError naming the file."""
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False
    )
    compiled: dict[DocumentKind, jinja2.Template] = {}
    for kind in DocumentKind:
        path = directory / f"{kind.value}.txt"
        try:
            source = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise TemplateError(f"{path}: missing (the template of {KIND_LABELS[kind]})") from exc
        except UnicodeDecodeError as exc:
            raise TemplateError(f"{path}: not UTF-8 text ({exc.reason})") from exc
        try:
            template = env.from_string(source)
            lines = Templates(directory, {kind: template}).lines(kind, SAMPLE)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{path}: line {exc.lineno}: {exc.message}") from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError(
                f"{path}: {exc.message} (the fields are listed in docs/documents.md)"
            ) from exc
        if not any(line.startswith("= ") for line in lines):
            raise TemplateError(f"{path}: no title line (a line starting with '= ')")
        missing = sorted({ch for line in lines for ch in line if not covers(ch)})
        if missing:
            raise TemplateError(f"{path}: characters the font cannot print: {''.join(missing)}")
        compiled[kind] = template
    return Templates(directory, compiled)


# --- the font -------------------------------------------------------------------------------------

WEIGHT_REGULAR = 400.0
WEIGHT_BOLD = 700.0


@cache
def font_path() -> Path:
    """Noto Sans SC (SIL OFL 1.1), from the PyPI package justmytype-intl-cjk: a variable TrueType
    font covering GB 18030's common and rare BMP characters; set at weight 400 and 700."""
    return Path(str(files("justmytype_intl_cjk") / "fonts/ofl/notosanssc/NotoSansSC[wght].ttf"))


@cache
def _cmap() -> frozenset[int]:
    font = TTFont(font_path(), lazy=True)
    table = font.getBestCmap()
    return frozenset(table)


def covers(ch: str) -> bool:
    return ch in "\t" or ord(ch) in _cmap()


def unprintable(texts: list[str]) -> str:
    """The characters of ``texts`` the font has no glyph for (they would be dropped from a PDF)."""
    return "".join(sorted({ch for text in texts for ch in text if not covers(ch)}))


# --- PDF ------------------------------------------------------------------------------------------

MARGIN_MM = 25
LINE_MM = 8


# Always in the subset, whatever the document says: digits, Latin letters, punctuation.
BASE_CHARACTERS = "".join(chr(c) for c in range(0x20, 0x7F)) + "　，。：；、（）《》「」“”？！—…"


def static_instance(text: str, weight: float, target: Path) -> Path:
    """The font cut to ``text``'s characters and fixed at ``weight``, written to ``target``.
    Subsetting the variable font first keeps this well under a second (instancing all of its
    glyphs takes ten); fpdf2 then subsets and embeds it again, as it does any TrueType font."""
    font = TTFont(font_path())
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text + BASE_CHARACTERS)
    subsetter.subset(font)
    instancer.instantiateVariableFont(font, {"wght": weight}, inplace=True)
    style = "Bold" if weight >= WEIGHT_BOLD else "Regular"
    font["name"].setName(f"NotoSansSC-{style}", 6, 3, 1, 0x409)  # the PDF's font name
    font["name"].setName(style, 2, 3, 1, 0x409)
    font.save(str(target))
    return target


def render_pdf(lines: list[str], *, title: str) -> bytes:
    text = "".join(lines)
    with tempfile.TemporaryDirectory(prefix="jiefen-font-") as scratch:
        regular = static_instance(text, WEIGHT_REGULAR, Path(scratch) / "regular.ttf")
        bold = static_instance(text, WEIGHT_BOLD, Path(scratch) / "bold.ttf")
        return _render_pdf(lines, title=title, regular=regular, bold=bold)


def _render_pdf(lines: list[str], *, title: str, regular: Path, bold: Path) -> bytes:
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(True, margin=MARGIN_MM)
    pdf.set_title(title)
    pdf.set_creator("Jiefen 解纷")
    pdf.add_font("cjk", "", str(regular))
    pdf.add_font("cjk", "B", str(bold))
    pdf.add_page()
    for line in lines:
        if line.startswith("= "):
            pdf.set_font("cjk", "B", 20)
            pdf.multi_cell(0, 14, line[2:], align="C", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        elif line.startswith("> "):
            pdf.set_font("cjk", "", 12)
            pdf.multi_cell(0, LINE_MM, line[2:], align="R", new_x="LMARGIN", new_y="NEXT")
        elif line.startswith("| "):
            pdf.set_font("cjk", "", 12)
            pdf.ln(6)
            pdf.multi_cell(0, LINE_MM, line[2:], align="L", new_x="LMARGIN", new_y="NEXT")
        elif not line:
            pdf.ln(LINE_MM / 2)
        else:
            pdf.set_font("cjk", "", 12)
            pdf.multi_cell(0, LINE_MM, line, align="L", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# --- Word -----------------------------------------------------------------------------------------


def render_docx(lines: list[str], *, title: str) -> bytes:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    doc = Document()
    doc.core_properties.title = title
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(MARGIN_MM))
    normal = doc.styles["Normal"]
    normal.font.name = "Noto Sans SC"
    normal.font.size = Pt(12)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "Noto Sans SC")
    for line in lines:
        if line.startswith("= "):
            para = doc.add_paragraph()
            run = para.add_run(line[2:])
            run.bold = True
            run.font.size = Pt(20)
            para.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif line.startswith("> "):
            doc.add_paragraph(line[2:]).alignment = WD_ALIGN_PARAGRAPH.RIGHT
        elif line.startswith("| "):
            para = doc.add_paragraph(line[2:])
            para.paragraph_format.space_before = Pt(18)
        else:
            doc.add_paragraph(line)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def render(lines: list[str], fmt: DocumentFormat, *, title: str) -> bytes:
    return render_pdf(lines, title=title) if fmt is DocumentFormat.pdf else render_docx(lines, title=title)
