"""The org tree as configuration: the real Kunshan files, every validation rule, and the village import."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from service.config.loading import ConfigError, ConfigProblem, read_yaml
from service.config.units import load_units
from service.units.importer import clean_name, import_villages
from workflows.org import Channel, OrgTree, OrgType, Tier, UnitKind

UNITS_DIR = Path(__file__).resolve().parents[2] / "config" / "units"

CITY = "320583"
ZHANGPU = "320583106"
HUAQIAO = "320583104"
KAIFAQU = "320583400"
DASHI = "320583106005"

TOWNS = {
    "320583100": "玉山镇",
    "320583101": "巴城镇",
    "320583102": "周市镇",
    "320583103": "陆家镇",
    "320583104": "花桥镇",
    "320583106": "张浦镇",
    "320583108": "千灯镇",
    "320583400": "昆山开发区",
    "320583401": "昆山旅游度假区",
}

NAMED_VILLAGES = {
    "320583106": "姜杭村 大市村 吴加村 南姚村 七桥村 南吉山村 赵陵村 尚明甸村 新龙村 星金村 "
    "南港社区 林庄村 花园社区 大直社区 大市社区 周巷社区",
    "320583102": "新镇村",
    "320583401": "长云村 干家甸社区 袁甸村 陆泾村 朱浜村 三联村",
    "320583104": "花溪社区",
    "320583100": "五联村",
}


@pytest.fixture(scope="module")
def real_tree() -> OrgTree:
    return load_units(UNITS_DIR)


# --- the real configuration -----------------------------------------------------------------


def test_real_config_has_one_city_centre_at_the_root(real_tree: OrgTree) -> None:
    root = real_tree.city_centre()

    assert (root.code, root.tier, root.channel, root.parent_code) == (CITY, Tier.city, Channel.people, None)
    assert len(real_tree.of_kind(UnitKind.city_centre)) == 1


def test_real_config_has_the_nine_township_centres(real_tree: OrgTree) -> None:
    towns = real_tree.of_kind(UnitKind.town_centre)

    assert {u.code: u.name for u in towns} == TOWNS
    for town in towns:
        assert (town.tier, town.channel, town.parent_code) == (Tier.town, Channel.people, CITY)


@pytest.mark.parametrize(
    ("code", "name", "town"),
    [
        ("320583106005", "大市社区", ZHANGPU),
        ("320583106009", "周巷社区", ZHANGPU),
        ("320583100210", "五联村", "320583100"),
    ],
)
def test_real_config_has_the_known_real_village_codes(
    real_tree: OrgTree, code: str, name: str, town: str
) -> None:
    village = real_tree.get(code)

    assert (village.name, village.parent_code) == (name, town)
    assert (village.kind, village.tier, village.channel) == (
        UnitKind.village_station,
        Tier.village,
        Channel.people,
    )


def test_real_config_has_the_named_villages_under_their_towns(real_tree: OrgTree) -> None:
    for town, names in NAMED_VILLAGES.items():
        present = {u.name for u in real_tree.of_kind(UnitKind.village_station) if u.parent_code == town}
        assert set(names.split()) <= present, town


def test_real_config_has_at_least_three_stations_per_town(real_tree: OrgTree) -> None:
    for town in TOWNS:
        stations = [u for u in real_tree.children(town) if u.kind == UnitKind.village_station]
        assert len(stations) >= 3, town


def test_real_config_village_codes_nest_under_their_town(real_tree: OrgTree) -> None:
    for village in real_tree.of_kind(UnitKind.village_station):
        assert village.parent_code is not None
        assert len(village.code) == 12 and village.code.startswith(village.parent_code)


def test_real_config_penglang_is_legally_huaqiao_but_handled_by_the_development_zone(
    real_tree: OrgTree,
) -> None:
    handled = [u for u in real_tree if u.handling_parent_code is not None]

    assert [(u.name, u.parent_code, u.handling_parent_code) for u in handled] == [
        ("蓬朗社区", HUAQIAO, KAIFAQU)
    ]


@pytest.mark.parametrize(
    ("code", "sector"),
    [
        ("SC-MEDICAL", "MEDICAL"),
        ("SC-TRAFFIC", "ROAD_TRAFFIC"),
        ("SC-LABOUR", "LABOUR_OTHER"),
        ("SC-PROPERTY", "PROPERTY_MGMT"),
    ],
)
def test_real_config_has_the_sectoral_committees(real_tree: OrgTree, code: str, sector: str) -> None:
    committee = real_tree.get(code)

    assert (committee.kind, committee.sector) == (UnitKind.sectoral_committee, sector)
    assert (committee.tier, committee.channel, committee.parent_code) == (Tier.city, Channel.people, CITY)


def test_real_config_has_a_police_station_per_town_under_the_bureau(real_tree: OrgTree) -> None:
    bureau = real_tree.get("PSB-320583")
    assert (bureau.kind, bureau.tier, bureau.channel, bureau.parent_code) == (
        UnitKind.agency,
        Tier.city,
        Channel.administrative,
        CITY,
    )
    for town in TOWNS:
        station = real_tree.get(f"PS-{town}")
        assert (station.kind, station.tier, station.channel) == (
            UnitKind.agency,
            Tier.town,
            Channel.administrative,
        )
        assert station.parent_code == "PSB-320583"
        assert station.name.endswith("派出所")


@pytest.mark.parametrize(
    ("code", "kind", "channel", "parent"),
    [
        ("HRSS-320583", UnitKind.agency, Channel.administrative, CITY),
        ("SAMR-320583", UnitKind.agency, Channel.administrative, CITY),
        ("HUD-320583", UnitKind.agency, Channel.administrative, CITY),
        ("PETITION-320583", UnitKind.petition_office, Channel.administrative, CITY),
        ("COURT-320583", UnitKind.court, Channel.judicial, CITY),
        ("COURT-320583-DESK", UnitKind.court_desk, Channel.judicial, "COURT-320583"),
        ("PROC-320583", UnitKind.procuratorate, Channel.judicial, CITY),
    ],
)
def test_real_config_city_agencies_and_judicial_units(
    real_tree: OrgTree, code: str, kind: UnitKind, channel: Channel, parent: str
) -> None:
    unit = real_tree.get(code)

    assert (unit.kind, unit.tier, unit.channel, unit.parent_code) == (kind, Tier.city, channel, parent)
    assert unit.name.startswith("昆山市")


# --- validation: helpers --------------------------------------------------------------------


def unit(code: str, name: str, kind: str, tier: str, parent: str | None, **extra: str) -> dict[str, str]:
    fields = {"code": code, "name": name, "name_en": f"Unit {code}", "kind": kind, "tier": tier}
    fields["channel"] = "people"
    if parent is not None:
        fields["parent"] = parent
    return fields | extra


def valid_units() -> list[dict[str, str]]:
    """A small tree that passes every rule; each test breaks one thing in it."""
    return [
        unit(CITY, "昆山市矛盾纠纷调处中心", "city_centre", "city", None),  # 0
        unit(ZHANGPU, "张浦镇", "town_centre", "town", CITY),  # 1
        unit(KAIFAQU, "昆山开发区", "town_centre", "town", CITY),  # 2
        unit(DASHI, "大市社区", "village_station", "village", ZHANGPU),  # 3
        unit("SC-MEDICAL", "医调委", "sectoral_committee", "city", CITY, sector="MEDICAL"),  # 4
        unit("PSB-320583", "昆山市公安局", "agency", "city", CITY, channel="administrative"),  # 5
        unit("PS-320583106", "张浦派出所", "agency", "town", "PSB-320583", channel="administrative"),  # 6
    ]


def write(directory: Path, units: object, name: str = "units.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(yaml.safe_dump({"units": units}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def problems_of(directory: Path) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        load_units(directory)
    return caught.value.problems


def problem_at(problems: list[ConfigProblem], key: str) -> ConfigProblem:
    found = [p for p in problems if p.key == key]
    assert len(found) == 1, f"expected one problem at {key}, got: {[str(p) for p in problems]}"
    return found[0]


def broken(tmp_path: Path, index: int, **changes: object) -> tuple[Path, list[ConfigProblem]]:
    """Write valid_units() with unit ``index`` changed (a value of None removes the key)."""
    units: list[dict[str, object]] = [dict(u) for u in valid_units()]
    for key, value in changes.items():
        if value is None:
            units[index].pop(key, None)
        else:
            units[index][key] = value
    path = write(tmp_path, units)
    return path, problems_of(tmp_path)


# --- validation: one rule at a time -----------------------------------------------------------


def test_the_valid_sample_loads(tmp_path: Path) -> None:
    write(tmp_path, valid_units())

    tree = load_units(tmp_path)

    assert len(tree) == 7
    assert tree.escalation_target(DASHI) == tree.get(ZHANGPU)


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    path, problems = broken(tmp_path, 3, kind=None)

    problem = problem_at(problems, "units[3].kind")
    assert problem.file == str(path)
    assert "missing" in problem.message


def test_unknown_key_suggests_the_likely_one(tmp_path: Path) -> None:
    _, problems = broken(tmp_path, 3, parnet=ZHANGPU)

    message = problem_at(problems, "units[3].parnet").message
    assert "unknown key" in message and "did you mean 'parent'" in message


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("kind", "village", "city_centre, town_centre, village_station"),
        ("tier", "county", "village, town, city"),
        ("channel", "police", "people, administrative, judicial"),
    ],
)
def test_bad_enum_value_lists_the_allowed_ones(tmp_path: Path, key: str, value: str, allowed: str) -> None:
    _, problems = broken(tmp_path, 3, **{key: value})

    message = problem_at(problems, f"units[3].{key}").message
    assert repr(value) in message and allowed in message


def test_duplicate_code_names_both_places(tmp_path: Path) -> None:
    first = write(tmp_path, valid_units(), name="a.yaml")
    second = write(
        tmp_path, [unit(DASHI, "另一个社区", "village_station", "village", ZHANGPU)], name="b.yaml"
    )

    problem = problem_at(problems_of(tmp_path), "units[0].code")

    assert problem.file == str(second)
    assert f"{first}: units[3]" in problem.message and "duplicate" in problem.message


@pytest.mark.parametrize("key", ["parent", "handling_parent"])
def test_unknown_parent_is_reported(tmp_path: Path, key: str) -> None:
    _, problems = broken(tmp_path, 3, **{key: "320583107"})

    assert "unknown unit '320583107'" in problem_at(problems, f"units[3].{key}").message


def test_handling_parent_equal_to_parent_is_reported(tmp_path: Path) -> None:
    _, problems = broken(tmp_path, 3, handling_parent=ZHANGPU)

    assert "same as parent" in problem_at(problems, "units[3].handling_parent").message


def test_handling_cycle_is_reported(tmp_path: Path) -> None:
    units = valid_units()
    units[1]["handling_parent"] = KAIFAQU
    units[2]["handling_parent"] = ZHANGPU
    write(tmp_path, units)

    problems = problems_of(tmp_path)

    message = problem_at(problems, "units[1].handling_parent").message
    assert "cycle" in message and f"{ZHANGPU} → {KAIFAQU} → {ZHANGPU}" in message


def test_legal_parent_cycle_is_reported_even_when_handling_is_fine(tmp_path: Path) -> None:
    units = valid_units()
    units[1] |= {"parent": KAIFAQU, "handling_parent": CITY}
    units[2] |= {"parent": ZHANGPU, "handling_parent": CITY}
    write(tmp_path, units)

    assert "parent cycle" in problem_at(problems_of(tmp_path), "units[1].parent").message


def test_a_unit_that_is_its_own_parent_is_a_cycle(tmp_path: Path) -> None:
    _, problems = broken(tmp_path, 6, parent="PS-320583106")

    assert "cycle" in problem_at(problems, "units[6].parent").message


def test_no_city_centre_is_reported(tmp_path: Path) -> None:
    units = valid_units()[1:]
    units[0]["parent"] = KAIFAQU  # keep every remaining parent known
    units[1].pop("parent")
    write(tmp_path, units)

    problems = problems_of(tmp_path)

    assert any(p.file == str(tmp_path) and "no unit of kind city_centre" in p.message for p in problems)


def test_a_second_city_centre_is_reported(tmp_path: Path) -> None:
    units = [*valid_units(), unit("320584", "太仓市矛调中心", "city_centre", "city", None)]
    write(tmp_path, units)

    message = problem_at(problems_of(tmp_path), "units[7].kind").message
    assert "second city_centre" in message and "units[0]" in message


def test_the_root_cannot_have_a_parent(tmp_path: Path) -> None:
    _, problems = broken(tmp_path, 0, parent=ZHANGPU)

    # The loop it creates (city → town → city) is reported too, at the same key.
    messages = [p.message for p in problems if p.key == "units[0].parent"]
    assert "the city centre is the root of the tree and has no parent" in messages
    assert any("cycle" in m for m in messages)


def test_every_other_unit_needs_a_parent(tmp_path: Path) -> None:
    _, problems = broken(tmp_path, 4, parent=None)

    assert (
        "every unit except the city centre needs a parent" in problem_at(problems, "units[4].parent").message
    )


def test_a_village_parent_must_be_on_the_town_tier(tmp_path: Path) -> None:
    units = [*valid_units(), unit("320583999001", "直属社区", "village_station", "village", CITY)]
    write(tmp_path, units)

    problems = problems_of(tmp_path)

    assert "must be a town-tier unit" in problem_at(problems, "units[7].parent").message


def test_a_unit_cannot_sit_above_its_handling_parent(tmp_path: Path) -> None:
    _, problems = broken(tmp_path, 2, handling_parent=DASHI)

    message = problem_at(problems, "units[2].handling_parent").message
    assert "town-tier unit cannot be handled by 320583106005, which is village-tier" in message


def test_a_centre_kind_must_match_its_tier(tmp_path: Path) -> None:
    _, problems = broken(tmp_path, 1, tier="city")

    assert "town_centre belongs on the town tier" in problem_at(problems, "units[1].tier").message


def test_a_sectoral_committee_needs_a_sector(tmp_path: Path) -> None:
    _, problems = broken(tmp_path, 4, sector=None)

    message = problem_at(problems, "units[4].sector").message
    assert "missing" in message and "MEDICAL" in message


def test_only_sectoral_committees_have_a_sector(tmp_path: Path) -> None:
    _, problems = broken(tmp_path, 1, sector="MEDICAL")

    assert "only sectoral committees" in problem_at(problems, "units[1].sector").message


def test_a_sector_must_be_a_dispute_type(tmp_path: Path) -> None:
    _, problems = broken(tmp_path, 4, sector="HOSPITAL")

    message = problem_at(problems, "units[4].sector").message
    assert "'HOSPITAL' is not a dispute type" in message and "ROAD_TRAFFIC" in message


@pytest.mark.parametrize("name", ["", "   "])
def test_names_must_not_be_blank(tmp_path: Path, name: str) -> None:
    _, problems = broken(tmp_path, 3, name=name)

    assert "blank" in problem_at(problems, "units[3].name").message


def test_every_unit_needs_an_english_name(tmp_path: Path) -> None:
    _, problems = broken(tmp_path, 3, name_en=None)

    assert problem_at(problems, "units[3].name_en").message == "missing (required)"


@pytest.mark.parametrize("name_en", ["大市 Community", "Dashi（Community）", "Dashi、Dazhi"])
def test_english_names_hold_no_chinese_characters(tmp_path: Path, name_en: str) -> None:
    _, problems = broken(tmp_path, 3, name_en=name_en)

    assert "must be English" in problem_at(problems, "units[3].name_en").message


def test_the_real_tree_names_every_unit_in_pinyin_english(real_tree: OrgTree) -> None:
    assert real_tree.get(ZHANGPU).name_en == "Zhangpu Town"
    assert real_tree.get("320583100").name_en == "Yushan Town (Kunshan High-tech Zone)"
    assert real_tree.get(DASHI).name_en == "Dashi Community"
    # Polyphonic characters read as the place is said: 朝阳 cháo, 长云 cháng.
    assert real_tree.get("320583100001").name_en == "Chaoyang Community"
    assert real_tree.get("320583401201").name_en == "Changyun Village"
    assert real_tree.name_of(DASHI, "en") == "Dashi Community" and real_tree.name_of(DASHI) == "大市社区"


@pytest.mark.parametrize("code", ["ps-320583106", "-PS", "PS 1", "PS_1"])
def test_codes_must_match_the_pattern(tmp_path: Path, code: str) -> None:
    _, problems = broken(tmp_path, 6, code=code)

    assert "not a valid code" in problem_at(problems, "units[6].code").message


def test_a_numeric_code_is_asked_to_be_quoted(tmp_path: Path) -> None:
    (tmp_path / "units.yaml").write_text(
        "units:\n  - {code: 320583, name: 昆山, kind: city_centre, tier: city, channel: people}\n",
        encoding="utf-8",
    )

    message = problem_at(problems_of(tmp_path), "units[0].code").message
    assert "must be a string" in message and "quote it: '320583'" in message


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("32058310600", "12-digit statistical code"),
        ("SC-DASHI", "12-digit statistical code"),
        ("320583104005", "does not start with its parent's code 320583106"),
    ],
)
def test_village_codes_are_twelve_digits_under_their_town(tmp_path: Path, code: str, expected: str) -> None:
    _, problems = broken(tmp_path, 3, code=code)

    assert expected in problem_at(problems, "units[3].code").message


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("", "", "file is empty"),
        ("- code: X\n", "", "expected a mapping with a 'units' list"),
        ("unit: []\n", "units", "missing"),
        ("units: {code: X}\n", "units", "must be a list"),
        ("units: []\nversion: 2\n", "version", "unknown top-level key"),
        ("units:\n  - just a string\n", "units[0]", "must be a mapping"),
    ],
)
def test_badly_shaped_files_are_reported(tmp_path: Path, text: str, key: str, expected: str) -> None:
    write(tmp_path, valid_units(), name="a.yaml")
    bad = tmp_path / "b.yaml"
    bad.write_text(text, encoding="utf-8")

    problems = [p for p in problems_of(tmp_path) if p.file == str(bad)]

    assert expected in problem_at(problems, key).message


def test_all_problems_are_reported_at_once_across_files(tmp_path: Path) -> None:
    units = valid_units()
    units[3]["parent"] = "320583107"
    units[4].pop("sector")
    write(tmp_path, units, name="a.yaml")
    other = write(
        tmp_path,
        [unit("SC-TRAFFIC", "", "sectoral_committee", "city", CITY, sector="TRAFFIC")],
        name="b.yaml",
    )

    with pytest.raises(ConfigError) as caught:
        load_units(tmp_path)

    keys = {(Path(p.file).name, p.key) for p in caught.value.problems}
    assert {
        ("a.yaml", "units[3].parent"),
        ("a.yaml", "units[4].sector"),
        ("b.yaml", "units[0].name"),
        ("b.yaml", "units[0].sector"),
    } <= keys
    assert len(str(caught.value).splitlines()) == len(caught.value.problems)
    assert f"{other}: units[0].name: must not be blank" in str(caught.value).splitlines()


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, valid_units(), name="a.yaml")
    bad = tmp_path / "b.yaml"
    bad.write_text("units:\n  - code: X\n    name: [unclosed\n", encoding="utf-8")

    problems = problems_of(tmp_path)

    assert len(problems) == 1
    assert problems[0].file == str(bad)
    assert "YAML syntax error at line 4" in problems[0].message


def test_a_repeated_key_in_a_unit_is_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "units.yaml"
    path.write_text("units:\n  - code: X\n    parent: A\n    parent: B\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        read_yaml(path)

    message = caught.value.problems[0].message
    assert "line 4" in message and "duplicate key 'parent' (first on line 3)" in message


def test_read_yaml_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read_yaml(tmp_path / "nope.yaml")

    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}: file not found"


def test_a_missing_or_empty_directory_is_reported(tmp_path: Path) -> None:
    assert "not found" in problems_of(tmp_path / "nowhere")[0].message
    assert "no *.yaml" in problems_of(tmp_path)[0].message


def test_hidden_yaml_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, valid_units())
    (tmp_path / ".units.yaml").write_text("not: [valid", encoding="utf-8")

    assert len(load_units(tmp_path)) == 7


def test_problem_and_error_render_one_problem_per_line() -> None:
    error = ConfigError(
        [ConfigProblem("a.yaml", "units[1].tier", "bad"), ConfigProblem("b.yaml", "", "empty")]
    )

    assert str(error) == "a.yaml: units[1].tier: bad\nb.yaml: empty"


# --- importing villages ---------------------------------------------------------------------


@pytest.fixture
def units_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "units"
    directory.mkdir()
    shutil.copy(UNITS_DIR / "kunshan.yaml", directory / "kunshan.yaml")
    return directory


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


MIXED_CSV = [
    "code,name,parent_code",  # 1
    "320583000000,昆山市,320500000000",  # 2 county row: skipped
    "320583106000,张浦镇,320583000000",  # 3 the town itself: skipped
    "320583106005,大市社区居委会,320583106000",  # 4 present with the same name: skipped
    "320583106030, 新建社区居委会 ,320583106000",  # 5 added as 新建社区
    "320583106250,金华村村委会,320583106",  # 6 added as 金华村
    "320583106009,另一个社区居委会,320583106",  # 7 present with another name: rejected
    "32058310625X,坏码村,320583106",  # 8 malformed code
    "320583109201,淀西村,320583109",  # 9 parent unknown
    "320583100230,错位村,320583106",  # 10 not under its parent's code
    "320583106260,   ,320583106",  # 11 empty name
    "320583106250,金华村,320583106",  # 12 duplicate of line 6
    "320583105201,某村,320583",  # 13 parent is not a town
    "320583106270,姜杭村,320583106",  # 14 same name as 320583106219 in the same town
    "320583107000,周庄镇,320583000000",  # 15 a town not in the tree
    "320584100201,外地村,320584100",  # 16 another county: skipped
]


def test_import_reports_added_skipped_and_rejected_rows(units_dir: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "villages.csv", MIXED_CSV)

    report = import_villages(source, load_units(units_dir), units_dir / "imported.yaml")

    assert [(u.code, u.name, u.parent_code) for u in report.added] == [
        ("320583106030", "新建社区", ZHANGPU),
        ("320583106250", "金华村", ZHANGPU),
    ]
    assert all(
        (u.kind, u.tier, u.channel) == (UnitKind.village_station, Tier.village, Channel.people)
        for u in report.added
    )
    assert [(line, code) for line, code, _ in report.skipped] == [
        (2, "320583000000"),
        (3, "320583106000"),
        (4, "320583106005"),
        (16, "320584100201"),
    ]
    assert "already present with the same name" in report.skipped[2][2]
    reasons = {line: why for line, _, why in report.rejected}
    assert sorted(reasons) == [7, 8, 9, 10, 11, 12, 13, 14, 15]
    assert "different name: 周巷社区" in reasons[7]
    assert "malformed code" in reasons[8]
    assert "320583109 is not in the org tree" in reasons[9]
    assert "not under its parent's code 320583106" in reasons[10]
    assert reasons[11] == "empty name"
    assert "duplicate in file" in reasons[12] and "line 6" in reasons[12]
    assert "not a town centre" in reasons[13]
    assert "320583106219" in reasons[14]
    assert "320583107 is not in the org tree" in reasons[15]


def test_import_reports_formula_like_and_bidi_names_by_line_instead_of_storing_them(
    units_dir: Path, tmp_path: Path
) -> None:
    """Such names would go on into the CSV and XLSX reports, where a spreadsheet runs them."""
    source = write_csv(
        tmp_path / "villages.csv",
        [
            "code,name,parent_code",  # 1
            '320583106281,"=HYPERLINK(""http://evil.example"",""金华村"")",320583106',  # 2
            "320583106282,+1村,320583106",  # 3
            "320583106283,-2村,320583106",  # 4
            "320583106284,@SUM(A1),320583106",  # 5
            "320583106285,\u202e村委会,320583106",  # 6
            "320583106286,正常村村委会,320583106",  # 7 added
        ],
    )
    output = units_dir / "imported.yaml"

    report = import_villages(source, load_units(units_dir), output)

    assert [u.name for u in report.added] == ["正常村"]
    reasons = {line: why for line, _, why in report.rejected}
    assert sorted(reasons) == [2, 3, 4, 5, 6]
    assert all("starts like a spreadsheet formula" in reasons[line] for line in (2, 3, 4, 5))
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in reasons[6]
    written = output.read_text(encoding="utf-8")
    assert "HYPERLINK" not in written and "\u202e" not in written and "正常村" in written


def test_import_output_loads_with_the_rest_of_the_directory(units_dir: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "villages.csv", MIXED_CSV)
    before = load_units(units_dir)

    import_villages(source, before, units_dir / "imported.yaml")
    after = load_units(units_dir)

    assert len(after) == len(before) + 2
    assert after.get("320583106030").name == "新建社区"
    # The statistical list has no English: a placeholder naming the code stands until the pinyin is written.
    assert after.get("320583106030").name_en == "Station 320583106030"
    assert after.escalation_target("320583106250") == after.get(ZHANGPU)


def test_import_is_idempotent(units_dir: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "villages.csv", MIXED_CSV)
    output = units_dir / "imported.yaml"
    stale_tree = load_units(units_dir)
    import_villages(source, stale_tree, output)
    written = output.read_text(encoding="utf-8")

    again_with_stale_tree = import_villages(source, stale_tree, output)
    again_with_fresh_tree = import_villages(source, load_units(units_dir), output)

    for report in (again_with_stale_tree, again_with_fresh_tree):
        assert report.added == []
        assert {(line, why) for line, _, why in report.skipped} >= {
            (5, "already present with the same name"),
            (6, "already present with the same name"),
        }
    assert output.read_text(encoding="utf-8") == written


def test_import_appends_and_keeps_existing_entries_and_comments(units_dir: Path, tmp_path: Path) -> None:
    output = units_dir / "imported.yaml"
    import_villages(
        write_csv(tmp_path / "one.csv", ["320583106030,新建社区,320583106"]), load_units(units_dir), output
    )
    output.write_text(
        output.read_text(encoding="utf-8") + "# checked by 张浦司法所 2024-05\n", encoding="utf-8"
    )

    report = import_villages(
        write_csv(tmp_path / "two.csv", ["320583102250,东方村,320583102"]), load_units(units_dir), output
    )

    assert [u.code for u in report.added] == ["320583102250"]
    text = output.read_text(encoding="utf-8")
    assert text.startswith("# Village and community stations imported")
    assert "# checked by 张浦司法所 2024-05" in text
    assert [u["code"] for u in yaml.safe_load(text)["units"]] == ["320583106030", "320583102250"]
    assert load_units(units_dir).get("320583102250").parent_code == "320583102"


def test_import_reads_gbk_without_a_header(units_dir: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "gbk.csv", ["320583101250,正仪村村委会,320583101000"], encoding="gbk")

    report = import_villages(source, load_units(units_dir), units_dir / "imported.yaml")

    assert [(u.code, u.name) for u in report.added] == [("320583101250", "正仪村")]
    assert load_units(units_dir).get("320583101250").name == "正仪村"


def test_import_reads_utf8_with_bom_and_a_chinese_header(units_dir: Path, tmp_path: Path) -> None:
    source = write_csv(
        tmp_path / "bom.csv",
        ["名称,上级代码,代码", "东方村委会,320583102,320583102250"],
        encoding="utf-8-sig",
    )

    report = import_villages(source, load_units(units_dir), units_dir / "imported.yaml")

    assert [(u.code, u.name, u.parent_code) for u in report.added] == [
        ("320583102250", "东方村", "320583102")
    ]
    assert report.rejected == [] and report.skipped == []


def test_import_rejects_short_rows_and_keeps_going(units_dir: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "short.csv", ["320583102250", "320583102251,永共村,320583102"])

    report = import_villages(source, load_units(units_dir), units_dir / "imported.yaml")

    assert report.rejected == [(1, "320583102250", "expected 3 columns (code, name, parent code), got 1")]
    assert [u.code for u in report.added] == ["320583102251"]


def test_import_refuses_a_header_without_a_parent_column(units_dir: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "header.csv", ["code,name", "320583102250,东方村"])

    with pytest.raises(ConfigError) as caught:
        import_villages(source, load_units(units_dir), units_dir / "imported.yaml")

    assert caught.value.problems[0].key == "line 1"
    assert "no column for parent" in caught.value.problems[0].message


def test_import_refuses_text_that_is_neither_utf8_nor_gbk(units_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "binary.csv"
    source.write_bytes(b"\xff\xfe\xff\xff")

    with pytest.raises(ConfigError, match="neither UTF-8 nor GBK"):
        import_villages(source, load_units(units_dir), units_dir / "imported.yaml")


def test_import_writes_nothing_when_nothing_is_new(units_dir: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "known.csv", ["320583106005,大市社区,320583106"])

    report = import_villages(source, load_units(units_dir), units_dir / "imported.yaml")

    assert report.added == []
    assert sorted(p.name for p in units_dir.iterdir()) == ["kunshan.yaml"]


def test_import_leaves_no_temporary_files_and_a_readable_output(units_dir: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "one.csv", ["320583106030,新建社区,320583106"])

    import_villages(source, load_units(units_dir), units_dir / "imported.yaml")

    assert sorted(p.name for p in units_dir.iterdir()) == ["imported.yaml", "kunshan.yaml"]
    assert (units_dir / "imported.yaml").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("大市社区居委会", "大市社区"),
        ("大市社区居民委员会", "大市社区"),
        ("五联村村委会", "五联村"),
        ("五联村村民委员会", "五联村"),
        ("新镇村委会", "新镇村"),
        (" 周巷社区\u3000", "周巷社区"),
        ("东城居委会", "东城居委会"),
        ("花溪社区", "花溪社区"),
    ],
)
def test_clean_name_strips_committee_suffixes(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean


# --- the MoJ report's organisation type ---------------------------------------------------------


def test_every_people_committee_in_the_real_config_states_its_org_type() -> None:
    """Explicit per unit, as the report's 村/居/乡镇 rows need; other channels have none."""
    for path in UNITS_DIR.glob("*.yaml"):
        for raw in read_yaml(path)["units"]:
            committee = raw["channel"] == "people"
            assert ("org_type" in raw) == committee, raw["code"]
    tree = load_units(UNITS_DIR)
    assert tree.get(DASHI).org_type == OrgType.community
    assert tree.get("320583106226").org_type == OrgType.village  # 大市村, beside 大市社区
    assert tree.get(ZHANGPU).org_type == OrgType.township
    assert tree.get("SC-MEDICAL").org_type == OrgType.sectoral
    assert tree.get("PS-320583106").org_type is None


