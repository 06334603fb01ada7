"""The optimizer × model matrix in one place: the optimizers every matrix study trains, and each
one's grids, in the section `matrix:` of experiments.yaml.  A new optimizer joins every study
and every profile that names a grid of the matrix with one block there.

    matrix:                        # optimizer → grid → hyperparameter → values
      gd:
        mlp-digits: {lr: [0.3, 1.0, 3.0]}
        quick:      {lr: [1.0]}
    studies:
      matrix-mlp-digits: {matrix: mlp-digits, ...}   # optimizers: [gd, ...]; grid: their mlp-digits
    profiles:
      quick:
        studies:
          matrix-mlp-digits: {matrix: quick, ...}     # grid: their quick

`expand` writes the section out into the studies and profile entries that name its grids, as
`optimizers:` (the section's order) and `grid:` written by hand, and drops it: the planner and
the claims never see it.  `problems` checks the section before that (a grid named somewhere and
missing for one optimizer is an error naming both); `at_source` moves a problem that the
validator finds in the written-out keys back to the section's key that it came from.
"""
from __future__ import annotations

import copy

from engine.config.errors import ConfigProblem, did_you_mean, expected_one_of
from engine.config.load import format_path


def _naming(data: dict) -> list[tuple[tuple, str, dict, str]]:
    """(key path of `matrix:`, study name, the entry that names a grid, the grid) for every study
    and every profile's entry of a study that names one."""
    found = [(("studies", sname, "matrix"), sname, study, study["matrix"])
             for sname, study in data["studies"].items() if "matrix" in study]
    for pname, profile in data["profiles"].items():
        found += [(("profiles", pname, "studies", sname, "matrix"), sname, patch, patch["matrix"])
                  for sname, patch in (profile.get("studies") or {}).items() if "matrix" in (patch or {})]
    return found


def _who(paths: list[tuple]) -> str:
    """'a names it', 'a and b name it', 'a, b, c and 3 more name it'."""
    names = [format_path(p) for p in paths[:3]] + ([f"{len(paths) - 3} more"] if len(paths) > 3 else [])
    shown = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{shown} name{'s' if len(paths) == 1 else ''} it"


def _grid_problems(matrix: dict, naming: list) -> list[ConfigProblem]:
    """Every grid a study or a profile names, given by every optimizer; no grid named by none."""
    given = {grid for grids in matrix.values() for grid in grids}
    named: dict[str, list[tuple]] = {}
    for path, _, _, grid in naming:
        named.setdefault(grid, []).append(path)
    problems = [ConfigProblem(format_path(path), expected_one_of("grid of the matrix", grid, given))
                for path, _, _, grid in naming if grid not in given]
    for oname, grids in matrix.items():
        problems += [ConfigProblem(format_path(("matrix", oname)), (
            f"optimizer '{oname}' of the matrix has no grid '{grid}', which {_who(paths)}; expected "
            f"an entry {grid}: {{lr: [...]}} here (each optimizer of the matrix gives every grid "
            "that a study or a profile names)."))
            for grid, paths in named.items() if grid in given and grid not in grids]
        problems += [ConfigProblem(format_path(("matrix", oname, grid)), (
            f"no study or profile names grid '{grid}' (with matrix: {grid}); expected one of the "
            f"grids they name: {', '.join(named) or '(none)'}.{did_you_mean(grid, named)}"))
            for grid in grids if grid not in named and set(named) <= given]   # else the name is the typo
    return problems


