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
        # verdict table on the first pages (rows link to the claim of the same id); `reason`
        # (optional) says which condition decided it (engine/report/reason.py)
        "summary": [{"id": str, "title": str, "verdict": VERDICT, "reason": str}],
        "claims": [{
            "id": str,               # HTML anchor: letters, digits, '-', '_', '.', ':'
            "section": str,          # the lecture's part, '1' ... '7' (titles and intros come
                                     # from the catalogue's part.<n>); any other string is
                                     # the title of an extra part after those
            "title": str,
            "quote_es": str,         # the lecture's words, shown as a blockquote: one paragraph a
                                     # line, lines that start with '▶' or '-' a list, math between
                                     # $...$; '' for a section that quotes nothing (a note says so)
            "quote_en": str,         # its translation, shown in the other editions only ('' to omit)
            "explanation": [str],    # paragraphs: prose with inline math between $...$
            "formulas": [{"svg": str, "caption": str}],        # svg from mathsvg.math_svg
            "method": [str],         # paragraphs (prose, $...$ math): how the experiment tests it
            "figures": [{"id": str, "svg": str, "caption": str}],  # svg from figures.figure_to_svg
            "tables": [{"caption": str, "columns": [str], "rows": [[str | int | float]],
                        "after": str}],   # optional: the id of a figure of this claim to follow
            "criterion": [{"quantity": str, "description": str, "expected": str | float,
                           "measured": str | float, "outcome": "pass" | "fail" | "unclear" | "missing"}],
            "verdict": VERDICT,
            "verdict_reason": str,   # why: the deciding condition and its number (lower case)
            "missing": [str],        # labels of results the store lacks; non-empty -> warning box
            "command": str,          # optional: the command that rebuilds it (ends the section)
        }],
        "runs": {"total": int, "ok": int, "diverged": int, "failed": int, "missing": int},
        "environment": {"python": str, "platform": str, "git_commit": str,
                        "packages": {name: version}, "store": str,
                        "experiments_file": str, "experiments_sha256": str},
        # optional
        "alternates": [{"language": str, "href": str}],   # the same report in other languages
        "references": [...],         # default: templates_dir/references.yaml (see that file)
        "reproducibility": {
            "all_command": str,      # rebuilds the whole report
            "commands": [{"id": str, "title": str, "command": str}],
            "studies": [{"study": str, "claim": str, "models": [str], "optimizers": [str],
                         "seeds": [int] | str, "budget": {key: number}, "tune": str,
                         "runs": {"ok": int, "diverged": int, "failed": int, "missing": int}}],
            "results_csv": str, "claims_json": str,       # links, relative to the HTML file
        },
    }
    VERDICT = "supported" | "not supported" | "inconclusive" | "missing"

Optional keys: ``language`` (default ``'es'``); in a claim, ``quote_en``,
``explanation``, ``formulas``, ``method``, ``figures``, ``tables``,
``criterion``, ``verdict_reason``, ``missing`` and ``command`` may be left out
(treated as empty), and ``explanation``/``method``/``missing`` may be one bare
string.  The catalogue offers generic verdict reasons under
``verdict_reason.*`` (``message(load_catalog(lang), 'verdict_reason.not_supported')``)
for callers that have no specific one.  Every other key is required: the
templates use ``StrictUndefined``, so a missing one fails loudly instead of
printing an empty string.

Structure: the title page, the contents, the verdict summary, one part per
section of the lecture (1 Minibatch ... 6 GANs, 7 the optimizer × model
matrix; a part no claim belongs to says so), the references, and the
appendices (reproducibility, environment).

Embedding: formulas are inlined as ``<svg>`` (small; they sit on the text
baseline); figures become ``<img src="data:image/svg+xml,...">`` (isolated,
and twice as fast for WeasyPrint; see ``_svg_data_uri``).  Both are vector
graphics in the PDF.  Tables sit in a box of their own that scrolls
sideways on a narrow screen, so the page never does.

