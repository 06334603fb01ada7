"""Render the report: context dict -> one self-contained HTML file (+ PDF).

The report stage never trains.  The rest of the engine reads the result
store, computes verdicts and figures, and hands this module a plain ``dict``:

.. code-block:: python

    context = {
        "language": "es",            # message catalogue: templates/messages/<language>.yaml
        # title page
        "title": str, "subtitle": str, "course": str, "institution": str,
        "lecture": str, "date": str,
        "generated_at": str,
        "profile": str,              # 'full' or 'quick'; 'quick' shows a notice that the
                                     # numbers come from a small CI budget
        # verdict table on the first pages (rows link to the claim of the same id)
        "summary": [{"id": str, "title": str, "verdict": VERDICT}],
        "claims": [{
            "id": str,               # HTML anchor: letters, digits, '-', '_', '.', ':'
            "section": str,          # e.g. '2. Variantes del SGD' (groups the table of contents)
            "title": str,
            "quote_es": str,         # the lecture's sentence, shown as a blockquote
            "quote_en": str,         # English translation, smaller ('' to omit)
            "explanation": [str],    # paragraphs (plain text)
            "formulas": [{"svg": str, "caption": str}],        # svg from mathsvg.math_svg
            "method": [str],         # paragraphs: how the experiment tests the claim
            "figures": [{"id": str, "svg": str, "caption": str}],  # svg from figures.figure_to_svg
            "tables": [{"caption": str, "columns": [str], "rows": [[str | int | float]],
                        "after": str}],   # optional: the id of a figure of this claim to follow
            "criterion": [{"quantity": str, "description": str, "expected": str | float,
                           "measured": str | float, "outcome": "pass" | "fail" | "unclear" | "missing"}],
            "verdict": VERDICT,
            "verdict_reason": str,
            "missing": [str],        # labels of results the store lacks; non-empty -> warning box
        }],
        "runs": {"total": int, "ok": int, "diverged": int, "failed": int, "missing": int},
        "environment": {"python": str, "platform": str, "git_commit": str,
                        "packages": {name: version}, "store": str,
                        "experiments_file": str, "experiments_sha256": str},
    }
    VERDICT = "supported" | "not supported" | "inconclusive" | "missing"

Optional keys: ``language`` (default ``'es'``); in a claim, ``quote_en``,
``explanation``, ``formulas``, ``method``, ``figures``, ``tables``,
``criterion``, ``verdict_reason`` and ``missing`` may be left out (treated as
empty), and ``explanation``/``method``/``missing`` may be one bare string.
The catalogue offers generic verdict reasons under ``verdict_reason.*``
(``message(load_catalog(lang), 'verdict_reason.not_supported')``) for
callers that have no specific one.  Every other key is required: the templates use ``StrictUndefined``,
so a missing one fails loudly instead of printing an empty string.

Embedding: formulas are inlined as ``<svg>`` (small; they sit on the text
baseline); figures become ``<img src="data:image/svg+xml,...">`` (isolated,
and twice as fast for WeasyPrint; see ``_svg_data_uri``).  Both are vector
graphics in the PDF.

Escaping: the Jinja environment autoescapes everything.  The only strings
marked safe are the formula SVGs -- markup our own code produced -- and every
SVG is checked first (one ``<svg>`` element, no script, no event handlers,
no external references).  Text from configuration or results is never
marked safe.

Table cells and criterion values may be numbers: ``int`` is printed as is,
``float`` with 4 significant digits (``NaN``, ``∞``), a list or tuple of
numbers as ``[a, b]``, ``None`` as ``—``; strings are printed as given.
Columns whose cells all look numeric are right-aligned.

Figures and tables are numbered across the whole document (Figura 1, 2, ...;
Tabla 1, 2, ...), formulas likewise ((1), (2), ...).  Each figure gets the
anchor ``fig-<claim id>-<figure id>``.

``render_html`` returns the HTML string; ``write_report`` writes
``out_dir/index.html`` and ``out_dir/report.pdf`` (PDF by WeasyPrint from the
same HTML), each via a temporary file in ``out_dir`` and ``os.replace``.
"""

