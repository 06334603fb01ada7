"""Formulas as SVG.

WeasyPrint renders neither MathML nor JavaScript (MathJax, KaTeX), so the
report typesets formulas at build time with matplotlib's *mathtext* (a TeX
subset: fractions, roots, sub/superscripts, ``\\mathbb``, ``\\mathrm``,
``\\left( \\right)``, Greek letters; ``\\le``, ``\\ge``, ``\\tfrac``, ``\\lVert`` and a
few other TeX commands it lacks are mapped to ones it has) and embeds
the result as SVG with glyphs drawn as paths.

The SVG is cropped to the formula's ink box plus a little padding, its
``width``/``height`` are in points at the requested font size, the root
carries ``style="vertical-align: -<depth>pt"`` (where the formula's baseline
is) and a ``<title>`` with the formula's source.  Results are cached per process.

Prose may carry inline math between dollar signs, ``$v_t = (1-\\beta) g_t$``
(``\\$`` is a literal dollar sign).  ``split_math`` cuts such a string into text
and formula pieces; a formula for the running text is set at ``INLINE_SIZE``
points.  ``svg._math_img`` embeds a formula in the HTML as an ``<img>`` (a
``data:`` URI, like the figures), sized in ``em`` when it runs in the text, and
placed so that its baseline sits on the text's.
"""

from __future__ import annotations

import functools
import io
import re

import matplotlib
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.mathtext import MathTextParser

from engine.kit.figures import SVG_HASH_SALT, clean_svg

__all__ = ["INLINE_SIZE", "MATH_FONTSET", "math_svg", "split_math"]

# 'dejavuserif' matches the report's serif body face (DejaVu Serif); glyphs it
# lacks (blackboard bold, ...) fall back to STIX.
MATH_FONTSET = "dejavuserif"

_PAD_PT = 1.0  # padding around the ink box, in points
INLINE_SIZE = 10.0  # points: a formula for running text is set at this size, then sized in em of it


# TeX commands that mathtext lacks, and the equivalents it has.
_ALIASES = {
    "le": r"\leq", "ge": r"\geq", "lVert": r"\Vert", "rVert": r"\Vert", "lvert": r"\vert",
    "rvert": r"\vert", "tfrac": r"\frac", "dfrac": r"\frac", "operatorname*": r"\operatorname",
    "textbf": r"\mathbf", "emph": r"\mathit",
}
_ALIAS_RE = re.compile(r"\\(" + "|".join(re.escape(k) for k in sorted(_ALIASES, key=len, reverse=True)) + r")(?![A-Za-z])")


def _mathtext(latex: str) -> str:
    """``latex`` with the few common TeX commands mathtext lacks (``\\le``, ``\\tfrac``, ...) replaced."""
    return _ALIAS_RE.sub(lambda m: _ALIASES[m.group(1)], latex)


@functools.lru_cache(maxsize=512)
def math_svg(latex: str, fontsize: float = 12) -> str:
    """Render a mathtext formula such as ``r'$v_t = \\beta v_{t-1}$'`` to SVG.

    ``latex`` must contain its ``$...$`` delimiters (text outside them is set
    as plain text, as in matplotlib).  Raises ``ValueError`` with the
    formula in the message if mathtext cannot parse it.
    """
    if not isinstance(latex, str) or not latex.strip():
        raise ValueError(f"math_svg needs a non-empty formula string, got {latex!r}")
    rc = {
        "mathtext.fontset": MATH_FONTSET,
        "mathtext.fallback": "stix",
        "svg.fonttype": "path",
        "svg.hashsalt": SVG_HASH_SALT,
        "text.usetex": False,
    }
    source, latex = latex, _mathtext(latex)
    with matplotlib.rc_context(rc):
        prop = FontProperties(family="DejaVu Serif", size=float(fontsize))
        try:
            width, height, depth, *_ = MathTextParser("path").parse(latex, dpi=72, prop=prop)
        except ValueError as error:
            raise ValueError(f"mathtext cannot parse formula {source!r}: {error}") from None
        pad = _PAD_PT
        fig = Figure(figsize=((width + 2 * pad) / 72.0, (height + 2 * pad) / 72.0))
        fig.patch.set_alpha(0.0)
        fig.text(
            pad / (width + 2 * pad),
            (depth + pad) / (height + 2 * pad),
            latex,
            fontproperties=prop,
            color="black",
        )
        buffer = io.StringIO()
        fig.savefig(
            buffer,
            format="svg",
            dpi=72,
            transparent=True,
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    svg = clean_svg(buffer.getvalue())
    # Where the baseline is, and a class for the stylesheet.
    svg = svg.replace(
        "<svg ",
        f'<svg class="math" role="img" style="vertical-align: -{depth + pad:.2f}pt" ',
        1,
    )
    # Screen readers (and text search) get the source.
    svg = re.sub(r"(<svg[^>]*>)", lambda m: m.group(1) + f"\n <title>{_xml_escape(source)}</title>", svg, count=1)
    return svg.strip() + "\n"


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# $...$ with no unescaped dollar inside; \$ outside a formula is a literal dollar.
_MATH_RE = re.compile(r"(?<!\\)\$((?:[^$\\]|\\.)+?)(?<!\\)\$", re.S)


def split_math(text: str) -> list[tuple[str, str]]:
    """Cut prose into ``('text', ...)`` and ``('math', '$...$')`` pieces, in order.

    A formula is a pair of unescaped dollar signs with something between them;
    ``\\$`` stands for a literal dollar sign.  An unmatched dollar sign is
    an error (``ValueError`` quoting the text), not a silently literal one.
    """
    pieces: list[tuple[str, str]] = []
    position = 0
    for match in _MATH_RE.finditer(text):
        if match.start() > position:
            pieces.append(("text", text[position:match.start()]))
        pieces.append(("math", match.group(0)))
        position = match.end()
    if position < len(text):
        pieces.append(("text", text[position:]))
    for kind, piece in pieces:
        if kind == "text" and re.search(r"(?<!\\)\$", piece):
            raise ValueError(f"unmatched '$' in prose (write \\$ for a dollar sign): {text!r}")
    return [(kind, piece.replace("\\$", "$") if kind == "text" else piece) for kind, piece in pieces]
