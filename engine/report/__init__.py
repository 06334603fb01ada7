"""Rendering layer: formulas, HTML and PDF, from the claims' analyses (the figure kit and the message
catalogues are engine.kit, below the claims).

Public API (others code against it):

* ``engine.kit.figures.figure_to_svg(fig) -> str``, ``figures.new_figure(ncols, nrows, width)``,
  ``figures.OPTIMIZER_COLORS``, ``figures.optimizer_color(name)``,
  ``figures.optimizer_style(name) -> {color, linestyle, marker, markevery}``
* words in the report's language: ``figures.report_language(code)`` (a context manager),
  ``figures.optimizer_label(name, language=None)``, ``figures.metric_label(name, language=None)``,
  ``figures.format_number(x, digits)``, ``figures.localize_decimals(text)``,
  ``figures.annotate_heatmap(ax, values, image=None)``
* ``mathsvg.math_svg(latex, fontsize=12) -> str``, ``mathsvg.split_math(prose)``,
  ``mathsvg.INLINE_SIZE`` (the size in points of a formula in running text)
* ``engine.kit.catalog.load_catalog(language) -> dict``, ``catalog.message(catalog, key, **fmt)``
* ``render.render_html(context, templates_dir) -> str``,
  ``render.write_report(context, templates_dir, out_dir, pdf=True) -> {'html': Path, 'pdf': Path}``,
  ``render.format_cell(value, language=None) -> str``; behind them ``context`` (the template
  context), ``numbers`` (numbers and words in the report's language) and ``svg`` (SVG checks, and
  figures and formulas as ``<img>`` with ``data:`` URIs)
* ``pdf.html_to_pdf(html, pdf_path, base_url) -> [problems]``, ``pdf.layout_problems(document)``
* ``assemble.build_report(exp, store, out_dir)``: both languages (``reports/`` and ``reports/en/``)

The context that ``render_html`` takes is documented in ``render``'s module
docstring.  Submodules are imported lazily so that importing
``engine.report`` does not import matplotlib or WeasyPrint.
"""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"

__all__ = ["TEMPLATES_DIR"]
