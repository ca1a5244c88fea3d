"""Webhook subscriptions as configuration (``config/webhooks.yaml``), secrets from the environment,
and the rules for where a webhook may be sent at all (for subscriptions made here and by the API).

Start-up mirrors them into the subscription table with ``service.notifications.sync``.

Where a webhook may go: a webhook is a request the service makes on an administrator's behalf, so
a target inside the service's own network (the metadata endpoint at 169.254.169.254, PostgreSQL
on 127.0.0.1:5432, an intranet admin page) would turn it into a probe of that network. A target
must be ``https``, plain ``http`` only for hosts in ``JIEFEN_WEBHOOK_HTTP_HOSTS``; it may carry no
user name or password; and its host must be, or resolve to, public addresses only: no loopback,
private, shared, link-local, multicast, reserved or unspecified address, in IPv4 or IPv6, also
when written as an integer (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``), as an
IPv4-mapped, 6to4 or NAT64 IPv6 address, or as ``localhost``. A deployment whose receiver really
is internal lists that host in ``JIEFEN_WEBHOOK_INTERNAL_HOSTS``. The checks here need no
network; ``service.notifications.transport`` resolves the name, checks every address it gets, and
connects to the address it checked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from pathlib import Path
from urllib.parse import urlsplit

from service.config.loading import ConfigError, ConfigProblem, read_yaml
from service.config.settings import Settings, parse_hosts
from workflows.org import OrgTree

IPAddress = IPv4Address | IPv6Address

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,80}$")
KEYS = {"unit", "url", "secret_env"}


@dataclass(frozen=True)
class ConfiguredWebhook:
    unit_code: str
    url: str
    secret: str


class UnsafeTarget(ValueError):
    """A webhook URL, or an address its host resolves to, that the service will not post to."""


@dataclass(frozen=True)
class TargetPolicy:
    """Which hosts are exempt from the https rule and from the public-address rule."""

    http_hosts: frozenset[str] = frozenset()
    internal_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        return cls(parse_hosts(settings.webhook_http_hosts), parse_hosts(settings.webhook_internal_hosts))


@dataclass(frozen=True)
class Target:
    """A webhook URL that passed the checks that need no network."""

    scheme: str
    host: str  # lower case, no trailing dot, IPv6 without brackets
    port: int
    address: IPAddress | None  # the host written as an address (in any of its spellings)
    internal_allowed: bool  # the host is in JIEFEN_WEBHOOK_INTERNAL_HOSTS


# NAT64's well-known prefix carries an IPv4 address in its last 32 bits (RFC 6052).
NAT64 = IPv6Network("64:ff9b::/96")


def forbidden_reason(address: IPAddress) -> str | None:
    """Why the service must not connect to ``address`` (None: a public address)."""
    if isinstance(address, IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and (reason := forbidden_reason(embedded)) is not None:
            return f"{reason} (as {embedded})"
    for reason, applies in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),  # e.g. 100.64.0.0/10, carrier-grade NAT
    ):
        if applies:
            return reason
    return None


def numeric_ipv4(host: str) -> IPv4Address | None:
    """An IPv4 address however it is spelled, as resolvers and browsers read it (WHATWG URL
    "IPv4 parser"): ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` and ``127.1`` are all
    127.0.0.1. None when ``host`` is not such a number (a name)."""
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        digits, base = part, 10
        if part[:2] in ("0x", "0X"):
            digits, base = part[2:], 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        if digits == "":
            if base != 16:
                return None
            digits = "0"
        try:
            numbers.append(int(digits, base))
        except ValueError:
            return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return IPv4Address(value)


def check_target(url: str, policy: TargetPolicy) -> Target:
    """The checks on a webhook URL that need no network; raises UnsafeTarget saying which rule."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    raw_host = (parts.hostname or "").rstrip(".")
    if scheme not in ("http", "https") or not raw_host:
        raise UnsafeTarget("not an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget(
            "a user name or password in the URL would be shown in every listing: "
            "the receiver verifies X-Jiefen-Signature instead"
        )
    host = raw_host.lower()
    if scheme == "http" and host not in policy.http_hosts:
        raise UnsafeTarget(
            f"use https: plain http is only for hosts listed in JIEFEN_WEBHOOK_HTTP_HOSTS, and {host} is not"
        )
    internal_allowed = host in policy.internal_hosts
    address: IPAddress | None
    try:
        address = ip_address(host)
    except ValueError:
        address = numeric_ipv4(host)
    if not internal_allowed:
        if host == "localhost" or host.endswith(".localhost"):
            raise UnsafeTarget(f"{host} is this machine (a loopback name)")
        if address is not None and (reason := forbidden_reason(address)) is not None:
            raise UnsafeTarget(
                f"{host} is a {reason} address; list it in JIEFEN_WEBHOOK_INTERNAL_HOSTS if this "
                "internal receiver is intended"
            )
    default_port = 443 if scheme == "https" else 80
    return Target(scheme, host, port or default_port, address, internal_allowed)


def check_addresses(target: Target, addresses: list[IPAddress]) -> None:
    """Every address the host resolved to must be public (one bad answer is enough to refuse:
    the connection might go to any of them)."""
    if not addresses:
        raise UnsafeTarget(f"{target.host} resolves to no address")
    if target.internal_allowed:
        return
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is not None:
            raise UnsafeTarget(
                f"{target.host} resolves to {address}, a {reason} address; list the host in "
                "JIEFEN_WEBHOOK_INTERNAL_HOSTS if this internal receiver is intended"
            )


def load_webhooks(
    path: Path,
    org: OrgTree,
    environ: Mapping[str, str] | None = None,
    policy: TargetPolicy | None = None,
) -> list[ConfiguredWebhook]:
    """The configured subscriptions; a missing file means none. Every problem names file and key.
    A URL must pass ``check_target`` (its DNS answers are checked at every delivery)."""
    if not path.exists():
        return []
    env = os.environ if environ is None else environ
    data = read_yaml(path)
    file = str(path)
    problems: list[ConfigProblem] = []
    entries = data.get("subscriptions") if isinstance(data, dict) else None
    if not isinstance(data, dict) or set(data) - {"subscriptions"} or not isinstance(entries, list):
        raise ConfigError([ConfigProblem(file, "subscriptions", "expected a top-level list 'subscriptions'")])
    found: list[ConfiguredWebhook] = []
    for index, entry in enumerate(entries):
        key = f"subscriptions[{index}]"
        if not isinstance(entry, dict):
            problems.append(ConfigProblem(file, key, "expected a mapping with unit, url, secret_env"))
            continue
        for unknown in sorted(set(map(str, entry)) - KEYS):
            problems.append(
                ConfigProblem(file, f"{key}.{unknown}", "unknown key; allowed: unit, url, secret_env")
            )
        unit, url, secret_env = (str(entry.get(k, "")) for k in ("unit", "url", "secret_env"))
        if unit not in org:
            problems.append(ConfigProblem(file, f"{key}.unit", f"no unit with code {unit!r}"))
        try:
            check_target(url, policy or TargetPolicy())
        except UnsafeTarget as exc:
            problems.append(ConfigProblem(file, f"{key}.url", f"{url!r}: {exc}"))
        if not ENV_NAME.match(secret_env):
            problems.append(
                ConfigProblem(
                    file, f"{key}.secret_env", "name an environment variable, e.g. JIEFEN_WEBHOOK_SECRET_X"
                )
            )
        elif len(env.get(secret_env, "")) < 16:
            problems.append(
                ConfigProblem(
                    file,
                    f"{key}.secret_env",
                    f"environment variable {secret_env} is unset or shorter than 16 characters",
                )
            )
        else:
            found.append(ConfiguredWebhook(unit, url, env[secret_env]))
    if problems:
        raise ConfigError(problems)
    return found
