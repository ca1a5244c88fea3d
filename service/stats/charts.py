"""Server-side SVG charts: pure functions from data to an SVG string.

The page's Content-Security-Policy is ``style-src 'self'``, so nothing here uses a ``style``
attribute or element: colours and sizes are SVG presentation attributes, which a stylesheet
may override through the class names (``chart``, ``bar``, ``series-N``, ``axis``, ``grid``,
``label``, ``value``, ``legend``, ``no-data``). Every chart carries ``role="img"``, an
``aria-label``, a ``<title>`` and a ``<desc>`` listing the data, and prints each value as text.
All text is escaped; the output depends only on the input (ids derive from the title).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#2f6fb2", "#e08a2c", "#3a9a5b", "#c0392b", "#7d5ba6", "#8c6d46")
FONT = "system-ui, 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"
NO_DATA = "暂无数据"

Format = Callable[[float], str]


def count_format(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def percent_format(value: float) -> str:
    return f"{value * 100:.1f}%"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: float) -> str:
    """Coordinates with one decimal and no trailing noise, so output is stable across platforms."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _chart_id(title: str, kind: str) -> str:
    return f"chart-{kind}-{hashlib.sha256(title.encode()).hexdigest()[:8]}"


def _nice_scale(maximum: float, steps: int = 4) -> tuple[float, float]:
    """(top, step) of an axis from 0 that holds ``maximum`` in about ``steps`` round steps."""
    raw = maximum / steps
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return math.ceil(maximum / step - 1e-9) * step, step


def _open(chart_id: str, title: str, desc: str, width: int, height: int, kind: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{_text(title)}" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'font-family="{_text(FONT)}" font-size="12">',
        f'<title id="{chart_id}-title">{_text(title)}</title>',
        f'<desc id="{chart_id}-desc">{_text(desc)}</desc>',
        f'<text class="chart-title" x="{width // 2}" y="20" text-anchor="middle" font-size="15" '
        f'font-weight="bold" fill="#222">{_text(title)}</text>',
    ]


