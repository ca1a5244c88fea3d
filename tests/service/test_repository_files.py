"""Files a newcomer relies on stay true: the README diagram and the deployment recipe."""

from __future__ import annotations

from pathlib import Path

import yaml

from service.cli import readme_with_diagram
from workflows.lifecycle import mermaid_diagram

ROOT = Path(__file__).resolve().parents[2]


def test_readme_lifecycle_diagram_is_generated_from_the_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert readme_with_diagram(readme, mermaid_diagram()) == readme, (
        "README diagram is stale: run `jiefen diagram --readme README.md`"
    )


def test_readme_opens_with_the_two_setup_commands() -> None:
    blocks = (ROOT / "README.md").read_text(encoding="utf-8").split("```bash\n")[1:3]
    commands = [block.split("\n```")[0].strip() for block in blocks]

    assert commands[0].endswith("jiefen serve")
    assert commands[1] == "./scripts/test"
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_compose_recipe_has_postgres_a_one_shot_migration_and_two_api_replicas() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]

    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["migrate"]["command"] == ["jiefen", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["environment"]["JIEFEN_RUN_SCHEDULER"] == "false"
    assert services["scheduler"]["command"] == ["jiefen", "scheduler"]
