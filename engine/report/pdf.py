"""HTML -> PDF with WeasyPrint, and a check of the laid-out pages.

The report's HTML is self-contained, so the URL fetcher allows only ``data:``
and ``file:`` URLs: rendering never touches the network, and a stray external
reference fails visibly (WeasyPrint logs it) instead of being downloaded.
The PDF is written to a temporary file beside ``pdf_path`` and renamed into
place.

``layout_problems`` reads the laid-out pages back: a line of text or an image
that reaches past the right margin, and a figure split across two pages, are
problems.  ``html_to_pdf`` returns them (``write_report`` logs them), and the
tests require none.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.atomic import write_atomic

__all__ = ["html_to_pdf", "layout_problems", "render_document"]

_TOLERANCE_PX = 1.0  # CSS px of slack for rounding


def render_document(html: str, base_url: Path):
    """Lay ``html`` out for print with WeasyPrint; returns a ``weasyprint.Document``."""
    import weasyprint

    fetcher = weasyprint.URLFetcher(allowed_protocols=("data", "file"))
    return weasyprint.HTML(
        string=html,
        base_url=str(Path(base_url).resolve()) + os.sep,
        url_fetcher=fetcher,
        media_type="print",
    ).render()


def _text(box) -> str:
    text = getattr(box, "text", None)
    if text:
        return text
    element = getattr(box, "element", None)
    return f"<{getattr(box, 'element_tag', '?')}{' ' + element.get('src', '')[:40] if element is not None else ''}>"


def layout_problems(document) -> list[str]:
    """Text or images past the right margin, and figures split across pages, as messages."""
    from weasyprint.formatting_structure import boxes

    problems = []
    pages_of_figure: dict[int, list[int]] = {}
    figure_names: dict[int, str] = {}
    for number, page in enumerate(document.pages, start=1):
        page_box = page._page_box
        right = page_box.margin_width() - page_box.margin_right - page_box.padding_right
        for child in page_box.children:
            if isinstance(child, boxes.MarginBox):  # running header and footer
                continue
            for box in child.descendants():
                if isinstance(box, (boxes.TextBox, boxes.ReplacedBox)):
                    if box.position_x + box.margin_width() > right + _TOLERANCE_PX:
                        overshoot = box.position_x + box.margin_width() - right
                        problems.append(f"page {number}: {_text(box)[:60]!r} reaches {overshoot:.0f} px past the right margin")
                element = getattr(box, "element", None)
                if (element is not None and getattr(box, "element_tag", "") == "figure"
                        and isinstance(box, boxes.BlockBox)):
                    key = id(element)
                    figure_names[key] = element.get("id", "figure")
                    pages = pages_of_figure.setdefault(key, [])
                    if number not in pages:
                        pages.append(number)
    for key, pages in pages_of_figure.items():
        if len(pages) > 1:
            problems.append(f"figure {figure_names[key]!r} is split across pages {pages}")
    return problems


def html_to_pdf(html: str, pdf_path: Path, base_url: Path, cache=None) -> list[str]:
    """Render ``html`` (print media) to ``pdf_path``; relative URLs resolve against ``base_url``.

    Returns the layout problems found (see ``layout_problems``); the PDF is written anyway.
    With a ``cache`` (engine.report.cache.ReportCache) an HTML rendered before is not rendered again.
    """
    def render() -> tuple[bytes, list[str]]:
        document = render_document(html, base_url)
        return document.write_pdf(), layout_problems(document)

    pdf_path = Path(pdf_path)
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    data, problems = cache.pdf(html, render) if cache is not None else render()
    write_atomic(pdf_path, data)
    return problems
