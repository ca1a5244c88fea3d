"""One place for configuration: environment variables prefixed JIEFEN_."""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]  # service/config/settings.py → the repository


IPNetwork = IPv4Network | IPv6Network


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"172.28.80.0/24, 10.0.0.5"`` → networks (a bare address is a /32 or /128)."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network") from exc
    return tuple(networks)


def parse_hosts(text: str) -> frozenset[str]:
    """``"hooks.intranet, 10.1.2.3"`` → lower-case host names (IPv6 literals without brackets)."""
    hosts = set()
    for entry in (part.strip().lower() for part in text.split(",")):
        if not entry:
            continue
        host = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
        if not host or any(c in host for c in "/@?# ") or host.count(":") == 1:
            raise ValueError(f"{entry!r} is not a host name or IP address (no scheme, port or path)")
        hosts.add(host)
    return frozenset(hosts)


def _default_data_dir() -> Path:
    return REPO_ROOT / "var"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIEFEN_", env_file=None, extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default is an SQLite file under data_dir",
    )
    reporting_database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL of a read-only copy (a PostgreSQL streaming replica) that "
        "statistics, reports and their exports read from, off the primary; default: the primary",
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    config_dir: Path = REPO_ROOT / "config"
    token_ttl_hours: float = Field(default=12.0, gt=0)
    seed_demo: bool | None = Field(
        default=None,
        description="seed demo users and cases into an empty database; default: only on the SQLite default",
    )
    demo_cases: int = Field(default=300, ge=0)
    demo_password: str = "jiefen2026"
    max_page_size: int = 200
    data_key: str | None = Field(
        default=None,
        repr=False,
        description="key ring for personal data: 'kid:base64,…' (first encrypts) or one base64 AES-256 key",
    )
    data_key_file: Path | None = Field(default=None, description="a file holding the key ring instead")
    audit_key: str | None = Field(
        default=None,
        repr=False,
        description="base64 key (32 bytes or more) that signs the audit trail; keep it outside the "
        "database and its backups (generate one with `jiefen audit new-key`)",
    )
    audit_key_file: Path | None = Field(default=None, description="a file holding the audit key instead")
    audit_checkpoint_dir: Path | None = Field(
        default=None,
        description="where signed checkpoints of the whole audit trail are written (a directory on "
        "other storage than the database: a log server's mount, write-once storage); unset: none",
    )
    audit_checkpoint_minutes: float = Field(
        default=60.0, gt=0, description="how often a checkpoint is written"
    )
    audit_checkpoint_settle_seconds: float = Field(
        default=300.0,
        ge=0,
        description="a checkpoint covers the events older than this, so that every one of them has committed",
    )
    run_scheduler: bool = Field(
        default=True, description="run the sweep and webhook delivery in the API process"
    )
    sweep_interval_seconds: float = Field(default=30.0, gt=0)
    delivery_interval_seconds: float = Field(default=5.0, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=12, ge=1)
    court_lease_minutes: float = Field(
        default=30.0, gt=0, description="a claimed court case returns to the queue if nothing is recorded"
    )
    filing_city_allows_missing_towns: bool = Field(
        default=False,
        description="the city may file its consolidated month while a town has not filed (off: 409 naming the towns)",
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        description="PostgreSQL connections each API process opens and keeps (the engine's pool)",
    )
    idempotency_key_hours: float = Field(
        default=24.0,
        gt=0,
        description="how long a create's Idempotency-Key is remembered; the sweep forgets older ones",
    )
    request_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="requests one API process works on at once; the rest wait their turn in arrival "
        "order (default: JIEFEN_DB_POOL_SIZE, so each admitted request finds a connection free)",
    )
    token_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="how long a replica trusts a token it resolved; a revocation reaches the other "
        "replicas within this (0: ask the database on every request)",
    )
    signin_max_failures: int = Field(
        default=5,
        ge=1,
        description="failed sign-ins for one username from one client address before that pair must "
        "wait (JIEFEN_SIGNIN_BACKOFF_SECONDS, doubling with each further failure)",
    )
    signin_max_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="failed sign-ins from one client address, whatever the usernames, within the "
        "window before the address locks (higher than per username: a town centre's desks may share "
        "one address)",
    )
    signin_window_minutes: float = Field(
        default=15.0, gt=0, description="failures older than this (or this long quiet) are forgotten"
    )
    signin_lockout_minutes: float = Field(
        default=15.0,
        gt=0,
        description="how long an address or account lockout lasts, and the longest back-off wait",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1, description="larger request bodies are refused with 413 before being read"
    )
    # --- attachments (issue 19) ---
    attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="largest file (signed scan, ID copy, evidence) accepted on a case; larger ones get "
        "413 and are not read further (docs/attachments.md says why 10 MB)",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for a terminal; json: one object per line, for log collectors"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = Field(default=True, description="one log line per request (method, route, status, ms)")
    metrics_enabled: bool = Field(default=True, description="serve Prometheus metrics at /metrics")
    metrics_cache_seconds: float = Field(
        default=15.0, ge=0, description="how long the database-derived gauges are reused between scrapes"
    )
    scheduler_metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="`jiefen scheduler` serves its metrics here (0: off)"
    )
    # --- trusted proxies, webhook targets, transport (issue 16) ---
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses or CIDRs of the reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; empty: the connecting peer is the client",
    )
    webhook_http_hosts: str = Field(
        default="",
        description="comma-separated webhook hosts that may be sent plain HTTP (every other target must be https)",
    )
    webhook_internal_hosts: str = Field(
        default="",
        description="comma-separated webhook hosts allowed to resolve to private, loopback or link-local "
        "addresses (an intranet receiver); every other target must resolve to public addresses only",
    )
    secure_cookies: bool = Field(
        default=False,
        description="mark the sign-in cookie Secure even when the request arrived over plain HTTP "
        "(a TLS proxy in front); it is Secure on HTTPS requests anyway",
    )
    keep_alive_seconds: int = Field(
        default=5,
        ge=1,
        description="`jiefen serve` closes an idle keep-alive connection after this long; behind a proxy, "
        "longer than the proxy's upstream keepalive_timeout",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        parse_networks(value)  # raises ValueError naming the entry
        return value

    @field_validator("webhook_http_hosts", "webhook_internal_hosts")
    @classmethod
    def _valid_hosts(cls, value: str) -> str:
        parse_hosts(value)
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    # --- auditor alerts (service.audit.alerts) ---
    alert_office_opens: time = Field(
        default=time(8, 30),
        description="a reveal of personal data before this (Kunshan time), or on a day off of the "
        "business calendar, alerts the auditors",
    )
    alert_office_closes: time = Field(
        default=time(17, 30), description="a reveal at or after this (Kunshan time) alerts the auditors"
    )
    alert_reveals_per_day: int = Field(
        default=20,
        ge=1,
        description="more reveals than this by one person in one day alert the auditors (once a day)",
    )

    @model_validator(mode="after")
    def _office_hours_in_order(self) -> Self:
        if self.alert_office_opens.tzinfo is not None or self.alert_office_closes.tzinfo is not None:
            raise ValueError("JIEFEN_ALERT_OFFICE_OPENS/CLOSES are Kunshan wall-clock times: no zone")
        if not self.alert_office_opens < self.alert_office_closes:
            raise ValueError("JIEFEN_ALERT_OFFICE_OPENS must be before JIEFEN_ALERT_OFFICE_CLOSES")
        return self

    # --- sign-in hardening: throttling, passwords, hashing, machine tokens ---
    signin_backoff_seconds: float = Field(
        default=30.0,
        gt=0,
        description="the first wait of a (username, address) pair past JIEFEN_SIGNIN_MAX_FAILURES; "
        "doubles with each further failure, up to JIEFEN_SIGNIN_LOCKOUT_MINUTES",
    )
    signin_max_failures_per_account: int = Field(
        default=100,
        ge=1,
        description="failed sign-ins for one username from all addresses together within the window "
        "before the account locks (an administrator can unlock it)",
    )
    password_min_score: int = Field(
        default=3,
        ge=0,
        le=4,
        description="the least strength (zxcvbn's score, 0-4) a new password must have",
    )
    password_hash_threads: int = Field(
        default=2,
        ge=1,
        description="password hashes (argon2) computed at once, each in a worker thread off the event "
        "loop; more sign-ins wait their turn",
    )
    machine_token_days: int = Field(
        default=90, ge=1, description="lifetime of a machine token when `jiefen tokens create` gets no --days"
    )
    machine_token_max_days: int = Field(
        default=365, ge=1, description="the longest lifetime a machine token may be given"
    )
    # --- the duty to report a risk of crime (人民调解法 art. 25) ---
    crime_report_ack_hours: int = Field(
        default=24,
        ge=1,
        description="hours after which a report of a risk of crime that its receiving unit (the 派出所, "
        "the 司法所) has not acknowledged is overdue, listed for the coordinators and told once to the "
        "reporting unit's coordinators by the sweep; local policy, the law sets no time for it",
    )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'jiefen.db'}"

    @property
    def is_default_database(self) -> bool:
        return not self.database_url

    @property
    def should_seed_demo(self) -> bool:
        return self.is_default_database if self.seed_demo is None else self.seed_demo


@lru_cache
def get_settings() -> Settings:
    return Settings()
