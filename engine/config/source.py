"""Read what a module of the engine declares from its source, with `ast`, without running it.

The registries of models, objectives, procedures and claims are plain declarations,
``MLP = ModelFactory("mlp", mlp, FLAT_INPUTS, "…")``: a call of a dataclass with literals, names
of module-level constants and names of functions whose keyword-only defaults are literals.  This
module reads those values from the files (following ``from … import`` within the engine package),
so the validator knows them without importing autograd, the models or matplotlib.  Anything else
(an f-string, a comprehension, a call) is a SourceError that names the file, the line and the
expression: a declaration the validator reads must stay literal.
"""
from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent   # the folder that holds the engine package
_CONSTRUCTORS = {"frozenset": frozenset, "tuple": tuple, "set": set, "list": list, "dict": dict}
_SEQUENCES = {ast.Tuple: tuple, ast.List: list, ast.Set: set}


class SourceError(RuntimeError):
    """A declaration that cannot be read without running its module."""


@dataclass(frozen=True)
class Module:
    name: str          # dotted: engine.models.classifiers
    path: Path
    tree: ast.Module

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(ROOT)}:{node.lineno}"


@lru_cache(maxsize=None)
def module(name: str) -> Module:
    """The parsed module or package `name` of the engine."""
    base = ROOT.joinpath(*name.split("."))
    path = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
    return Module(name, path, ast.parse(path.read_bytes(), str(path)))


def package_modules(package: str) -> list[str]:
    """The modules of `package`, by name, as ``pkgutil.iter_modules`` lists them."""
    folder = ROOT.joinpath(*package.split("."))
    return [f"{package}.{p.stem}" for p in sorted(folder.glob("*.py"), key=lambda p: p.stem) if p.stem != "__init__"]


def _imported_from(mod: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module
    parts = mod.name.split(".")
    package = parts if mod.path.name == "__init__.py" else parts[:-1]
    return ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))


def binding(mod: Module, name: str) -> tuple[Module, ast.AST] | None:
    """What `name` is bound to at the top level of `mod` (its last binding), followed through
    ``from engine… import``: (the defining module, the assigned expression, FunctionDef or
    ClassDef); None when `mod` binds no such name."""
    found = None
    for node in mod.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            found = (mod, node)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            found = (mod, node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            found = (mod, node.value)
        elif isinstance(node, ast.ImportFrom):
            source = _imported_from(mod, node)
            for alias in node.names:
                if (alias.asname or alias.name) == name and source.split(".")[0] == "engine":
                    found = binding(module(source), alias.name)
    return found


def resolve(mod: Module, node: ast.Name) -> tuple[Module, ast.AST]:
    """As `binding`, for a name used in `mod`; a SourceError when it is not defined there."""
    found = binding(mod, node.id)
    if found is None or found[1] is None:
        raise SourceError(f"{mod.where(node)}: '{node.id}' is not defined at the top level of an engine module")
    return found


def value(mod: Module, node: ast.AST):
    """The value of a literal expression: constants, tuples, lists, sets, dicts (with ``**``
    entries), a sign, names of module-level constants, and frozenset/tuple/set/list/dict of those."""
    if isinstance(node, ast.Constant):
        return node.value
    if type(node) in _SEQUENCES:
        return _SEQUENCES[type(node)](value(mod, e) for e in node.elts)
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            out.update(value(mod, v) if k is None else {value(mod, k): value(mod, v)})
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        number = value(mod, node.operand)
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            return -number if isinstance(node.op, ast.USub) else number
    if isinstance(node, ast.Name):
        where, bound = resolve(mod, node)
        if isinstance(bound, ast.expr):
            return value(where, bound)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CONSTRUCTORS
            and len(node.args) <= 1 and not node.keywords):
        return _CONSTRUCTORS[node.func.id](*(value(mod, a) for a in node.args))
    raise SourceError(f"{mod.where(node)}: cannot read `{ast.unparse(node)}` without running the module; "
                      "write it as a literal or the name of a module-level literal")


def function(mod: Module, node: ast.AST) -> tuple[Module, ast.FunctionDef]:
    """The function definition a name refers to."""
    if isinstance(node, ast.Name):
        where, bound = resolve(mod, node)
        if isinstance(bound, ast.FunctionDef):
            return where, bound
    raise SourceError(f"{mod.where(node)}: expected the name of a function defined with `def`, "
                      f"got `{ast.unparse(node)}`")


def keyword_defaults(mod: Module, fn: ast.FunctionDef) -> dict:
    """Keyword-only parameter name → default, in declaration order (engine.registry.keyword_defaults
    of the function, read from its source)."""
    return {a.arg: inspect.Parameter.empty if d is None else value(mod, d)
            for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults)}


def construction(mod: Module, node: ast.AST, cls: str) -> dict[str, tuple[Module, ast.AST]] | None:
    """A call of the dataclass named `cls` as field name → (module, expression): positional
    arguments matched to the fields in order, the fields left out with their declared defaults.
    None when `node` is not such a call."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    where, defined = binding(mod, node.func.id) or (None, None)
    if not (isinstance(defined, ast.ClassDef) and defined.name == cls):
        return None
    fields = [f for f in defined.body if isinstance(f, ast.AnnAssign) and isinstance(f.target, ast.Name)]
    given = {f.target.id: (where, f.value) for f in fields if f.value is not None}
    given.update({f.target.id: (mod, a) for f, a in zip(fields, node.args)})
    given.update({k.arg: (mod, k.value) for k in node.keywords})
    return given
