"""What registry entries share: their parameters are the keyword-only arguments of a builder, and
a claim's scope (the studies it analyses, the quantities its criterion may name) is one rule for
the claim (engine/claims/base.py) and for the validator's light view of it (engine/config/registries.py)."""
from __future__ import annotations

import inspect


def keyword_defaults(fn) -> dict:
    """Keyword-only parameter name → default, in declaration order."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


class ClaimScope:
    """Mixed into a class with the fields ``id``, ``reads`` (ids of the claims whose studies it
    also analyses), ``quantities`` (name → what it measures) and ``study_metrics`` (True: a
    criterion may also name ``<study>.<final metric>`` of any study the claim analyses)."""

    def serves(self, claim_id: str) -> bool:
        """Whether records and studies of `claim_id` belong to this claim's analysis."""
        return claim_id == self.id or claim_id in self.reads

    def studies(self, all_studies: dict) -> dict:
        """The studies this claim analyses: its own and those of the claims it reads."""
        return {s: st for s, st in all_studies.items() if self.serves(st["claim"])}

    def knows(self, quantity: str, studies: dict) -> bool:
        """Whether a criterion of this claim may name `quantity`, given the claim's `studies`."""
        study, _, metric = quantity.rpartition(".")
        return quantity in self.quantities or (self.study_metrics and study in studies and bool(metric))
