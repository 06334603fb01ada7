"""Matplotlib figures for the report: house style, colours and SVG export.

The report embeds every figure as inline SVG.  ``figure_to_svg`` turns a
:class:`matplotlib.figure.Figure` into a standalone ``<svg>`` string that

* draws text as paths (``svg.fonttype='path'``), so the output does not
  depend on the fonts installed where the report is read or printed;
* carries no XML prolog, DOCTYPE, date or creator metadata; and
* is deterministic: a fixed ``svg.hashsalt`` makes matplotlib's internal ids
  (clip paths, glyphs) a function of content only, so the same figure gives
  the same bytes on every run.

``new_figure`` creates figures in the house style (sizes that fit an A4 text
column of 170 mm at 100 %, 8-10 pt fonts, light grid).  It does not use
``pyplot``: figures are plain ``Figure`` objects with no global registry, so
nothing leaks between figures.

``OPTIMIZER_COLORS`` gives each optimizer a fixed colour from the Okabe-Ito
colour-blind-safe palette; ``optimizer_color`` falls back deterministically
(by a stable hash, not Python's salted ``hash``) for names not in the table.
"""

from __future__ import annotations

import hashlib
import io
import re

import matplotlib
from matplotlib.figure import Figure

__all__ = [
    "FIGURE_SIZES",
    "HOUSE_RC",
    "OPTIMIZER_COLORS",
    "SVG_HASH_SALT",
    "apply_house_style",
    "clean_svg",
    "figure_to_svg",
    "new_figure",
    "optimizer_color",
    "scope_svg_ids",
]

# A4 is 210 mm wide; the print stylesheet uses 20 mm side margins, so the text
# column is 170 mm = 6.69 in.  Figures are drawn at the size they are printed.
FIGURE_SIZES = {
    # width -> (figure width in inches, height of one row of axes in inches)
    "full": (6.3, 2.6),
    "half": (3.15, 2.3),
}

SVG_HASH_SALT = "descenso-report"

# Okabe & Ito (2008), "Color Universal Design".  Yellow (#F0E442) is kept out
# of the fixed assignments because it is hard to see on white paper.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#7F7F7F",
}

OPTIMIZER_COLORS: dict[str, str] = {
    "gd": OKABE_ITO["black"],
    "sgd-1": OKABE_ITO["grey"],
    "minibatch-sgd": OKABE_ITO["sky_blue"],
    "momentum": OKABE_ITO["orange"],
    "adagrad": OKABE_ITO["bluish_green"],
    "rmsprop": OKABE_ITO["reddish_purple"],
    "adam": OKABE_ITO["vermillion"],
}

# Colours for names outside OPTIMIZER_COLORS: the remaining Okabe-Ito blue,
# then Paul Tol's "muted" scheme (also colour-blind safe).
_FALLBACK_COLORS = (
    OKABE_ITO["blue"],
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#DDCC77",
    "#CC6677",
    "#882255",
    "#AA4499",
)


def optimizer_color(name: str) -> str:
    """Colour for an optimizer name; the same name always gets the same colour.

    Known names (``OPTIMIZER_COLORS``) get their fixed colour; other names get
    one of ``_FALLBACK_COLORS`` chosen by a SHA-256 of the name, which does not
    change between processes (unlike the built-in ``hash``).
    """
    if name in OPTIMIZER_COLORS:
        return OPTIMIZER_COLORS[name]
    digest = hashlib.sha256(str(name).encode("utf-8")).digest()
    return _FALLBACK_COLORS[int.from_bytes(digest[:4], "big") % len(_FALLBACK_COLORS)]


# House style.  rcParams are read when artists are created (fonts, grid, line
# widths), so they must be in force while a caller draws, i.e. after
# new_figure() returns; new_figure() therefore installs them process-wide.  The
# report stage is the only code that draws, so this is harmless elsewhere.
HOUSE_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "legend.frameon": False,
    "figure.titlesize": 10,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#d0d0d0",
    "grid.linewidth": 0.5,
    "grid.alpha": 1.0,
    "axes.linewidth": 0.6,
    "axes.edgecolor": "#444444",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "lines.linewidth": 1.4,
    "lines.markersize": 4,
    "mathtext.fontset": "dejavusans",
    "image.cmap": "viridis",
    "savefig.transparent": False,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.prop_cycle": matplotlib.cycler(color=[
        OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["bluish_green"],
        OKABE_ITO["orange"], OKABE_ITO["reddish_purple"], OKABE_ITO["sky_blue"],
        OKABE_ITO["black"], OKABE_ITO["grey"],
    ]),
    "svg.fonttype": "path",
    "svg.hashsalt": SVG_HASH_SALT,
}

# Settings that figure_to_svg forces whatever the caller's rcParams say.
_SVG_RC = {"svg.fonttype": "path", "svg.hashsalt": SVG_HASH_SALT, "svg.image_inline": True}


def apply_house_style() -> None:
    """Install ``HOUSE_RC`` in ``matplotlib.rcParams`` (idempotent)."""
    matplotlib.rcParams.update(HOUSE_RC)


