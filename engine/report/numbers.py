"""Numbers and words in the reader's language, for table cells and criterion values.

``format_cell`` prints a value (floats with 4 significant digits, ``None`` as —, lists as
``[a, b]``) with the catalogue's decimal mark; ``_cell`` makes a table cell of a value (its
localized text, and whether it is numeric so that its column is right-aligned); e-notation
becomes powers of ten (``1e-06`` → 10⁻⁶) and an estimate's words follow the language.
"""
from __future__ import annotations

import math
import numbers
import re

from engine.kit.catalog import load_catalog, message
from engine.kit.figures import display_text, hyperparameter_text, powers_of_ten, replace_decimals


_NUMBER = r"[+\-−]?(?:\d[\d\s.,]*|\.\d+)(?:[eE][+\-−]?\d+)?(?:\s*[×x]\s*10\^?[+\-−]?\d+)?"
_UNIT = r"(?:\s*(?:%|‰|s|ms|µs|min|h|x|×))?"
# '0.98', '97.8 %', '1.2e-3', '0.50 ± 0.02', '< 0.01', '[0.47, 0.53]', '0.9 – 1.1'
_NUMERIC_RE = re.compile(
    rf"^\s*[<>≤≥≈~]?\s*[\[(]?\s*{_NUMBER}{_UNIT}"
    rf"(?:\s*(?:±|\+/-|–|—|,|\.\.|to|a)\s*{_NUMBER}{_UNIT})?\s*[\])]?\s*$"
)


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


def _sci(value, decimal: str) -> str:
    """A budget number: 1e-06 -> 10⁻⁶, 2.5e-05 -> 2,5·10⁻⁵, 30 -> 30."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return _powers_of_ten(f"{float(value):.3g}", decimal)
