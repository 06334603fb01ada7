"""From the result store to reports/: verdicts, figures, results.csv, claims.json, HTML and PDF.

Reads stored records only (never trains) and names every result it lacks.  Each claim with a
study in the plan gets its analysis, its criterion from experiments.yaml and the verdict that
follows; the claim's prose comes from templates/claims/<id>.yaml.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from pathlib import Path

from engine.atomic import write_atomic
from engine.claims import CLAIMS
from engine.claims.base import Analysis
from engine.claims.verdict import evaluate
from engine.config.validate import Experiments
from engine.environment import environment
from engine.optim import OPTIMIZERS
from engine.plan import awaiting_tuning, expand
from engine.report import TEMPLATES_DIR
from engine.report.catalog import load_catalog, message
from engine.report.mathsvg import math_svg
from engine.report.render import write_report
from engine.store import ResultStore

SECTION_TITLES = {"es": {"1": "1. Minibatch", "2": "2. Variantes del SGD", "3": "3. Redes convolucionales",
                         "4": "4. Redes recurrentes", "5": "5. Autoencoders", "6": "6. GANs",
                         "7": "7. Matriz optimizador × modelo"},
                  "en": {"1": "1. Minibatch", "2": "2. SGD variants", "3": "3. Convolutional networks",
                         "4": "4. Recurrent networks", "5": "5. Autoencoders", "6": "6. GANs",
                         "7": "7. Optimizer × model matrix"}}


def results_csv(records: list[dict]) -> str:
    """One row per stored run: identity, every hyperparameter, budget, status and final metrics."""
    rows = []
    for rec in records:
        s = rec["spec"]
        final = rec.get("final", {})
        row = {"study": s["study"], "claim": s["claim"], "model": s["model"]["name"],
               "model_kind": s["model"]["kind"], "dataset": s["dataset"]["name"] if s["dataset"] else "",
               "optimizer": (s["optimizer"] or {}).get("name", ""),
               "optimizer_kind": (s["optimizer"] or {}).get("kind", ""),
               **{f"hp_{k}": v for k, v in (s["optimizer"] or {}).get("hp", {}).items()},
               **{f"param_{k}": v for k, v in s.get("vary", {}).items()},
               "batch": s["batch"] if s["batch"] is not None else "", "seed": s["seed"],
               "status": rec["status"], "diverged_at_step": rec.get("diverged_at_step") or "",
               "steps": final.get("steps", ""), "epochs": final.get("epochs", ""),
               "wall_time_s": f"{rec['wall_time_s']:.6f}",
               **{f"final_{k}": v for k, v in final.items() if k not in ("steps", "epochs")},
               "error": rec.get("error", ""), "key": rec["key"]}
        rows.append(row)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _formulas(records: list[dict]) -> list[dict]:
    kinds = list(dict.fromkeys(r["spec"]["optimizer"]["kind"] for r in records if r["spec"]["optimizer"]))
    return [{"svg": math_svg(OPTIMIZERS[k].formula), "caption": k} for k in kinds]


def build_report(exp: Experiments, store: ResultStore, out_dir: Path) -> dict:
    settings = exp.data.get("report", {})
    language = settings.get("language", "es")
    catalog = load_catalog(language)
    runs = expand(exp, store)
    records, missing = [], []
    for run in runs:
        rec = store.get(run.key)
        (records.append(rec) if rec is not None else missing.append(run))
    waiting = awaiting_tuning(exp, store)

    claims, claims_json = [], []
    for cid, claim in CLAIMS.items():
        if cid not in exp.data["claims"]:  # a claim this experiments file does not test
            continue
        mine = [r for r in records if claim.serves(r["spec"]["claim"])]
        lacking = [r.label for r in missing if claim.serves(r.spec["claim"])] + [
            f"{cell.text()}: final seeds (await the tuning grid)" for cell in waiting
            if claim.serves(exp.data["studies"][cell.study]["claim"])]
        if not mine and not lacking:
            continue
        text = claim.text(language)
        own = claim.studies(exp.data["studies"])
        analysis = claim.analyze(mine, text, own) if mine else Analysis({q: None for q in claim.quantities})
        criteria = exp.data["claims"][cid]["criterion"]
        verdict, rows = evaluate(criteria, analysis.quantities)
        reason = message(catalog, "verdict_reason." + verdict.replace(" ", "_"))
        claims.append({
            "id": cid, "section": SECTION_TITLES[language][claim.section], "title": text["title"],
            "quote_es": text["quote_es"], "quote_en": text["quote_en"],
            "explanation": text["explanation"], "method": text["method"],
            "formulas": _formulas(mine), "figures": analysis.figures, "tables": analysis.tables,
            "criterion": [{k: r[k] for k in ("quantity", "description", "expected", "measured", "outcome")}
                          for r in rows],
            "verdict": verdict, "verdict_reason": reason, "missing": lacking,
        })
        claims_json.append({"id": cid, "verdict": verdict, "reason": reason, "criterion": rows,
                            "numbers": analysis.numbers, "missing_results": len(lacking),
                            "runs_used": len(mine)})

    status = Counter(r["status"] for r in records)
    env = environment()
    context = {
        "language": language,
        **{k: settings.get(k, "") for k in ("title", "subtitle", "course", "institution", "lecture")},
        "date": settings.get("date") or dt.date.today().isoformat(),
        "generated_at": dt.datetime.now().isoformat(timespec="seconds"),
        "profile": exp.profile,
        "summary": [{"id": c["id"], "title": c["title"], "verdict": c["verdict"]} for c in claims],
        "claims": claims,
        "runs": {"total": len(runs), "ok": status["ok"], "diverged": status["diverged"],
                 "failed": status["failed"], "missing": len(missing)},
        "environment": {**env, "store": str(store.root), "experiments_file": str(exp.file),
                        "experiments_sha256": exp.sha256},
    }
    out_dir = Path(out_dir)
    write_atomic(out_dir / "results.csv", results_csv(records))
    write_atomic(out_dir / "claims.json", json.dumps(
        {"profile": exp.profile, "experiments_sha256": exp.sha256, "claims": claims_json},
        indent=2, ensure_ascii=False, allow_nan=False))
    written = write_report(context, TEMPLATES_DIR, out_dir)
    written.update({"results.csv": out_dir / "results.csv", "claims.json": out_dir / "claims.json"})
    return {"written": written,
            "missing": [r.label for r in missing] + [f"{c.text()}: final seeds" for c in waiting],
            "verdicts": {c["id"]: c["verdict"] for c in claims}}
