"""The section `matrix:` of experiments.yaml (engine/config/matrix.py): the studies and profile
entries that name its grids are the same as if their optimizers and grids were written by hand
(the real file's plan, run by run), and every mistake in it gets one clear message at its line."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from engine.config.load import load_yaml
from engine.config.validate import load_experiments
from engine.plan import expand

ROOT = Path(__file__).resolve().parent.parent
TINY = Path(__file__).resolve().parent / "data" / "tiny_matrix.yaml"


def _by_hand(data: dict) -> dict:
    """The reference: every `matrix: <grid>` replaced by what it stands for, as one would write it."""
    out = copy.deepcopy(data)
    matrix = out.pop("matrix")
    entries = [(s, True) for s in out["studies"].values()] + [
        (p, False) for profile in out["profiles"].values() for p in (profile.get("studies") or {}).values()]
    for entry, is_study in entries:
        if "matrix" in entry:
            grid = entry.pop("matrix")
            entry["grid"] = {o: grids[grid] for o, grids in matrix.items()}
            if is_study:
                entry["optimizers"] = list(matrix)
    return out


@pytest.mark.parametrize("profile", ["full", "quick"])
def test_the_real_matrix_plans_what_its_studies_written_by_hand_plan(profile, tmp_path):
    data, _ = load_yaml(ROOT / "experiments.yaml")
    assert "matrix" in data and any("matrix" in s for s in data["studies"].values())
    written = tmp_path / "experiments.yaml"
    written.write_text(yaml.safe_dump(_by_hand(data), sort_keys=False, allow_unicode=True), encoding="utf-8")
    ours, theirs = load_experiments(ROOT / "experiments.yaml", profile), load_experiments(written, profile)
    assert ours.data == theirs.data and list(ours.data["studies"]) == list(theirs.data["studies"])
    assert [(r.key, r.spec) for r in expand(ours)] == [(r.key, r.spec) for r in expand(theirs)]


def test_a_study_takes_the_matrix_optimizers_in_order_and_the_grid_it_names():
    full, quick = load_experiments(TINY, "full").data, load_experiments(TINY, "quick").data
    assert "matrix" not in full
    assert full["studies"]["tuned"]["optimizers"] == ["sgd", "adam"]
    assert full["studies"]["tuned"]["grid"] == {"sgd": {"lr": [0.1, 0.3]}, "adam": {"lr": [0.001, 0.01]}}
    assert full["studies"]["wide"]["grid"]["adam"] == {"lr": [0.001, 0.01], "beta1": [0.5, 0.9]}
    assert quick["studies"]["tuned"]["grid"] == {"sgd": {"lr": [0.3]}, "adam": {"lr": [0.01]}}
    assert quick["studies"]["tuned"]["seeds"] == [0] and quick["studies"]["wide"] == full["studies"]["wide"]
    assert full["studies"]["plain"]["optimizers"] == ["sgd"]
    # 2 optimizers × 2 rates × 2 seeds (tuned: the grid of the tuning seed 0 only, untrained) ...
    studies = [r.spec["study"] for r in expand(load_experiments(TINY, "full"))]
    assert (studies.count("tuned"), studies.count("wide"), studies.count("plain")) == (4, 3 + 4, 1)


# (case id, (old text, new text) applied to tests/data/tiny_matrix.yaml, phrases the message must contain)
CASES = [
    ("grid-missing-for-an-optimizer", ("    quick: {lr: [0.01]}\n", ""),
     [":15:3:", "error at matrix.adam:", "optimizer 'adam' of the matrix has no grid 'quick', which "
      "profiles.quick.studies.tuned.matrix names it", "expected an entry quick: {lr: [...]} here"]),
    ("unknown-grid", ("    matrix: wide\n", "    matrix: wid\n"),
     [":33:5:", "studies.wide.matrix", "unknown grid of the matrix 'wid'", "Did you mean 'wide'?"]),
    ("misspelt-grid-of-one-optimizer", ("    wide:  {lr: [0.01, 0.1, 1.0]}", "    wid:   {lr: [0.01, 0.1, 1.0]}"),
     ["matrix.sgd: optimizer 'sgd' of the matrix has no grid 'wide', which studies.wide.matrix names it",
      ":13:5:", "matrix.sgd.wid: no study or profile names grid 'wid'", "Did you mean 'wide'?"]),
    ("unknown-optimizer", ("  adam:\n    mlp:", "  adamW:\n    mlp:"),
     [":15:3:", "matrix.adamW", "unknown optimizer 'adamW'", "Did you mean 'adam'?"]),
    ("study-gives-optimizers-too", ("    matrix: mlp\n", "    matrix: mlp\n    optimizers: [sgd]\n"),
     ["studies.tuned.optimizers", "takes its optimizers and grid from the matrix (matrix: mlp)"]),
    ("value-out-of-range", ("wide:  {lr: [0.001, 0.01], beta1", "wide:  {lr: [0.001, 0.0], beta1"),
     [":17:25:", "matrix.adam.wide.lr[1]", "expected a number > 0, got 0.0"]),
    ("hyperparameter-of-another-kind", ("mlp:   {lr: [0.1, 0.3]}", "mlp:   {lr: [0.1, 0.3], beta1: [0.9]}"),
     [":12:29:", "matrix.sgd.mlp.beta1", "'beta1' is not a hyperparameter of sgd"]),
    ("quick-value-out-of-range", ("quick: {lr: [0.3]}", "quick: {lr: [-0.3]}"),
     [":14:18:", "matrix.sgd.quick.lr[0]", "got -0.3", "(after applying profile 'quick')"]),
    ("not-a-grid", ("quick: {lr: [0.3]}", "quick: [0.3]"), ["matrix.sgd.quick", "expected a mapping, got a list"]),
    ("profile-names-a-grid-for-a-study-without", ("      tuned: {seeds: [0]", "      plain: {matrix: wide}\n      tuned: {seeds: [0]"),
     ["profiles.quick.studies.plain.matrix", "study 'plain' names no grid of the matrix"]),
    ("profile-grid-for-a-matrix-study", ("matrix: quick, thresholds", "grid: {sgd: {lr: [0.3]}}, thresholds"),
     ["profiles.quick.studies.tuned.grid", "study 'tuned' takes its grids from the matrix (matrix: mlp)",
      "expected matrix: <grid> here"]),
]


@pytest.mark.parametrize("case,edit,phrases", CASES, ids=[c[0] for c in CASES])
def test_a_mistake_in_the_matrix_gets_one_clear_message(case, edit, phrases, tmp_path, cli):
    old, new = edit
    base = TINY.read_text()
    assert old in base, f"test set-up: {old!r} not in the base file"
    bad = tmp_path / "bad.yaml"
    bad.write_text(base.replace(old, new, 1))
    store = tmp_path / "store"
    for command in (["validate", bad, "--profile", "quick"], ["run", bad, "--profile", "quick", "--store", store]):
        code, _, err = cli(*command)
        assert code == 2, err
        for phrase in phrases:
            assert phrase in err, f"{phrase!r} missing from: {err}"
        assert "Traceback" not in err
        # one wrong value of a grid that two studies train is reported once
        assert len(err.strip().splitlines()) == len(set(err.strip().splitlines()))
    assert not store.exists()


def test_a_wrong_value_is_reported_once_however_many_studies_train_its_grid(tmp_path, cli):
    two = TINY.read_text().replace("    matrix: wide\n", "    matrix: mlp\n").replace(
        "    wide:  {lr: [0.01, 0.1, 1.0]}\n", "").replace("    wide:  {lr: [0.001, 0.01], beta1: [0.5, 0.9]}\n", "")
    bad = tmp_path / "bad.yaml"
    bad.write_text(two.replace("mlp:   {lr: [0.1, 0.3]}", "mlp:   {lr: [0.1, 0.0]}"))
    code, _, err = cli("validate", bad)
    assert code == 2 and err.count("error at matrix.sgd.mlp.lr[1]: expected a number > 0, got 0.0.") == 1, err
