"""Reading ``config/numbering.yaml`` at start-up: every problem named by the file and its key path."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from service.config.loading import ConfigError, ConfigProblem, read_yaml
from workflows.numbering import NumberingConfig, unknown_units
from workflows.org import OrgTree


def load_numbering(path: Path, org: OrgTree) -> NumberingConfig:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(path.name, "", "expected a mapping of settings")])
    try:
        config = NumberingConfig.model_validate(data)
    except ValidationError as exc:
        problems = [
            ConfigProblem(path.name, ".".join(str(part) for part in error["loc"]), error["msg"])
            for error in exc.errors()
        ]
        raise ConfigError(problems) from None
    unknown = unknown_units(config, org)
    if unknown:
        raise ConfigError(
            [
                ConfigProblem(path.name, f"units.{code}", "no unit with this code in config/units")
                for code in unknown
            ]
        )
    return config