Escaping: the Jinja environment autoescapes everything.  The only strings
marked safe are SVGs -- markup our own code produced -- and every SVG is
checked first (one ``<svg>`` element, no script, no event handlers, no
external references).  Prose (explanation, method, captions) may carry
inline math between dollar signs, ``$v_t = \\beta v_{t-1} + (1-\\beta) g_t$``
(``\\$`` for a literal dollar): the text around it is escaped, the formula is
set by matplotlib's mathtext as inline SVG (``mathsvg.inline_math_svg``).
Text from configuration or results is never marked safe.

Words and numbers follow the language.  Table cells and criterion values
may be numbers: ``int`` is printed as is, ``float`` with 4 significant
digits (``NaN``, ``∞``), a list or tuple of numbers as ``[a, b]``, ``None``
as ``—``; with the catalogue's ``format.decimal`` (a comma in Spanish, where
lists read ``[a; b]``).  Decimal points in string cells are localized the
same way, and a cell or column header that is exactly an optimizer or
metric id (``sgd-1``, ``val_loss``) shows its display name
(``figures.optimizer_label``, ``figures.metric_label``).  Columns whose
cells all look numeric are right-aligned.

Figures and tables are numbered across the whole document (Figura 1, 2, ...;
Tabla 1, 2, ...), formulas likewise ((1), (2), ...).  Each figure gets the
anchor ``fig-<claim id>-<figure id>``, each part ``part-<section>``.

``render_html`` returns the HTML string; ``write_report`` writes
``out_dir/index.html`` and ``out_dir/report.pdf`` (PDF by WeasyPrint from the
same HTML), each via a temporary file in ``out_dir`` and ``os.replace``.
"""

from __future__ import annotations

import logging
import math
import numbers
import re
from pathlib import Path
from urllib.parse import quote

import jinja2
import yaml
from markupsafe import Markup, escape

from . import TEMPLATES_DIR
from engine.kit.catalog import DEFAULT_LANGUAGE, load_catalog, message
from engine.atomic import write_atomic
from engine.config.load import FAST_SAFE_LOADER

from engine.kit.figures import display_text, hyperparameter_text, powers_of_ten, replace_decimals, scope_svg_ids
from .mathsvg import inline_math_svg, split_math

__all__ = ["OUTCOMES", "VERDICTS", "format_cell", "render_html", "write_report"]

logger = logging.getLogger("descenso.report")

TEMPLATE_NAME = "report.html.j2"
STYLESHEET_NAME = "style.css"
PHONE_STYLESHEET_NAME = "phone.css"  # screens narrower than 600 px
REFERENCES_NAME = "references.yaml"

# The lecture's parts, in order; a claim's "section" names one of them.
PARTS = ("1", "2", "3", "4", "5", "6", "7")
MISSING_SHOWN = 8  # missing-result labels listed per claim; the rest are counted

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


def format_cell(value, language: str | None = None) -> str:
    """Text of a table cell: floats with 4 significant digits, others as given.

    With a ``language``, decimals use its catalogue's separator (``format.decimal``;
    lists then use ``format.list``): ``format_cell(0.5, 'es') == '0,5'``.  Strings are
    returned as given (the renderer localizes string cells separately).
    """
    decimal, separator = _number_format(language)
    return _format_value(value, decimal, separator)


def _number_format(language: str | None, catalog=None) -> tuple[str, str]:
    if catalog is None:
        if language is None:
            return ".", ","
        catalog = load_catalog(language)
    fmt = catalog.get("format", {}) if isinstance(catalog, dict) else {}
    return fmt.get("decimal", "."), fmt.get("list", ",")


def _format_value(value, decimal: str, separator: str) -> str:
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
        return _powers_of_ten(f"{number:.4g}", decimal)
    if isinstance(value, (list, tuple)):
        return "[" + f"{separator} ".join(_format_value(v, decimal, separator) for v in value) + "]"
    return str(value)


def _powers_of_ten(text: str, decimal: str) -> str:
    """E-notation as a reader writes it, decimals localized: '1.685e+04' -> '1,685·10⁴',
    '1e-06' -> '10⁻⁶'."""
    return replace_decimals(powers_of_ten(text), decimal)


# ", " between two numbers of a list, once its decimals have become commas.
_LIST_COMMA_RE = re.compile(r"(?<=[\d∞%)\]]), (?=[\[(]?\s*[−+\-]?[\d∞])")


def _localize_text(text: str, decimal: str, separator: str) -> str:
    """Decimal points in a string cell, in the catalogue's style; lists of numbers then
    separate with ``separator``: '0.98, 95 % [0.95, 1.02]' -> '0,98; 95 % [0,95; 1,02]'."""
    localized = _powers_of_ten(text, decimal)
    if replace_decimals(text, decimal) != text and separator != ",":
        localized = _LIST_COMMA_RE.sub(f"{separator} ", localized)
    # "0.95 ± 0.01" stays on one line
    return re.sub(r"(?<=[\d∞]) ± (?=[\d∞])", "\u00a0±\u00a0", localized)


# A hyphen that is a minus sign: before a digit, not inside a word or a range ("10-20").
_MINUS_RE = re.compile(r"(?<![\w\-−])-(?=\d)")


def _is_numeric(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_is_numeric(v) for v in value)
    return isinstance(value, str) and bool(_NUMERIC_RE.match(value)) and any(ch.isdigit() for ch in value)


def _cell(value, catalog) -> dict:
    """A table cell: its text in the report's language, and whether it is numeric."""
    decimal, separator = _number_format(None, catalog)
    language = getattr(catalog, "language", None)
    if isinstance(value, str):
        value = _estimate_words(value, catalog)
        text = _localize_text(hyperparameter_text(display_text(value, language), language), decimal, separator)
    else:
        text = _format_value(value, decimal, separator)
    return {"text": _MINUS_RE.sub("−", text), "numeric": _is_numeric(value)}