def test_an_absent_org_type_is_derived_from_kind_and_name(tmp_path: Path) -> None:
    write(tmp_path, valid_units())

    tree = load_units(tmp_path)

    assert tree.get(DASHI).org_type == OrgType.community
    assert tree.get(KAIFAQU).org_type == OrgType.township
    assert tree.get(CITY).org_type == OrgType.other


def test_a_station_whose_name_tells_neither_village_nor_community_needs_an_org_type(tmp_path: Path) -> None:
    _, problems = broken(tmp_path, 3, name="大市调委会")

    assert "村 from 居" in problem_at(problems, "units[3].org_type").message


def test_an_org_type_is_checked(tmp_path: Path) -> None:
    _, wrong = broken(tmp_path, 3, org_type="hamlet")
    _, elsewhere = broken(tmp_path / "b", 6, org_type="township")
    write(
        tmp_path / "c",
        [dict(u) | ({"org_type": "subdistrict"} if u["code"] == KAIFAQU else {}) for u in valid_units()],
    )

    assert "not a valid org_type" in problem_at(wrong, "units[3].org_type").message
    assert "only people's mediation committees" in problem_at(elsewhere, "units[6].org_type").message
    assert load_units(tmp_path / "c").get(KAIFAQU).org_type == OrgType.subdistrict
