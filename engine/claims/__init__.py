"""The lecture's claims that the handout tests: one module per claim, found by discovery.

Every module of this package that defines ``CLAIM`` (a :class:`Claim`) is registered under the
claim's stable id, so adding a claim is adding its module (plus its prose, its studies and its
criterion).  A claim's ``analyze(records, text, studies) -> Analysis`` returns the quantities its
criterion may name (measured over seeds), figures, tables and plain numbers, computed only from
stored results.  The validator reads each ``CLAIM``'s id, section, order, reads and quantities
from the module's source without importing it (engine/config/registries.py): they stay literals.
"""
import importlib
import pkgutil

from engine.claims.base import Analysis, Claim

_HELPERS = {"base", "verdict", "reproductions"}   # modules of this package that are no claim


def _discover() -> dict[str, Claim]:
    found: dict[str, Claim] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in _HELPERS or info.name.startswith("_"):
            continue
        claim = getattr(importlib.import_module(f"{__name__}.{info.name}"), "CLAIM", None)
        if isinstance(claim, Claim):
            if claim.id in found:
                raise RuntimeError(f"two claim modules declare the id {claim.id!r}")
            found[claim.id] = claim
    return dict(sorted(found.items(), key=lambda kv: (kv[1].section, kv[1].order, kv[0])))


CLAIMS: dict[str, Claim] = _discover()

__all__ = ["CLAIMS", "Claim", "Analysis"]
