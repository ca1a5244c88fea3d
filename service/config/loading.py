"""Problems found in configuration files, and reading YAML so that every problem names its place.

Every loader under ``config/`` (units, triage, deadlines, ...) reports *all* problems it finds as
one ``ConfigError``, each naming the file, the key path and what is wrong, so a policy owner can
fix a file in one pass instead of one start-up failure at a time.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    key: str  # key path such as ``units[12].parent``; empty for a problem with the whole file
    message: str

    def __str__(self) -> str:
        if not self.key:
            return f"{self.file}: {self.message}"
        return f"{self.file}: {self.key}: {self.message}"


class ConfigError(Exception):
    """One or more configuration problems, reported together."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate mapping keys.

    Plain PyYAML keeps the last of two ``parent:`` lines without a word, which would silently
    route a village's cases to the wrong town.
    """

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, object]:
        seen: dict[object, int] = {}
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r} (first on line {seen[key] + 1})",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


class InvalidYamlValue(ConfigError, ValueError):
    """A value YAML could parse but not build, such as the date 2027-02-30."""


def read_yaml(path: Path) -> object:
    """Parse one YAML file; a missing, unreadable or malformed file raises ``ConfigError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(path), "", "file not found")]) from None
    except UnicodeDecodeError as error:
        message = f"not UTF-8 text (byte {error.start})"
        raise ConfigError([ConfigProblem(str(path), "", message)]) from None
    except OSError as error:
        raise ConfigError([ConfigProblem(str(path), "", f"cannot read: {error.strerror}")]) from None
    try:
        # _StrictLoader derives from SafeLoader, so this is as safe as yaml.safe_load.
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        raise ConfigError([ConfigProblem(str(path), "", _describe_syntax_error(error))]) from None
    except yaml.YAMLError as error:
        raise ConfigError([ConfigProblem(str(path), "", f"YAML error: {error}")]) from None
    except ValueError as error:
        # PyYAML builds dates while parsing: an impossible one (2027-02-30) surfaces here,
        # without a position. A loader that can do better catches it as a ValueError.
        raise InvalidYamlValue([ConfigProblem(str(path), "", f"invalid value: {error}")]) from None


def _describe_syntax_error(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    what = " ".join(part for part in (error.context, error.problem) if part) or "invalid YAML"
    if mark is None:
        return f"YAML syntax error: {what}"
    # PyYAML counts lines and columns from zero; editors count from one.
    return f"YAML syntax error at line {mark.line + 1}, column {mark.column + 1}: {what}"
