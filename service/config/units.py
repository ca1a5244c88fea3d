"""Load the organisation tree from ``config/units/*.yaml`` and check it before anything routes on it.

A wrong parent silently sends a village's cases to the wrong town, so the loader is strict and
reports every problem at once, each with its file and key path (``units[12].parent``). Files in
the directory are merged: ``kunshan.yaml`` is written by hand, imported village lists sit next
to it (see ``service.units.importer``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from service.config.loading import ConfigError, ConfigProblem, read_yaml
from workflows.org import TIER_RANK, Channel, OrgTree, OrgType, Tier, Unit, UnitKind, default_org_type
from workflows.vocab import DisputeType

REQUIRED_KEYS = ("code", "name", "name_en", "kind", "tier", "channel")
OPTIONAL_KEYS = ("parent", "handling_parent", "sector", "org_type")
ALLOWED_KEYS = (*REQUIRED_KEYS, *OPTIONAL_KEYS)

CODE_PATTERN = re.compile(r"[0-9A-Z][0-9A-Z-]*")
TOWN_CODE_PATTERN = re.compile(r"[0-9]{9}")
VILLAGE_CODE_PATTERN = re.compile(r"[0-9]{12}")
# Han characters, CJK punctuation and full-width forms: none belongs in an English name.
CJK_PATTERN = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


def cjk_in(text: str) -> str | None:
    """The first CJK character in ``text``, or None: English texts are checked with it."""
    found = CJK_PATTERN.search(text)
    return found.group() if found else None


# The three centre kinds *are* the tiers of the 市/镇/村 network; other kinds may sit on any tier.
KIND_TIER = {
    UnitKind.city_centre: Tier.city,
    UnitKind.town_centre: Tier.town,
    UnitKind.village_station: Tier.village,
}

_E = TypeVar("_E", bound=StrEnum)


@dataclass
class _Entry:
    """One unit mapping as read; a field is None where it was absent or invalid."""

    file: str
    index: int
    given: frozenset[str] = frozenset()  # keys present with a non-null value
    code: str | None = None
    name: str | None = None
    name_en: str | None = None
    kind: UnitKind | None = None
    tier: Tier | None = None
    channel: Channel | None = None
    parent: str | None = None
    handling_parent: str | None = None
    sector: str | None = None
    org_type: OrgType | None = None

    def key(self, name: str) -> str:
        return f"units[{self.index}].{name}"

    def place(self) -> str:
        return f"{self.file}: units[{self.index}]"

    @property
    def handled_by(self) -> str | None:
        return self.handling_parent or self.parent

    @property
    def handled_by_key(self) -> str:
        return "handling_parent" if self.handling_parent else "parent"


@dataclass
class _Problems:
    items: list[ConfigProblem] = field(default_factory=list)

    def add(self, file: str, key: str, message: str) -> None:
        self.items.append(ConfigProblem(file, key, message))

    def at(self, entry: _Entry, key: str, message: str) -> None:
        self.add(entry.file, entry.key(key), message)


def load_units(directory: Path) -> OrgTree:
    """Load, merge and validate every ``*.yaml`` in ``directory``.

    Raises ``ConfigError`` listing every problem found, each naming its file and key path.
    """
    if not directory.is_dir():
        raise ConfigError([ConfigProblem(str(directory), "", "units directory not found")])
    # Hidden files are editor backups or a writer's temporary file, never configuration.
    paths = sorted(
        (path for path in directory.glob("*.yaml") if not path.name.startswith(".")),
        key=lambda path: path.name,
    )
    if not paths:
        raise ConfigError([ConfigProblem(str(directory), "", "no *.yaml unit files in this directory")])
    problems = _Problems()
    documents: list[tuple[str, object]] = []
    for path in paths:
        try:
            documents.append((str(path), read_yaml(path)))
        except ConfigError as error:
            problems.items.extend(error.problems)
    return _build_tree(str(directory), documents, problems)


def unit_to_mapping(unit: Unit) -> dict[str, str]:
    """The YAML mapping for ``unit``, in the key order used by ``kunshan.yaml``; None fields omitted."""
    values = {
        "code": unit.code,
        "name": unit.name,
        "name_en": unit.name_en,
        "kind": unit.kind.value,
        "tier": unit.tier.value,
        "channel": unit.channel.value,
        "parent": unit.parent_code,
        "handling_parent": unit.handling_parent_code,
        "sector": unit.sector,
        "org_type": unit.org_type.value if unit.org_type is not None else None,
    }
    return {key: value for key, value in values.items() if value is not None}


def _build_tree(source: str, documents: Iterable[tuple[str, object]], problems: _Problems) -> OrgTree:
    entries = [entry for file, document in documents for entry in _read_document(file, document, problems)]
    by_code = _index_codes(entries, problems)
    _check_root(source, entries, problems)
    for entry in entries:
        _check_references(entry, by_code, problems)
        _check_tiers(entry, by_code, problems)
        _check_village_code(entry, problems)
    _check_cycles(by_code, problems)
    if problems.items:
        raise ConfigError(problems.items)
    return OrgTree.of(_to_unit(entry) for entry in entries)


# --- one file, one entry -------------------------------------------------------------------


def _read_document(file: str, document: object, problems: _Problems) -> list[_Entry]:
    if document is None:
        problems.add(file, "", "file is empty; expected a top-level 'units:' list")
        return []
    if not isinstance(document, dict):
        problems.add(
            file, "", f"expected a mapping with a 'units' list at the top level, got {_kind_of(document)}"
        )
        return []
    for key in document:
        if key != "units":
            problems.add(file, str(key), "unknown top-level key; the only one allowed is 'units'")
    units = document.get("units")
    if "units" not in document:
        problems.add(file, "units", "missing: expected a list of units")
        return []
    if units is None:  # `units:` with nothing under it: a file that lists no units yet
        return []
    if not isinstance(units, list):
        problems.add(file, "units", f"must be a list of unit mappings, got {_kind_of(units)}")
        return []
    return [_read_entry(file, index, raw, problems) for index, raw in enumerate(units)]


def _read_entry(file: str, index: int, raw: object, problems: _Problems) -> _Entry:
    entry = _Entry(file, index)
    if not isinstance(raw, dict):
        problems.add(file, f"units[{index}]", f"must be a mapping of unit fields, got {_kind_of(raw)}")
        return entry
    entry.given = frozenset(str(key) for key, value in raw.items() if value is not None)
    for key in raw:
        if key not in ALLOWED_KEYS:
            problems.at(entry, str(key), _unknown_key_message(str(key)))
    for key in REQUIRED_KEYS:
        if key not in raw:
            problems.at(entry, key, "missing (required)")

    entry.code = _string(raw, "code", entry, problems, required=True)
    if entry.code is not None and not CODE_PATTERN.fullmatch(entry.code):
        problems.at(entry, "code", f"{entry.code!r} is not a valid code: use digits, capital letters and '-'")
    entry.name = _name(raw, "name", entry, problems, required=True)
    entry.name_en = _name(raw, "name_en", entry, problems, required=True)
    if entry.name_en is not None and (found := cjk_in(entry.name_en)) is not None:
        # English pages show this name; a Chinese character in it would be the half-translated page.
        problems.at(entry, "name_en", f"must be English (pinyin for places), found {found!r}")
    entry.kind = _enum(raw, "kind", UnitKind, entry, problems)
    entry.tier = _enum(raw, "tier", Tier, entry, problems)
    entry.channel = _enum(raw, "channel", Channel, entry, problems)
    entry.parent = _string(raw, "parent", entry, problems, required=False)
    entry.handling_parent = _string(raw, "handling_parent", entry, problems, required=False)
    entry.sector = _sector(raw, entry, problems)
    entry.org_type = _org_type(raw, entry, problems)
    _check_kind_tier(entry, problems)
    return entry


def _string(
    raw: Mapping[object, object], key: str, entry: _Entry, problems: _Problems, *, required: bool
) -> str | None:
    if key not in raw:
        return None
    value = raw[key]
    if value is None:
        # An optional key left blank (`handling_parent:`) just means "none".
        if required:
            problems.at(entry, key, "is empty")
        return None
    if not isinstance(value, str):
        # YAML reads `code: 320583` as a number; say how to fix it rather than guess.
        hint = f" (quote it: '{value}')" if isinstance(value, int) and not isinstance(value, bool) else ""
        problems.at(entry, key, f"must be a string, got {_kind_of(value)} {value!r}{hint}")
        return None
    return value


def _name(
    raw: Mapping[object, object], key: str, entry: _Entry, problems: _Problems, *, required: bool
) -> str | None:
    value = _string(raw, key, entry, problems, required=required)
    if value is not None and not value.strip():
        problems.at(entry, key, "must not be blank")
        return None
    return value.strip() if value is not None else None


def _enum(
    raw: Mapping[object, object], key: str, enum_type: type[_E], entry: _Entry, problems: _Problems
) -> _E | None:
    value = _string(raw, key, entry, problems, required=True)
    if value is None:
        return None
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        problems.at(entry, key, f"{value!r} is not a valid {key}; allowed: {allowed}")
        return None


def _sector(raw: Mapping[object, object], entry: _Entry, problems: _Problems) -> str | None:
    value = _string(raw, "sector", entry, problems, required=False)
    allowed = ", ".join(member.value for member in DisputeType)
    if entry.kind == UnitKind.sectoral_committee and "sector" not in entry.given:
        problems.at(
            entry, "sector", f"missing: a sectoral committee needs the dispute type it handles ({allowed})"
        )
    if entry.kind is not None and entry.kind != UnitKind.sectoral_committee and value is not None:
        problems.at(entry, "sector", f"only sectoral committees have a sector, not a {entry.kind.value}")
    if value is not None and value not in DisputeType.__members__:
        problems.at(entry, "sector", f"{value!r} is not a dispute type code; allowed: {allowed}")
        return None
    return value


def _org_type(raw: Mapping[object, object], entry: _Entry, problems: _Problems) -> OrgType | None:
    """A people's mediation committee's type for the MoJ report (村/居/乡镇/街道/企事业/社会团体/
    行业专业): as given, else as its kind and name tell; a unit of another channel has none."""
    committee = entry.channel == Channel.people and entry.kind in _COMMITTEE_KINDS
    if "org_type" not in entry.given:
        if not committee or entry.kind is None or entry.name is None:
            return None
        derived = default_org_type(entry.kind, entry.name, Channel.people)
        if derived is None:
            allowed = ", ".join(member.value for member in OrgType)
            problems.at(
                entry, "org_type", f"missing: the name does not tell 村 from 居; give the type ({allowed})"
            )
        return derived
    value = _enum(raw, "org_type", OrgType, entry, problems)
    if value is not None and not committee and entry.kind is not None and entry.channel is not None:
        problems.at(
            entry,
            "org_type",
            f"only people's mediation committees have an org_type, not a {entry.channel.value} {entry.kind.value}",
        )
        return None
    return value


_COMMITTEE_KINDS = {
    UnitKind.village_station,
    UnitKind.town_centre,
    UnitKind.city_centre,
    UnitKind.sectoral_committee,
}


def _check_kind_tier(entry: _Entry, problems: _Problems) -> None:
    expected = KIND_TIER.get(entry.kind) if entry.kind is not None else None
    if expected is not None and entry.tier is not None and entry.tier != expected:
        problems.at(entry, "tier", f"a {entry.kind} belongs on the {expected} tier, not {entry.tier}")


def _unknown_key_message(key: str) -> str:
    guess = difflib.get_close_matches(key, ALLOWED_KEYS, n=1)
    hint = f" (did you mean {guess[0]!r}?)" if guess else ""
    return f"unknown key{hint}; allowed keys: {', '.join(ALLOWED_KEYS)}"


def _kind_of(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "true/false", int: "a number"}
    return names.get(type(value), type(value).__name__)


# --- the tree as a whole --------------------------------------------------------------------


def _index_codes(entries: list[_Entry], problems: _Problems) -> dict[str, _Entry]:
    """Map each code to its first definition; later definitions are duplicates."""
    by_code: dict[str, _Entry] = {}
    for entry in entries:
        if entry.code is None:
            continue
        first = by_code.get(entry.code)
        if first is None:
            by_code[entry.code] = entry
        else:
            problems.at(entry, "code", f"duplicate code {entry.code!r}: also defined at {first.place()}")
    return by_code


def _check_root(source: str, entries: list[_Entry], problems: _Problems) -> None:
    centres = [entry for entry in entries if entry.kind == UnitKind.city_centre]
    if not centres:
        problems.add(source, "", "no unit of kind city_centre: the tree needs exactly one root")
    for extra in centres[1:]:
        message = (
            f"a second city_centre (the first is at {centres[0].place()}); the tree has exactly one root"
        )
        problems.at(extra, "kind", message)
    for centre in centres:
        for key in ("parent", "handling_parent"):
            if key in centre.given:
                problems.at(centre, key, "the city centre is the root of the tree and has no parent")
    for entry in entries:
        # An entry whose kind is unreadable may have been meant as the root; don't guess.
        if entry.kind not in (None, UnitKind.city_centre) and "parent" not in entry.given:
            problems.at(entry, "parent", "missing: every unit except the city centre needs a parent")


def _check_references(entry: _Entry, by_code: Mapping[str, _Entry], problems: _Problems) -> None:
    for key, target in (("parent", entry.parent), ("handling_parent", entry.handling_parent)):
        if target is not None and target not in by_code:
            guess = difflib.get_close_matches(target, list(by_code), n=1)
            hint = f" (did you mean {guess[0]!r}?)" if guess else ""
            problems.at(entry, key, f"unknown unit {target!r}{hint}")
    if entry.handling_parent is not None and entry.handling_parent == entry.parent:
        problems.at(entry, "handling_parent", "same as parent; give handling_parent only where it differs")


def _check_tiers(entry: _Entry, by_code: Mapping[str, _Entry], problems: _Problems) -> None:
    parent = by_code.get(entry.parent) if entry.parent is not None else None
    if entry.tier == Tier.village and parent is not None and parent.tier not in (None, Tier.town):
        message = (
            f"a village-tier unit's parent must be a town-tier unit; {parent.code} is {parent.tier}-tier"
        )
        problems.at(entry, "parent", message)
    handler = by_code.get(entry.handled_by) if entry.handled_by is not None else None
    if entry.tier is None or handler is None or handler.tier is None:
        return
    if TIER_RANK[entry.tier] > TIER_RANK[handler.tier]:
        # Escalation climbs the handling tree; a lower-tier handler would send cases down.
        message = (
            f"a {entry.tier}-tier unit cannot be handled by {handler.code}, which is {handler.tier}-tier"
        )
        problems.at(entry, entry.handled_by_key, message)


def _check_village_code(entry: _Entry, problems: _Problems) -> None:
    """Village stations carry their statistical code, which nests under their town's code."""
    if entry.kind != UnitKind.village_station or entry.code is None:
        return
    if not VILLAGE_CODE_PATTERN.fullmatch(entry.code):
        problems.at(
            entry,
            "code",
            f"a village station's code must be its 12-digit statistical code, not {entry.code!r}",
        )
    elif entry.parent is not None and not TOWN_CODE_PATTERN.fullmatch(entry.parent):
        problems.at(
            entry, "code", f"a village station's parent must have a 9-digit town code, not {entry.parent!r}"
        )
    elif entry.parent is not None and not entry.code.startswith(entry.parent):
        problems.at(entry, "code", f"{entry.code} does not start with its parent's code {entry.parent}")


