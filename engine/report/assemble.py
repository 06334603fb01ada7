"""From the result store to reports/: verdicts, figures, results.csv, claims.json, HTML and PDF.

Reads stored records only (never trains) and names every result it lacks.  Each claim with a
study in the plan gets its analysis, its criterion from experiments.yaml and the verdict that
follows; the claim's prose comes from templates/claims/<id>.yaml.

The handout is written in every language of ``LANGUAGES`` from the same templates, catalogues
and prose: the course's language (``report.language`` in experiments.yaml, Spanish) at
``out_dir/index.html`` and ``out_dir/report.pdf``, each other one at ``out_dir/<lang>/``.
Each claim is analysed once per language, inside ``figures.report_language``, so that its
figures speak that language; the verdict does not depend on it.  The languages are written in
parallel, one forked process each, on Linux when the machine has the cores.  ``results.csv`` and
``claims.json`` (with the course language's wording) are written once, in ``out_dir``.
The title page's texts come from ``report:`` in experiments.yaml, and for another language from
its ``report.<lang>`` block when there is one.
"""
from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import json
import multiprocessing
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from engine.atomic import write_atomic
from engine.claims import CLAIMS
from engine.claims.base import Analysis
from engine.claims.reproductions import reproductions
from engine.claims.verdict import evaluate
from engine.config.validate import Experiments
from engine.environment import environment
from engine.optim import OPTIMIZERS
from engine.plan import expand_with_waiting
from engine.record import Record
from engine.report import TEMPLATES_DIR
from engine.report.cache import ReportCache
from engine.kit.catalog import load_catalog, message
from engine.kit.figures import display_text, format_number, report_language
from engine.report.mathsvg import math_svg
from engine.report.reason import verdict_reason
from engine.report.render import write_report
from engine.store import ResultStore

LANGUAGES = ("es", "en")
COVER_KEYS = ("title", "subtitle", "course", "institution", "lecture", "date")


def results_csv(records: list[Record]) -> str:
    """One row per stored run: identity, every hyperparameter, budget, status and final metrics."""
    rows = []
    for rec in records:
        s, opt = rec.spec, rec.spec.optimizer
        row = {"study": s.study, "claim": s.claim, "model": s.model.name,
               "model_kind": s.model.kind, "dataset": s.dataset.name if s.dataset else "",
               "optimizer": opt.name if opt else "", "optimizer_kind": opt.kind if opt else "",
               **{f"hp_{k}": v for k, v in (opt.hp if opt else {}).items()},
               **{f"param_{k}": v for k, v in s.vary.items()},
               "batch": s.batch if s.batch is not None else "", "seed": s.seed,
               "status": rec.status, "diverged_at_step": rec.diverged_at_step or "",
               "steps": rec.final.get("steps", ""), "epochs": rec.final.get("epochs", ""),  # not every run counts them
               "wall_time_s": f"{rec.wall_time_s:.6f}",
               **{f"final_{k}": v for k, v in rec.final.items() if k not in ("steps", "epochs")},
               "error": rec.error or "", "key": rec.key}
        rows.append(row)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _formulas(records: list[Record], language: str, cache: ReportCache) -> list[dict]:
    """The update rules a claim compares: shown when its runs use two rules or more (a claim
    that trains with one optimizer only, as a tool, is not about that rule)."""
    kinds = list(dict.fromkeys(r.spec.optimizer.kind for r in records if r.spec.optimizer))
    if len(kinds) < 2:
        return []
    catalog = load_catalog(language)
    return [{"svg": cache.value("formula", OPTIMIZERS[k].formula, lambda k=k: math_svg(OPTIMIZERS[k].formula)),
             "caption": message(catalog, "formula.rule", name=display_text(k, language))} for k in kinds]


def rebuild_command(claim_ids: list[str], profile: str) -> str:
    """The command that trains what a claim lacks and renders the report again."""
    option = "" if profile == "full" else f"PROFILE={profile} "
    *others, own = claim_ids
    steps = [f"make run {option}ONLY='claim={c}'" for c in others]
    return " && ".join(steps + [f"make report {option}ONLY='claim={own}'"])


