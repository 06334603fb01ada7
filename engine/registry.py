"""What registry entries share: their parameters are the keyword-only arguments of a builder."""
from __future__ import annotations

import inspect


def keyword_defaults(fn) -> dict:
    """Keyword-only parameter name → default, in declaration order."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}
