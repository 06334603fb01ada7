"""The template context: the caller's report dict checked and turned into what the templates
need (the contract is in engine/report/render.py's docstring).

``_prepare`` validates the claims (anchors, verdicts, outcomes), sets their prose with inline
math, numbers formulas, figures and tables across the document, groups the claims into the
lecture's parts, and adds the summary, references, reproducibility appendix and page CSS.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import yaml
from markupsafe import Markup, escape

from . import TEMPLATES_DIR
from engine.config.load import FAST_SAFE_LOADER
from engine.kit.catalog import DEFAULT_LANGUAGE, message
from engine.kit.figures import powers_of_ten, replace_decimals

from .mathsvg import INLINE_SIZE, math_svg, split_math
from .numbers import _cell, _localize_text, _number_format, _sci
from .svg import _math_img, _svg_data_uri

logger = logging.getLogger("descenso.report")

REFERENCES_NAME = "references.yaml"

# The lecture's parts, in order; a claim's "section" names one of them.
PARTS = ("1", "2", "3", "4", "5", "6", "7")
MISSING_SHOWN = 8  # missing-result labels listed per claim; the rest are counted

VERDICTS = ("supported", "not supported", "inconclusive", "missing")
OUTCOMES = ("pass", "fail", "unclear", "missing")

_ANCHOR_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]*$")


def _verdict_key(verdict: str) -> str:
    return verdict.replace(" ", "_")


def _verdict_class(verdict: str) -> str:
    return "verdict-" + verdict.replace(" ", "-")


def _slug(text: str, fallback: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-")
    return slug or fallback


def _css_string(text: str) -> str:
    """Quote ``text`` as a CSS string that is also safe inside <style>."""
    out = []
    for char in str(text):
        if char in '"\\<>&' or ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):x} ")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _css_content(template: str, counters: tuple[str, ...] = ("page", "pages")) -> str:
    """Turn 'página {page} de {pages}' into a CSS ``content`` value."""
    parts = []
    for index, piece in enumerate(re.split(r"\{(\w+)\}", template)):
        if index % 2:
            if piece not in counters:
                raise KeyError(f"unknown field {{{piece}}} in page footer message {template!r}")
            parts.append(f"counter({piece})")
        elif piece:
            parts.append(_css_string(piece))
    return " ".join(parts) or '""'


def _listify(value, where: str) -> list:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{where} must be a list, got {type(value).__name__}")
    return list(value)


def _prose(text, where: str, decimal: str = ".") -> Markup:
    """Prose with inline math: text escaped, each ``$...$`` set by mathtext and embedded as an
    ``<img>`` on the text's baseline (``svg._math_img``).

    With a ``decimal`` other than ``'.'`` (the Spanish edition), decimal points in the text
    and in its formulas take the language's separator (``$10^{0.5}$`` -> ``$10^{0{,}5}$``).

    Prose never stops the report: a paragraph with an unmatched ``$`` is shown as plain
    text, a formula mathtext cannot parse as its source in ``<code>``, each with a logged
    warning (the tests check every claim's prose, so these do not reach a release).
    """
    out = []
    try:
        pieces = split_math(replace_decimals(powers_of_ten(str(text)), decimal))
    except ValueError as error:
        logger.warning("%s: %s", where, error)
        return Markup(escape(replace_decimals(str(text), decimal)))
    for kind, piece in pieces:
        if kind == "text":
            # After a space, a zero-width space before the formula: WeasyPrint does not break at
            # a text's trailing space before an inline formula (an <img>, as an inline <svg>), and
            # went back to the paragraph's first space instead (a quote's first line held "Para"
            # alone; test_a_formula_at_a_line_end_does_not_strand_the_first_word).
            out.append(escape(piece + "\u200b" if piece.endswith(" ") else piece))
            continue
        try:
            svg = math_svg(piece, fontsize=INLINE_SIZE)
        except ValueError as error:
            logger.warning("%s: %s", where, str(error).splitlines()[0])
            out.append(Markup('<code class="math-source">{}</code>').format(piece))
            continue
        out.append(_math_img(svg, where, text_size=INLINE_SIZE))
    return Markup("").join(out)


_LIST_ITEM_RE = re.compile(r"^\s*(?:[-▶•]\s+)")


def _quote(text: str, where: str) -> list[dict]:
    """The lecture's words as it set them: one paragraph per line, and the lines that start with
    a bullet (``▶``, ``-``) as one list; math between dollar signs (the lecture's formulas)."""
    blocks: list[dict] = []
    for line in str(text or "").splitlines():
        if not line.strip():
            continue
        if _LIST_ITEM_RE.match(line):
            if not blocks or blocks[-1]["kind"] != "list":
                blocks.append({"kind": "list", "items": []})
            blocks[-1]["items"].append(_prose(_LIST_ITEM_RE.sub("", line), where))
        else:
            blocks.append({"kind": "text", "html": _prose(line.strip(), where)})
    return blocks


def _plain(text) -> str:
    """Prose without its math delimiters, for attributes (alt text)."""
    return "".join(piece[1:-1] if kind == "math" else piece for kind, piece in split_math(str(text)))


def _table(item: dict, number: int, anchor: str, where: str, catalog) -> dict:
    columns = [_cell(str(c), catalog)["text"] for c in _listify(item.get("columns"), f"{where}: table columns")]
    rows = []
    for row in _listify(item.get("rows"), f"{where}: table rows"):
        cells = [_cell(v, catalog) for v in _listify(row, f"{where}: table row")]
        if columns and len(cells) != len(columns):
            raise ValueError(f"{where}: table {number} has {len(columns)} columns but a row with {len(cells)} cells")
        rows.append(cells)
    # A column is right-aligned when every non-empty cell in it is numeric.
    numeric_cols = []
    for col in range(len(columns) if columns else (len(rows[0]) if rows else 0)):
        values = [r[col] for r in rows if col < len(r) and r[col]["text"] not in ("", "—")]
        numeric_cols.append(bool(values) and all(v["numeric"] for v in values))
    return {"after": item.get("after", ""), "number": number, "anchor": anchor,
            "caption": _prose(item.get("caption", ""), f"{where}: table {number} caption",
                              _number_format(None, catalog)[0]),
            "columns": columns, "numeric_cols": numeric_cols, "rows": rows}


def _part_title(section: str, catalog) -> tuple[str, str, str]:
    """(number, title, intro) of a part: the lecture's parts from the catalogue."""
    if section in PARTS:
        return (section, message(catalog, f"part.{section}.title"), message(catalog, f"part.{section}.intro"))
    return ("", section, "")


def _references(context: dict, templates_dir: Path, language: str) -> list[dict]:
    refs = context.get("references")
    if refs is None:
        path = Path(templates_dir) / REFERENCES_NAME
        refs = yaml.load(path.read_text(encoding="utf-8"), Loader=FAST_SAFE_LOADER) if path.is_file() else []
    out = []
    for ref in _listify(refs, "references"):
        note = ref.get("note", "")
        if isinstance(note, dict):
            note = note.get(language, "")
        out.append({"key": ref["key"], "authors": ref["authors"], "year": ref["year"],
                    "title": ref["title"], "venue": ref.get("venue", ""), "id": ref.get("id", ""),
                    "note": note, "anchor": f"ref-{_slug(ref['key'], 'ref')}"})
    return out


def _seeds(seeds) -> str:
    """A study's seeds: a text as given ('100–149 (50)'), a list joined ('0, 1, 2')."""
    if isinstance(seeds, str):
        return seeds
    return ", ".join(map(str, seeds or []))


def _reproducibility(context: dict, catalog, language: str) -> dict | None:
    raw = context.get("reproducibility")
    if not raw:
        return None
    from engine.kit.figures import metric_label, model_label, optimizer_label

    decimal, separator = _number_format(None, catalog)
    studies = []
    for study in _listify(raw.get("studies"), "reproducibility studies"):
        budget = []
        for key, value in (study.get("budget") or {}).items():
            try:
                if isinstance(value, dict):  # a stopping rule, named by its first key
                    budget.append(message(catalog, f"budget.{key}.{next(iter(value))}",
                                          **{k: _sci(v, decimal) for k, v in value.items()}))
                    continue
                if value == 1 and not isinstance(value, bool):
                    try:  # singular
                        budget.append(message(catalog, f"budget.{key}_one"))
                        continue
                    except KeyError:
                        pass
                budget.append(message(catalog, f"budget.{key}", value=_sci(value, decimal)))
            except KeyError:
                budget.append(f"{key} = {_sci(value, decimal)}")
        if study.get("tune"):
            budget.append(message(catalog, "reproducibility.tuned",
                                  metric=metric_label(study["tune"], language, units=False)))
        runs = study.get("runs") or {}
        studies.append({
            "study": study["study"], "claim": study.get("claim", ""),
            "models": "; ".join(model_label(m, language) for m in study.get("models") or []),
            "optimizers": ", ".join(optimizer_label(o, language) for o in study.get("optimizers") or []),
            "seeds": _seeds(study.get("seeds")),
            "budget": "; ".join(budget),
            "runs": " / ".join(str(runs.get(k, 0)) for k in ("ok", "diverged", "failed", "missing")),
            "attention": bool(runs.get("failed") or runs.get("missing")),
        })
    return {"all_command": raw.get("all_command", "make report"),
            "commands": [dict(c) for c in _listify(raw.get("commands"), "reproducibility commands")],
            "studies": studies,
            "results_csv": raw.get("results_csv", "results.csv"),
            "claims_json": raw.get("claims_json", "claims.json")}


def _prepare(context: dict, catalog, templates_dir: Path | None = None) -> dict:
    """Validate the context and derive what the templates need.

    Returns a new dict; the caller's context is not modified.
    """
    view = dict(context)
    view.setdefault("language", DEFAULT_LANGUAGE)
    language = view["language"]
    claims = _prepare_claims(_listify(context["claims"], "context['claims']"), catalog)
    view["claims"] = claims
    view["parts"] = _parts(claims, catalog)
    view["toc"] = view["parts"]
    view["summary"] = _summary(context, claims)
    view["verdict_counts"] = [
        {"verdict": v, "key": _verdict_key(v), "class": _verdict_class(v),
         "count": sum(1 for r in view["summary"] if r["verdict"] == v)}
        for v in VERDICTS
    ]
    environment = dict(context["environment"])
    packages = environment.get("packages") or {}
    environment["package_list"] = sorted(((str(k), str(v)) for k, v in packages.items()), key=lambda kv: kv[0].lower())
    view["environment"] = environment
    view["is_quick"] = str(context["profile"]).strip().lower() == "quick"
    view["alternates"] = [dict(a) for a in _listify(context.get("alternates"), "context['alternates']")]
    view["references"] = _references(context, templates_dir or TEMPLATES_DIR, language)
    view["reproducibility"] = _reproducibility(context, catalog, language)
    view["page_css"] = Markup(_page_css(catalog))
    return view


def _prepare_claims(claims_in: list, catalog) -> list[dict]:
    """Each claim checked and derived; formulas, figures and tables numbered across the handout."""
    decimal = _number_format(None, catalog)[0]
    numbers = {"formula": 0, "figure": 0, "table": 0}
    claims = []
    seen: set[str] = set()
    for index, raw in enumerate(claims_in):
        claim = dict(raw)
        cid = claim["id"]
        where = f"claim {cid!r}"
        if not isinstance(cid, str) or not _ANCHOR_RE.match(cid):
            raise ValueError(f"claim #{index}: id {cid!r} is not a valid anchor (letters, digits, '-', '_', '.', ':')")
        if cid in seen:
            raise ValueError(f"claim id {cid!r} appears twice")
        seen.add(cid)
        if claim["verdict"] not in VERDICTS:
            raise ValueError(f"{where}: verdict {claim['verdict']!r} is not one of {VERDICTS}")
        claim["verdict_key"] = _verdict_key(claim["verdict"])
        claim["verdict_class"] = _verdict_class(claim["verdict"])
        _claim_prose(claim, where, catalog, decimal)
        claim["formulas"] = _formulas(claim, where, numbers, decimal)
        claim["figures"] = _figures(claim, where, numbers, decimal)
        claim["tables"] = _tables(claim, where, numbers, catalog)
        claim["criterion"] = _criterion(claim, where, catalog, decimal)
        claims.append(claim)
    return claims


def _claim_prose(claim: dict, where: str, catalog, decimal: str) -> None:
    """The claim's paragraphs, quotes, missing runs and part label, in place."""
    for key in ("explanation", "method", "missing"):
        value = claim.get(key)
        if isinstance(value, str):  # one paragraph given as a bare string
            value = [value] if value.strip() else []
        claim[key] = [str(p) for p in _listify(value, f"{where}: {key}")]
    claim["explanation"] = [_prose(p, f"{where}: explanation", decimal) for p in claim["explanation"]]
    claim["method"] = [_prose(p, f"{where}: method", decimal) for p in claim["method"]]
    claim["missing_shown"] = claim["missing"][:MISSING_SHOWN]
    claim["missing_more"] = max(0, len(claim["missing"]) - MISSING_SHOWN)
    claim.setdefault("command", "")
    claim.setdefault("quote_en", "")
    claim["quote_blocks"] = _quote(claim.get("quote_es", ""), f"{where}: quote")
    claim["translation_blocks"] = _quote(claim["quote_en"], f"{where}: translation")
    claim.setdefault("verdict_reason", "")
    part_number, part_title, _ = _part_title(str(claim["section"]), catalog)
    claim["part_number"] = part_number
    claim["part_title"] = part_title
    claim["section_label"] = (f"{message(catalog, 'part.label', number=part_number)} · {part_title}"
                              if part_number else part_title)


def _formulas(claim: dict, where: str, numbers: dict, decimal: str) -> list[dict]:
    formulas = []
    for item in _listify(claim.get("formulas"), f"{where}: formulas"):
        numbers["formula"] += 1
        number = numbers["formula"]
        formulas.append({
            "number": number,
            "caption": _prose(item.get("caption", ""), f"{where}, formula {number}", decimal),
            "img": _math_img(item["svg"], f"{where}, formula {number}"),
        })
    return formulas


def _figures(claim: dict, where: str, numbers: dict, decimal: str) -> list[dict]:
    figures = []
    for item in _listify(claim.get("figures"), f"{where}: figures"):
        numbers["figure"] += 1
        number = numbers["figure"]
        fid = _slug(item.get("id", ""), str(number))
        caption = item.get("caption", "")
        figures.append({
            "id": item.get("id", ""),
            "anchor": f"fig-{claim['id']}-{fid}",
            "number": number,
            "caption": _prose(caption, f"{where}, figure {number}", decimal),
            "alt": _plain(caption),
            "src": _svg_data_uri(item["svg"], f"{where}, figure {item.get('id', number)!r}"),
        })
    return figures


def _tables(claim: dict, where: str, numbers: dict, catalog) -> list[dict]:
    tables = []
    for item in _listify(claim.get("tables"), f"{where}: tables"):
        numbers["table"] += 1
        number = numbers["table"]
        table = _table(item, number, f"tab-{claim['id']}-{number}", where, catalog)
        if table["after"] and table["after"] not in {f["id"] for f in claim["figures"]}:
            raise ValueError(f"{where}: table {number} follows figure {table['after']!r}, which this claim lacks")
        tables.append(table)
    return tables


def _criterion(claim: dict, where: str, catalog, decimal: str) -> list[dict]:
    criterion = []
    for item in _listify(claim.get("criterion"), f"{where}: criterion"):
        outcome = item.get("outcome")
        if outcome not in OUTCOMES:
            raise ValueError(f"{where}: criterion outcome {outcome!r} is not one of {OUTCOMES}")
        criterion.append({
            "quantity": item.get("quantity", ""),
            "description": _localize_text(item.get("description", ""), decimal, ","),
            "expected": _cell(item.get("expected", ""), catalog),
            "measured": _cell(item.get("measured", ""), catalog),
            "outcome": outcome,
        })
    return criterion


def _parts(claims: list[dict], catalog) -> list[dict]:
    """One part per section of the lecture, in the lecture's order, then any other sections."""
    parts = []
    for number in PARTS:
        _, title, intro = _part_title(number, catalog)
        parts.append({"number": number, "title": title, "intro": intro, "anchor": f"part-{number}",
                      "label": message(catalog, "part.label", number=number),
                      "claims": [c for c in claims if c["part_number"] == number]})
    for claim in claims:
        if not claim["part_number"]:
            extra = next((p for p in parts if not p["number"] and p["title"] == claim["part_title"]), None)
            if extra is None:
                extra = {"number": "", "title": claim["part_title"], "intro": "", "label": "",
                         "anchor": f"part-{_slug(claim['part_title'], str(len(parts) + 1))}", "claims": []}
                parts.append(extra)
            extra["claims"].append(claim)
    return parts


def _summary(context: dict, claims: list[dict]) -> list[dict]:
    by_id = {c["id"]: c for c in claims}
    summary = []
    for row in _listify(context["summary"], "context['summary']"):
        row = dict(row)
        if row["verdict"] not in VERDICTS:
            raise ValueError(f"summary row {row.get('id')!r}: verdict {row['verdict']!r} is not one of {VERDICTS}")
        row["verdict_key"] = _verdict_key(row["verdict"])
        row["verdict_class"] = _verdict_class(row["verdict"])
        row.setdefault("reason", "")
        row["anchor"] = row["id"] if row["id"] in by_id else None
        row["part"] = by_id[row["id"]]["part_number"] if row["id"] in by_id else ""
        summary.append(row)
    return summary


def _page_css(catalog) -> str:
    """The print rules whose text comes from the catalogue (page footer)."""
    footer = _css_content(message(catalog, "document.page_footer"))
    return (
        "@media print {\n"
        f"  @page {{ @bottom-right {{ content: {footer}; }} }}\n"
        "  @page cover { @bottom-right { content: none; } }\n"
        "}\n"
    )
