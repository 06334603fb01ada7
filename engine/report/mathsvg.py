"""Formulas as inline SVG.

WeasyPrint renders neither MathML nor JavaScript (MathJax, KaTeX), so the
report typesets formulas at build time with matplotlib's *mathtext* (a TeX
subset: fractions, roots, sub/superscripts, ``\\mathbb``, ``\\mathrm``,
``\\left( \\right)``, Greek letters; no ``\\text`` -- use ``\\mathrm``) and embeds
the result as SVG with glyphs drawn as paths.

The SVG is cropped to the formula's ink box plus a little padding, its
``width``/``height`` are in points at the requested font size, and the root
carries ``style="vertical-align: -<depth>pt"`` so that, placed inline, the
formula's baseline sits on the text baseline.  Results are cached per process.
"""

from __future__ import annotations

import functools
import io
import re

import matplotlib
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.mathtext import MathTextParser

from .figures import SVG_HASH_SALT, clean_svg

__all__ = ["MATH_FONTSET", "math_svg"]

# 'dejavuserif' matches the report's serif body face (DejaVu Serif); glyphs it
# lacks (blackboard bold, ...) fall back to STIX.
MATH_FONTSET = "dejavuserif"

_PAD_PT = 1.0  # padding around the ink box, in points


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
    with matplotlib.rc_context(rc):
        prop = FontProperties(family="DejaVu Serif", size=float(fontsize))
        try:
            width, height, depth, *_ = MathTextParser("path").parse(latex, dpi=72, prop=prop)
        except ValueError as error:
            raise ValueError(f"mathtext cannot parse formula {latex!r}: {error}") from None
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
    # Baseline alignment for inline use, and a class for the stylesheet.
    svg = svg.replace(
        "<svg ",
        f'<svg class="math" role="img" style="vertical-align: -{depth + pad:.2f}pt" ',
        1,
    )
    # Screen readers (and text search) get the source.
    svg = re.sub(r"(<svg[^>]*>)", lambda m: m.group(1) + f"\n <title>{_xml_escape(latex)}</title>", svg, count=1)
    return svg.strip() + "\n"


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
