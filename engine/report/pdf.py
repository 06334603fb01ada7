"""HTML -> PDF with WeasyPrint.

The report's HTML is self-contained, so the URL fetcher allows only ``data:``
and ``file:`` URLs: rendering never touches the network, and a stray external
reference fails visibly (WeasyPrint logs it) instead of being downloaded.
The PDF is written to a temporary file beside ``pdf_path`` and renamed into
place.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.atomic import write_atomic

__all__ = ["html_to_pdf"]


def html_to_pdf(html: str, pdf_path: Path, base_url: Path) -> None:
    """Render ``html`` (print media) to ``pdf_path``; relative URLs resolve against ``base_url``."""
    import weasyprint

    pdf_path = Path(pdf_path)
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    fetcher = weasyprint.URLFetcher(allowed_protocols=("data", "file"))
    document = weasyprint.HTML(
        string=html,
        base_url=str(Path(base_url).resolve()) + os.sep,
        url_fetcher=fetcher,
        media_type="print",
    )
    write_atomic(pdf_path, document.write_pdf())
