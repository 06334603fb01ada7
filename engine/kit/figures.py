"""Matplotlib figures for the report: house style, colours and SVG export.

``figure_to_svg`` turns a
:class:`matplotlib.figure.Figure` into a standalone ``<svg>`` string that

* keeps text as text (``svg.fonttype='none'``) in DejaVu Sans, the face the
  figures are laid out with, then Verdana (the nearest in widths), Arial,
  Helvetica or the reader's sans-serif, as the page's own prose falls back:
  the PDF embeds DejaVu and its figure labels can be searched and copied,
  and WeasyPrint draws a label in a fraction of the time that one ``<use>``
  per glyph outline took (a language's PDF painted in about 60 % of the time);
* carries no XML prolog, DOCTYPE, date or creator metadata, nor the
  ``<g id="...">`` with which matplotlib wraps every artist (``clean_svg``:
  WeasyPrint handles every node, and these were most of them); and
* is deterministic: a fixed ``svg.hashsalt`` makes matplotlib's internal ids
  (clip paths, markers) a function of content only, so the same figure gives
  the same bytes on every run; and
* has its raster parts at ``RASTER_DPI`` (300 dpi, print resolution): images
  (``imshow``) and the artists a claim marks ``rasterized=True``, the point
  clouds of hundreds of samples, which as vector graphics took one ``<use>``
  element per point (3,072 in one figure) and a few seconds of the PDF's
  drawing.  Axes, labels and text stay vector.

``new_figure`` creates figures in the house style (sizes that fit an A4 text
column of 170 mm at 100 %, 8-10 pt fonts, light grid).  It does not use
``pyplot``: figures are plain ``Figure`` objects with no global registry, so
nothing leaks between figures.

``OPTIMIZER_COLORS`` gives each optimizer a fixed colour from the Okabe-Ito
colour-blind-safe palette; ``optimizer_color`` falls back deterministically
(by a stable hash, not Python's salted ``hash``) for names not in the table.
``optimizer_style`` adds a line style and a marker per optimizer, so lines stay
apart in black-and-white print: ``ax.plot(x, y, **optimizer_style(name))``.

Figures speak the reader's language.  The report renders each language inside
``report_language(code)``; there

* ``optimizer_label(name)`` gives the lecture's name of an optimizer id
  (``'sgd-1'`` -> "SGD (un ejemplo)" / "SGD (single example)") and
  ``metric_label(name)`` words with units for a metric id (``'val_loss'`` ->
  "pérdida en validación"), both from the message catalogues;
* ``figure_to_svg`` *presents* the figure before saving it: any text, legend
  entry or tick label that is exactly a known optimizer or metric id is shown
  by its display name, and in Spanish decimal points become commas (tick
  labels, annotations, legends);
* ``annotate_heatmap`` writes cell values in a size readable in print, black
  or white by the luminance of the cell's colour.

Figures and formulas are embedded as ``<img src="data:image/svg+xml,...">``
(see ``engine/report/svg.py``).  Both stay vector graphics in the PDF.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import io
import math
import re

import matplotlib
from matplotlib.axis import Axis
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import Formatter

from .catalog import DEFAULT_LANGUAGE, load_catalog

__all__ = [
    "FIGURE_SIZES",
    "HOUSE_RC",
    "OPTIMIZER_COLORS",
    "OPTIMIZER_LINESTYLES",
    "OPTIMIZER_MARKERS",
    "RASTER_DPI",
    "SVG_HASH_SALT",
    "annotate_heatmap",
    "apply_house_style",
    "chance_line",
    "clean_svg",
    "current_language",
    "display_text",
    "figure_to_svg",
    "format_number",
    "hyperparameter_text",
    "legend_below",
    "legend_under_figure",
    "localize_decimals",
    "metric_label",
    "model_label",
    "new_figure",
    "optimizer_color",
    "optimizer_label",
    "optimizer_style",
    "powers_of_ten",
    "replace_decimals",
    "report_language",
]

# A4 is 210 mm wide; the print stylesheet uses 20 mm side margins, so the text
# column is 170 mm = 6.69 in.  Figures are drawn at the size they are printed.
FIGURE_SIZES = {
    # width -> (figure width in inches, height of one row of axes in inches)
    "full": (6.3, 2.6),
    "half": (3.15, 2.3),
}

SVG_HASH_SALT = "descenso-report"

# Resolution of a figure's raster parts (images, rasterized point clouds): print quality.
RASTER_DPI = 300

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


# Line styles and markers: with the colours, they tell the optimizers apart in
# black-and-white print and for readers who cannot tell the hues apart.
OPTIMIZER_LINESTYLES: dict[str, object] = {
    "gd": "-",
    "sgd-1": ":",
    "minibatch-sgd": "--",
    "momentum": "-.",
    "adagrad": (0, (5, 1.5, 1, 1.5, 1, 1.5)),
    "rmsprop": (0, (3, 1.2)),
    "adam": "-",
}

OPTIMIZER_MARKERS: dict[str, str] = {
    "gd": "o",
    "sgd-1": "x",
    "minibatch-sgd": "s",
    "momentum": "^",
    "adagrad": "D",
    "rmsprop": "v",
    "adam": "P",
}

_FALLBACK_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1.5, 1, 1.5, 1, 1.5)), (0, (3, 1.2)))
_FALLBACK_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def _stable_index(name: str, salt: str, size: int) -> int:
    digest = hashlib.sha256(f"{salt}:{name}".encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % size


def optimizer_style(name: str) -> dict:
    """``color``, ``linestyle``, ``marker`` and ``markevery`` for an optimizer's line.

    Meant for ``ax.plot(x, y, **optimizer_style(name), label=optimizer_label(name))``:
    ``markevery=0.1`` spaces the markers at a tenth of the axes' diagonal, so a
    curve of five points and one of five thousand both carry a few markers.
    (For ``ax.scatter`` take only ``color`` and ``marker``.)  Unknown names get a
    deterministic style chosen by a stable hash of the name.
    """
    linestyle = OPTIMIZER_LINESTYLES.get(name)
    if linestyle is None:
        linestyle = _FALLBACK_LINESTYLES[_stable_index(str(name), "linestyle", len(_FALLBACK_LINESTYLES))]
    marker = OPTIMIZER_MARKERS.get(name)
    if marker is None:
        marker = _FALLBACK_MARKERS[_stable_index(str(name), "marker", len(_FALLBACK_MARKERS))]
    return {"color": optimizer_color(name), "linestyle": linestyle, "marker": marker, "markevery": 0.1}


# --------------------------------------------------------------------------- language

_LANGUAGE: contextvars.ContextVar[str | None] = contextvars.ContextVar("report_language", default=None)


def current_language() -> str:
    """The language figures are drawn in: the innermost ``report_language``, else Spanish."""
    return _LANGUAGE.get() or DEFAULT_LANGUAGE


@contextlib.contextmanager
def report_language(language: str):
    """Draw figures (labels, decimal separator) in ``language`` inside this block."""
    _catalog(language)  # fail early on an unknown language
    token = _LANGUAGE.set(language)
    try:
        yield language
    finally:
        _LANGUAGE.reset(token)


@functools.lru_cache(maxsize=8)
def _catalog(language: str):
    return load_catalog(language)


def _labels(language: str | None, group: str) -> dict:
    node = _catalog(language or current_language()).get("labels", {}).get(group, {})
    return node if isinstance(node, dict) else {}


def optimizer_label(name: str, language: str | None = None) -> str:
    """The lecture's name for an optimizer id, in ``language`` (default: ``current_language()``).

    ``'gd'`` -> "GD (lote completo)" / "GD (full batch)", ``'sgd-1'`` -> "SGD (un ejemplo)" /
    "SGD (single example)", ``'adam'`` -> "Adam", ...  Unknown names are returned unchanged.
    """
    return _labels(language, "optimizer").get(str(name), str(name))


def model_label(name: str, language: str | None = None) -> str:
    """Words for a model (a family of the matrix) id, in ``language``: ``'mlp-digits'`` -> "MLP,
    dígitos 8×8" / "MLP, 8×8 digits".  Unknown names are returned unchanged."""
    return _labels(language, "model").get(str(name), str(name))


