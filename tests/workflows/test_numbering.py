"""Numbers without a database: the printed form, the prefix a unit prints (configured or derived
from its place), the Kunshan year a number belongs to, and the configuration's validation."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config.loading import ConfigError
from service.config.numbering import load_numbering
from service.config.units import load_units
from workflows.numbering import (
    FILE,
    NumberingConfig,
    default_prefix,
    format_number,
    keeps_case_files,
    prefix_of,
    year_of,
)
from workflows.org import OrgTree

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "numbering.yaml"
ORG: OrgTree = load_units(REPO / "config" / "units")


@pytest.fixture(scope="module")
def config() -> NumberingConfig:
    return load_numbering(CONFIG, ORG)


def data(**changes: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    loaded.update(changes)
    return loaded


def problems(tmp_path: Path, content: dict[str, Any]) -> list[str]:
    path = tmp_path / "numbering.yaml"
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_numbering(path, ORG)
    return [str(p) for p in raised.value.problems]


def test_the_written_agreement_of_zhangpu_prints_as_the_ministrys_example(config: NumberingConfig) -> None:
    text = format_number(config, prefix="昆张", kind="written_agreement", year=2026, number=1)
    assert text == "(2026)昆张调字第 0001 号"


def test_the_case_file_number_carries_its_own_word(config: NumberingConfig) -> None:
    assert (
        format_number(config, prefix="昆张", kind=FILE, year=2026, number=37) == "(2026)昆张调卷字第 0037 号"
    )


def test_a_number_past_the_width_keeps_every_digit(config: NumberingConfig) -> None:
    assert (
        format_number(config, prefix="昆", kind=FILE, year=2027, number=12345) == "(2027)昆调卷字第 12345 号"
    )


def test_numbers_start_at_one(config: NumberingConfig) -> None:
    with pytest.raises(ValueError, match="start at 1"):
        format_number(config, prefix="昆", kind=FILE, year=2026, number=0)


@pytest.mark.parametrize(
    ("code", "prefix"),
    [
        ("320583", "昆"),  # the city centre
        ("320583106", "昆张"),  # 张浦镇
        ("320583100", "昆玉"),  # 玉山镇
        ("320583106005", "昆张大"),  # 张浦镇 大市社区
        ("320583100210", "昆玉五"),  # 玉山镇 五联村
        ("SC-MEDICAL", "昆医"),  # 昆山市医疗纠纷人民调解委员会: the city's name is not repeated
    ],
)
def test_the_derived_prefix_names_the_place(config: NumberingConfig, code: str, prefix: str) -> None:
    assert default_prefix(config, ORG, code) == prefix


def test_a_configured_prefix_wins_over_the_derived_one(tmp_path: Path) -> None:
    path = tmp_path / "numbering.yaml"
    path.write_text(
        yaml.safe_dump(data(units={"320583106005": {"prefix": "昆张大市"}}), allow_unicode=True),
        encoding="utf-8",
    )
    configured = load_numbering(path, ORG)
    assert prefix_of(configured, ORG, "320583106005") == "昆张大市"
    assert prefix_of(configured, ORG, "320583106009") == "昆张周"  # 周巷社区: still derived


def test_the_year_is_kunshans_not_utcs() -> None:
    # 31 December 2026, 16:30 UTC is already 1 January 2027, 00:30 in Kunshan.
    assert year_of(datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)) == 2026
    assert year_of(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == 2027
    with pytest.raises(ValueError, match="naive"):
        year_of(datetime(2026, 12, 31, 16, 0))


def test_the_shipped_configuration_lists_the_case_file_and_the_documents_of_issue_19(
    config: NumberingConfig,
) -> None:
    assert set(config.kinds) == {
        "file",
        "application",
        "acceptance_register",
        "rights_notice",
        "session_record",
        "written_agreement",
        "oral_agreement_register",
        "follow_up_record",
        "termination_notice",
        "judicial_confirmation",
        "handoff_letter",
    }
    assert config.kinds["file"].name == "卷宗"


def test_a_format_without_the_number_is_refused_by_its_key(tmp_path: Path) -> None:
    found = problems(tmp_path, data(format="({year}){prefix}{word}字"))
    assert found == ["numbering.yaml: format: Value error, must contain {number}"]


def test_an_unknown_field_or_a_format_spec_is_refused(tmp_path: Path) -> None:
    assert (
        "unknown fields ['unit']" in problems(tmp_path, data(format="{year}{prefix}{word}{number}{unit}"))[0]
    )
    assert "no format spec" in problems(tmp_path, data(format="{year}{prefix}{word}{number:05d}"))[0]


def test_a_configuration_without_the_case_file_kind_is_refused(tmp_path: Path) -> None:
    kinds = {"written_agreement": {"name": "人民调解协议书", "word": "调"}}
    assert "`file` (卷宗) is required" in problems(tmp_path, data(kinds=kinds))[0]


def test_a_prefix_for_a_unit_that_does_not_exist_is_named(tmp_path: Path) -> None:
    found = problems(tmp_path, data(units={"320583999": {"prefix": "昆无"}}))
    assert found == ["numbering.yaml: units.320583999: no unit with this code in config/units"]


def test_a_prefix_with_brackets_or_spaces_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, data(units={"320583106": {"prefix": "昆 (张)"}}))
    assert found == [
        "numbering.yaml: units.320583106.prefix: Value error, only Chinese characters, letters and digits"
    ]


def test_unknown_keys_and_a_bad_width_are_refused_together(tmp_path: Path) -> None:
    found = problems(tmp_path, data(digits=0, colour="red"))
    assert any(p.startswith("numbering.yaml: digits:") for p in found)
    assert any(p.startswith("numbering.yaml: colour:") for p in found)


def test_jiefen_config_check_checks_the_numbering_file(tmp_path: Path) -> None:
    from tests.service.test_cli import run

    shipped = run("config", "check", tmp_path=tmp_path)
    assert shipped.returncode == 0, shipped.stderr
    assert "numbering: 11 kinds, 1 unit prefixes OK" in shipped.stdout

    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "numbering.yaml").write_text(
        yaml.safe_dump(data(units={"320583999": {"prefix": "昆无"}}), allow_unicode=True), encoding="utf-8"
    )
    broken = run("config", "check", tmp_path=tmp_path, config_dir=config)
    assert broken.returncode == 2
    assert "numbering.yaml: units.320583999: no unit with this code in config/units" in broken.stderr


def test_the_service_does_not_start_with_a_broken_numbering_file(tmp_path: Path) -> None:
    from service.config.settings import Settings
    from service.main import create_app

    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "numbering.yaml").write_text(yaml.safe_dump(data(digits=9)), encoding="utf-8")
    with pytest.raises(SystemExit, match=r"numbering.yaml: digits: Input should be less than or equal to 8"):
        create_app(Settings(config_dir=config, data_dir=tmp_path / "data"))


@pytest.mark.parametrize(
    ("code", "keeps"),
    [
        ("320583106005", True),  # 大市社区's committee
        ("320583106", True),  # 张浦镇's centre
        ("320583", True),  # the city centre
        ("SC-MEDICAL", True),  # a sectoral committee
        ("PS-320583106", False),  # 张浦派出所: an agency files its own way
        ("COURT-320583-DESK", False),  # the court desk
        ("320583999", False),  # no such unit
    ],
)
def test_who_keeps_peoples_mediation_case_files(code: str, keeps: bool) -> None:
    assert keeps_case_files(ORG, code) is keeps
