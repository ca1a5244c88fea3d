"""Load the deadline policies (``config/deadlines.yaml``) and report problems as ``ConfigError``.

The policies themselves are parsed and validated in ``workflows.deadlines`` (pure, no I/O); this
module only reads the file and puts the file name on each problem so start-up can list them all.
"""

from __future__ import annotations

from pathlib import Path

from service.config.loading import ConfigError, ConfigProblem, read_yaml
from workflows.deadlines import PolicyError, PolicySet, parse_policies


def load_deadlines(path: Path) -> PolicySet:
    """Read and validate the deadline policies, raising ``ConfigError`` with every problem found."""
    data = read_yaml(path)
    try:
        return parse_policies(data, str(path))
    except PolicyError as error:
        raise ConfigError(
            [ConfigProblem(file=str(path), key=key, message=message) for key, message in error.problems]
        ) from error
