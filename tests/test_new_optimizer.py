"""The "A new optimizer" guide of docs/extending.md, done on a copy of the tree: AdamW joins the
optimizer × model matrix by its steps alone, trains on the quick profile and is rendered, named by
its rule, in both languages.  The copy differs from this tree in exactly the files the guide
names: the rule's module, its test, experiments.yaml and the generated schema.  The example is
named adamw_example, so that this test still runs once a term
has added AdamW itself."""
from __future__ import annotations

import filecmp
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GIVEN = Path(__file__).resolve().parent / "data" / "new_optimizer"
SKIP = shutil.ignore_patterns("__pycache__", ".store", "reports", ".venv", ".git")

# experiments.yaml, step 3 of the guide: the optimizer's entry, then its block at the end of the
# section `matrix:` (its grid for each family of the matrix), then its quick-profile rates in that
# block, without which validation fails.  Each edit is inserted after the line or block that a
# pattern finds, so that changed learning rates elsewhere in the file do not stop the guide.
ENTRY = [
    (r"^optimizers:.*\n", "  adamw_example: {kind: adamw_example, beta1: 0.9, beta2: 0.999, eps: 1.0e-8, weight_decay: 0.01}\n"),
    (r"^matrix:.*\n(?:  .*\n)*", """\
  adamw_example:
    mlp-digits:     {lr: [0.001, 0.003, 0.01]}
    cnn-digits:     {lr: [0.001, 0.003, 0.01]}
    rnn-digits:     {lr: [0.001, 0.003, 0.01]}
    ae-digits:      {lr: [0.003, 0.01, 0.03]}
    mlp-mnist1d:    {lr: [0.001, 0.003, 0.01]}
    cnn-mnist1d:    {lr: [0.001, 0.003, 0.01]}
    gan-ring:       {lr: [0.0005, 0.001, 0.002], beta1: [0.5]}
"""),
]
QUICK = [(r"^  adamw_example:\n(?:    .*\n)*", """\
    quick:          {lr: [0.003]}
    quick-gan-ring: {lr: [0.002], beta1: [0.5]}
""")]
RENDER = """
from pathlib import Path
from engine.config.validate import load_experiments
from engine.report.assemble import build_report
from engine.store import ResultStore
build_report(load_experiments(Path('experiments.yaml'), 'quick'), ResultStore(Path('store')), Path('out'), pdf=False)
"""


def _edit(path: Path, insertions) -> None:
    """Each (pattern, text): `text` inserted right after the one place `pattern` matches."""
    text = path.read_text(encoding="utf-8")
    for pattern, inserted in insertions:
        found = list(re.finditer(pattern, text, re.M))
        assert len(found) == 1, f"the guide's edit no longer applies: {pattern!r} matches {len(found)} times"
        text = f"{text[:found[0].end()]}{inserted}{text[found[0].end():]}"
    path.write_text(text, encoding="utf-8")


def _python(tree: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args], cwd=tree, capture_output=True, text=True)
    assert not check or proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _changed(a: Path, b: Path, where: str = "") -> set[str]:
    """Paths under `where` that differ between trees a and b (added, removed or edited)."""
    cmp = filecmp.dircmp(a / where, b / where, ignore=["__pycache__", "store", "out"])
    out = {f"{where}{name}" for name in cmp.left_only + cmp.right_only + cmp.diff_files}
    for sub in cmp.common_dirs:
        out |= _changed(a, b, f"{where}{sub}/")
    return out


def test_a_new_optimizer_by_the_guide_alone(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("engine", "templates"):
        shutil.copytree(ROOT / name, tree / name, ignore=SKIP)
    for name in ("experiments.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "tests", tree / "tests", ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    original = tmp_path / "original"
    shutil.copytree(tree, original)

    # 1. the rule's module; 2. its test
    shutil.copy(GIVEN / "adamw_example.py", tree / "engine" / "optim" / "adamw_example.py")
    shutil.copy(GIVEN / "adamw_example_tests.py", tree / "tests" / "test_adamw_example.py")
    _python(tree, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_adamw_example.py")
    # 3. experiments.yaml: a profile that leaves the new optimizer out of its grid is refused
    _edit(tree / "experiments.yaml", ENTRY)
    proc = _python(tree, "-m", "engine", "validate", "--profile", "quick", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error at matrix.adamw_example: optimizer 'adamw_example' of the matrix has no grid 'quick', which " \
           "profiles.quick.studies.matrix-mlp-digits.matrix" in proc.stderr, proc.stderr
    _edit(tree / "experiments.yaml", QUICK)   # `run` below validates the file again
    # 4. the schema editors read
    schema = _python(tree, "-m", "engine", "schema").stdout
    (tree / "engine" / "config" / "experiments.schema.json").write_text(schema, encoding="utf-8")

    assert _changed(original, tree) == {"engine/optim/adamw_example.py", "tests/test_adamw_example.py",
                                        "experiments.yaml", "engine/config/experiments.schema.json"}
    _python(tree, "-m", "engine", "run", "--profile", "quick", "--only", "study=matrix-mlp-digits",
            "--store", "store", "--jobs", "1")
    _python(tree, "-c", RENDER)
    assert "<td>AdamW (ejemplo de la guía)</td>" in (tree / "out" / "index.html").read_text(encoding="utf-8")
    assert "<td>AdamW (the guide&#39;s example)</td>" in (tree / "out" / "en" / "index.html").read_text(encoding="utf-8")
