"""The one error type that bad input produces, and how it is shown to the user."""
from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass
class ConfigProblem:
    """One defect of an experiments file: where it is and what was expected instead."""

    path: str          # key path, e.g. "studies.momentum-scaling.seeds[1]"
    message: str       # what is wrong and what was expected
    line: int | None = None    # 1-based
    column: int | None = None  # 1-based

    def render(self, file: str) -> str:
        where = file if self.line is None else (
            f"{file}:{self.line}" + (f":{self.column}" if self.column is not None else ""))
        at = f" at {self.path}" if self.path else ""
        return f"{where}: error{at}: {self.message}"


class ConfigError(Exception):
    """Raised for a malformed experiments file; the CLI prints it and exits with code 2."""

    def __init__(self, file: str, problems: list[ConfigProblem]):
        self.file = file
        self.problems = problems
        super().__init__("\n".join(p.render(file) for p in problems))


def did_you_mean(word: str, choices) -> str:
    """A ' Did you mean …?' suffix when a close match exists, else ''.  Case is ignored when
    comparing ('adamW' suggests 'adamw', not 'adam'); the suggestion is spelt as defined."""
    spelt = {}
    for choice in map(str, choices):
        spelt.setdefault(choice.lower(), choice)
    close = difflib.get_close_matches(str(word).lower(), list(spelt), n=1, cutoff=0.6)
    return f" Did you mean '{spelt[close[0]]}'?" if close else ""


def expected_one_of(kind: str, word, choices) -> str:
    names = ", ".join(sorted(str(c) for c in choices)) or "(none defined)"
    return f"unknown {kind} '{word}'; expected one of: {names}.{did_you_mean(word, choices)}"