_N_RE = re.compile(r"\(n = (\d+)(?: ([a-z]+?)s?)?\)")


def _estimate_words(text, catalog):
    """An estimate's text (``Estimate.text``: '0.5, 95 % [0.4, 0.6] (n = 10 seeds)', '1 (exact)')
    with its words in the report's language ('(n = 10 semillas)', '(exacto)')."""
    if not isinstance(text, str):
        return text

    def units(match: re.Match) -> str:
        unit = match.group(2)
        if not unit:
            return match.group(0)
        try:
            return f"(n = {match.group(1)} {message(catalog, f'reason.units.{unit}')})"
        except KeyError:
            return match.group(0)

    return _N_RE.sub(units, text).replace("(exact)", f"({message(catalog, 'criterion.exact')})")


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
    plot do not go through the HTML style cascade.  Runs of ASCII white space
    are collapsed, as an SVG renderer collapses them in text anyway (the
    no-break spaces of matplotlib's mathtext are kept), and the result
    percent-encoded; ``:`` is encoded too, so the namespace names do not read
    as links.  The URI is plain text, autoescaped in the attribute like any
    other.
    """
    text = _checked_svg(svg, where)
    text = re.sub(r">[ \t\n\r]+<", "><", text)
    text = re.sub(r"[ \t\n\r]+", " ", text)
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


class _SvgCounter:
    """Hands out unique id prefixes for the SVGs inlined in one document."""

    def __init__(self):
        self.count = 0

    def prefix(self) -> str:
        self.count += 1
        return f"s{self.count}-"


def _prose(text, where: str, svgs: _SvgCounter, decimal: str = ".") -> Markup:
    """Prose with inline math: text escaped, each ``$...$`` set as inline SVG.

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
            # a text's trailing space before an inline SVG, and went back to the paragraph's
            # first space instead (a quote's first line held "Para" alone).
            out.append(escape(piece + "\u200b" if piece.endswith(" ") else piece))
            continue
        try:
            svg = inline_math_svg(piece)
        except ValueError as error:
            logger.warning("%s: %s", where, str(error).splitlines()[0])
            out.append(Markup('<code class="math-source">{}</code>').format(piece))
            continue
        out.append(_inline_svg(svg, where, svgs.prefix()))
    return Markup("").join(out)


_LIST_ITEM_RE = re.compile(r"^\s*(?:[-▶•]\s+)")


def _quote(text: str, where: str, svgs: _SvgCounter) -> list[dict]:
    """The lecture's words as it set them: one paragraph per line, and the lines that start with
    a bullet (``▶``, ``-``) as one list; math between dollar signs (the lecture's formulas)."""
    blocks: list[dict] = []
    for line in str(text or "").splitlines():
        if not line.strip():
            continue
        if _LIST_ITEM_RE.match(line):
            if not blocks or blocks[-1]["kind"] != "list":
                blocks.append({"kind": "list", "items": []})
            blocks[-1]["items"].append(_prose(_LIST_ITEM_RE.sub("", line), where, svgs))
        else:
            blocks.append({"kind": "text", "html": _prose(line.strip(), where, svgs)})
    return blocks


def _plain(text) -> str:
    """Prose without its math delimiters, for attributes (alt text)."""
    return "".join(piece[1:-1] if kind == "math" else piece for kind, piece in split_math(str(text)))


def _table(item: dict, number: int, anchor: str, where: str, catalog, svgs: _SvgCounter) -> dict:
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
            "caption": _prose(item.get("caption", ""), f"{where}: table {number} caption", svgs,
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


def _sci(value, decimal: str) -> str:
    """A budget number: 1e-06 -> 10⁻⁶, 2.5e-05 -> 2,5·10⁻⁵, 30 -> 30."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return _powers_of_ten(f"{float(value):.3g}", decimal)


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
    decimal = _number_format(None, catalog)[0]
    svgs = _SvgCounter()

    claims_in = _listify(context["claims"], "context['claims']")
    claims = []
    seen: set[str] = set()
    figure_number = table_number = formula_number = 0
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
        claim["explanation"] = [_prose(p, f"{where}: explanation", svgs, decimal) for p in claim["explanation"]]
        claim["method"] = [_prose(p, f"{where}: method", svgs, decimal) for p in claim["method"]]
        claim["missing_shown"] = claim["missing"][:MISSING_SHOWN]
        claim["missing_more"] = max(0, len(claim["missing"]) - MISSING_SHOWN)
        claim.setdefault("command", "")
        claim.setdefault("quote_en", "")
        claim["quote_blocks"] = _quote(claim.get("quote_es", ""), f"{where}: quote", svgs)
        claim["translation_blocks"] = _quote(claim["quote_en"], f"{where}: translation", svgs)
        claim.setdefault("verdict_reason", "")
        part_number, part_title, _ = _part_title(str(claim["section"]), catalog)
        claim["part_number"] = part_number
        claim["part_title"] = part_title
        claim["section_label"] = (f"{message(catalog, 'part.label', number=part_number)} · {part_title}"
                                  if part_number else part_title)

        formulas = []
        for item in _listify(claim.get("formulas"), f"{where}: formulas"):
            formula_number += 1
            formulas.append({
                "number": formula_number,
                "caption": _prose(item.get("caption", ""), f"{where}, formula {formula_number}", svgs, decimal),
                "svg": _inline_svg(item["svg"], f"{where}, formula {formula_number}", svgs.prefix()),
            })
        claim["formulas"] = formulas

        figures = []
        for item in _listify(claim.get("figures"), f"{where}: figures"):
            figure_number += 1
            fid = _slug(item.get("id", ""), str(figure_number))
            caption = item.get("caption", "")
            figures.append({
                "id": item.get("id", ""),
                "anchor": f"fig-{cid}-{fid}",
                "number": figure_number,
                "caption": _prose(caption, f"{where}, figure {figure_number}", svgs, decimal),
                "alt": _plain(caption),
                "src": _svg_data_uri(item["svg"], f"{where}, figure {item.get('id', figure_number)!r}"),
            })
        claim["figures"] = figures

        tables = []
        for item in _listify(claim.get("tables"), f"{where}: tables"):
            table_number += 1
            table = _table(item, table_number, f"tab-{cid}-{table_number}", where, catalog, svgs)
            if table["after"] and table["after"] not in {f["id"] for f in figures}:
                raise ValueError(f"{where}: table {table_number} follows figure {table['after']!r}, which this claim lacks")
            tables.append(table)
        claim["tables"] = tables

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
        claim["criterion"] = criterion
        claims.append(claim)
    view["claims"] = claims

    # One part per section of the lecture, in the lecture's order, then any other sections.
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
    view["parts"] = parts
    view["toc"] = parts

    by_id = {c["id"]: c for c in claims}
    summary = []
    for row in _listify(context["summary"], "context['summary']"):
        row = dict(row)
        if row["verdict"] not in VERDICTS:
            raise ValueError(f"summary row {row.get('id')!r}: verdict {row['verdict']!r} is not one of {VERDICTS}")
        row["verdict_key"] = _verdict_key(row["verdict"])
        row["verdict_class"] = _verdict_class(row["verdict"])
        row.setdefault("reason", "")
        row["anchor"] = row["id"] if row["id"] in seen else None
        row["part"] = by_id[row["id"]]["part_number"] if row["id"] in by_id else ""
        summary.append(row)
    view["summary"] = summary
    view["verdict_counts"] = [
        {"verdict": v, "key": _verdict_key(v), "class": _verdict_class(v),
         "count": sum(1 for r in summary if r["verdict"] == v)}
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
    env.filters["capfirst"] = lambda text: text[:1].upper() + text[1:] if text else text
    return env


def render_html(context: dict, templates_dir: Path) -> str:
    """Render ``templates_dir/report.html.j2`` with ``context`` to an HTML string.

    The stylesheets ``templates_dir/style.css`` and ``phone.css`` (screens
    narrower than 600 px) are inlined in ``<style>`` elements; the message
    catalogue is ``templates_dir/messages/<language>.yaml``.
    """
    templates_dir = Path(templates_dir)
    language = context.get("language", DEFAULT_LANGUAGE)
    catalog = load_catalog(language, messages_dir=templates_dir / "messages")
    view = _prepare(context, catalog, templates_dir)

    for key, name in (("css", STYLESHEET_NAME), ("phone_css", PHONE_STYLESHEET_NAME)):
        css = (templates_dir / name).read_text(encoding="utf-8")
        if re.search(r"</style", css, re.I):
            raise ValueError(f"{templates_dir / name} must not contain '</style'")
        view[key] = Markup(css)

    def t(key: str, **fmt) -> str:
        if any(isinstance(v, Markup) for v in fmt.values()):  # markup made by the template
            return escape(message(catalog, key)).format(**fmt)
        return message(catalog, key, **fmt)

    env = _environment(templates_dir)
    env.globals["t"] = t
    return env.get_template(TEMPLATE_NAME).render(**view)


def write_report(context: dict, templates_dir: Path, out_dir: Path, pdf: bool = True, cache=None) -> dict[str, Path]:
    """Write ``out_dir/index.html`` and ``out_dir/report.pdf``; return their paths.

    Both files are written to a temporary file in ``out_dir`` and renamed into
    place, so a reader never sees a half-written report.  The PDF is written
    first: if WeasyPrint fails, neither file is replaced.  Layout problems of
    the PDF (text past the margin, a figure split across pages) are logged as
    warnings.  ``pdf=False`` writes the HTML only.  ``cache`` (a ReportCache) keeps
    the HTML and the PDF between builds, keyed by what they are made from.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = (render_html(context, Path(templates_dir)) if cache is None else
            cache.html(context, Path(templates_dir), lambda: render_html(context, Path(templates_dir))))
    html_path = out_dir / "index.html"
    written = {"html": html_path}
    if pdf:
        from .pdf import html_to_pdf  # WeasyPrint is imported only when a PDF is made

        pdf_path = out_dir / "report.pdf"
        for problem in html_to_pdf(html, pdf_path, base_url=out_dir, cache=cache):
            logger.warning("%s: %s", pdf_path, problem)
        written["pdf"] = pdf_path
    write_atomic(html_path, html)
    return written
