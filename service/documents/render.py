"""Statutory documents from template files: the text a 司法局 can adapt, set as an A4 PDF (the CJK
font embedded, subset) and as a Word .docx from the same lines.

A template (``config/documents/<kind>.txt``) is Jinja2 text. After rendering, each line is one
of: ``= title`` (centred, large), ``> text`` (right-aligned: the number, the date), ``| text`` (a
signature line, with room above it), an empty line (a gap) or a paragraph. The fields a template
may use are those of ``SAMPLE`` (docs/documents.md); an unknown field is a start-up error naming
the file, as is a template that does not parse, or a missing one.

Only the template's own characters make layout: every ``{{ field }}`` is data. Its text is wrapped
in two private-use marks as the template renders (``finalize``), so a party's summary that begins
with ``= `` or a term that spans lines is a paragraph, never a title or a signature line; the marks
are taken out when the lines are read (``Templates.lines``).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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
    acceptance_register = "acceptance_register"  # 人民调解受理登记表
    rights_notice = "rights_notice"  # 人民调解权利义务告知书
    session_record = "session_record"  # 人民调解调解记录 (one per session)
    written_agreement = "written_agreement"  # 人民调解协议书
    oral_agreement_register = "oral_agreement_register"  # 口头调解协议登记表
    follow_up_record = "follow_up_record"  # 人民调解回访记录
    termination_notice = "termination_notice"  # 终止调解通知书
    judicial_confirmation = "judicial_confirmation"  # 司法确认联合申请书
    handoff_letter = "handoff_letter"  # 移交函 / 委托（委派）调解函


class DocumentFormat(StrEnum):
    pdf = "pdf"
    docx = "docx"


KIND_LABELS: dict[DocumentKind, str] = {
    DocumentKind.application: "人民调解申请书",
    DocumentKind.acceptance_register: "人民调解受理登记表",
    DocumentKind.rights_notice: "人民调解权利义务告知书",
    DocumentKind.session_record: "人民调解调解记录",
    DocumentKind.written_agreement: "人民调解协议书",
    DocumentKind.oral_agreement_register: "口头调解协议登记表",
    DocumentKind.follow_up_record: "人民调解回访记录",
    DocumentKind.termination_notice: "终止调解通知书",
    DocumentKind.judicial_confirmation: "司法确认联合申请书",
    DocumentKind.handoff_letter: "移交（委托调解）函",
}
# The kinds made once per subject rather than once per case: a session record names its session.
PER_SESSION: frozenset[DocumentKind] = frozenset({DocumentKind.session_record})
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
_DELEGATION = {
    "title": "委托调解函",
    "kind": "委托调解",
    "delegated": True,
    "from_unit": "昆山市人民法院",
    "to_unit": "大市社区人民调解委员会",
    "sent_on": "2026年12月7日",
    "reason": "适宜调解",
    "court_case_number": "(2026)苏0583民初1234号",
    "procedure": "简易程序",
    "details": ["案号：(2026)苏0583民初1234号"],
    "materials": "起诉状副本、证据材料",
    "returns": "调解协议 → 撤诉/出具调解书；调解不成 → 恢复审理",
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
    "co_mediators": "陈静",
    "mediators": "王调解、陈静",
    "copies": 3,
    "termination_reason": "当事人分歧过大",
    "source": "当事人申请",
    "location": "大市社区",
    "registered_on": "2026年12月1日",
    "accepted_on": "2026年12月2日",
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
    "session": {
        "number": 1,
        "started": "2026年12月7日 9时30分",
        "ended": "2026年12月7日 11时00分",
        "place": "大市社区调解室",
        "parties": ["申请人 张堃"],
        "agents": ["王小明（张堃的代理人）"],
        "mediators": "王调解、陈静",
        "others": ["赵村委（村委会主任）"],
        "statements": [{"name": "张堃", "role": "申请人", "text": "陈述"}],
        "proposal": "调解方案",
        "result": "达成协议",
        "adjourned_to": "2026年12月14日",
        "notes": "备注",
    },
    "follow_ups": [{"on": "2026年12月7日", "finding": "已全部履行", "note": "回访情况", "by": "王调解"}],
    "performance": "已全部履行",
    "confirmation": {
        "court": "昆山市人民法院",
        "applied_on": "2026年12月7日",
        "applicants": [{**_PARTY, "agent": "张明", "authority_document": "授权委托书"}],
        "materials": "人民调解协议书、双方当事人身份证明",
    },
    "agreement_number": "(2026)昆张调字第 0001 号",
    "handoff": _DELEGATION,
}

# The marks around each field's text as a template renders (Private Use Area: never printed, and
# taken out of the data first, so typed text cannot forge one).
OPEN, CLOSE = "\ue000", "\ue001"


def _data(value: Any) -> str:
    """A field's value as the template prints it: its text between OPEN and CLOSE (``None`` prints
    nothing). Whatever it holds, it cannot make a title, a right-aligned or a signature line."""
    if value is None:
        return ""
    text = str(value).replace(OPEN, "").replace(CLOSE, "")
    return f"{OPEN}{text}{CLOSE}" if text else ""


class Style(StrEnum):
    heading = "heading"  # "= ", the title
    right = "right"  # "> "
    signature = "signature"  # "| "
    gap = "gap"  # an empty line
    paragraph = "paragraph"


MARKUP: dict[str, Style] = {"= ": Style.heading, "> ": Style.right, "| ": Style.signature}


@dataclass(frozen=True, slots=True)
class Line:
    style: Style
    text: str


def parse(line: str) -> Line:
    """A line of layout text (the template's own, or a caller's): its style by its first characters."""
    if not line:
        return Line(Style.gap, "")
    style = MARKUP.get(line[:2])
    return Line(style, line[2:]) if style is not None else Line(Style.paragraph, line)


def read_lines(text: str) -> list[Line]:
    """A rendered template's lines: the style comes only from characters outside the fields' marks,
    so data at the start of a line (or a field's second line) is always a paragraph."""
    found: list[Line] = []
    inside = False
    for raw in text.split("\n"):
        starts_inside = inside or raw.startswith(OPEN)
        for ch in raw:
            if ch == OPEN:
                inside = True
            elif ch == CLOSE:
                inside = False
        plain = raw.replace(OPEN, "").replace(CLOSE, "").rstrip()
        if starts_inside:
            found.append(Line(Style.paragraph, plain) if plain else Line(Style.gap, ""))
            continue
        head = raw[:2]
        style = MARKUP.get(head) if OPEN not in head else None
        if style is not None:
            found.append(Line(style, plain[2:]))
        else:
            found.append(parse(plain))
    while found and found[0].style is Style.gap:
        found.pop(0)
    return found


class TemplateError(Exception):
    """A document template that cannot be used; the message names the file."""


def chinese_date(day: date) -> str:
    """2026年12月7日: how a date is printed on a document."""
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass(frozen=True)
class Templates:
    directory: Path
    compiled: Mapping[DocumentKind, jinja2.Template]

    def lines(self, kind: DocumentKind, fields: Mapping[str, Any]) -> list[Line]:
        return read_lines(self.compiled[kind].render(**fields))


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=_data,
        keep_trailing_newline=False,
    )


