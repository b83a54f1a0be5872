"""YAML settings files: read with the line of every key, and errors told where the user wrote
the key, in plain words.

`fgit run` and `fgit train --config` read their files here. A YAML syntax error is one line,
``FILE:LINE: not valid YAML: <yaml's problem>``, with yaml's own mark (never past the end of
the file). A setting that fails validation is ``FILE:LINE: dotted.path: what is wrong``, with
a did-you-mean for an unknown key. The lines come from the composed node tree (``yaml.compose``'s
steps): every mapping key and sequence item keeps its start mark.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from fgit.errors import FgitError

__all__ = [
    "ConfigError",
    "ConfigSource",
    "Issue",
    "config_error",
    "issues_from",
    "parse_settings",
    "read_settings",
]

KeyPath = tuple[str | int, ...]


class ConfigError(FgitError, ValueError):
    """A config file or option that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class ConfigSource:
    """Where settings came from: ``name`` (the file, as given), the 1-based line of each key
    path in it, and the settings given on top of it (``--set``, options), which errors name as
    ``overrides_label`` instead of a line."""

    name: str
    lines: Mapping[KeyPath, int] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    overrides_label: str = "--set"

    def locate(self, path: KeyPath) -> str:
        """``FILE:LINE`` of the key at ``path`` (or of the nearest key above it that the file
        has), ``--set`` for a key given on top of the file, ``FILE`` when nothing is known."""
        if _given(self.overrides, path):
            return self.overrides_label
        line = self.line_of(path)
        return self.name if line is None else f"{self.name}:{line}"

    def line_of(self, path: KeyPath) -> int | None:
        """The line of the key at ``path``, or of the nearest key above it; None if none."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def _given(settings: Mapping[str, Any], path: KeyPath) -> bool:
    """Whether ``path`` (or a mapping above it set to a non-mapping) is in ``settings``."""
    node: Any = settings
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return bool(path)


@dataclass(frozen=True)
class Issue:
    """One setting that cannot be used: where it is (key path) and what is wrong, in words."""

    path: KeyPath
    message: str

    def render(self, source: ConfigSource) -> str:
        where = ".".join(str(part) for part in self.path)
        return f"{source.locate(self.path)}: {where + ': ' if where else ''}{self.message}"


def config_error(issues: Sequence[Issue], source: ConfigSource, limit: int = 3) -> ConfigError:
    """One :class:`ConfigError` line for ``issues`` (the first ``limit`` of them)."""
    unique = sorted(dict.fromkeys(issues), key=lambda issue: _order(issue, source))
    text = "; ".join(issue.render(source) for issue in unique[:limit])
    more = len(unique) - limit
    return ConfigError(text + (f" (and {more} more)" if more > 0 else ""))


def _order(issue: Issue, source: ConfigSource) -> tuple[int, int]:
    """Options given on top first, then the file's keys top to bottom, then the rest."""
    if _given(source.overrides, issue.path):
        return (0, 0)
    line = source.line_of(issue.path)
    return (1, line) if line is not None else (2, 0)


# ------------------------------------------------------------------------------------- reading


def read_settings(path: Path | str) -> tuple[dict[str, Any], ConfigSource]:
    """The mapping a YAML config file holds (an empty file is an empty mapping) and where each
    key is. Any problem is one :class:`ConfigError` line naming the file and, where YAML can
    tell it, the line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    return parse_settings(text, str(path))


def parse_settings(text: str, name: str) -> tuple[dict[str, Any], ConfigSource]:
    """:func:`read_settings` of ``text``; ``name`` stands for the file in messages."""
    # yaml.safe_load's own steps, keeping the node tree for the lines of the keys.
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # checks the characters first: a ReaderError
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        raise ConfigError(_yaml_problem(error, text, name)) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        return {}, ConfigSource(name)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{name}:{node.start_mark.line + 1}: expected a mapping of settings, "
            f"got {type(data).__name__}"
        )
    return data, ConfigSource(name, dict(_key_lines(node, ())))


def _yaml_problem(error: yaml.YAMLError, text: str, name: str) -> str:
    """``NAME:LINE: not valid YAML: problem (context)``, the line never past the file's last:
    yaml marks an unclosed bracket at the end of the stream, the line after the last one."""
    last = max(1, len(text.splitlines()))
    if isinstance(error, yaml.reader.ReaderError):  # a character YAML does not allow
        line = text[: error.position].count("\n") + 1
        code = error.character if isinstance(error.character, int) else ord(error.character)
        return f"{name}:{min(line, last)}: not valid YAML: {error.reason} (#x{code:04x})"
    mark = getattr(error, "problem_mark", None)
    line = min(mark.line + 1, last) if mark is not None else None
    problem = getattr(error, "problem", None) or type(error).__name__
    message = f"{name}{f':{line}' if line else ''}: not valid YAML: {problem}"
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context:
        started = min(context_mark.line + 1, last) if context_mark is not None else line
        if started != line:
            context += f" started at line {started}"  # e.g. where the unclosed bracket opened
        message += f" ({context})"
    return message


def _key_lines(node: yaml.Node, path: KeyPath) -> Iterable[tuple[KeyPath, int]]:
    """(key path, 1-based line) of every mapping key and sequence item under ``node``."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a complex key: no path to name it by
            key = _scalar_key(key_node)
            yield (*path, key), key_node.start_mark.line + 1
            yield from _key_lines(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield (*path, index), item.start_mark.line + 1
            yield from _key_lines(item, (*path, index))


def _scalar_key(node: yaml.ScalarNode) -> str | int:
    """The key as the loaded mapping holds it: ``1:`` is the int 1, anything else its text."""
    if node.tag == "tag:yaml.org,2002:int":
        try:
            return int(node.value)
        except ValueError:
            return node.value
    return node.value


# ----------------------------------------------------------------------------------- validation


def issues_from(
    error: ValidationError, model: type[BaseModel], prefix: KeyPath = ()
) -> list[Issue]:
    """pydantic's errors as :class:`Issue` s in plain words, at ``prefix`` + their location
    (``model`` is what was validated: the valid keys for a did-you-mean come from it)."""
    issues = []
    for err in error.errors():
        loc = tuple(err["loc"])
        issues.append(Issue((*prefix, *loc), _plain(err, model, loc)))
    return issues


def _plain(err: Any, model: type[BaseModel], loc: KeyPath) -> str:
    kind, message = err["type"], err["msg"]
    if kind == "extra_forbidden":
        names = _fields_at(model, loc[:-1])
        return "unknown setting" + _suggestion(str(loc[-1]), names)
    if kind == "missing":
        return "required, but not set"
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if message.startswith("Input should be "):
        message = "should be " + message.removeprefix("Input should be ")
        if kind.endswith("_parsing"):  # "…a valid number, unable to parse string as a number"
            message = message.split(", ")[0]
        value = err.get("input")
        if isinstance(value, str | int | float | bool) or value is None:
            message += f", not {value!r}"
    return message


def _suggestion(key: str, names: Sequence[str] | None) -> str:
    if not names:
        return ""
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]}?"
    if len(names) <= 12:
        return f"; valid here: {', '.join(names)}"
    return ""


def _fields_at(model: type[BaseModel], path: KeyPath) -> list[str] | None:
    """The field names of the model at ``path`` inside ``model`` (None where it is not one)."""
    current: Any = model
    for part in path:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return None
        current = _model_in(fields[part].annotation)
        if current is None:
            return None
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields is not None else None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds: itself, or the one model in ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [arg for arg in typing.get_args(annotation) if _model_in(arg) is not None]
        return models[0] if len(models) == 1 else None
    return None
