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

Embedding: figures and formulas alike become ``<img src="data:image/svg+xml,...">``,
isolated documents whose elements do not go through WeasyPrint's HTML style
cascade: as images, figures made its layout twice as fast
(``svg._svg_data_uri``), and formulas took the Spanish report's ``render()``
from 6.4 to 5.6 s of CPU (``svg._math_img``).  A formula's alt text is its
source; in running text it is sized in ``em`` and sits on the text baseline.
Both are vector graphics in the PDF.  Tables sit in a box of their own that
scrolls sideways on a narrow screen, so the page never does.

Escaping: the Jinja environment autoescapes everything.  Every SVG is checked
(one ``<svg>`` element, no script, no event handlers, no external references)
before it becomes a ``data:`` URI, which is escaped in its attribute like any
other text; the only markup marked safe is what our own code builds around
it (a formula's ``<img>``, its attributes escaped).  Prose (explanation,
method, captions) may carry inline math between dollar signs,
``$v_t = \\beta v_{t-1} + (1-\\beta) g_t$`` (``\\$`` for a literal dollar): the
text around it is escaped, the formula is set by matplotlib's mathtext
(``mathsvg.math_svg``) and embedded as an ``<img>`` (``svg._math_img``).
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

Modules: this one renders (the Jinja environment, ``render_html``, ``write_report``);
``context.py`` checks the context and builds what the templates need; ``numbers.py`` formats
numbers and words in the reader's language; ``svg.py`` checks and embeds SVGs.

``render_html`` returns the HTML string; ``write_report`` writes
``out_dir/index.html`` and ``out_dir/report.pdf`` (PDF by WeasyPrint from the
same HTML), each via a temporary file in ``out_dir`` and ``os.replace``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from engine.atomic import write_atomic
from engine.kit.catalog import DEFAULT_LANGUAGE, load_catalog, message

from .context import OUTCOMES, VERDICTS, _prepare
from .numbers import format_cell

__all__ = ["OUTCOMES", "VERDICTS", "format_cell", "render_html", "write_report"]

logger = logging.getLogger("descenso.report")

TEMPLATE_NAME = "report.html.j2"
STYLESHEET_NAME = "style.css"
PHONE_STYLESHEET_NAME = "phone.css"  # screens narrower than 600 px


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