def load_templates(directory: Path) -> Templates:
    """Every kind's template, parsed and tried against ``SAMPLE``; TemplateError naming the file."""
    env = _environment()
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
        if not any(line.style is Style.heading for line in lines):
            raise TemplateError(f"{path}: no title line (a line starting with '= ')")
        missing = unprintable(line.text for line in lines)
        if missing:
            raise TemplateError(f"{path}: characters the font cannot print: {missing}")
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


def unprintable(texts: Iterable[str]) -> str:
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


@dataclass(frozen=True)
class PreparedFont:
    """The two static weights of the font, cut to a document's characters, in ``directory``: the
    slow part of a PDF (about a second), made before the number is taken so that the register's row
    is not held while it runs. ``characters`` says what it can print (``fits``)."""

    regular: Path
    bold: Path
    characters: frozenset[str] = field(default_factory=frozenset)

    def fits(self, lines: Sequence[Line | str]) -> bool:
        return set(_text(lines)) <= self.characters


def _text(lines: Sequence[Line | str]) -> str:
    return "".join(line.text if isinstance(line, Line) else line for line in lines)


def prepare_font(lines: Sequence[Line | str], directory: Path) -> PreparedFont:
    """The font for ``lines`` (and any text of the same characters: another number's digits are
    always in it), written under ``directory``, which the caller keeps until the PDF is made."""
    text = _text(lines)
    return PreparedFont(
        regular=static_instance(text, WEIGHT_REGULAR, directory / "regular.ttf"),
        bold=static_instance(text, WEIGHT_BOLD, directory / "bold.ttf"),
        characters=frozenset(text + BASE_CHARACTERS),
    )


def _styled(lines: Sequence[Line | str]) -> list[Line]:
    return [line if isinstance(line, Line) else parse(line) for line in lines]


