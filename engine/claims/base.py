"""What a claim declares and what its analysis returns."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from engine.claims.verdict import Estimate
from engine.config.load import FAST_SAFE_LOADER
from engine.record import Record
from engine.registry import ClaimScope

TEXTS = Path(__file__).resolve().parent.parent.parent / "templates" / "claims"


@lru_cache(maxsize=None)
def _prose(claim_id: str) -> dict:
    return yaml.load((TEXTS / f"{claim_id}.yaml").read_text(encoding="utf-8"),
                     Loader=FAST_SAFE_LOADER)


@dataclass
class Analysis:
    quantities: dict[str, Estimate | None]
    figures: list[dict] = field(default_factory=list)   # {id, svg, caption}
    tables: list[dict] = field(default_factory=list)    # {caption, columns, rows}
    numbers: dict = field(default_factory=dict)         # plain data for claims.json


@dataclass(frozen=True)
class Claim(ClaimScope):
    """A claim's declaration.  The validator reads ``id``, ``section``, ``order``, ``reads``,
    ``study_metrics`` and ``quantities`` from the module's source without running it
    (engine/config/registries.py): write them as literals or module-level constants that are."""

    id: str
    section: str
    quantities: dict[str, str]         # name → what it measures (the criterion may name these)
    analyze: Callable[[list[Record], dict, dict], Analysis]   # (records, prose, its studies) → Analysis
    # True for claims whose quantities depend on the studies (the matrix): a criterion may also
    # name '<study>.<final metric>' of any study the claim analyses (ClaimScope.knows).
    study_metrics: bool = False
    order: int = 0                     # position within its lecture section (the lecture's order)
    # Other claims whose studies this one also analyses (e.g. the optimizer matrix), so that no
    # run is trained twice for two claims.
    reads: tuple[str, ...] = ()

    def text(self, language: str) -> dict:
        """The claim's prose (quote, explanation, method, captions) from templates/claims/<id>.yaml."""
        data = _prose(self.id)
        return copy.deepcopy({"quote_es": data["quote_es"], **data[language]})


def mean_sd(values, digits: int = 3, show_n: bool = False) -> str:
    """'mean ± standard deviation' of the values that exist (with '(n = …)' if asked), for tables;
    '—' when there are none.  The decimal mark is the report language's."""
    from engine.kit.figures import localize_decimals

    values = [v for v in values if v is not None]
    if not values:
        return "—"
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    text = f"{np.mean(values):.{digits}f} ± {sd:.{digits}f}" + (f" (n = {len(values)})" if show_n else "")
    return localize_decimals(text)
