"""Every README command that trains works as written, on the quick profile.

The commands are read from README.md itself (its ``sh`` blocks and inline code), so a command added
there is tested here without editing this file (one that trains by other means than `engine run`
fails `test_every_training_command_is_covered`).  Each one is run in this process as `make` would
run it (`make -n` prints its `engine run` line), on the quick profile, a temporary store and one
job, first with ``--dry-run``: its plan must be non-empty and, for ``claim=X``, hold every study
X analyses (the studies of the claims it reads too).  Then it trains for real, kept to seconds by
one more ``--only`` term (its study with the fewest runs to train, as the dry run planned them),
without ``--report`` (test_pipeline.py renders the quick report): what it trains must be what the
dry run announced for that study.  The cluster commands get their dry run only (ELSEWHERE).
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Commands that need a Dask cluster: here only their dry run (which starts no executor).  Training
# on a LocalCluster is tests/test_dask.py's; a scheduler at HOST needs a machine of that name.
ELSEWHERE = {
    ".venv/bin/python -m engine run --executor dask --scheduler tcp://HOST:8786":
        "a running scheduler at HOST (the Dask executor itself: tests/test_dask.py)",
    ".venv/bin/python -m engine run --executor dask --jobs 2": "tests/test_dask.py",
}
EXAMPLE_CLAIM = "conv-operation"   # stands for <id> in the README's templates


def readme_commands() -> list[str]:
    """Each command of the README: the lines of its sh blocks and its inline `make …` and
    `….venv/bin/python -m engine …` spans, comments and placeholders resolved."""
    lines = [line for block in re.findall(r"```sh\n(.*?)```", README, re.S) for line in block.splitlines()]
    lines += re.findall(r"`((?:make|\.venv/bin/python -m engine) [^`]*)`", README)
    commands = []
    for line in lines:
        words = shlex.split(line.replace("<id>", EXAMPLE_CLAIM), comments=True)
        if words:
            commands.append(shlex.join(words))
    return list(dict.fromkeys(commands))


def trains(command: str) -> bool:
    words = shlex.split(command)
    return "--dry-run" not in words and (words[:2] in (["make", "report"], ["make", "run"]) or (
        "engine" in words and words[words.index("engine") + 1:][:1] == ["run"]))


def engine_args(command: str) -> list[str]:
    """The arguments of `python -m engine` the command runs (through `make -n` for make targets)."""
    words = shlex.split(command)
    if words[0] == "make":
        make = shutil.which("make")
        assert make, "make is needed to read the Makefile's command"
        printed = subprocess.run([make, "-n", "-C", str(ROOT), *words[1:]], capture_output=True, text=True,
                                 check=True).stdout
        line = next(l for l in printed.splitlines() if " -m engine run " in l)
        words = shlex.split(line)
    return words[words.index("engine") + 1:]


def _set(args: list[str], option: str, value: str) -> list[str]:
    if option in args:
        i = args.index(option)
        return args[:i + 1] + [value] + args[i + 2:]
    return args + [option, value]


TRAINING = [c for c in readme_commands() if trains(c)]


def test_every_training_command_is_covered():
    assert TRAINING, "no command that trains found in README.md"
    for command in TRAINING:
        assert command in ELSEWHERE or engine_args(command)[0] == "run", command
    assert set(ELSEWHERE) <= set(TRAINING), "a command of ELSEWHERE is no longer in the README"


def _plan(out: str) -> dict[str, tuple[int, int]]:
    """study → (runs to train, final seeds later) from a --dry-run's table."""
    rows = {}
    for line in out.splitlines()[1:]:
        cells = line.split()
        if cells[0] == "all":
            break
        rows[cells[0]] = (int(cells[1]), int(cells[3]))
    return rows


@pytest.mark.parametrize("command", TRAINING)
def test_readme_command_trains_what_it_says(command, tmp_path, cli):
    from engine.claims import CLAIMS
    from engine.config.validate import load_experiments

    args = _set(_set(engine_args(command), "--profile", "quick"), "--store", str(tmp_path / "store"))
    args = _set(_set(args, "--jobs", "1"), "--out", str(tmp_path / "out"))
    code, out, err = cli(*args, "--dry-run")
    assert code == 0, err
    plan = _plan(out)
    assert plan and not (tmp_path / "store").exists()
    only = args[args.index("--only") + 1] if "--only" in args else ""
    claim = re.fullmatch(r"claim=([\w-]+)", only)
    if claim:
        studies = load_experiments(ROOT / "experiments.yaml", "quick").data["studies"]
        assert set(plan) == set(CLAIMS[claim.group(1)].studies(studies)), command
    if command in ELSEWHERE:
        return
    study = min((s for s in plan if plan[s][0]), key=lambda s: (sum(plan[s]), s))
    narrowed = _set([a for a in args if a != "--report"], "--only", ",".join(filter(None, [only, f"study={study}"])))
    code, _, err = cli(*narrowed)
    assert code == 0, err
    assert f"trained {sum(plan[study])} runs: ok" in err, err
