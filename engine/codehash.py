"""Which source a run's result depends on, so that its key changes exactly when that source does.

A run's *roots* are the modules that define what it computes: its trainer (or procedure), its
model (or analytic objective), its data set and its optimizer rule.  Its code fingerprint hashes
the files of the import closure of those roots within the ``engine`` package: every
``import``/``from … import`` of an ``engine`` module, at any depth of a module's text (a function
that imports lazily still depends on what it imports).

Registries are the exception that makes the closure useful: a registry package's ``__init__``
(``engine.optim``, ``engine.models``, …) imports every member, so following it would make every
run depend on every optimizer and model.  A registry maps names to members and computes nothing:
it is neither hashed nor followed, and the member a run uses is one of the run's roots.  Adding
an entry to a registry therefore changes no existing key.  So editing ``engine/optim/adam.py``
changes the keys of the Adam runs only, and editing a claim, the report or a template changes no
key at all.
"""
from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

ENGINE_ROOT = Path(__file__).resolve().parent.parent   # the folder that holds engine/
REGISTRIES = frozenset({"engine.optim", "engine.models", "engine.data", "engine.objectives",
                        "engine.procedures", "engine.training", "engine.claims"})


def module_file(name: str, root: Path) -> Path | None:
    """engine.a.b → root/engine/a/b.py or root/engine/a/b/__init__.py (None if neither)."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=None)
def _imports(name: str, path: Path, root: Path) -> frozenset[str]:
    """The engine modules `path` (module `name`) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            # `from engine.x import y` may name a submodule y
            found.update(f"{module}.{a.name}" for a in node.names
                         if module_file(f"{module}.{a.name}", root) is not None)
    return frozenset(m for m in found if m.split(".")[0] == "engine" and module_file(m, root) is not None)


@lru_cache(maxsize=None)
def closure(roots: tuple[str, ...], root: Path = ENGINE_ROOT) -> tuple[str, ...]:
    """The roots and every engine module they reach, registries left out."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        path = module_file(name, root)
        if name in seen or path is None or name in REGISTRIES:
            continue
        seen.add(name)
        todo.extend(_imports(name, path, root))
    return tuple(sorted(seen))


@lru_cache(maxsize=None)
def fingerprint(roots: tuple[str, ...], root: Path = ENGINE_ROOT) -> str:
    digest = hashlib.sha256()
    for name in closure(tuple(sorted(set(roots))), root):
        digest.update(name.encode() + b"\0" + module_file(name, root).read_bytes() + b"\0")
    return digest.hexdigest()
