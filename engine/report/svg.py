"""The SVGs the report embeds: checked to be one static, self-contained ``<svg>`` element (no
script, no event handler, no external reference), then turned into a ``data:`` URI for an
``<img>``: figures (``_svg_data_uri``) and formulas (``_math_img``) alike.
"""
from __future__ import annotations

import html
import re
from urllib.parse import quote

from markupsafe import Markup


_FORBIDDEN_SVG = re.compile(
    r"<\s*script|<\s*foreignObject|\bon[a-z]+\s*=|javascript:"
    r"|(?:href|src)\s*=\s*[\"']\s*(?!#|data:)[a-z][a-z0-9+.-]*:",
    re.I,
)


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


_SVG_HEAD = re.compile(r"<svg\b[^>]*>")
_TITLE = re.compile(r"<title>(.*?)</title>", re.S)
_DEPTH = re.compile(r"vertical-align:\s*-([\d.]+)pt")
_WIDTH = re.compile(r'\swidth="([\d.]+)pt"')


def _math_img(svg: str, where: str, text_size: float | None = None) -> Markup:
    """A formula's SVG (``mathsvg.math_svg``) as ``<img class="math" alt="<its source>" src="data:...">``.

    Formulas are embedded like figures, as images (``_svg_data_uri``), not inline ``<svg>``: the
    Spanish report's 302 formulas inline were about 7,000 SVG elements in WeasyPrint's HTML style
    cascade, and as images its ``render()`` takes 5.6 s of CPU instead of 6.4 s (the same 89
    pages, the same pixels).  The ``alt`` text is the formula's source (the SVG's ``<title>``).  The ``<img>``
    takes the SVG's width and baseline offset (``vertical-align``): in points for a display
    formula; in ``em`` of the surrounding text for a formula in running text (``text_size``: the
    font size in points it was set at; class ``math-inline``), so that it follows the font size
    of a caption or a phone screen.  The height follows from the SVG's aspect ratio: a height in
    the ``style`` attribute would beat the stylesheets, and a formula narrowed to a phone's
    column (``max-width``) would be squashed instead of scaled.
    """
    src = _svg_data_uri(svg, where)  # checks the SVG
    text = svg.strip()
    head = _SVG_HEAD.match(text).group(0)
    width, depth, title = _WIDTH.search(head), _DEPTH.search(head), _TITLE.search(text)
    if not (width and depth):
        raise ValueError(f"{where}: a formula needs math_svg's width in points and vertical-align")
    unit, scale = ("pt", 1.0) if text_size is None else ("em", text_size)
    return Markup('<img class="{}" style="vertical-align: -{:.3f}{}; width: {:.3f}{}" alt="{}" src="{}">').format(
        "math" if text_size is None else "math math-inline", float(depth.group(1)) / scale, unit,
        float(width.group(1)) / scale, unit, html.unescape(title.group(1)) if title else "", src)