_METRIC_RE = re.compile(r"^(train|val|test)_(.+)$")


def _metric_label_or_none(name: str, language: str | None, units: bool = True) -> str | None:
    language = language or current_language()
    plain = _labels(language, "quantity")
    if name in plain:
        return plain[name]
    match = _METRIC_RE.match(name)
    if not match:
        return None
    split, rest = match.groups()
    splits, bases, unit_of = (_labels(language, g) for g in ("split", "metric", "unit"))
    qualifier = ""
    if rest not in bases:
        # extra test sets: test_<set>_<metric>, e.g. test_long_accuracy
        known = [b for b in bases if rest.endswith("_" + b)]
        if not known:
            return None
        base = max(known, key=len)
        qualifier, rest = rest[: -len(base) - 1], base
    pattern = _catalog(language)["labels"]["metric_pattern"]
    text = pattern.format(metric=bases[rest], split=splits[split])
    if qualifier:
        text += f" ({qualifier.replace('_', ' ')})"
    return text + (unit_of.get(rest, "") if units else "")


def metric_label(name: str, language: str | None = None, units: bool = True) -> str:
    """Words (and units) for a metric or axis id, in ``language`` (default: ``current_language()``).

    ``'val_loss'`` -> "pérdida en validación" / "validation loss", ``'val_accuracy'`` ->
    "exactitud en validación (fracción)" / "validation accuracy (fraction)", ``'examples'`` ->
    "ejemplos procesados", ``'wall_time_s'`` -> "tiempo por corrida (s)".  Metrics of the extra
    test sets (``test_long_accuracy``) name the set in parentheses.  ``units=False`` leaves the
    unit out (for running text: "elegida por exactitud en validación").  Unknown ids are returned
    unchanged.
    """
    label = _metric_label_or_none(str(name), language, units)
    return str(name) if label is None else label