from __future__ import annotations

import math
import numbers
import re
from pathlib import Path
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from .catalog import DEFAULT_LANGUAGE, load_catalog, message
from engine.atomic import write_atomic

from .figures import scope_svg_ids

__all__ = ["OUTCOMES", "VERDICTS", "format_cell", "render_html", "write_report"]

TEMPLATE_NAME = "report.html.j2"
STYLESHEET_NAME = "style.css"

VERDICTS = ("supported", "not supported", "inconclusive", "missing")
OUTCOMES = ("pass", "fail", "unclear", "missing")

_ANCHOR_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]*$")
_NUMBER = r"[+\-−]?(?:\d[\d\s.,]*|\.\d+)(?:[eE][+\-−]?\d+)?(?:\s*[×x]\s*10\^?[+\-−]?\d+)?"
_UNIT = r"(?:\s*(?:%|‰|s|ms|µs|min|h|x|×))?"
# '0.98', '97.8 %', '1.2e-3', '0.50 ± 0.02', '< 0.01', '[0.47, 0.53]', '0.9 – 1.1'
_NUMERIC_RE = re.compile(
    rf"^\s*[<>≤≥≈~]?\s*[\[(]?\s*{_NUMBER}{_UNIT}"
    rf"(?:\s*(?:±|\+/-|–|—|,|\.\.|to|a)\s*{_NUMBER}{_UNIT})?\s*[\])]?\s*$"
)


# --------------------------------------------------------------------------- helpers


