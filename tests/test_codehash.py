"""A run's key changes exactly when the code behind its computation changes: edit a copy of one
module and see which keys move."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.codehash import ENGINE_ROOT, closure, fingerprint
from engine.config.validate import load_experiments
from engine.plan import expand
from engine.procedures import code_roots

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def specs():
    runs = expand(load_experiments(ROOT / "experiments.yaml", "quick"))
    unique = {code_roots(r.spec): r.spec for r in runs}
    return list(unique.values())


def _changed(specs, tmp_path, module: str) -> set[tuple]:
    """Roots of the specs whose fingerprint moves when `module` (a path under engine/) is edited."""
    copy = tmp_path / "tree"
    shutil.copytree(ENGINE_ROOT / "engine", copy / "engine")
    (copy / module).write_text((copy / module).read_text() + "\n# an edit\n")
    return {code_roots(s) for s in specs
            if fingerprint(code_roots(s), copy) != fingerprint(code_roots(s), ENGINE_ROOT)}


def test_editing_adam_retrains_the_adam_runs_only(specs, tmp_path):
    changed = _changed(specs, tmp_path, "engine/optim/adam.py")
    adam_runs = {code_roots(s) for s in specs if (s["optimizer"] or {}).get("kind") == "adam"}
    # the Adam runs, and the procedure that compares Adam with RMSprop (it imports adam.py); no other
    assert adam_runs and adam_runs <= changed
    assert changed == {code_roots(s) for s in specs if "engine.optim.adam" in closure(code_roots(s))}
    assert not any((s["optimizer"] or {}).get("kind") == "sgd" for s in specs
                   if code_roots(s) in changed and "procedure" not in s)


def test_editing_a_model_retrains_the_runs_of_that_model_only(specs, tmp_path):
    changed = _changed(specs, tmp_path, "engine/models/gan.py")
    assert changed == {code_roots(s) for s in specs if s["model"]["kind"] == "gan"}


@pytest.mark.parametrize("module", ["engine/claims/momentum_heavy_directions.py", "engine/report/render.py",
                                    "engine/cli.py", "engine/optim/__init__.py"])
def test_editing_a_claim_the_report_or_a_registry_retrains_nothing(specs, tmp_path, module):
    assert _changed(specs, tmp_path, module) == set()


def test_editing_the_shared_training_loop_retrains_every_run_that_trains(specs, tmp_path):
    changed = _changed(specs, tmp_path, "engine/training/loop.py")
    assert changed == {code_roots(s) for s in specs if "engine.training.loop" in closure(code_roots(s))}
    assert any(s["model"]["kind"] == "quadratic" for s in specs if code_roots(s) in changed)


def test_relative_and_submodule_imports_are_followed():
    reach = closure(("engine.models.classifiers",))
    assert {"engine.models.conv", "engine.models.layers", "engine.models.base"} <= set(reach)
    assert "engine.models" not in reach and "engine.optim.adam" not in reach