def display_text(text: str, language: str | None = None) -> str:
    """``text`` itself, unless it is exactly an optimizer, model or metric id: then its display name."""
    if not isinstance(text, str) or not text:
        return text
    key = text.strip()
    for group in ("optimizer", "model"):
        names = _labels(language, group)
        if key in names:
            return names[key]
    label = _metric_label_or_none(key, language)
    return text if label is None else label


_SUPERSCRIPT_SIGNED = str.maketrans("-+0123456789", "⁻⁺⁰¹²³⁴⁵⁶⁷⁸⁹")
_E_NOTATION_RE = re.compile(r"(?<![\w.,])(\d+(?:\.\d+)?)e([+\-]?\d+)(?![\w.])")


def powers_of_ten(text: str) -> str:
    """E-notation as a reader writes it: ``'1.685e+04'`` -> ``'1.685·10⁴'``, ``'1e-06'`` ->
    ``'10⁻⁶'``, ``'3e-4'`` -> ``'3·10⁻⁴'`` (decimals are localized separately)."""
    def power(match: re.Match) -> str:
        mantissa, exponent = match.group(1), int(match.group(2))
        ten = "10" + str(exponent).translate(_SUPERSCRIPT_SIGNED)
        return ten if mantissa == "1" else f"{mantissa}·{ten}"

    return _E_NOTATION_RE.sub(power, text) if isinstance(text, str) and "e" in text else text


# Hyperparameters as code writes them ("beta=0.6, lr=4") and as the lecture does (β = 0,6; λ = 4).
_HP_SYMBOLS = {"lr": "λ", "beta": "β", "beta1": "β₁", "beta2": "β₂", "eps": "ε"}
_HP_RE = re.compile(r"(?<![\w.])(lr|beta[12]?|eps)=")
_HP_SEPARATOR_RE = re.compile(r"(?<=[\d∞]), (?=(?:lr|beta[12]?|eps)=)")