def _claim_ids(claim, exp: Experiments) -> list[str]:
    """The claims whose studies `claim` analyses, its own last."""
    served = sorted({st["claim"] for st in claim.studies(exp.data["studies"]).values()} - {claim.id})
    return served + [claim.id]


def seeds_text(seeds: list[int]) -> str:
    """'0, 1, 2' for a few seeds; '100–149 (50)' for a long consecutive run (how many in brackets)."""
    if len(seeds) > 5 and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}–{seeds[-1]} ({len(seeds)})"
    return ", ".join(map(str, seeds))


def _studies(exp: Experiments, records: list[Record], missing: list) -> list[dict]:
    status = Counter((r.spec.study, r.status) for r in records)
    lacking = Counter(run.spec["study"] for run in missing)
    out = []
    for name, study in exp.data["studies"].items():
        out.append({
            "study": name, "claim": study["claim"], "models": list(study.get("models", [])),
            "optimizers": list(study.get("optimizers", [])), "seeds": seeds_text(study.get("seeds", [])),
            "budget": dict(study.get("budget", {})), "tune": (study.get("tune") or {}).get("metric", ""),
            "runs": {"ok": status[(name, "ok")], "diverged": status[(name, "diverged")],
                     "failed": status[(name, "failed")], "missing": lacking[name]},
        })
    return out


def _analyse(exp: Experiments, records: list[Record], missing: list, waiting: list, language: str,
             cache: ReportCache):
    """Every claim of the experiments file, analysed in `language`: (claims for the page, claims.json rows)."""
    catalog = load_catalog(language)
    claims, claims_json = [], []
    by_claim: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        by_claim.setdefault(record.spec.claim, []).append(i)
    for cid, claim in CLAIMS.items():
        if cid not in exp.data["claims"]:  # a claim this experiments file does not test
            continue
        mine = [records[i] for i in sorted(i for c, rows in by_claim.items() if claim.serves(c) for i in rows)]
        lacking = [r.label for r in missing if claim.serves(r.spec["claim"])] + [
            f"{cell.text()}: final seeds (await the tuning grid)" for cell in waiting
            if claim.serves(exp.data["studies"][cell.study]["claim"])]
        if not mine and not lacking:
            continue
        text = claim.text(language)
        own = claim.studies(exp.data["studies"])
        def analyse(mine=mine, text=text, own=own, claim=claim) -> Analysis:
            with report_language(language):
                return claim.analyze(mine, text, own)

        analysis = (cache.analysis(claim, mine, text, own, language, analyse) if mine
                    else Analysis({q: None for q in claim.quantities}))
        # Each criterion's description in the report's language (Spanish when no translation).
        criteria = [{**c, "description": c.get(f"description_{language}", c.get("description", ""))}
                    for c in exp.data["claims"][cid]["criterion"]]
        verdict, rows = evaluate(criteria, analysis.quantities)
        reason = verdict_reason(verdict, rows, criteria, language)
        claims.append({
            "id": cid, "section": claim.section, "title": text["title"],
            "quote_es": text["quote_es"], "quote_en": text["quote_en"],
            "explanation": text["explanation"], "method": text["method"],
            "formulas": _formulas(mine, language, cache), "figures": analysis.figures, "tables": analysis.tables,
            "criterion": [{k: r[k] for k in ("quantity", "description", "expected", "measured", "outcome")}
                          for r in rows],
            "verdict": verdict, "verdict_reason": reason, "missing": lacking,
            "command": rebuild_command(_claim_ids(claim, exp), exp.profile),
            **_criterion_record(exp.data["claims"][cid], language),
        })
        record = exp.data["claims"][cid]
        claims_json.append({"id": cid, "verdict": verdict, "criterion": rows,
                            "reason": f"{message(catalog, 'verdict.' + verdict.replace(' ', '_'))}: {reason}",
                            "declared": record.get("declared"), "revisions": record.get("revisions", []),
                            "numbers": analysis.numbers, "missing_results": len(lacking),
                            "runs_used": len(mine)})
    return claims, claims_json


