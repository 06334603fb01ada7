"""The lecture's claims that the handout tests: one module per claim, registered by stable id.

A claim module provides `analyze(records, text) -> Analysis`: the quantities its criterion may
name (measured over seeds), figures, tables and notes, computed only from stored results.
"""
from engine.claims.base import Analysis, Claim
from engine.claims.momentum_heavy_directions import CLAIM as MOMENTUM_HEAVY_DIRECTIONS
from engine.claims.optimizer_matrix import CLAIM as OPTIMIZER_MATRIX

CLAIMS: dict[str, Claim] = {c.id: c for c in (MOMENTUM_HEAVY_DIRECTIONS, OPTIMIZER_MATRIX)}

__all__ = ["CLAIMS", "Claim", "Analysis"]