def render_pdf(lines: Sequence[Line | str], *, title: str, font: PreparedFont | None = None) -> bytes:
    """An A4 PDF of ``lines`` (a ``str`` is read as layout text: ``parse``), with ``font`` if it
    fits them, else a font prepared here (in a scratch directory)."""
    if font is not None and font.fits(lines):
        return _render_pdf(_styled(lines), title=title, font=font)

    with tempfile.TemporaryDirectory(prefix="jiefen-font-") as scratch:
        return _render_pdf(_styled(lines), title=title, font=prepare_font(lines, Path(scratch)))


def _render_pdf(lines: list[Line], *, title: str, font: PreparedFont) -> bytes:
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(True, margin=MARGIN_MM)
    pdf.set_title(title)
    pdf.set_creator("Jiefen 解纷")
    pdf.add_font("cjk", "", str(font.regular))
    pdf.add_font("cjk", "B", str(font.bold))
    pdf.add_page()
    for line in lines:
        match line.style:
            case Style.heading:
                pdf.set_font("cjk", "B", 20)
                pdf.multi_cell(0, 14, line.text, align="C", new_x="LMARGIN", new_y="NEXT")
                pdf.ln(4)
            case Style.right:
                pdf.set_font("cjk", "", 12)
                pdf.multi_cell(0, LINE_MM, line.text, align="R", new_x="LMARGIN", new_y="NEXT")
            case Style.signature:
                pdf.set_font("cjk", "", 12)
                pdf.ln(6)
                pdf.multi_cell(0, LINE_MM, line.text, align="L", new_x="LMARGIN", new_y="NEXT")
            case Style.gap:
                pdf.ln(LINE_MM / 2)
            case Style.paragraph:
                pdf.set_font("cjk", "", 12)
                pdf.multi_cell(0, LINE_MM, line.text, align="L", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# --- Word -----------------------------------------------------------------------------------------

# Word does not embed fonts here: a .docx names them and the reader's machine draws them. Latin text
# is set in Noto Sans SC when the machine has it; East Asian text (w:eastAsia) in 宋体 (SimSun,
# every Chinese Windows and Office for Mac has it) and the title in 黑体 (SimHei), the faces of
# printed official documents, so Word never falls back to a Latin face for Chinese characters.
DOCX_LATIN = "Noto Sans SC"
DOCX_BODY_EAST_ASIAN = "宋体"
DOCX_TITLE_EAST_ASIAN = "黑体"


def _east_asian(element: Any, east_asian: str) -> None:
    """Name the fonts of a style's or run's properties: Latin, East Asian, and the hint that the
    ambiguous characters (quotes, ：, —) are East Asian too."""
    from docx.oxml.ns import qn

    r_pr = element.get_or_add_rPr()
    fonts = r_pr.get_or_add_rFonts()
    fonts.set(qn("w:ascii"), DOCX_LATIN)
    fonts.set(qn("w:hAnsi"), DOCX_LATIN)
    fonts.set(qn("w:eastAsia"), east_asian)
    fonts.set(qn("w:hint"), "eastAsia")
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)


def render_docx(lines: Sequence[Line | str], *, title: str) -> bytes:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    doc = Document()
    doc.core_properties.title = title
    doc.core_properties.language = "zh-CN"
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(MARGIN_MM))
    normal = doc.styles["Normal"]
    normal.font.size = Pt(12)
    _east_asian(normal.element, DOCX_BODY_EAST_ASIAN)
    lang = normal.element.get_or_add_rPr().find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        normal.element.get_or_add_rPr().append(lang)
    lang.set(qn("w:val"), "zh-CN")
    lang.set(qn("w:eastAsia"), "zh-CN")
    for line in _styled(lines):
        match line.style:
            case Style.heading:
                para = doc.add_paragraph()
                run = para.add_run(line.text)
                run.bold = True
                run.font.size = Pt(20)
                _east_asian(run._r, DOCX_TITLE_EAST_ASIAN)
                para.alignment = WD_ALIGN_PARAGRAPH.CENTER
            case Style.right:
                doc.add_paragraph(line.text).alignment = WD_ALIGN_PARAGRAPH.RIGHT
            case Style.signature:
                para = doc.add_paragraph(line.text)
                para.paragraph_format.space_before = Pt(18)
            case Style.gap | Style.paragraph:
                doc.add_paragraph(line.text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def render(
    lines: Sequence[Line | str], fmt: DocumentFormat, *, title: str, font: PreparedFont | None = None
) -> bytes:
    if fmt is DocumentFormat.pdf:
        return render_pdf(lines, title=title, font=font)
    return render_docx(lines, title=title)