def _reproduction_rows(rows: list[dict], language: str) -> list[dict]:
    """The reproductions table's cells in `language`: numbers in its decimal style."""
    catalog = load_catalog(language)
    num = lambda x: format_number(x, 3, language)
    out = []
    for row in rows:
        ours, diff = row["ours"], row["difference"]
        budget = row["budget"]
        note = (message(catalog, "reproductions.notes." + row["id"], epochs=budget.get("epochs", "—"))
                if row["id"].startswith("mnist1d") else "")
        out.append({
            "source": row["source"], "quantity": message(catalog, "reproductions.quantities." + row["quantity"]),
            "published": num(row["published"]),
            "ours": "—" if ours is None else f"{num(ours['mean'])} [{num(ours['low'])}, {num(ours['high'])}]",
            "n": "—" if ours is None else f"{ours['n']} {message(catalog, 'reproductions.units.' + ours['unit'])}",
            "difference": "—" if diff is None else f"{num(diff['mean'])} [{num(diff['low'])}, {num(diff['high'])}]",
            "status": row["status"], "status_text": message(catalog, "reproductions.status." + row["status"].replace(" ", "_")),
            "note": note, "tolerance": num(row["tolerance"]),
        })
    return out


def _criterion_record(record: dict, language: str) -> dict:
    """The date a claim's criterion was declared and its revisions, in `language`: `from`, `to`
    and `why` are Spanish, their `_en` keys English (the schema requires both in experiments.yaml)."""
    return {"declared": record.get("declared"),
            "revisions": [{**r, **{k: r.get(f"{k}_{language}", r[k]) for k in ("from", "to", "why")}}
                          for r in record.get("revisions", [])]}


_JOB = None  # in a forked worker of `_in_parallel` only: the function it calls


def _set_job(function) -> None:
    """Start a forked worker: the function it calls, and Python's cyclic garbage collector off.

    A full collection walks every live object: the build's stored records (1.5 million objects
    in the full profile), and later WeasyPrint's layout of the document.  It ran six times in a
    language's worker and took about 7 of its 50 s of CPU.  The worker exits once its language
    is written, so the cycles it leaves (matplotlib's figures, the layout) cost memory only
    until then: its peak grows by about 0.3 GB, to 1.4 GB (full profile, measured)."""
    global _JOB
    _JOB = function
    gc.disable()


def _call_job(argument):
    return _JOB(argument)


def _in_parallel(function, arguments: list) -> list:
    """[function(a) for a in arguments], in forked processes when there are several and the
    machine has more than one core (a language's figures and PDF take a minute when nothing is
    cached).  A forked worker receives `function`, the records it closes over included, through
    the fork itself (a fork's process arguments are not pickled): pickling thousands of records
    to it would cost more than the work."""
    workers = min(len(arguments), os.cpu_count() or 1)
    # Linux only: fork is the default there, while macOS's system libraries may not survive it.
    if workers < 2 or not sys.platform.startswith("linux"):
        return [function(a) for a in arguments]
    with multiprocessing.get_context("fork").Pool(workers, initializer=_set_job, initargs=(function,)) as pool:
        return pool.map(_call_job, arguments)


@dataclass
class _Build:
    """What every language's handout of one build shares: the plan, the stored records, the cover
    and the appendix's facts."""
    exp: Experiments
    store: ResultStore
    out_dir: Path
    folders: dict            # language → its output folder
    runs: list
    waiting: list
    records: list
    missing: list
    cache: ReportCache
    # The date, not the time: a rebuild on the same day gives the same HTML, and its cached PDF.
    generated_at: str = field(default_factory=lambda: dt.date.today().isoformat())
    env: dict = field(default_factory=environment)

    @property
    def main(self) -> str:
        return self.exp.data.get("report", {}).get("language", "es")

    def context(self, language: str, claims: list[dict], studies: list, reproduced: list) -> dict:
        """The template context of `language`'s handout (documented in engine/report/render.py)."""
        settings = self.exp.data.get("report", {})
        here = self.folders[language]
        up = "" if here == self.out_dir else "../"
        cover = {**{k: settings.get(k, "") for k in COVER_KEYS},
                 **({} if language == self.main else settings.get(language, {}))}
        status = Counter(r.status for r in self.records)
        return {
            "language": language,
            **{k: cover.get(k, "") for k in COVER_KEYS if k != "date"},
            "date": cover.get("date") or dt.date.today().isoformat(),
            "generated_at": self.generated_at,
            "profile": self.exp.profile,
            "summary": [{"id": c["id"], "title": c["title"], "verdict": c["verdict"],
                         "reason": c["verdict_reason"]} for c in claims],
            "claims": claims,
            "reproductions": _reproduction_rows(reproduced, language),
            "runs": {"total": len(self.runs), "ok": status["ok"], "diverged": status["diverged"],
                     "failed": status["failed"], "missing": len(self.missing)},
            "environment": {**self.env, "store": str(self.store.root), "experiments_file": str(self.exp.file),
                            "experiments_sha256": self.exp.sha256},
            "alternates": [{"language": other,
                            "href": f"{up}{'' if folder == self.out_dir else other + '/'}index.html"}
                           for other, folder in self.folders.items() if other != language],
            "reproducibility": {
                "all_command": "make report" + ("" if self.exp.profile == "full" else f" PROFILE={self.exp.profile}"),
                "commands": [{"id": c["id"], "title": c["title"], "command": c["command"]} for c in claims],
                "studies": studies,
                "results_csv": f"{up}results.csv", "claims_json": f"{up}claims.json",
            },
        }