def _no_data(parts: list[str], width: int, height: int) -> str:
    parts.append(
        f'<text class="no-data" x="{width // 2}" y="{height // 2}" text-anchor="middle" '
        f'font-size="14" fill="#777">{NO_DATA}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _describe(items: Sequence[tuple[str, float]], fmt: Format) -> str:
    return "；".join(f"{label}: {fmt(value)}" for label, value in items) or NO_DATA


def _text_width(text: str, font_size: float = 12) -> float:
    """Rough rendered width: CJK characters are square, Latin ones about half as wide."""
    return sum(font_size if ord(ch) > 0x2E80 else font_size * 0.6 for ch in text)


def _x_label(x: float, y: float, label: str, slot: float, font_size: int = 12) -> str:
    """A category label under its slot, slanted when the labels would collide."""
    if _text_width(label, font_size) <= slot * 0.95:
        return (
            f'<text class="label" x="{_num(x)}" y="{_num(y)}" text-anchor="middle" '
            f'font-size="{font_size}" fill="#444">{_text(label)}</text>'
        )
    return (
        f'<text class="label" x="{_num(x)}" y="{_num(y)}" text-anchor="end" font-size="{font_size}" '
        f'fill="#444" transform="rotate(-30 {_num(x)} {_num(y)})">{_text(label)}</text>'
    )


def _bottom_margin(labels: Sequence[str], slot: float) -> int:
    widest = max((_text_width(label) for label in labels), default=0)
    return 40 if widest <= slot * 0.95 else 28 + int(widest * 0.5)


def _has_data(values: Sequence[float]) -> bool:
    return any(v > 0 for v in values)


def bar_chart(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    width: int = 640,
    height: int = 320,
    fmt: Format = count_format,
    colour: str = PALETTE[0],
) -> str:
    """Vertical bars, one per (label, value), in the given order."""
    chart_id = _chart_id(title, "bar")
    parts = _open(chart_id, title, _describe(items, fmt), width, height, "bar")
    if not _has_data([v for _, v in items]):
        return _no_data(parts, width, height)
    left, right, top = 56, 16, 40
    plot_w = width - left - right
    slot = plot_w / len(items)
    plot_h = height - top - _bottom_margin([label for label, _ in items], slot)
    axis_top, step = _nice_scale(max(v for _, v in items))
    _y_axis(parts, left, top, plot_w, plot_h, axis_top, step, fmt)
    bar_w = max(slot * 0.7, 1.0)
    for i, (label, value) in enumerate(items):
        h = plot_h * max(value, 0) / axis_top
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h - h
        cx = x + bar_w / 2
        parts.append(
            f'<rect class="bar series-0" x="{_num(x)}" y="{_num(y)}" width="{_num(bar_w)}" '
            f'height="{_num(h)}" fill="{colour}"><title>{_text(label)}: {_text(fmt(value))}</title></rect>'
        )
        parts.append(
            f'<text class="value" x="{_num(cx)}" y="{_num(y - 4)}" text-anchor="middle" '
            f'font-size="11" fill="#222">{_text(fmt(value))}</text>'
        )
        parts.append(_x_label(cx, top + plot_h + 16, label, slot))
    parts.append("</svg>")
    return "\n".join(parts)


def hbar_chart(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    width: int = 640,
    row_height: int = 22,
    label_width: int = 120,
    fmt: Format = count_format,
    colour: str = PALETTE[0],
) -> str:
    """Horizontal bars, one row per (label, value): for long labels such as dispute types."""
    height = 48 + row_height * max(len(items), 3) + 24
    chart_id = _chart_id(title, "hbar")
    parts = _open(chart_id, title, _describe(items, fmt), width, height, "hbar")
    if not _has_data([v for _, v in items]):
        return _no_data(parts, width, height)
    top, right = 40, 64
    plot_w = width - label_width - right
    axis_top, step = _nice_scale(max(v for _, v in items))
    bottom = top + row_height * len(items)
    ticks = round(axis_top / step)
    for t in range(ticks + 1):
        x = label_width + plot_w * t / ticks
        parts.append(
            f'<line class="grid" x1="{_num(x)}" y1="{top}" x2="{_num(x)}" y2="{bottom}" '
            f'stroke="#ddd" stroke-width="1"/>'
        )
        parts.append(
            f'<text class="axis" x="{_num(x)}" y="{bottom + 16}" text-anchor="middle" font-size="10" '
            f'fill="#666">{_text(fmt(step * t))}</text>'
        )
    for i, (label, value) in enumerate(items):
        w = plot_w * max(value, 0) / axis_top
        y = top + row_height * i + row_height * 0.15
        h = row_height * 0.7
        mid = y + h / 2 + 4
        parts.append(
            f'<text class="label" x="{label_width - 6}" y="{_num(mid)}" text-anchor="end" '
            f'fill="#444">{_text(label)}</text>'
        )
        parts.append(
            f'<rect class="bar series-0" x="{label_width}" y="{_num(y)}" width="{_num(w)}" '
            f'height="{_num(h)}" fill="{colour}"><title>{_text(label)}: {_text(fmt(value))}</title></rect>'
        )
        parts.append(
            f'<text class="value" x="{_num(label_width + w + 4)}" y="{_num(mid)}" font-size="11" '
            f'fill="#222">{_text(fmt(value))}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def grouped_bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 720,
    height: int = 340,
    fmt: Format = count_format,
) -> str:
    """Side-by-side bars per category, one colour per series (e.g. towns: registered vs settled)."""
    chart_id = _chart_id(title, "grouped")
    desc = "；".join(
        f"{c}: " + "，".join(f"{s.name} {fmt(s.values[i])}" for s in series) for i, c in enumerate(categories)
    )
    parts = _open(chart_id, title, desc or NO_DATA, width, height, "grouped")
    values = [v for s in series for v in s.values]
    if not categories or not _has_data(values):
        return _no_data(parts, width, height)
    left, right, top = 56, 16, 56
    plot_w = width - left - right
    slot = plot_w / len(categories)
    plot_h = height - top - _bottom_margin(categories, slot)
    axis_top, step = _nice_scale(max(values))
    _y_axis(parts, left, top, plot_w, plot_h, axis_top, step, fmt)
    _legend(parts, series, left, 36)
    bar_w = slot * 0.8 / len(series)
    for i, category in enumerate(categories):
        base = left + slot * i + slot * 0.1
        for j, s in enumerate(series):
            value = s.values[i]
            h = plot_h * max(value, 0) / axis_top
            x, y = base + bar_w * j, top + plot_h - h
            parts.append(
                f'<rect class="bar series-{j}" x="{_num(x)}" y="{_num(y)}" width="{_num(bar_w)}" '
                f'height="{_num(h)}" fill="{PALETTE[j % len(PALETTE)]}">'
                f"<title>{_text(category)} {_text(s.name)}: {_text(fmt(value))}</title></rect>"
            )
            parts.append(
                f'<text class="value" x="{_num(x + bar_w / 2)}" y="{_num(y - 3)}" text-anchor="middle" '
                f'font-size="9" fill="#222">{_text(fmt(value))}</text>'
            )
        parts.append(_x_label(left + slot * i + slot / 2, top + plot_h + 16, category, slot))
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(
    title: str,
    months: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 720,
    height: int = 320,
    fmt: Format = count_format,
) -> str:
    """One line per series over the months (e.g. registered and closed per month)."""
    chart_id = _chart_id(title, "line")
    desc = "；".join(
        f"{s.name}: " + "，".join(f"{m} {fmt(v)}" for m, v in zip(months, s.values, strict=True))
        for s in series
    )
    parts = _open(chart_id, title, desc or NO_DATA, width, height, "line")
    values = [v for s in series for v in s.values]
    if not months or not _has_data(values):
        return _no_data(parts, width, height)
    left, right, top = 56, 24, 56
    plot_w = width - left - right
    gap = plot_w / max(len(months) - 1, 1)
    plot_h = height - top - _bottom_margin(months, gap)
    axis_top, step = _nice_scale(max(values))
    _y_axis(parts, left, top, plot_w, plot_h, axis_top, step, fmt)
    _legend(parts, series, left, 36)

    def x_at(i: int) -> float:
        return left + (gap * i if len(months) > 1 else plot_w / 2)

    def y_at(v: float) -> float:
        return top + plot_h - plot_h * max(v, 0) / axis_top

    for i, month in enumerate(months):
        parts.append(_x_label(x_at(i), top + plot_h + 16, month, gap, 10))
    for j, s in enumerate(series):
        colour = PALETTE[j % len(PALETTE)]
        points = " ".join(f"{_num(x_at(i))},{_num(y_at(v))}" for i, v in enumerate(s.values))
        parts.append(
            f'<polyline class="line series-{j}" points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="2"/>'
        )
        for i, v in enumerate(s.values):
            parts.append(
                f'<circle class="point series-{j}" cx="{_num(x_at(i))}" cy="{_num(y_at(v))}" r="3" '
                f'fill="{colour}"><title>{_text(months[i])} {_text(s.name)}: {_text(fmt(v))}</title></circle>'
            )
            parts.append(
                f'<text class="value series-{j}" x="{_num(x_at(i))}" y="{_num(y_at(v) - 6)}" '
                f'text-anchor="middle" font-size="9" fill="{colour}">{_text(fmt(v))}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts)


def _y_axis(
    parts: list[str], left: int, top: int, plot_w: int, plot_h: int, axis_top: float, step: float, fmt: Format
) -> None:
    ticks = round(axis_top / step)
    for t in range(ticks + 1):
        y = top + plot_h - plot_h * t / ticks
        parts.append(
            f'<line class="grid" x1="{left}" y1="{_num(y)}" x2="{left + plot_w}" y2="{_num(y)}" '
            f'stroke="#ddd" stroke-width="1"/>'
        )
        parts.append(
            f'<text class="axis" x="{left - 6}" y="{_num(y + 4)}" text-anchor="end" font-size="10" '
            f'fill="#666">{_text(fmt(step * t))}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="#888" stroke-width="1"/>'
    )


def _legend(parts: list[str], series: Sequence[Series], left: int, y: int) -> None:
    x = left
    for j, s in enumerate(series):
        parts.append(
            f'<rect class="legend series-{j}" x="{x}" y="{y - 9}" width="10" height="10" '
            f'fill="{PALETTE[j % len(PALETTE)]}"/>'
        )
        parts.append(f'<text class="legend" x="{x + 14}" y="{y}" fill="#444">{_text(s.name)}</text>')
        x += 24 + 13 * len(s.name)
