"""Reading ``config/screening.yaml`` (the screening register's local practice): every problem named
by the file and its key path. Loaded once per path: the sweep and the routes read it through
``screening_policy``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import ValidationError

from service.config.loading import ConfigError, ConfigProblem, read_yaml
from workflows.screening import ScreeningPolicy


def load_screening_policy(path: Path) -> ScreeningPolicy:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(path.name, "", "expected a mapping of settings")])
    try:
        return ScreeningPolicy.model_validate(data)
    except ValidationError as exc:
        problems = [
            ConfigProblem(path.name, ".".join(str(part) for part in error["loc"]), error["msg"])
            for error in exc.errors()
        ]
        raise ConfigError(problems) from None


@cache
def screening_policy(config_dir: Path) -> ScreeningPolicy:
    """The policy of ``config_dir`` (validated at start-up by create_app, so it loads here)."""
    return load_screening_policy(config_dir / "screening.yaml")