def format_cell(value) -> str:
    """Text of a table cell: floats with 4 significant digits, others as given."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "∞" if number > 0 else "−∞"
        return f"{number:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_cell(v) for v in value) + "]"
    return str(value)


def _is_numeric(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_is_numeric(v) for v in value)
    return isinstance(value, str) and bool(_NUMERIC_RE.match(value)) and any(ch.isdigit() for ch in value)


def _cell(value) -> dict:
    return {"text": format_cell(value), "numeric": _is_numeric(value)}


def _verdict_key(verdict: str) -> str:
    return verdict.replace(" ", "_")


def _verdict_class(verdict: str) -> str:
    return "verdict-" + verdict.replace(" ", "-")


def _slug(text: str, fallback: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-")
    return slug or fallback


_FORBIDDEN_SVG = re.compile(
    r"<\s*script|<\s*foreignObject|\bon[a-z]+\s*=|javascript:"
    r"|(?:href|src)\s*=\s*[\"']\s*(?!#|data:)[a-z][a-z0-9+.-]*:",
    re.I,
)


_XMLNS_RE = re.compile(r'\s+xmlns(?::xlink)?="[^"]*"')


def _checked_svg(svg: str, where: str) -> str:
    """Check that an SVG string is one static, self-contained <svg> element."""
    if not isinstance(svg, str):
        raise TypeError(f"{where}: svg must be a str, got {type(svg).__name__}")
    text = svg.strip()
    if not text.startswith("<svg") or not text.endswith("</svg>"):
        raise ValueError(f"{where}: svg must be a single <svg>...</svg> element (use figure_to_svg / math_svg)")
    bad = _FORBIDDEN_SVG.search(text)
    if bad:
        raise ValueError(f"{where}: svg contains {bad.group(0)!r}; the report embeds only static, self-contained SVG")
    return text


def _inline_svg(svg: str, where: str, prefix: str) -> Markup:
    """An SVG string produced by our code, ready to inline in HTML: marked safe.

    Ids are prefixed so that they stay unique in the document; the namespace
    declarations are dropped because the HTML parser puts ``<svg>`` content
    in the SVG namespace (and ``xlink:href`` in the XLink one) by itself.
    """
    text = _checked_svg(svg, where)
    head, _, rest = text.partition(">")
    text = _XMLNS_RE.sub("", head) + ">" + rest
    return Markup(scope_svg_ids(text, prefix))


def _svg_data_uri(svg: str, where: str) -> str:
    """An SVG string as a ``data:`` URI for ``<img src>``.

    Figures are embedded as images rather than inline ``<svg>``: each is then
    an isolated document (no shared ids or styles) and WeasyPrint lays the
    PDF out about twice as fast, because the thousands of path elements of a
    plot do not go through the HTML style cascade.  Whitespace runs are
    collapsed (insignificant in matplotlib's SVG, which draws text as paths)
    and the result percent-encoded; ``:`` is encoded too, so the namespace
    names do not read as links.  The URI is plain text, autoescaped in the
    attribute like any other.
    """
    text = _checked_svg(svg, where)
    text = re.sub(r">\s+<", "><", text)
    text = re.sub(r"\s+", " ", text)
    return "data:image/svg+xml;charset=utf-8," + quote(text, safe=" /=;,.-_()!*[]@+$~")


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


# --------------------------------------------------------------------------- context


def _prepare(context: dict, catalog) -> dict:
    """Validate the context and derive what the templates need.

    Returns a new dict; the caller's context is not modified.
    """
    view = dict(context)
    view.setdefault("language", DEFAULT_LANGUAGE)

    claims_in = _listify(context["claims"], "context['claims']")
    claims = []
    seen: set[str] = set()
    figure_number = table_number = formula_number = 0
    svg_count = 0
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
        for key in ("explanation", "method", "missing"):
            value = claim.get(key)
            if isinstance(value, str):  # one paragraph given as a bare string
                value = [value] if value.strip() else []
            claim[key] = [str(p) for p in _listify(value, f"{where}: {key}")]
        claim.setdefault("quote_en", "")
        claim.setdefault("verdict_reason", "")

        formulas = []
        for item in _listify(claim.get("formulas"), f"{where}: formulas"):
            formula_number += 1
            svg_count += 1
            formulas.append({
                "number": formula_number,
                "caption": item.get("caption", ""),
                "svg": _inline_svg(item["svg"], f"{where}, formula {formula_number}", f"s{svg_count}-"),
            })
        claim["formulas"] = formulas

        figures = []
        for item in _listify(claim.get("figures"), f"{where}: figures"):
            figure_number += 1
            fid = _slug(item.get("id", ""), str(figure_number))
            figures.append({
                "id": item.get("id", ""),
                "anchor": f"fig-{cid}-{fid}",
                "number": figure_number,
                "caption": item.get("caption", ""),
                "src": _svg_data_uri(item["svg"], f"{where}, figure {item.get('id', figure_number)!r}"),
            })
        claim["figures"] = figures

        tables = []
        for item in _listify(claim.get("tables"), f"{where}: tables"):
            table_number += 1
            columns = [str(c) for c in _listify(item.get("columns"), f"{where}: table columns")]
            rows = []
            for row in _listify(item.get("rows"), f"{where}: table rows"):
                cells = [_cell(v) for v in _listify(row, f"{where}: table row")]
                if columns and len(cells) != len(columns):
                    raise ValueError(
                        f"{where}: table {table_number} has {len(columns)} columns but a row with {len(cells)} cells"
                    )
                rows.append(cells)
            # A column is right-aligned when every non-empty cell in it is numeric.
            numeric_cols = []
            for col in range(len(columns) if columns else (len(rows[0]) if rows else 0)):
                values = [r[col] for r in rows if col < len(r) and r[col]["text"] not in ("", "—")]
                numeric_cols.append(bool(values) and all(v["numeric"] for v in values))
            after = item.get("after", "")
            if after and after not in {f["id"] for f in figures}:
                raise ValueError(f"{where}: table {table_number} follows figure {after!r}, which this claim lacks")
            tables.append({
                "after": after,
                "number": table_number,
                "anchor": f"tab-{cid}-{table_number}",
                "caption": item.get("caption", ""),
                "columns": columns,
                "numeric_cols": numeric_cols,
                "rows": rows,
            })
        claim["tables"] = tables

        criterion = []
        for item in _listify(claim.get("criterion"), f"{where}: criterion"):
            outcome = item.get("outcome")
            if outcome not in OUTCOMES:
                raise ValueError(f"{where}: criterion outcome {outcome!r} is not one of {OUTCOMES}")
            criterion.append({
                "quantity": item.get("quantity", ""),
                "description": item.get("description", ""),
                "expected": _cell(item.get("expected", "")),
                "measured": _cell(item.get("measured", "")),
                "outcome": outcome,
            })
        claim["criterion"] = criterion
        claims.append(claim)
    view["claims"] = claims

    summary = []
    for row in _listify(context["summary"], "context['summary']"):
        row = dict(row)
        if row["verdict"] not in VERDICTS:
            raise ValueError(f"summary row {row.get('id')!r}: verdict {row['verdict']!r} is not one of {VERDICTS}")
        row["verdict_key"] = _verdict_key(row["verdict"])
        row["verdict_class"] = _verdict_class(row["verdict"])
        row["anchor"] = row["id"] if row["id"] in seen else None
        summary.append(row)
    view["summary"] = summary
    view["verdict_counts"] = [
        {"verdict": v, "key": _verdict_key(v), "class": _verdict_class(v),
         "count": sum(1 for r in summary if r["verdict"] == v)}
        for v in VERDICTS
    ]

    toc = []
    for claim in claims:
        if not toc or toc[-1]["section"] != claim["section"]:
            toc.append({"section": claim["section"], "claims": []})
        toc[-1]["claims"].append(claim)
    view["toc"] = toc

    environment = dict(context["environment"])
    packages = environment.get("packages") or {}
    environment["package_list"] = sorted(((str(k), str(v)) for k, v in packages.items()), key=lambda kv: kv[0].lower())
    view["environment"] = environment
    view["is_quick"] = str(context["profile"]).strip().lower() == "quick"
    view["page_css"] = Markup(_page_css(catalog))
    return view


def _page_css(catalog) -> str:
    """The print rules whose text comes from the catalogue (page footer)."""
    footer = _css_content(message(catalog, "document.page_footer"))
    return (
        "@media print {\n"
        f"  @page {{ @bottom-right {{ content: {footer}; }} }}\n"
        "  @page cover { @bottom-right { content: none; } }\n"
        "}\n"
    )


# --------------------------------------------------------------------------- public API


def _environment(templates_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = format_cell
    return env


def render_html(context: dict, templates_dir: Path) -> str:
    """Render ``templates_dir/report.html.j2`` with ``context`` to an HTML string.

    The stylesheet ``templates_dir/style.css`` is inlined in a ``<style>``
    element; the message catalogue is ``templates_dir/messages/<language>.yaml``.
    """
    templates_dir = Path(templates_dir)
    language = context.get("language", DEFAULT_LANGUAGE)
    catalog = load_catalog(language, messages_dir=templates_dir / "messages")
    view = _prepare(context, catalog)

    css = (templates_dir / STYLESHEET_NAME).read_text(encoding="utf-8")
    if re.search(r"</style", css, re.I):
        raise ValueError(f"{templates_dir / STYLESHEET_NAME} must not contain '</style'")
    view["css"] = Markup(css)

    def t(key: str, **fmt) -> str:
        return message(catalog, key, **fmt)

    env = _environment(templates_dir)
    env.globals["t"] = t
    return env.get_template(TEMPLATE_NAME).render(**view)


def write_report(context: dict, templates_dir: Path, out_dir: Path) -> dict[str, Path]:
    """Write ``out_dir/index.html`` and ``out_dir/report.pdf``; return their paths.

    Both files are written to a temporary file in ``out_dir`` and renamed into
    place, so a reader never sees a half-written report.  The PDF is written
    first: if WeasyPrint fails, neither file is replaced.
    """
    from .pdf import html_to_pdf  # WeasyPrint is imported only when a PDF is made

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = render_html(context, Path(templates_dir))
    pdf_path = out_dir / "report.pdf"
    html_path = out_dir / "index.html"
    html_to_pdf(html, pdf_path, base_url=out_dir)
    write_atomic(html_path, html)
    return {"html": html_path, "pdf": pdf_path}
