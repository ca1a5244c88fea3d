"""The `jiefen` command as an operator uses it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

JIEFEN = str(Path(sys.executable).parent / "jiefen")
ROOT = Path(__file__).resolve().parents[2]


def run(
    *args: str,
    tmp_path: Path,
    config_dir: Path | None = None,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JIEFEN_")}
    environ["JIEFEN_DATA_DIR"] = str(tmp_path / "data")
    if config_dir is not None:
        environ["JIEFEN_CONFIG_DIR"] = str(config_dir)
    environ.update(env or {})
    return subprocess.run(
        [JIEFEN, *args], env=environ, capture_output=True, text=True, timeout=120, input=input
    )


def test_config_check_reports_counts_for_the_shipped_configuration(tmp_path: Path) -> None:
    result = run("config", "check", tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "units:" in result.stdout and "OK" in result.stdout
    assert "triage:" in result.stdout


def test_config_check_names_file_and_key_of_a_broken_configuration(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    triage = config / "triage.yaml"
    triage.write_text(
        triage.read_text(encoding="utf-8").replace("route: station", "route: moon", 1), encoding="utf-8"
    )

    result = run("config", "check", tmp_path=tmp_path, config_dir=config)

    assert result.returncode == 2
    assert "triage.yaml" in result.stderr
    assert "route" in result.stderr and "moon" in result.stderr


def test_users_create_then_sign_in_rules_are_enforced(tmp_path: Path) -> None:
    ok = run(
        "users",
        "create",
        "--username",
        "new.mediator",
        "--password",
        "long-enough-1",
        "--role",
        "mediator",
        "--unit",
        "320583106005",
        tmp_path=tmp_path,
    )
    again = run(
        "users",
        "create",
        "--username",
        "new.mediator",
        "--password",
        "long-enough-1",
        "--role",
        "mediator",
        "--unit",
        "320583106005",
        tmp_path=tmp_path,
    )
    bad = run(
        "users",
        "create",
        "--username",
        "x",
        "--password",
        "short",
        "--role",
        "wizard",
        "--unit",
        "nowhere",
        tmp_path=tmp_path,
    )

    assert ok.returncode == 0, ok.stderr
    assert "created user new.mediator" in ok.stdout
    assert again.returncode == 2 and "already exists" in again.stderr
    assert bad.returncode == 2
    assert "password" in bad.stderr and "role" in bad.stderr and "unit" in bad.stderr


def test_the_console_creates_the_first_administrators_without_a_second_approval(tmp_path: Path) -> None:
    """The bootstrap: the API asks a second administrator for an elevated role; the console cannot."""
    first, second = (
        run(
            "users",
            "create",
            "--username",
            name,
            "--password",
            "First-Admin 2026 管理",
            "--role",
            "admin",
            "--unit",
            "320583",
            tmp_path=tmp_path,
        )
        for name in ("first.admin", "second.admin")
    )

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "created user second.admin (id 2, admin at 320583)" in second.stdout


def test_machine_token_is_printed_once_for_an_existing_user(tmp_path: Path) -> None:
    run(
        "users",
        "create",
        "--username",
        "court.system",
        "--password",
        "long-enough-1",
        "--role",
        "court_clerk",
        "--unit",
        "COURT-320583-DESK",
        tmp_path=tmp_path,
    )

    issued = run(
        "tokens", "create", "--username", "court.system", "--name", "court-system", tmp_path=tmp_path
    )
    unknown = run("tokens", "create", "--username", "nobody", "--name", "x", tmp_path=tmp_path)

    assert issued.returncode == 0, issued.stderr
    assert issued.stdout.strip().startswith("jf_")
    assert unknown.returncode == 2


def test_units_import_adds_villages_idempotently(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    csv = tmp_path / "division.csv"
    csv.write_text(
        "code,name,parent_code\n320583106990,试验社区居委会,320583106\n320583106005,大市社区居委会,320583106\nbad,坏行,320583106\n",
        encoding="utf-8",
    )

    first = run("units", "import", str(csv), tmp_path=tmp_path, config_dir=config)
    second = run("units", "import", str(csv), tmp_path=tmp_path, config_dir=config)
    check = run("config", "check", tmp_path=tmp_path, config_dir=config)

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("added 1, skipped 1, rejected 1")
    assert second.stdout.startswith("added 0, skipped 2, rejected 1")
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("command", [["diagram"], ["--help"]])
def test_informational_commands_run(command: list[str], tmp_path: Path) -> None:
    result = run(*command, tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout


def test_migrate_seals_personal_data_left_in_clear(tmp_path: Path) -> None:
    import sqlite3

    assert run("seed-demo", "--cases", "2", tmp_path=tmp_path).returncode == 0
    db = sqlite3.connect(tmp_path / "data" / "jiefen.db")
    db.execute("UPDATE party SET phone = '13800001234' WHERE id = 1")
    db.commit()

    result = run("migrate", tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr
    (phone,) = db.execute("SELECT phone FROM party WHERE id = 1").fetchone()
    db.close()
    assert phone.startswith("v1:") and "13800001234" not in phone


def test_audit_verify_only_reads_and_says_when_there_is_nothing_to_check(tmp_path: Path) -> None:
    """verify is what an operator runs after a restore: it must not create, migrate or call an
    empty or wrong database intact."""
    import sqlite3

    missing = run("audit", "verify", tmp_path=tmp_path)
    assert missing.returncode == 2 and "No database at" in missing.stderr, missing
    assert not (tmp_path / "data" / "jiefen.db").exists()

    (tmp_path / "data").mkdir()
    sqlite3.connect(tmp_path / "data" / "jiefen.db").close()  # a file, but no schema in it
    empty = run("audit", "verify", tmp_path=tmp_path)
    assert empty.returncode == 2 and "No Jiefen schema" in empty.stderr, empty
    with sqlite3.connect(tmp_path / "data" / "jiefen.db") as db:
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)  # left as found

    assert run("migrate", tmp_path=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "data" / "jiefen.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0005_privacy'")
    old = run("audit", "verify", tmp_path=tmp_path)
    assert old.returncode == 2 and "jiefen migrate" in old.stderr, old
    with sqlite3.connect(tmp_path / "data" / "jiefen.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == ("0005_privacy",)

    with sqlite3.connect(tmp_path / "data" / "jiefen.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0042_from_the_future'")
    newer = run("audit", "verify", tmp_path=tmp_path)
    assert newer.returncode == 2 and "newer than this version" in newer.stderr, newer

    from service.migrate import head

    with sqlite3.connect(tmp_path / "data" / "jiefen.db") as db:
        db.execute("UPDATE alembic_version SET version_num = ?", (head(),))
    current = run("audit", "verify", tmp_path=tmp_path)
    assert current.returncode == 0 and current.stdout.startswith("intact: 0 case events"), current


def test_a_data_key_that_cannot_open_stored_data_is_refused_and_a_rotation_works_as_documented(
    tmp_path: Path,
) -> None:
    """The README's rotation, step by step, and the mistakes around it: a wrong key, a ring that
    names two keys alike, and dropping the old key before re-encrypting."""
    first = run("privacy", "new-key", tmp_path=tmp_path).stdout.strip()
    assert first.startswith("k1:")
    old = {"JIEFEN_DATA_KEY": first}
    seeded = run("seed-demo", "--cases", "5", tmp_path=tmp_path, env=old)
    assert seeded.returncode == 0, seeded.stderr

    second = run("privacy", "new-key", tmp_path=tmp_path, env=old).stdout.strip()
    assert second.startswith("k2:")  # numbered after the ring in use
    wrong = run("migrate", tmp_path=tmp_path, env={"JIEFEN_DATA_KEY": second})
    assert wrong.returncode == 2 and "cannot open the personal data already stored" in wrong.stderr, wrong
    assert "no key 'k1'" in wrong.stderr and "Traceback" not in wrong.stderr
    another_k1 = run("serve", tmp_path=tmp_path, env={"JIEFEN_DATA_KEY": "k1:" + second.split(":", 1)[1]})
    assert another_k1.returncode == 2, another_k1  # refused before it listens
    assert "does not verify under key 'k1'" in another_k1.stderr and "Traceback" not in another_k1.stderr

    same_id = "k1:" + second.split(":", 1)[1] + "," + first
    twice = run("privacy", "rotate-key", tmp_path=tmp_path, env={"JIEFEN_DATA_KEY": same_id})
    assert twice.returncode == 2 and "appears twice" in twice.stderr, twice

    rotating = {"JIEFEN_DATA_KEY": f"{second},{first}"}
    rotated = run("privacy", "rotate-key", tmp_path=tmp_path, env=rotating)
    assert rotated.returncode == 0, rotated.stderr
    assert " mediators and " in rotated.stdout, rotated.stdout  # the roster's sealed numbers too
    assert (
        run("migrate", tmp_path=tmp_path, env={"JIEFEN_DATA_KEY": second}).returncode == 0
    )  # old key retired
    dropped = run("migrate", tmp_path=tmp_path, env=old)
    assert dropped.returncode == 2 and "no key 'k2'" in dropped.stderr, dropped


def test_privacy_export_writes_a_new_private_file_and_never_through_a_link_or_over_a_file(
    tmp_path: Path,
) -> None:
    import json
    import sqlite3
    import stat

    assert run("seed-demo", "--cases", "2", tmp_path=tmp_path).returncode == 0
    export = ["privacy", "export", "--id-number", "320583198001011234", "--output"]
    output = tmp_path / "export.json"
    kept = tmp_path / "kept.txt"
    kept.write_text("not to be overwritten", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(kept)
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "planted.json")

    written = run(*export, str(output), tmp_path=tmp_path)
    again = run(*export, str(output), tmp_path=tmp_path)
    through_link = run(*export, str(link), tmp_path=tmp_path)
    through_dangling = run(*export, str(dangling), tmp_path=tmp_path)

    assert written.returncode == 0, written.stderr
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert "records" in json.loads(output.read_text(encoding="utf-8"))
    for refused in (again, through_link, through_dangling):
        assert refused.returncode == 2
        assert "already exists (or is a symbolic link)" in refused.stderr
    assert kept.read_text(encoding="utf-8") == "not to be overwritten"
    assert not (tmp_path / "planted.json").exists()
    db = sqlite3.connect(tmp_path / "data" / "jiefen.db")
    (exports,) = db.execute("SELECT count(*) FROM security_event WHERE kind = 'privacy_export'").fetchone()
    db.close()
    assert exports == 1  # a refused path exported (and recorded) nothing


def test_machine_tokens_expire_by_default_and_never_past_the_longest_lifetime(tmp_path: Path) -> None:
    assert run("seed-demo", "--cases", "0", tmp_path=tmp_path).returncode == 0

    default = run(
        "tokens", "create", "--username", "court.clerk", "--name", "court-system", tmp_path=tmp_path
    )
    longer = run(
        "tokens", "create", "--username", "court.clerk", "--name", "x", "--days", "366", tmp_path=tmp_path
    )

    assert default.returncode == 0, default.stderr
    assert default.stdout.strip().startswith("jf_") and "expires 20" in default.stderr
    assert longer.returncode == 2
    assert "at most 365 days" in longer.stderr
