"""Reading ``config/case_file.yaml`` at start-up: every problem named by the file and its key path."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from service.config.loading import ConfigError, ConfigProblem, read_yaml
from workflows.case_file import CaseFileRules


def load_case_file_rules(path: Path) -> CaseFileRules:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(path.name, "", "expected a mapping of settings")])
    try:
        return CaseFileRules.model_validate(data)
    except ValidationError as exc:
        problems = [
            ConfigProblem(path.name, ".".join(str(part) for part in error["loc"]), error["msg"])
            for error in exc.errors()
        ]
        raise ConfigError(problems) from None
