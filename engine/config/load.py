"""Read an experiments file as plain data, remembering where each value sits in the text.

The YAML is parsed with PyYAML's *safe* loader: tags such as ``!!python/object`` are rejected,
never executed.  Positions (line, column) come from the composed node tree, so every later
error can point at the offending key.

Input that could exhaust the parser or the machine is refused before it is used: files larger
than ``MAX_BYTES``, nesting deeper than ``MAX_DEPTH``, and documents whose aliases expand to more
than ``MAX_NODES`` values (an "alias bomb": a few lines that name each other's anchors until the
expanded document has billions of entries).  Duplicate keys and numbers that are NaN or infinite
are errors too: PyYAML would silently keep the last duplicate and accept ``.nan``.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from engine.config.errors import ConfigError, ConfigProblem

Positions = dict[tuple, tuple[int, int]]

MAX_BYTES = 1_000_000   # the real experiments file is ~15 kB
MAX_DEPTH = 40          # mappings and lists inside each other
MAX_NODES = 200_000     # values after alias expansion


class _TooLarge(Exception):
    def __init__(self, problem: ConfigProblem):
        self.problem = problem


def format_path(path: tuple) -> str:
    """("studies", "s", "seeds", 1) → "studies.s.seeds[1]"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_NON_FINITE = {".nan", ".inf", "+.inf", "-.inf"}


def _index(node, path: tuple, positions: Positions, problems: list[ConfigProblem], budget: list[int]) -> None:
    """Record every value's position; find duplicate keys and non-finite numbers.  ``budget``
    counts the values visited (aliases are visited each time they are used), so an alias bomb
    stops here instead of exhausting the memory of whatever walks the data next."""
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    budget[0] += 1
    if budget[0] > MAX_NODES:
        raise _TooLarge(ConfigProblem(format_path(path), (
            f"the document expands to more than {MAX_NODES:,} values (aliases that repeat each "
            "other?); expected a plain experiments file."), line, column))
    if len(path) > MAX_DEPTH:
        raise _TooLarge(ConfigProblem(format_path(path[:MAX_DEPTH]), (
            f"nesting deeper than {MAX_DEPTH} levels; expected a plain experiments file."), line, column))
    positions[path] = (line, column)
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:float" \
            and node.value.lower() in _NON_FINITE:
        problems.append(ConfigProblem(format_path(path), (
            f"expected a finite number, got {node.value}."), line, column))
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
            _index(value_node, child, positions, problems, budget)
            positions[("key",) + child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, path + (i,), positions, problems, budget)


# libyaml's safe loader when PyYAML has it (ten times faster than the pure-Python one).
FAST_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str):
    """The node tree of `text`: parsed by libyaml when PyYAML has it, and by the pure-Python
    parser when the text is malformed, whose messages name the context."""
    if FAST_SAFE_LOADER is not yaml.SafeLoader:
        try:
            return yaml.compose(text, Loader=FAST_SAFE_LOADER)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _yaml_problem(exc: yaml.MarkedYAMLError, text: str) -> str:
    """PyYAML's complaint in words a reader of the file can act on.  Indentation is structure in
    YAML, and a line indented one step off gives a bare 'expected <block end>': say which line,
    where its neighbours' keys start and what to do."""
    if isinstance(exc, yaml.constructor.ConstructorError):
        return (f"{exc.problem}; only plain data (mappings, lists, strings, numbers) is "
                "allowed, YAML tags that build Python objects are rejected")
    problem, mark, context = str(exc.problem or ""), exc.problem_mark, exc.context_mark
    shown = f"'{text.splitlines()[mark.line].strip()}'" if mark and mark.line < len(text.splitlines()) else "it"
    if mark and "'\\t'" in problem:
        return (f"a tab character at line {mark.line + 1}, column {mark.column + 1}: YAML indents with "
                "spaces only; replace the tab by spaces")
    if mark and context and problem.startswith("expected <block end>"):
        return (f"bad indentation: line {mark.line + 1} ({shown}) starts at column {mark.column + 1}, "
                f"but the keys of the mapping it sits in (from line {context.line + 1}) start at column "
                f"{context.column + 1}; indent it like its sibling keys, or nest it under a key that "
                "ends with ':' and has no value on its line")
    if mark and problem.startswith("mapping values are not allowed"):
        return (f"unexpected ':' at line {mark.line + 1}, column {mark.column + 1} ({shown}): if this "
                "line is a key of its own, it is indented deeper than the key above it, which already "
                "has a value; indent it like its sibling keys.  If the ':' is part of a text, quote "
                "the text")
    if mark and context and problem.startswith("could not find expected ':'"):
        line = text.splitlines()[context.line].strip() if context.line < len(text.splitlines()) else ""
        return (f"line {context.line + 1} ('{line}') is neither 'key: value' nor a list item '- value': "
                "a ':' followed by a space is missing after its key")
    if exc.context and context and mark:
        opened = {"flow mapping": "; is the '{' opened there closed?", "flow sequence": "; is the '[' opened there closed?"}
        return (f"{exc.problem} ({exc.context} that starts at line {context.line + 1}, "
                f"column {context.column + 1}){opened.get(exc.context.removeprefix('while parsing a '), '')}")
    return " ".join(str(s) for s in (exc.context, exc.problem) if s)


def load_yaml(path: Path) -> tuple[dict, Positions]:
    """Parse *path*; return (data, positions) or raise ConfigError naming file, line and column."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(file, [ConfigProblem("", "file not found; expected an experiments YAML file.")])
    except OSError as exc:
        raise ConfigError(file, [ConfigProblem("", f"cannot read the file ({exc.strerror or exc}).")])
    if len(raw) > MAX_BYTES:
        raise ConfigError(file, [ConfigProblem("", (
            f"the file has {len(raw):,} bytes; expected an experiments file under {MAX_BYTES:,} bytes."))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(file, [ConfigProblem("", (
            f"byte {raw[exc.start]:#04x} at offset {exc.start} is not UTF-8; expected a UTF-8 text "
            "file (is this the experiments file?)."), line, None)])
    positions: Positions = {}
    problems: list[ConfigProblem] = []
    try:
        node = _compose(text)
        if node is not None:
            # Before constructing: refuse bombs and deep nesting, and index the tree while it is as
            # written (constructing merges `<<:` keys into their mappings, in place).
            _index(node, (), positions, problems, [0])
        data = None if node is None else yaml.SafeLoader("").construct_document(node)
    except _TooLarge as exc:
        raise ConfigError(file, [exc.problem])
    except RecursionError:
        raise ConfigError(file, [ConfigProblem("", (
            "nesting too deep to parse; expected a plain experiments file."))])
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        what = _yaml_problem(exc, text)
        raise ConfigError(file, [ConfigProblem("", f"invalid YAML: {what}{'' if what.endswith('?') else '.'}",
                                               line, col)])
    except yaml.YAMLError as exc:
        raise ConfigError(file, [ConfigProblem("", f"invalid YAML: {exc}.")])
    if not isinstance(data, dict):
        raise ConfigError(file, [ConfigProblem("", "expected a mapping at the top level "
                                                   "(keys such as models, optimizers, studies).")])
    if problems:
        raise ConfigError(file, problems)
    return data, positions
