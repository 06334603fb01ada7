"""The validator's light registries (engine/config/registries.py, read from the source with `ast`)
against the imported registries, entry by entry; and checking a file without loading a model, a
claim, autograd or matplotlib."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import registries, source
from engine.registry import keyword_defaults

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("engine.models", "engine.claims", "engine.training", "engine.procedures", "engine.objectives",
         "autograd", "matplotlib")


def _typed(params: dict) -> list:
    """Parameters with the types of their defaults: (128,) is not [128], 1 is not 1.0."""
    return [(name, type(default), default) for name, default in params.items()]


def test_model_kinds_are_the_training_registry():
    from engine.training import MODEL_KINDS

    light = registries.model_kinds()
    assert list(light) == list(MODEL_KINDS)
    for name, kind in MODEL_KINDS.items():
        assert light[name].name == name
        assert _typed(light[name].params) == _typed(kind.params), name
        assert light[name].accepts == kind.accepts, name


def test_procedures_are_the_procedure_registry():
    from engine.procedures import PROCEDURES

    light = registries.procedures()
    assert list(light) == list(PROCEDURES)
    for name, proc in PROCEDURES.items():
        assert _typed(light[name].params) == _typed(proc.params), name
        assert light[name].uses_optimizer is proc.uses_optimizer, name


def test_claims_are_the_claim_registry():
    from engine.claims import CLAIMS

    light = registries.claims()
    assert list(light) == list(CLAIMS), "the same claims, in the lecture's order"
    for cid, claim in CLAIMS.items():
        view = light[cid]
        assert (view.section, view.order, view.reads, view.study_metrics) == (
            claim.section, claim.order, claim.reads, claim.study_metrics), cid
        assert list(view.quantities.items()) == list(claim.quantities.items()), cid


def test_a_claim_and_its_view_know_the_same_quantities():
    """ClaimScope is one rule for both; here on the matrix claim, whose quantities are
    '<study>.<metric>' of its studies, and on a claim with a fixed list."""
    from engine.claims import CLAIMS

    studies = {"matrix-mlp-digits": {"claim": "optimizer-matrix"}, "scaling": {"claim": "momentum-heavy-directions"}}
    for cid, names in (("optimizer-matrix", ["matrix-mlp-digits.test_accuracy", "scaling.test_accuracy",
                                             "matrix-mlp-digits.", "test_accuracy"]),
                       ("momentum-heavy-directions", ["slope_gd", "slope_sgd", "scaling.slope_gd"])):
        real, view = CLAIMS[cid], registries.claims()[cid]
        own = real.studies(studies)
        assert view.studies(studies) == own
        assert [view.knows(n, own) for n in names] == [real.knows(n, own) for n in names]
    assert registries.claims()["optimizer-matrix"].knows("matrix-mlp-digits.test_accuracy",
                                                          {"matrix-mlp-digits": {}})
    assert not registries.claims()["optimizer-matrix"].knows("scaling.test_accuracy", {"matrix-mlp-digits": {}})


def test_optimizers_and_data_sets_are_the_registries_themselves():
    from engine.data import DATASETS
    from engine.optim import OPTIMIZERS

    assert registries.optimizers() is OPTIMIZERS and registries.datasets() is DATASETS


def _parsed(text: str, name: str = "engine.example") -> source.Module:
    return source.Module(name, ROOT / "engine" / "example.py", ast.parse(text))


def test_literal_values_read_as_python_evaluates_them():
    text = ("A = -1.5\nB = frozenset({'x', 'y'})\nC = {'a': (A, None, True), **{'b': [1e-3, -2]}}\n"
            "D = tuple()\nE: dict = {'f': 'two ' 'parts'}\n")
    mod = _parsed(text)
    space: dict = {}
    exec(text, space)
    for name in "ABCDE":
        bound = source.binding(mod, name)[1]
        assert source.value(mod, bound) == space[name] and type(source.value(mod, bound)) is type(space[name])


def test_keyword_defaults_read_as_the_registries_read_them():
    """engine.registry.keyword_defaults of the function, a required one (no default) included."""
    text = "N = 4\ndef f(info, *, hidden=(N, 2), scale=-0.5, name='relu', required, flag=None):\n    pass\n"
    mod = _parsed(text)
    space: dict = {}
    exec(text, space)
    fn = source.binding(mod, "f")[1]
    assert source.keyword_defaults(mod, fn) == keyword_defaults(space["f"])


def test_names_are_followed_through_imports():
    """`from engine.models.autoencoder import VAE` in the package's __init__ leads to its module."""
    where, node = source.binding(source.module("engine.models"), "VAE")
    assert where.name == "engine.models.autoencoder"
    fields = source.construction(where, node, "ModelFactory")
    assert source.value(*fields["name"]) == "vae"
    assert source.construction(where, node, "Objective") is None


@pytest.mark.parametrize("text", ["Q = {f'{a}_x': 1 for a in 'ab'}", "Q = len('ab')", "Q = undefined_name"])
def test_a_declaration_that_must_run_is_refused_by_file_and_line(text):
    mod = _parsed("\n\n" + text)
    with pytest.raises(source.SourceError) as err:
        source.value(mod, source.binding(mod, "Q")[1])
    assert "engine/example.py:3" in str(err.value)


def _modules_loaded_by(code: str) -> list[str]:
    probe = (f"import sys\n{code}\n"
             f"print('\\n'.join(m for m in sys.modules if m.startswith({HEAVY!r})))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_checking_the_real_file_loads_no_model_claim_or_figure_code():
    loaded = _modules_loaded_by("from pathlib import Path\nfrom engine.config.validate import load_experiments\n"
                                "for profile in ('full', 'quick'):\n"
                                "    load_experiments(Path('experiments.yaml'), profile)")
    assert loaded == []


def test_checking_a_malformed_file_loads_no_model_claim_or_figure_code(tmp_path):
    text = (ROOT / "experiments.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("quantity: slope_gd", "quantity: slope_sgd", 1), encoding="utf-8")
    assert bad.read_text(encoding="utf-8") != text
    loaded = _modules_loaded_by("from engine.config.errors import ConfigError\n"
                                "from engine.config.validate import load_experiments\n"
                                "try:\n"
                                f"    load_experiments({str(bad)!r}, 'full')\n"
                                "except ConfigError as err:\n"
                                "    assert \"Did you mean 'slope_gd'?\" in str(err), err\n"
                                "else:\n"
                                "    raise AssertionError('the malformed file was accepted')")
    assert loaded == []