def hyperparameter_text(text: str, language: str | None = None) -> str:
    """``'beta=0.6, lr=4'`` as the lecture writes it: ``'β = 0,6; λ = 4'`` in Spanish (the
    decimal mark and, between values, the list separator of the language), ``'β = 0.6, λ = 4'``
    in English.  Text without such assignments is returned unchanged."""
    if not isinstance(text, str) or "=" not in text or not _HP_RE.search(text):
        return text
    separator = _catalog(language or current_language())["format"]["list"]
    text = _HP_SEPARATOR_RE.sub(f"{separator} ", text)
    return localize_decimals(_HP_RE.sub(lambda m: f"{_HP_SYMBOLS[m.group(1)]} = ", text), language)


# A decimal number: digits, a point, digits; not part of a longer dotted token (3.11.9), but
# it may end a sentence ("el objetivo 1.6.").
_DECIMAL_RE = re.compile(r"(?<![\w.])(\d+)\.(\d+)(?!\.?\d|[^\W\deE])")


def localize_decimals(text: str, language: str | None = None) -> str:
    """Write decimal points as the language does: ``'0.25'`` -> ``'0,25'`` in Spanish.

    The separator is the catalogue's ``format.decimal``.  Inside mathtext
    (``$...$``) a comma is braced (``0{,}25``) so that it is not spaced as
    punctuation.  Dotted tokens such as versions (``3.11.9``) are left alone.
    """
    return replace_decimals(text, _catalog(language or current_language())["format"]["decimal"])


def replace_decimals(text: str, separator: str) -> str:
    """``localize_decimals`` with an explicit decimal ``separator``."""
    if separator == "." or not isinstance(text, str) or "." not in text:
        return text
    parts = re.split(r"(\$[^$]*\$)", text)
    for index, part in enumerate(parts):
        mark = "{" + separator + "}" if index % 2 else separator
        parts[index] = _DECIMAL_RE.sub(lambda m: f"{m.group(1)}{mark}{m.group(2)}", part)
    return "".join(parts)


def format_number(value: float, digits: int = 3, language: str | None = None) -> str:
    """``value`` with ``digits`` significant digits, in the language's decimal style."""
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    return localize_decimals(f"{number:.{digits}g}", language).replace("-", "−")


# matplotlib writes a log axis's tick labels as mathtext, $\mathdefault{10^{-2}}$ and
# $\mathdefault{2\times10^{-2}}$.  Written as plain text with Unicode superscripts, 10⁻² and
# 2×10⁻², they look the same and skip matplotlib's mathtext parser, which took half of a report's
# mathtext parsing (542 of 1,098 strings).
_POWER_TICK_RE = re.compile(r"^\$\\mathdefault\{(?:(\d+)\\times)?(\d+)\^\{(-?\d+)\}\}\$$")
_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def plain_power(text: str) -> str:
    """A log axis's mathtext tick label (``$\\mathdefault{2\\times10^{-2}}$``) as plain text
    (``2×10⁻²``); any other text as it is."""
    match = _POWER_TICK_RE.match(text) if isinstance(text, str) else None
    if match is None:
        return text
    coefficient, base, exponent = match.groups()
    return (f"{coefficient}×" if coefficient else "") + base + exponent.translate(_SUPERSCRIPTS)