def build_report(exp: Experiments, store: ResultStore, out_dir: Path, languages=None, pdf: bool = True,
                 use_cache: bool = True, plan: tuple | None = None) -> dict:
    """Write the handout in each language (default ``LANGUAGES``), results.csv and claims.json.

    ``pdf=False`` writes the HTML files only (the browser test).  Analyses and PDFs made before
    are reused from ``<store>/report-cache`` (engine.report.cache) unless ``use_cache`` is False.
    ``plan``: the whole plan's ``expand_with_waiting(exp, store)``, when the caller has it.
    """
    main = exp.data.get("report", {}).get("language", "es")
    languages = list(dict.fromkeys([main, *(languages or LANGUAGES)]))
    runs, waiting = plan if plan is not None else expand_with_waiting(exp, store)
    stored = {run.key: store.get(run.key) for run in runs}
    out_dir = Path(out_dir)
    build = _Build(exp, store, out_dir, {lang: out_dir if lang == main else out_dir / lang for lang in languages},
                   runs, waiting, records=[r for r in stored.values() if r is not None],
                   missing=[run for run in runs if stored[run.key] is None],
                   cache=ReportCache(store.root / "report-cache" if use_cache else None))
    studies = _studies(exp, build.records, build.missing)
    reproduced = reproductions(build.records)

    def write_language(language: str) -> tuple[list[dict], dict, dict]:
        """Analyse and write one language's handout: (claims.json rows, verdicts, paths)."""
        claims, claims_json = _analyse(exp, build.records, build.missing, waiting, language, build.cache)
        paths = write_report(build.context(language, claims, studies, reproduced), TEMPLATES_DIR,
                             build.folders[language], pdf=pdf, cache=build.cache)
        return claims_json, {c["id"]: c["verdict"] for c in claims}, paths

    written, verdicts, main_json = {}, {}, None
    for language, (claims_json, language_verdicts, paths) in zip(languages, _in_parallel(write_language, languages)):
        if language == main:
            main_json, verdicts = claims_json, language_verdicts
            written.update(paths)
        else:
            written.update({f"{language}/{kind}": path for kind, path in paths.items()})
    written.update(_write_tables(build, main_json, reproduced))
    return {"written": written,
            "missing": [r.label for r in build.missing] + [f"{c.text()}: final seeds" for c in waiting],
            "verdicts": verdicts}


def _write_tables(build: _Build, claims_json: list[dict], reproduced: list) -> dict:
    """results.csv (every run) and claims.json (verdicts, criteria, reproductions) of the build."""
    out_dir, records = build.out_dir, build.records
    write_atomic(out_dir / "results.csv", build.cache.table(records, lambda: results_csv(records)))
    write_atomic(out_dir / "claims.json", json.dumps(
        {"profile": build.exp.profile, "experiments_sha256": build.exp.sha256, "claims": claims_json,
         "reproductions": reproduced},
        indent=2, ensure_ascii=False, allow_nan=False))
    return {"results.csv": out_dir / "results.csv", "claims.json": out_dir / "claims.json"}