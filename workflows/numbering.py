"""Document and case-file numbers (文书编号 / 卷宗号): per unit, per kind, per year, without gaps.

Pure: the validated ``config/numbering.yaml`` (``NumberingConfig``), a unit's prefix (configured,
or derived from the unit's place: ``昆`` + the town's first character + the village's), the
Asia/Shanghai year a number belongs to, and the printed form, e.g. ``(2026)昆张调字第 0001 号``.
Taking the next number (a counter row incremented in the caller's transaction) is
``service.numbering``'s.
"""

from __future__ import annotations

import re
import string
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.org import OrgTree, UnitKind

SHANGHAI = ZoneInfo("Asia/Shanghai")

FILE = "file"  # 卷宗: the bound case file of a closed case, one number per case
FIELDS = frozenset({"year", "prefix", "word", "number"})
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# A prefix or word is printed on paper: Chinese characters, letters, digits; no brackets or spaces.
_PRINTABLE = re.compile(r"^[\u3400-\u9fffA-Za-z0-9]+$")


class KindConfig(BaseModel):
    """One kind of number: its name (shown in the register) and the word before 字 (调, 调卷 ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=40)
    word: str = Field(min_length=1, max_length=8)

    @field_validator("word")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not _PRINTABLE.match(value):
            raise ValueError("only Chinese characters, letters and digits")
        return value


class UnitNumbering(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: str = Field(min_length=1, max_length=16)

    @field_validator("prefix")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not _PRINTABLE.match(value):
            raise ValueError("only Chinese characters, letters and digits")
        return value


class NumberingConfig(BaseModel):
    """``config/numbering.yaml``, validated (unknown keys refused, every problem named by its key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    city: str = Field(min_length=1, max_length=4)  # the city's one-character short name: 昆
    digits: int = Field(ge=1, le=8)  # the number is zero-padded to this many digits
    format: str = Field(min_length=1, max_length=80)
    kinds: dict[str, KindConfig]
    units: dict[str, UnitNumbering] = Field(default_factory=dict)

    @field_validator("format")
    @classmethod
    def _fields(cls, value: str) -> str:
        try:
            used = {name for _, name, spec, conv in string.Formatter().parse(value) if name is not None}
            specs = [(spec, conv) for _, name, spec, conv in string.Formatter().parse(value) if name]
        except ValueError as exc:
            raise ValueError(f"not a format: {exc}") from None
        unknown = sorted(used - FIELDS)
        if unknown:
            raise ValueError(f"unknown fields {unknown}; use {{year}}, {{prefix}}, {{word}}, {{number}}")
        missing = sorted(FIELDS - used)
        if missing:
            raise ValueError(f"must contain {', '.join('{' + m + '}' for m in missing)}")
        if any(spec or conv for spec, conv in specs):
            raise ValueError("fields take no format spec; the number's width is `digits`")
        return value

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: dict[str, KindConfig]) -> dict[str, KindConfig]:
        bad = [k for k in value if not _KIND.match(k)]
        if bad:
            raise ValueError(f"kind codes are lower-case letters, digits and _: {bad}")
        if FILE not in value:
            raise ValueError("the case file's kind `file` (卷宗) is required")
        return value

    @model_validator(mode="after")
    def _unit_codes(self) -> NumberingConfig:
        bad = [code for code in self.units if not re.match(r"^[0-9A-Z-]{1,32}$", code)]
        if bad:
            raise ValueError(f"unit codes are digits, capital letters and '-': {bad}")
        return self


# The units that keep people's-mediation case files (卷宗): the committees and the centres. An
# agency, the court or the procuratorate files its own way, not in this register.
FILING_UNITS = frozenset(
    {UnitKind.village_station, UnitKind.town_centre, UnitKind.city_centre, UnitKind.sectoral_committee}
)


def keeps_case_files(org: OrgTree, unit_code: str) -> bool:
    unit = org.find(unit_code)
    return unit is not None and unit.kind in FILING_UNITS


def unknown_units(config: NumberingConfig, org: OrgTree) -> list[str]:
    """The configured unit codes the organisation tree does not have (a typo numbers nobody)."""
    return [code for code in config.units if code not in org]


def _short(name: str, city: str) -> str:
    """A unit's first character, after the city's name where it starts with it (昆山市医疗纠纷… -> 医)."""
    if name.startswith(city) and "市" in name[:4]:
        name = name[name.index("市") + 1 :] or name
    return name[:1]


def default_prefix(config: NumberingConfig, org: OrgTree, unit_code: str) -> str:
    """The city's short name, then the town's first character, then the unit's own first
    character when it is below the town (a village, or a committee inside the town): 昆, 昆张,
    昆张大. Units above or beside any town (the city centre, a city-level committee): 昆 and the
    unit's first character, except the city centre itself."""
    unit = org.find(unit_code)
    if unit is None:
        raise KeyError(unit_code)
    if unit.kind == UnitKind.city_centre:
        return config.city
    town = org.town_of(unit_code)
    if town is None:
        return config.city + _short(unit.name, config.city)
    if town.code == unit.code:
        return config.city + _short(town.name, config.city)
    return config.city + _short(town.name, config.city) + _short(unit.name, config.city)


def prefix_of(config: NumberingConfig, org: OrgTree, unit_code: str) -> str:
    configured = config.units.get(unit_code)
    return configured.prefix if configured is not None else default_prefix(config, org, unit_code)


def year_of(at: datetime) -> int:
    """The year a number taken at ``at`` belongs to: the calendar year in Kunshan."""
    if at.tzinfo is None:
        raise ValueError("a naive time has no year in Kunshan")
    return at.astimezone(SHANGHAI).year


def format_number(config: NumberingConfig, *, prefix: str, kind: str, year: int, number: int) -> str:
    """The printed number: ``(2026)昆张调字第 0001 号`` with the default format."""
    if number < 1:
        raise ValueError("numbers start at 1")
    word = config.kinds[kind].word
    return config.format.format(year=year, prefix=prefix, word=word, number=f"{number:0{config.digits}d}")
