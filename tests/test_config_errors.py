"""Every kind of malformed experiments file: one clear message naming the file, the key path and
what was expected; exit code 2; no traceback; nothing written to the result store."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# (case id, (old text, new text) applied to tests/data/tiny.yaml, phrases the message must contain)
CASES = [
    ("yaml-syntax", ("seeds: [0, 1]", "seeds: [0, 1"), ["invalid YAML", ":17:9:", "starts at line 16, column 12",
                                                       "is the '[' opened there closed?"]),
    ("unknown-top-key", ("studies:", "studys:"), ["unknown key 'studys'", "Did you mean 'studies'?"]),
    ("unknown-study-key", ("    optimizers: [gd, momentum]\n    seeds: [0, 1]",
                           "    optimisers: [gd, momentum]\n    seeds: [0, 1]"),
     ["studies.scaling.optimisers", "Did you mean 'optimizers'?"]),
    ("wrong-type", ("seeds: [0, 1]", "seeds: zero"), ["studies.scaling.seeds", "expected a list", "'zero'"]),
    ("seed-not-integer", ("seeds: [0, 1]", "seeds: [0, 1.5]"), ["studies.scaling.seeds[1]", "expected an integer"]),
    ("unknown-model", ("models: [quadratic]", "models: [quadratik]"),
     ["studies.scaling.models[0]", "unknown model 'quadratik'", "Did you mean 'quadratic'?"]),
    ("unknown-optimizer", ("optimizers: [gd, momentum]\n    seeds: [0, 1]", "optimizers: [gd, momentun]\n    seeds: [0, 1]"),
     ["studies.scaling.optimizers[1]", "unknown optimizer 'momentun'", "Did you mean 'momentum'?"]),
    ("unknown-optimizer-kind", ("adagrad: {kind: adagrad}", "adagrad: {kind: adagrd}"),
     ["optimizers.adagrad.kind", "'adagrd'", "Did you mean 'adagrad'?"]),
    ("unknown-dataset", ("    models: [quadratic]\n", "    models: [quadratic]\n    dataset: digitz\n"),
     ["studies.scaling.dataset", "unknown data set 'digitz'"]),
    ("lr-not-positive", ("gd: {lr: {geomspace: [0.5, 2.2, 8]}}", "gd: {lr: [0.5, 0.0]}"),
     ["studies.scaling.grid.gd.lr[1]", "a number > 0", "got 0.0"]),
    ("lr-negative-fixed", ("gd: {kind: sgd, batch: full}", "gd: {kind: sgd, batch: full, lr: -0.1}"),
     ["optimizers.gd.lr", "a number > 0"]),
    ("beta-out-of-range", ("momentum: {kind: momentum, beta: 0.9}", "momentum: {kind: momentum, beta: 1.0}"),
     ["optimizers.momentum.beta", "in [0, 1)", "got 1.0"]),
    ("eps-negative", ("adagrad: {kind: adagrad}", "adagrad: {kind: adagrad, eps: -1.0e-8}"),
     ["optimizers.adagrad.eps", "got -1e-08"]),
    ("empty-grid", ("gd: {lr: {geomspace: [0.5, 2.2, 8]}}", "gd: {lr: []}"),
     ["studies.scaling.grid.gd.lr", "non-empty list"]),
    ("empty-seeds", ("seeds: [0, 1]", "seeds: []"), ["studies.scaling.seeds", "non-empty list"]),
    ("hp-of-other-kind", ("adagrad: {kind: adagrad}", "adagrad: {kind: adagrad, beta: 0.9}"),
     ["optimizers.adagrad.beta", "not a hyperparameter of adagrad"]),
    ("undefined-claim-entry", ("claims:\n  momentum-heavy-directions:", "claims:\n  momentum-heavy-direction:"),
     ["claims.momentum-heavy-direction", "unknown claim id", "Did you mean 'momentum-heavy-directions'?"]),
    ("undefined-profile-study", ("      scaling: {seeds: [0]}", "      scalling: {seeds: [0]}"),
     ["profiles.quick.studies.scalling", "unknown study 'scalling'", "Did you mean 'scaling'?"]),
    ("unknown-criterion-quantity", ("quantity: slope_gd,", "quantity: slope_sgd,"),
     ["claims.momentum-heavy-directions.criterion[0].quantity", "Did you mean 'slope_gd'?"]),
    ("duplicate-key", ("  gd: {kind: sgd, batch: full}", "  gd: {kind: sgd, batch: full}\n  gd: {kind: sgd}"),
     ["optimizers.gd", "duplicate key 'gd'"]),
    ("bad-batch", ("gd: {kind: sgd, batch: full}", "gd: {kind: sgd, batch: all}"),
     ["optimizers.gd.batch", "'full' or a positive integer"]),
    ("missing-required", ("    budget: {max_steps: 200, target: 1.0e-6}\n", ""),
     ["studies.paths", "missing required key 'budget'"]),
    ("unquoted-declared-date", ("claims:\n  momentum-heavy-directions:", "claims:\n  momentum-heavy-directions:\n    declared: 2026-12-04"),
     ["claims.momentum-heavy-directions.declared", "expected a string"]),
    ("revision-without-reason", ("claims:\n  momentum-heavy-directions:",
                                 "claims:\n  momentum-heavy-directions:\n    revisions: [{date: '2026-12-04', from: a, to: b}]"),
     ["claims.momentum-heavy-directions.revisions[0]", "missing required key 'why'"]),
    ("python-tag", ("version: 1", "version: !!python/object/apply:os.system ['touch PWNED']"),
     ["invalid YAML", "python/object", ":2:"]),
    ("indented-too-far", ("    seeds: [0, 1]", "     seeds: [0, 1]"),
     [":16:6:", "bad indentation: line 16 ('seeds: [0, 1]') starts at column 6",
      "the keys of the mapping it sits in (from line 12) start at column 5", "indent it like its sibling keys"]),
    ("indented-too-little", ("  paths:", " paths:"),
     [":21:2:", "bad indentation: line 21 ('paths:') starts at column 2", "start at column 1"]),
    ("key-under-a-value", ("    models: [valley]", "      models: [valley]"),
     [":23:13:", "unexpected ':' at line 23", "indented deeper than the key above it"]),
    ("missing-colon", ("    seeds: [0]\n    grid:", "    seeds [0]\n    grid:"),
     [":26:5:", "line 25 ('seeds [0]') is neither 'key: value' nor a list item", "':' followed by a space is missing"]),
    ("tab-indent", ("    seeds: [0]\n    grid:", "\tseeds: [0]\n    grid:"),
     [":25:1:", "a tab character at line 25, column 1", "spaces only"]),
    ("case-of-a-name", ("  adagrad: {kind: adagrad}\nstudies:\n  scaling:\n    claim: momentum-heavy-directions\n"
                        "    models: [quadratic]\n    vary: {kappa: [10, 100, 1000]}\n    optimizers: [gd, momentum]",
                        "  adagrad: {kind: adagrad}\n  adam: {kind: adam}\n  adamw: {kind: adam}\nstudies:\n  scaling:\n"
                        "    claim: momentum-heavy-directions\n    models: [quadratic]\n    vary: {kappa: [10, 100, 1000]}\n"
                        "    optimizers: [gd, adamW]"),
     ["studies.scaling.optimizers[1]", "unknown optimizer 'adamW'", "Did you mean 'adamw'?"]),
    ("profile-grid-leaves-out-an-optimizer", ("      scaling: {seeds: [0]}", "      scaling: {seeds: [0], grid: {gd: {lr: [1.0]}}}"),
     ["profiles.quick.studies.scaling.grid", "study 'scaling' leaves out optimizer 'momentum'",
      "expected an entry momentum: {lr: [...]} here"]),
]


# The same, on tests/data/tiny_nn.yaml: data sets, networks and the tuning protocol.
CASES_NN = [
    ("model-data-mismatch", ("    dataset: digits\n", "    dataset: ring\n"),
     ["studies.tuned.models[0]", "accepts image or sequence or signal data", "'ring' is points data"]),
    ("missing-dataset", ("    dataset: digits\n", ""), ["studies.tuned", "trains on data: add 'dataset:'"]),
    ("unknown-dataset-kind", ("digits: {kind: digits}", "digits: {kind: digitz}"),
     ["datasets.digits.kind", "'digitz'", "Did you mean 'digits'?"]),
    ("unknown-dataset-param", ("digits: {kind: digits}", "digits: {kind: digits, params: {val_frac: 0.1}}"),
     ["datasets.digits.params.val_frac", "Did you mean 'val_fraction'?"]),
    ("unknown-model-param", ("params: {hidden: [16]}", "params: {hiden: [16]}"),
     ["models.mlp.params.hiden", "Did you mean 'hidden'?"]),
    ("two-budgets", ("budget: {epochs: 2}", "budget: {epochs: 2, max_steps: 10}"),
     ["studies.tuned.budget", "exactly one of epochs or max_steps"]),
    ("bad-tune-mode", ("mode: min}", "mode: minimum}"), ["studies.tuned.tune.mode", "'minimum'"]),
    ("threshold-for-absent-optimizer", ("      adam: {test_accuracy", "      adamw: {test_accuracy"),
     ["studies.tuned.thresholds.adamw", "Did you mean 'adam'?"]),
    ("criterion-of-unknown-study", ("quantity: tuned.test_accuracy", "quantity: tunned.test_accuracy"),
     ["claims.optimizer-matrix.criterion[0].quantity", "'<study>.<final metric>'"]),
]

NN = Path(__file__).parent / "data" / "tiny_nn.yaml"


@pytest.mark.parametrize("case,edit,phrases", CASES + [(c, e, p) for c, e, p in CASES_NN],
                         ids=[c[0] for c in CASES] + [c[0] for c in CASES_NN])
def test_malformed_file_gets_one_clear_message(case, edit, phrases, tiny_text, tmp_path, cli, monkeypatch):
    old, new = edit
    base = NN.read_text() if case in {c[0] for c in CASES_NN} else tiny_text
    assert old in base, f"test set-up: {old!r} not in the base file"
    bad = tmp_path / "bad.yaml"
    bad.write_text(base.replace(old, new, 1))
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "store"
    for command in (["validate", bad], ["run", bad, "--store", store, "--jobs", "1"]):
        code, out, err = cli(*command)
        assert code == 2, err
        assert str(bad) in err
        for phrase in phrases:
            assert phrase in err, f"{phrase!r} missing from: {err}"
        assert "Traceback" not in err
    assert not store.exists(), "bad input must write nothing to the result store"
    assert not (tmp_path / "PWNED").exists(), "a YAML tag was executed"


def test_unknown_profile(tmp_path, cli):
    code, _, err = cli("run", Path(__file__).parent / "data" / "tiny.yaml", "--profile", "quik",
                       "--store", tmp_path / "s")
    assert code == 2 and "unknown profile 'quik'" in err and "Did you mean 'quick'?" in err
    assert not (tmp_path / "s").exists()


def test_missing_file(tmp_path, cli):
    code, _, err = cli("validate", tmp_path / "nope.yaml")
    assert code == 2 and "nope.yaml" in err and "file not found" in err


def test_bad_only_filter(tmp_path, cli):
    code, _, err = cli("run", Path(__file__).parent / "data" / "tiny.yaml", "--only", "optimiser=gd",
                       "--store", tmp_path / "s")
    assert code == 2 and "unknown key 'optimiser'" in err
    assert not (tmp_path / "s").exists()


def test_only_suggests_names_whatever_their_case(tmp_path, cli):
    code, _, err = cli("run", Path(__file__).parent / "data" / "tiny.yaml", "--only", "optimizer=Momentum",
                       "--store", tmp_path / "s")
    assert code == 2 and "matches none" in err and "Did you mean 'momentum'?" in err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("command", [["run", "--jobs", "1"], ["run", "--dry-run"], ["status"],
                                     ["report", "--out", "OUT"]])
def test_a_store_that_is_a_file_is_refused(command, tmp_path, cli):
    """Every command that takes --store: a regular file there is not an empty store."""
    store = tmp_path / "results.json"
    store.write_text("{}")
    args = [a if a != "OUT" else tmp_path / "out" for a in command]
    code, out, err = cli(*args, Path(__file__).parent / "data" / "tiny.yaml", "--store", store)
    assert code == 2, err
    assert f"--store {store}: this is a file, not a result store; expected a folder" in err
    assert "Traceback" not in err and store.read_text() == "{}" and not (tmp_path / "out").exists()


def test_max_runs_counts_what_only_selects(tmp_path, cli):
    """tiny.yaml plans 320 runs; `paths` has 2, one per optimizer."""
    tiny = Path(__file__).parent / "data" / "tiny.yaml"
    store = tmp_path / "s"
    code, _, err = cli("run", tiny, "--only", "study=paths", "--max-runs", "1", "--store", store)
    assert code == 2 and "--only 'study=paths' selects 2 runs, more than the limit of 1" in err
    assert "320" not in err and not store.exists()
    code, _, err = cli("run", tiny, "--only", "study=paths,optimizer=gd", "--max-runs", "1", "--store", store,
                       "--jobs", "1")
    assert code == 0 and "plan: 1 runs" in err, err
    code, _, err = cli("run", tiny, "--max-runs", "319", "--store", store)
    assert code == 2 and "the plan has 320 runs" in err


def test_exit_code_and_no_traceback_in_a_real_process(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: {q: {kind: quadratic}}\noptimizers: {gd: {kind: sgd, lr: 0}}\n")
    proc = subprocess.run([sys.executable, "-m", "engine", "validate", str(bad)], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and str(bad) in proc.stderr


def test_shipped_schema_matches_the_registries():
    import json

    from engine.config.schema import build_schema

    shipped = Path(__file__).resolve().parent.parent / "engine" / "config" / "experiments.schema.json"
    assert json.loads(shipped.read_text()) == build_schema(), "run `make schema` to refresh the shipped schema"


def test_the_real_experiments_file_is_valid(cli):
    root = Path(__file__).resolve().parent.parent
    for profile in ("full", "quick"):
        code, out, err = cli("validate", root / "experiments.yaml", "--profile", profile)
        assert code == 0, err


def test_importing_the_validator_loads_no_model_claim_or_figure_code():
    """Importing the validator (the CLI does, for every command) loads neither matplotlib,
    autograd, nor a claim module; nor does checking a file (tests/test_light_registry.py)."""
    code = ("import sys, engine.config.validate; print('\\n'.join(m for m in sys.modules if m.split('.')[0] in "
            "('matplotlib', 'autograd') or m.startswith(('engine.claims', 'engine.models', 'engine.training'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.split() == []