def _check_cycles(by_code: Mapping[str, _Entry], problems: _Problems) -> None:
    order = {code: position for position, code in enumerate(by_code)}
    handling = {code: e.handled_by for code, e in by_code.items() if e.handled_by in by_code}
    handling_cycles = _find_cycles(handling, order)
    for cycle in handling_cycles:
        entry = by_code[cycle[0]]
        problems.at(
            entry, entry.handled_by_key, f"handling cycle {_arrows(cycle)}: escalation would never end"
        )
    # A legal-parent cycle is usually the same loop; report it only when it is a different one.
    legal = {code: e.parent for code, e in by_code.items() if e.parent in by_code}
    for cycle in _find_cycles(legal, order):
        if set(cycle) not in [set(other) for other in handling_cycles]:
            problems.at(by_code[cycle[0]], "parent", f"parent cycle {_arrows(cycle)}")


def _find_cycles(edges: Mapping[str, str | None], order: Mapping[str, int]) -> list[list[str]]:
    """Cycles in a graph where each node has at most one outgoing edge, each starting at its earliest node."""
    done: set[str] = set()
    cycles: list[list[str]] = []
    for start in edges:
        path: list[str] = []
        node: str | None = start
        while node is not None and node not in done and node not in path:
            path.append(node)
            node = edges.get(node)
        if node is not None and node in path:
            cycle = path[path.index(node) :]
            first = cycle.index(min(cycle, key=order.__getitem__))
            cycles.append(cycle[first:] + cycle[:first])
        done.update(path)
    return cycles


def _arrows(cycle: list[str]) -> str:
    return " → ".join([*cycle, cycle[0]])


def _to_unit(entry: _Entry) -> Unit:
    # Only called when validation found nothing wrong, so every required field is present.
    assert entry.code is not None and entry.name is not None and entry.name_en is not None
    assert entry.kind is not None and entry.tier is not None and entry.channel is not None
    return Unit(
        code=entry.code,
        name=entry.name,
        kind=entry.kind,
        tier=entry.tier,
        channel=entry.channel,
        parent_code=entry.parent,
        handling_parent_code=entry.handling_parent,
        sector=entry.sector,
        name_en=entry.name_en,
        org_type=entry.org_type,
    )