class _PresentedFormatter(Formatter):
    """Wraps an axis formatter: display names for ids, the language's decimal separator, powers
    in plain text."""

    def __init__(self, inner: Formatter, language: str):
        self.inner = inner
        self.language = language

    def _present(self, text: str) -> str:
        return localize_decimals(powers_of_ten(display_text(plain_power(text), self.language)), self.language)

    def set_axis(self, axis):
        self.axis = axis
        self.inner.set_axis(axis)

    def set_locs(self, locs):
        self.locs = locs
        self.inner.set_locs(locs)

    def __call__(self, x, pos=None):
        return self._present(self.inner(x, pos))

    def format_ticks(self, values):
        return [self._present(t) for t in self.inner.format_ticks(values)]

    def format_data(self, value):
        return self._present(self.inner.format_data(value))

    def format_data_short(self, value):
        return self._present(self.inner.format_data_short(value))

    def get_offset(self):
        return self._present(self.inner.get_offset())

    def __getattr__(self, name):  # anything else a formatter offers (e.g. LogFormatter's)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def _present_figure(fig, language: str) -> None:
    """Show ids by their display names and decimals in the language's style (see the module doc)."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for which in ("major", "minor"):
                ticker = getattr(axis, which)
                if not isinstance(ticker.formatter, _PresentedFormatter):
                    formatter = _PresentedFormatter(ticker.formatter, language)
                    (axis.set_major_formatter if which == "major" else axis.set_minor_formatter)(formatter)
    for text in _texts(fig):
        value = text.get_text()
        if value:
            presented = localize_decimals(powers_of_ten(hyperparameter_text(display_text(value, language), language)),
                                          language)
            if presented != value:
                text.set_text(presented)


def _texts(artist):
    """The ``Text`` artists in ``artist`` and its children, but for an axis only its label and
    offset text: its tick labels are its formatter's (presented above), and asking an axis for
    its children makes its ticks, which the draw makes again once the layout has placed the axes
    (about 1 s of CPU over the handout's 55 figures)."""
    if isinstance(artist, Text):
        yield artist
    children = [artist.label, artist.offsetText] if isinstance(artist, Axis) else artist.get_children()
    for child in children:
        yield from _texts(child)


# --------------------------------------------------------------------------- heat-maps


def _luminance(rgba) -> float:
    """Relative luminance (WCAG) of an RGB(A) colour with components in [0, 1]."""
    def channel(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(float(c)) for c in rgba[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def annotate_heatmap(ax, values, image=None, fmt=None, fontsize: float = 7.0, skip=None) -> list:
    """Write ``values[i][j]`` in cell (row i, column j) of a heat-map drawn with ``imshow``.

    The text is ``fontsize`` points (7 pt by default: figures are drawn at their printed
    size, so this is 7 pt on paper), black on light cells and white on dark ones, chosen by
    the WCAG contrast of the cell's colour in ``image`` (default: the last image of ``ax``).
    ``fmt(value) -> str`` formats a value (default: 2 significant digits, decimal comma in
    Spanish); cells whose value is not finite, or for which ``skip(i, j)`` is true, stay
    empty.  The axes' grid is turned off (its lines would cross the cells).  Returns the
    Text artists.
    """
    import numpy as np

    values = np.asarray(values, dtype=float)
    if image is None:
        if not ax.images:
            raise ValueError("annotate_heatmap: the axes have no image; pass image=ax.imshow(...)")
        image = ax.images[-1]
    shown = np.asarray(image.get_array(), dtype=float)
    if shown.shape != values.shape:
        raise ValueError(f"annotate_heatmap: values have shape {values.shape}, the image {shown.shape}")
    if fmt is None:
        fmt = lambda v: format_number(v, 2)  # noqa: E731
    ax.grid(False)  # grid lines would cross the cells
    artists = []
    for (i, j), value in np.ndenumerate(values):
        if not math.isfinite(value) or (skip is not None and skip(i, j)):
            continue
        cell = shown[i, j]
        rgba = image.to_rgba(cell) if math.isfinite(cell) else (1.0, 1.0, 1.0, 1.0)
        # Contrast ratio against black is (L + 0.05) / 0.05, against white 1.05 / (L + 0.05).
        dark_text = (_luminance(rgba) + 0.05) ** 2 > 0.05 * 1.05
        artists.append(ax.text(j, i, fmt(value), ha="center", va="center", fontsize=fontsize,
                               color="black" if dark_text else "white"))
    return artists


# The figures' faces, in order: matplotlib lays text out with the first (it ships with
# matplotlib), and the SVG names them all, then the generic sans-serif (module doc).
FIGURE_FONTS = ("DejaVu Sans", "Verdana", "Arial", "Helvetica")
FIGURE_FONT_FAMILY = ", ".join([*(repr(face) for face in FIGURE_FONTS), "sans-serif"])

# House style.  rcParams are read when artists are created (fonts, grid, line
# widths), so they must be in force while a caller draws, i.e. after
# new_figure() returns; new_figure() therefore installs them process-wide.  The
# report stage is the only code that draws, so this is harmless elsewhere.
HOUSE_RC = {
    "font.family": "sans-serif",
    "font.sans-serif": list(FIGURE_FONTS),
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
    "svg.fonttype": "none",
    "svg.hashsalt": SVG_HASH_SALT,
}

# Settings that figure_to_svg forces whatever the caller's rcParams say.
_SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": SVG_HASH_SALT, "svg.image_inline": True}


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


# A <g> start tag (its attributes, whether it closes itself) or an end tag.  Matplotlib escapes
# '<' and '>' in attribute values, text and comments, so every match is a real tag.
_G_TAG_RE = re.compile(r"<g(\s[^>]*?)?(/?)>|</g>")
# The attributes of a group that carries nothing but (perhaps) an id.
_ID_ONLY_RE = re.compile(r'\s*(?:id="([^"]*)"\s*)?')
# The ways an SVG refers to an id: xlink:href="#x" or href="#x" (<use>), url(#x) (clip paths).
_HREF_RE = re.compile(r'(?:xlink:)?href="#([^"]+)"')
_URL_RE = re.compile(r"url\(#([^)]+)\)")


def _referenced_ids(svg: str) -> set[str]:
    return {m.group(1) for regex in (_HREF_RE, _URL_RE) for m in regex.finditer(svg)}


def _unwrap_plain_groups(svg: str) -> str:
    """``svg`` without the start and end tags of every ``<g>`` whose only attribute is an id
    nothing refers to, or that has no attribute at all; its children stay where they were.

    Such a group draws nothing, sets nothing its children inherit and is the target of no
    reference, so the picture is the same without it.  Every other group is kept whole.
    """
    referenced = _referenced_ids(svg)
    out: list[str] = []
    unwrapped: list[bool] = []  # one per open <g>: are its tags dropped?
    position = 0
    for match in _G_TAG_RE.finditer(svg):
        if match.group(0) == "</g>":
            drop = unwrapped.pop()
        else:
            plain = _ID_ONLY_RE.fullmatch(match.group(1) or "")
            drop = plain is not None and plain.group(1) not in referenced
            if not match.group(2):
                unwrapped.append(drop)
        if drop:
            out.append(svg[position:match.start()])
            position = match.end()
    out.append(svg[position:])
    return "".join(out)


def clean_svg(svg: str) -> str:
    """Normalise matplotlib SVG output for inlining in HTML and for a cheap PDF.

    Drops the XML prolog, DOCTYPE and ``<metadata>``; turns ``style="..."``
    declarations into presentation attributes (``fill="..."``); names the
    figures' fallback faces wherever matplotlib named DejaVu Sans alone; and
    matplotlib's document-wide ``<style>*{stroke-linejoin: round;
    stroke-linecap: butt}</style>`` into inherited attributes on the root.
    Inlined in HTML, a ``<style>`` element would apply to the whole page and
    ``style`` attributes would be read by the HTML cascade (WeasyPrint warns
    about every SVG-only property); presentation attributes mean the same to
    an SVG renderer and concern nobody else.

    Last, it unwraps the groups that carry nothing (``_unwrap_plain_groups``):
    matplotlib wraps every artist in a ``<g id="line2d_7">`` whose id nothing
    refers to, and WeasyPrint handles every node of an SVG when it draws the
    PDF.  In the Spanish handout of a full build 8,241 of the 55 figures'
    10,674 groups had an id only and 1,759 no attribute at all; without them
    the HTML is 7 % smaller and WeasyPrint laid out and wrote that language's
    PDF in 13.8 s of CPU instead of 14.4 s (write_pdf 7.3 s instead of 7.8 s;
    English 13.9 s instead of 14.2 s), with every page the same pixel for
    pixel.  Groups that set something (``transform``, ``clip-path``,
    ``fill``, ...) and ids that are referenced (clip paths, markers, glyphs)
    are kept.
    """
    svg = _PROLOG_RE.sub("", svg, count=1)
    svg = _METADATA_RE.sub("", svg, count=1)
    had_default_style = bool(_MPL_STYLE_RE.search(svg))
    svg = _MPL_STYLE_RE.sub("", svg, count=1)
    svg = _STYLE_ATTR_RE.sub(_style_to_attributes, svg)
    # matplotlib names only the face it used for each character of a formula (mathtext): give
    # those the figures' fallbacks too
    svg = svg.replace(f'font-family="{FIGURE_FONTS[0]!r}"', f'font-family="{FIGURE_FONT_FAMILY}"')
    if had_default_style:
        svg = svg.replace("<svg ", '<svg stroke-linejoin="round" stroke-linecap="butt" ', 1)
    return _unwrap_plain_groups(svg).strip() + "\n"


def figure_to_svg(fig) -> str:
    """Render ``fig`` to a standalone SVG string and close the figure.

    The figure is first presented in ``current_language()``: texts and tick labels
    that are exactly an optimizer or metric id show its display name, and decimal
    points follow the language.  Text stays text (module doc), raster parts are at
    ``RASTER_DPI``, the XML prolog, DOCTYPE and ``<metadata>`` are removed, so are the groups
    that carry nothing (``clean_svg``), and ids are content hashes, so identical figures give
    identical strings.
    """
    buffer = io.StringIO()
    try:
        _present_figure(fig, current_language())
        with matplotlib.rc_context(_SVG_RC):
            _lay_out(fig)
            fig.savefig(
                buffer,
                format="svg",
                dpi=RASTER_DPI,
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
            )
    finally:
        _close(fig)
    return clean_svg(buffer.getvalue())


def _lay_out(fig) -> None:
    """Run the figure's layout engine (the constrained layout of ``new_figure``) once, as
    ``savefig`` would, with the renderer and resolution it would use; then drop the engine.

    ``savefig`` with a layout engine draws the whole figure once without output to run it, then
    again to write it: about 30 % of a figure's time went to that first draw.  The axes keep
    the positions the engine gave them, and the SVG is the same, byte for byte.
    """
    engine = fig.get_layout_engine()
    if engine is None:
        return
    canvas = fig.canvas  # pyplot's, when it manages the figure (_close reads its manager)
    FigureCanvasSVG(fig)  # the renderer the engine measures text with: the SVG one, as in savefig
    try:
        with _figure_dpi(fig, RASTER_DPI):
            engine.execute(fig)
    finally:
        fig.set_canvas(canvas)
    fig.set_layout_engine(None)


@contextlib.contextmanager
def _figure_dpi(fig, dpi: float):
    """``fig.dpi`` set to ``dpi`` in this block, as ``savefig(dpi=...)`` sets it while it saves."""
    before = fig.dpi
    fig.dpi = dpi
    try:
        yield
    finally:
        fig.dpi = before


def _close(fig) -> None:
    """Close ``fig`` if pyplot manages it; plain ``Figure`` objects need nothing."""
    manager = getattr(getattr(fig, "canvas", None), "manager", None)
    if manager is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)


def legend_below(ax, ncols: int = 1, fontsize: float = 6.5):
    """The axes' legend under its x axis (tick labels and label cleared), where it covers no
    data; the constrained layout makes room for it."""
    offset = -0.30 if ax.get_xlabel() else -0.16
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, offset), ncols=ncols, fontsize=fontsize,
                     frameon=False, borderaxespad=0.0)


def legend_under_figure(fig, ax, ncols: int = 4, fontsize: float = 7):
    """One legend for panels that share their lines, under all of them (the figure grows by
    0.45 in to hold it)."""
    fig.set_figheight(fig.get_figheight() + 0.45)
    return fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=ncols, fontsize=fontsize)


def chance_line(ax, level: float, label: str) -> None:
    """A dashed horizontal line at the chance level, labelled at the right edge of the axes."""
    ax.axhline(level, color="0.6", lw=0.8, ls="--")
    ax.text(1.0, level - 0.03, label, fontsize=7, color="0.4", ha="right", va="top",
            transform=ax.get_yaxis_transform())