def new_figure(ncols: int = 1, nrows: int = 1, width: str = "full"):
    """Create a figure in the house style and return ``(fig, axes)``.

    ``width`` is ``'full'`` (the whole A4 text column, 6.3 in) or ``'half'``
    (3.15 in).  The height grows with ``nrows``.  ``axes`` is a single
    ``Axes`` when ``ncols == nrows == 1``, otherwise a NumPy array of them
    (``squeeze=True``, as :func:`matplotlib.pyplot.subplots`).  The figure
    uses the constrained layout engine, so labels are not clipped.
    """
    if width not in FIGURE_SIZES:
        raise ValueError(f"width must be one of {sorted(FIGURE_SIZES)}, got {width!r}")
    if int(ncols) < 1 or int(nrows) < 1:
        raise ValueError(f"ncols and nrows must be >= 1, got ncols={ncols}, nrows={nrows}")
    apply_house_style()
    fig_width, row_height = FIGURE_SIZES[width]
    fig = Figure(figsize=(fig_width, row_height * int(nrows)), layout="constrained")
    axes = fig.subplots(nrows=int(nrows), ncols=int(ncols), squeeze=True)
    return fig, axes


_PROLOG_RE = re.compile(r"\A\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?", re.S)
_METADATA_RE = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_MPL_STYLE_RE = re.compile(
    r"\s*<defs>\s*<style type=\"text/css\">\s*\*\s*\{\s*stroke-linejoin:\s*round;\s*stroke-linecap:\s*butt\s*\}\s*</style>\s*</defs>"
)
_STYLE_ATTR_RE = re.compile(r'(<[A-Za-z][\w:.-]*\b[^<>]*?)\sstyle="([^"]*)"')

# CSS properties that SVG also accepts as presentation attributes.
_PRESENTATION_ATTRIBUTES = frozenset({
    "clip-rule", "color", "display", "fill", "fill-opacity", "fill-rule", "font-family",
    "font-size", "font-style", "font-weight", "image-rendering", "mix-blend-mode",
    "opacity", "paint-order", "shape-rendering", "stroke", "stroke-dasharray",
    "stroke-dashoffset", "stroke-linecap", "stroke-linejoin", "stroke-miterlimit",
    "stroke-opacity", "stroke-width", "text-anchor", "visibility",
})


def _style_to_attributes(match: re.Match) -> str:
    head, style = match.group(1), match.group(2)
    attributes, rest = [], []
    for declaration in style.split(";"):
        if ":" not in declaration:
            continue
        name, value = (part.strip() for part in declaration.split(":", 1))
        if name in _PRESENTATION_ATTRIBUTES and f' {name}="' not in head:
            attributes.append(f'{name}="{value}"')
        else:
            rest.append(f"{name}: {value}")
    out = head
    if attributes:
        out += " " + " ".join(attributes)
    if rest:
        out += ' style="' + "; ".join(rest) + '"'
    return out


def clean_svg(svg: str) -> str:
    """Normalise matplotlib SVG output for inlining in HTML.

    Drops the XML prolog, DOCTYPE and ``<metadata>``; turns ``style="..."``
    declarations into presentation attributes (``fill="..."``), and
    matplotlib's document-wide ``<style>*{stroke-linejoin: round;
    stroke-linecap: butt}</style>`` into inherited attributes on the root.
    Inlined in HTML, a ``<style>`` element would apply to the whole page and
    ``style`` attributes would be read by the HTML cascade (WeasyPrint warns
    about every SVG-only property); presentation attributes mean the same to
    an SVG renderer and concern nobody else.
    """
    svg = _PROLOG_RE.sub("", svg, count=1)
    svg = _METADATA_RE.sub("", svg, count=1)
    had_default_style = bool(_MPL_STYLE_RE.search(svg))
    svg = _MPL_STYLE_RE.sub("", svg, count=1)
    svg = _STYLE_ATTR_RE.sub(_style_to_attributes, svg)
    if had_default_style:
        svg = svg.replace("<svg ", '<svg stroke-linejoin="round" stroke-linecap="butt" ', 1)
    return svg.strip() + "\n"


def figure_to_svg(fig) -> str:
    """Render ``fig`` to a standalone SVG string and close the figure.

    Text is converted to paths, the XML prolog, DOCTYPE and ``<metadata>``
    are removed, and ids are content hashes, so identical figures give
    identical strings.
    """
    buffer = io.StringIO()
    try:
        with matplotlib.rc_context(_SVG_RC):
            fig.savefig(
                buffer,
                format="svg",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
            )
    finally:
        _close(fig)
    return clean_svg(buffer.getvalue())


def _close(fig) -> None:
    """Close ``fig`` if pyplot manages it; plain ``Figure`` objects need nothing."""
    manager = getattr(getattr(fig, "canvas", None), "manager", None)
    if manager is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)


_ID_RE = re.compile(r'\bid="([^"]+)"')


def scope_svg_ids(svg: str, prefix: str) -> str:
    """Prefix every ``id`` defined in ``svg`` and every reference to it.

    Several SVGs inlined in one HTML document share one id namespace, and
    matplotlib names groups ``figure_1``, ``axes_1``, ... in every file.
    Rewriting ``id="x"``, ``href="#x"``, ``xlink:href="#x"`` and ``url(#x)``
    to use ``prefix + x`` keeps each SVG self-consistent and the document's
    ids unique.
    """
    ids = set(_ID_RE.findall(svg))
    if not ids:
        return svg

    def fix_id(match: re.Match) -> str:
        return f'id="{prefix}{match.group(1)}"'

    def fix_ref(match: re.Match) -> str:
        name = match.group(2)
        if name not in ids:
            return match.group(0)
        return f"{match.group(1)}{prefix}{name}{match.group(3)}"

    svg = _ID_RE.sub(fix_id, svg)
    svg = re.sub(r'((?:xlink:)?href="#)([^"]+)(")', fix_ref, svg)
    svg = re.sub(r"(url\(#)([^)]+)(\))", fix_ref, svg)
    return svg
