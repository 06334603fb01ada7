"""Shared fixtures: a small valid experiments file, and helpers to run the CLI in-process."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main

DATA = Path(__file__).resolve().parent / "data"
TINY = DATA / "tiny.yaml"


@pytest.fixture
def tiny_text() -> str:
    return TINY.read_text()


@pytest.fixture
def cli(capsys):
    """Run `python -m engine ARGS` in this process; return (exit code, stdout, stderr)."""
    def run(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err
    return run
