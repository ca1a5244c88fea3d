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
    assert "FORWARDED_ALLOW_IPS" not in api["environment"], "the app decides whom to trust, not uvicorn"
    assert services["scheduler"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "replicas" not in services["scheduler"].get("deploy", {})
    assert proxy["image"].startswith("nginx:")
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"
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
    assert "proxy_set_header X-Forwarded-For $remote_addr" in directives  # replaced, never appended
    assert not any("proxy_add_x_forwarded_for" in d for d in directives)
    assert "proxy_set_header X-Forwarded-Proto $scheme" in directives
    assert "client_max_body_size 1m" in directives
    next_upstream = next(d for d in directives if d.startswith("proxy_next_upstream "))
    assert "non_idempotent" not in next_upstream  # a POST is never sent twice by the proxy
    assert conf.count("{") == conf.count("}")


def test_compose_recipe_trusts_the_proxy_network_only_and_serves_tls() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services, networks = compose["services"], compose["networks"]
    api, proxy = services["api"], services["proxy"]

    subnet = networks["edge"]["ipam"]["config"][0]["subnet"]
    assert api["environment"]["JIEFEN_TRUSTED_PROXIES"] == subnet == "${JIEFEN_PROXY_SUBNET:-172.30.80.0/24}"
    # Only the proxy and the replicas are on that network.
    assert sorted(name for name, s in services.items() if "edge" in s.get("networks", [])) == ["api", "proxy"]
    assert api["environment"]["JIEFEN_SECURE_COOKIES"] == "true"
    assert int(api["environment"]["JIEFEN_KEEP_ALIVE_SECONDS"]) > 60  # nginx's upstream keepalive_timeout
    assert proxy["ports"] == ["${JIEFEN_HTTP_PORT:-80}:80", "${JIEFEN_HTTPS_PORT:-443}:443"]
    mounts = {volume.rsplit(":", 2)[1]: volume.split(":/")[0] for volume in proxy["volumes"]}
    assert mounts["/etc/nginx/tls/cert.pem"].startswith("${JIEFEN_TLS_CERT:?")
    assert mounts["/etc/nginx/tls/key.pem"].startswith("${JIEFEN_TLS_KEY:?")
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert "JIEFEN_TLS_CERT=" in example and "JIEFEN_TLS_KEY=" in example


def test_proxy_config_terminates_tls_redirects_http_sends_hsts_and_cuts_off_slow_clients() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    directives = {line.strip().rstrip(";") for line in conf.splitlines() if not line.strip().startswith("#")}

    assert "listen 443 ssl default_server" in directives
    assert "ssl_certificate /etc/nginx/tls/cert.pem" in directives
    assert "ssl_certificate_key /etc/nginx/tls/key.pem" in directives
    assert "ssl_protocols TLSv1.2 TLSv1.3" in directives
    assert "return 308 https://$host$request_uri" in directives
    assert 'add_header Strict-Transport-Security "max-age=31536000" always' in directives
    for timeout in ("client_header_timeout 10s", "client_body_timeout 10s", "send_timeout 30s"):
        assert timeout in directives
    # The plain-HTTP server does nothing but redirect: no proxy_pass before the TLS server.
    plain = conf.split("listen 80 default_server")[1].split("listen 443")[0]
    assert "proxy_pass" not in plain


def test_env_example_documents_every_setting() -> None:
    from service.config.settings import Settings

    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"JIEFEN_{name.upper()}=" not in example]

    assert not missing, f"document these in .env.example: {missing}"
