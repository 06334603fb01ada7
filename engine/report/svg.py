"""The SVGs the report embeds: checked to be one static, self-contained ``<svg>`` element (no
script, no event handler, no external reference) before they are marked safe, then inlined with
document-unique ids (formulas) or turned into a ``data:`` URI for ``<img>`` (figures).
"""
from __future__ import annotations

import re
from urllib.parse import quote

from markupsafe import Markup

from engine.kit.figures import scope_svg_ids


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
