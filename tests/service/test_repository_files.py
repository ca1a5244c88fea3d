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


def test_compose_recipe_puts_the_replicas_behind_a_proxy_with_one_scheduler() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    api, proxy = services["api"], services["proxy"]

    assert "pgdata" in compose["volumes"]
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert services["postgres"]["healthcheck"]["test"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "ports" not in api, "the replicas are reached through the proxy only"
    assert api["environment"]["FORWARDED_ALLOW_IPS"]
    assert services["scheduler"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "replicas" not in services["scheduler"].get("deploy", {})
    assert proxy["image"].startswith("nginx:")
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert proxy["ports"] and proxy["depends_on"]["api"]["condition"] == "service_healthy"
    for name in ("migrate", "api", "scheduler"):
        environment = services[name]["environment"]
        assert environment["JIEFEN_LOG_FORMAT"] == "json"
        assert environment["JIEFEN_DATABASE_URL"].startswith("postgresql+asyncpg://")


def test_proxy_config_round_robins_passes_request_ids_and_limits_bodies() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    directives = {line.strip().rstrip(";") for line in conf.splitlines() if not line.strip().startswith("#")}

    assert "server api:8000 resolve" in directives
    assert "proxy_pass http://jiefen_api" in directives
    assert "proxy_set_header X-Request-ID $jiefen_request_id" in directives
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for" in directives
    assert "client_max_body_size 1m" in directives
    next_upstream = next(d for d in directives if d.startswith("proxy_next_upstream "))
    assert "non_idempotent" not in next_upstream  # a POST is never sent twice by the proxy
    assert conf.count("{") == conf.count("}")


def test_env_example_documents_every_setting() -> None:
    from service.config.settings import Settings

    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"JIEFEN_{name.upper()}=" not in example]

    assert not missing, f"document these in .env.example: {missing}"
