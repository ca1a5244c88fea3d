"""Load the graded-triage rules (``config/triage.yaml``) and report problems as ``ConfigError``.

The rules themselves are parsed and validated in ``workflows.triage`` (pure, no I/O); this module
only reads the file and puts the file name on each problem so start-up can list them all.
"""

from __future__ import annotations

from pathlib import Path

from service.config.loading import ConfigError, ConfigProblem, read_yaml
from workflows.triage import RuleError, RuleSet, parse_rules


def load_triage(path: Path) -> RuleSet:
    """Read and validate the triage rules, raising ``ConfigError`` with every problem found."""
    data = read_yaml(path)
    try:
        return parse_rules(data, str(path))
    except RuleError as error:
        raise ConfigError(
            [ConfigProblem(file=str(path), key=key, message=message) for key, message in error.problems]
        ) from error
