"""Read an experiments file as plain data, remembering where each value sits in the text.

The YAML is parsed with PyYAML's *safe* loader: tags such as ``!!python/object`` are rejected,
never executed.  Positions (line, column) come from the composed node tree, so every later
error can point at the offending key.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from engine.config.errors import ConfigError, ConfigProblem

Positions = dict[tuple, tuple[int, int]]


def format_path(path: tuple) -> str:
    """("studies", "s", "seeds", 1) → "studies.s.seeds[1]"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _index(node, path: tuple, positions: Positions, problems: list[ConfigProblem]) -> None:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            child = path + (key,)
            if key in seen:
                problems.append(ConfigProblem(
                    format_path(child), f"duplicate key '{key}'; each key may appear once.",
                    key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            seen.add(key)
            _index(value_node, child, positions, problems)
            positions[("key",) + child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, path + (i,), positions, problems)


def load_yaml(path: Path) -> tuple[dict, Positions]:
    """Parse *path*; return (data, positions) or raise ConfigError naming file, line and column."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, [ConfigProblem("", "file not found; expected an experiments YAML file.")])
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, [ConfigProblem("", f"cannot read the file ({exc}).")])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        what = " ".join(str(s) for s in (exc.context, exc.problem) if s)
        if exc.context and exc.context_mark and exc.problem_mark:
            what = (f"{exc.problem} ({exc.context} that starts at line {exc.context_mark.line + 1}, "
                    f"column {exc.context_mark.column + 1})")
        if isinstance(exc, yaml.constructor.ConstructorError):
            what = (f"{exc.problem}; only plain data (mappings, lists, strings, numbers) is "
                    "allowed, YAML tags that build Python objects are rejected")
        raise ConfigError(file, [ConfigProblem("", f"invalid YAML: {what}.", line, col)])
    except yaml.YAMLError as exc:
        raise ConfigError(file, [ConfigProblem("", f"invalid YAML: {exc}.")])
    if not isinstance(data, dict):
        raise ConfigError(file, [ConfigProblem("", "expected a mapping at the top level "
                                                   "(keys such as models, optimizers, studies).")])
    positions: Positions = {}
    problems: list[ConfigProblem] = []
    _index(node, (), positions, problems)
    if problems:
        raise ConfigError(file, problems)
    return data, positions
