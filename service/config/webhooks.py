"""Webhook subscriptions as configuration (``config/webhooks.yaml``), secrets from the environment.

Start-up mirrors them into the subscription table with ``service.notifications.sync``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from service.config.loading import ConfigError, ConfigProblem, read_yaml
from workflows.org import OrgTree

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,80}$")
KEYS = {"unit", "url", "secret_env"}


@dataclass(frozen=True)
class ConfiguredWebhook:
    unit_code: str
    url: str
    secret: str


def load_webhooks(
    path: Path, org: OrgTree, environ: Mapping[str, str] | None = None
) -> list[ConfiguredWebhook]:
    """The configured subscriptions; a missing file means none. Every problem names file and key."""
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
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            problems.append(ConfigProblem(file, f"{key}.url", f"not an http(s) URL: {url!r}"))
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
