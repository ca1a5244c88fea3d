"""SVG charts: well-formed, accessible, escaped, CSP-safe (no style), deterministic."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from service.stats.charts import (
    NO_DATA,
    Series,
    bar_chart,
    grouped_bar_chart,
    hbar_chart,
    line_chart,
    percent_format,
)

SVG = "{http://www.w3.org/2000/svg}"
TOWNS = [("张浦镇", 12), ("玉山镇", 30), ("巴城镇", 0), ("花桥镇", 7)]
MONTHS = ["2026-01", "2026-02", "2026-03"]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def bars(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}rect") if "bar" in e.get("class", "").split()]


def texts(root: ET.Element) -> list[str]:
    return [e.text or "" for e in root.iter(f"{SVG}text")]


CHARTS: dict[str, Callable[[str], str]] = {
    "bar": lambda title: bar_chart(title, TOWNS),
    "hbar": lambda title: hbar_chart(title, TOWNS),
    "grouped": lambda title: grouped_bar_chart(
        title, [t for t, _ in TOWNS], [Series("受理", [12, 30, 0, 7]), Series("成功", [10, 25, 0, 7])]
    ),
    "line": lambda title: line_chart(title, MONTHS, [Series("受理", [5, 9, 4]), Series("结案", [3, 8, 6])]),
}


@pytest.mark.parametrize("kind", CHARTS)
def test_a_chart_is_accessible_svg_without_style(kind: str) -> None:
    svg = CHARTS[kind]("各镇受理数")
    root = parse(svg)

    assert root.tag == f"{SVG}svg"
    assert (root.get("role"), root.get("aria-label")) == ("img", "各镇受理数")
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.text == "各镇受理数"
    assert desc is not None and desc.text
    assert all(ref in svg for ref in (root.get("aria-labelledby") or "").split())
    assert "style" not in svg  # the page's CSP allows no inline styles
    assert svg == CHARTS[kind]("各镇受理数")  # deterministic


def test_bar_charts_draw_one_bar_and_one_value_label_per_item() -> None:
    for svg in (bar_chart("t", TOWNS), hbar_chart("t", TOWNS)):
        root = parse(svg)
        assert len(bars(root)) == len(TOWNS)
        labels = texts(root)
        assert all(name in labels for name, _ in TOWNS)
        assert {"12", "30", "0", "7"} <= set(labels)


def test_the_tallest_bar_fills_the_axis_and_zero_is_flat() -> None:
    root = parse(bar_chart("t", [("a", 10), ("b", 40), ("c", 0)]))

    heights = [float(b.get("height", "0")) for b in bars(root)]

    assert heights[2] == 0
    assert heights[1] == pytest.approx(4 * heights[0])


def test_grouped_and_line_charts_draw_every_series() -> None:
    grouped = parse(CHARTS["grouped"]("t"))
    line = parse(CHARTS["line"]("t"))

    assert len(bars(grouped)) == 2 * len(TOWNS)
    assert len(list(line.iter(f"{SVG}polyline"))) == 2
    assert len(list(line.iter(f"{SVG}circle"))) == 2 * len(MONTHS)
    assert "受理" in texts(line) and "2026-02" in texts(line)


def test_text_is_escaped() -> None:
    evil = '<script>&"x"</script>'
    svg = bar_chart(evil, [(evil, 3)])
    root = parse(svg)

    assert "<script>" not in svg
    assert root.get("aria-label") == evil
    assert evil in texts(root)


@pytest.mark.parametrize(
    "svg",
    [
        bar_chart("空", []),
        bar_chart("零", [("a", 0), ("b", 0)]),
        hbar_chart("零", [("a", 0)]),
        grouped_bar_chart("零", ["a"], [Series("s", [0])]),
        line_chart("空", [], []),
        line_chart("零", MONTHS, [Series("s", [0, 0, 0])]),
    ],
)
def test_no_data_says_so_instead_of_dividing_by_zero(svg: str) -> None:
    root = parse(svg)

    assert NO_DATA in texts(root)
    assert bars(root) == []


def test_rates_print_as_percentages() -> None:
    root = parse(bar_chart("成功率", [("张浦镇", 0.8571), ("玉山镇", 1.0)], fmt=percent_format))

    assert {"85.7%", "100.0%"} <= set(texts(root))