def problems(data: dict) -> list[ConfigProblem]:
    """What is wrong with the matrix section and the keys that name its grids, in a file that
    the JSON Schema has accepted."""
    naming = _naming(data)
    if not naming and "matrix" not in data:
        return []
    found = [ConfigProblem(format_path(("matrix", oname)), expected_one_of("optimizer", oname, data["optimizers"]))
             for oname in data.get("matrix") or {} if oname not in data["optimizers"]]
    found += _grid_problems(data.get("matrix") or {}, naming)
    for path, sname, entry, grid in naming:
        study = data["studies"].get(sname)
        if path[0] == "studies":
            found += [ConfigProblem(format_path(path[:-1] + (key,)), (
                f"study '{sname}' takes its optimizers and grid from the matrix (matrix: {grid}); "
                f"remove '{key}', or 'matrix' to write both here.")) for key in ("optimizers", "grid") if key in entry]
        elif study is not None and "matrix" not in study:
            found.append(ConfigProblem(format_path(path), (
                f"study '{sname}' names no grid of the matrix, so its profile entry cannot; expected "
                f"grid: {{<optimizer>: {{lr: [...]}}}} for its own optimizers here instead.")))
        elif "grid" in entry:
            found.append(ConfigProblem(format_path(path[:-1] + ("grid",)), (
                f"give either a grid of the matrix (matrix: {grid}) or a grid of this entry's own, not both.")))
    for pname, profile in data["profiles"].items():
        found += [ConfigProblem(format_path(("profiles", pname, "studies", sname, "grid")), (
            f"study '{sname}' takes its grids from the matrix (matrix: {data['studies'][sname]['matrix']}); "
            f"expected matrix: <grid> here, naming a grid that every optimizer of the matrix gives."))
            for sname, patch in (profile.get("studies") or {}).items()
            if "grid" in (patch or {}) and "matrix" not in patch and "matrix" in data["studies"].get(sname, {})]
    return found


def _written_out(entry: dict, matrix: dict, study: bool) -> dict:
    """`entry` with its `matrix: <grid>` written out where it stood: a study's optimizers and grid,
    or a profile entry's grid."""
    if "matrix" not in (entry or {}):
        return entry
    out: dict = {}
    for key, value in entry.items():
        if key != "matrix":
            out[key] = value
            continue
        if study:
            out["optimizers"] = list(matrix)
        out["grid"] = {oname: copy.deepcopy(grids[value]) for oname, grids in matrix.items()}
    return out


def expand(data: dict) -> dict:
    """The file as if the matrix's optimizers and grids had been written into every study and
    profile entry that names one of its grids (a file without the section comes back as it is)."""
    if not _naming(data) and "matrix" not in data:
        return data
    matrix = data.get("matrix") or {}
    out = {key: value for key, value in data.items() if key != "matrix"}
    out["studies"] = {sname: _written_out(study, matrix, True) for sname, study in data["studies"].items()}
    out["profiles"] = {pname: profile if not profile.get("studies") else {
        **profile, "studies": {sname: _written_out(patch, matrix, False) for sname, patch in profile["studies"].items()}}
        for pname, profile in data["profiles"].items()}
    return out


def _origins(data: dict, profile: str | None) -> dict[str, str]:
    """Written-out key path → the key path of the section (or the `matrix:` key) it came from.
    With `profile`, a study's grid comes from the grid its entry in that profile names."""
    matrix = data.get("matrix") or {}
    origins: dict[tuple, tuple] = {}
    for path, sname, entry, grid in _naming(data):
        base = path[:-1]
        if path[0] == "studies" and profile is not None:
            patch = ((data["profiles"].get(profile) or {}).get("studies") or {}).get(sname) or {}
            grid = patch.get("matrix", grid)
        origins[base + ("optimizers",)] = origins[base + ("grid",)] = path
        for i, oname in enumerate(matrix):
            origins[base + ("optimizers", i)] = ("matrix", oname)
            origins[base + ("grid", oname)] = ("matrix", oname, grid)
    return {format_path(k): format_path(v) for k, v in origins.items()}


def at_source(found: list[ConfigProblem], data: dict, profile: str | None = None) -> list[ConfigProblem]:
    """`found` (problems of the written-out file `expand(data)`, with `profile` applied or not),
    each at the key of `data` it came from, and each once: one wrong value of the matrix is found
    again in every study that names its grid."""
    origins = sorted(_origins(data, profile).items(), key=lambda item: -len(item[0]))
    out, seen = [], set()
    for problem in found:
        for written, source in origins:
            if problem.path == written or problem.path.startswith((written + ".", written + "[")):
                problem.path = source + problem.path[len(written):]
                break
        if (problem.path, problem.message) not in seen:
            seen.add((problem.path, problem.message))
            out.append(problem)
    return out
