"""Work the report keeps between builds, keyed by everything it depends on.

A warm `make report` (nothing to train) would otherwise redraw every figure and repaint every
PDF page: about a minute for two languages.  Kept in ``<store>/report-cache/``:

- a claim's analysis in one language (its quantities, figures, tables and numbers), keyed by the
  source of the claim's import closure (engine.codehash), its prose, the message catalogue of
  its language (figures take their labels from it), the studies it reads, the identity of every
  record it reads (key, status and wall time, so a retrained run counts as new) and the versions
  of matplotlib and NumPy;
- a formula's SVG, keyed by its mathtext, the source that sets it (engine.report.mathsvg and
  what it imports) and the version of matplotlib;
- a page's HTML, keyed by its context, the templates and the renderer's source (its inline
  formulas are set by matplotlib, which is slow);
- a PDF, keyed by its HTML and the version of WeasyPrint, with the layout problems found when it
  was made;
- results.csv, keyed by the identity of every record and the source that writes it (the latest
  only: it weighs megabytes).

An entry is written atomically; an entry that cannot be read is recomputed, never trusted.  A
cache of None (``ReportCache(None)``) keeps nothing.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Callable

from engine.atomic import write_atomic
from engine.codehash import fingerprint
from engine.kit.catalog import MESSAGES_DIR
from engine.spec import canonical


def _digest(*parts) -> str:
    return hashlib.sha256(canonical(list(parts)).encode()).hexdigest()


class ReportCache:
    def __init__(self, root: Path | None):
        self.root = None if root is None else Path(root)
        self.hits = self.misses = 0

    def _kept(self, kind: str, key: str, compute: Callable, only_latest: bool = False):
        """`compute()`, or what it gave before under `key`; with `only_latest`, the other entries
        of `kind` are dropped when a new one is written (one large value kept, not one per build)."""
        if self.root is None:
            return compute()
        path = self.root / kind / key[:2] / f"{key}.pickle"
        try:
            value = pickle.loads(path.read_bytes())
            self.hits += 1
            return value
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError):
            pass
        value = compute()
        self.misses += 1
        try:
            write_atomic(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
            if only_latest:
                for old in (self.root / kind).glob("*/*.pickle"):
                    if old != path:
                        old.unlink(missing_ok=True)
        except OSError:  # a read-only store still gets its report, only slower
            pass
        return value

    def value(self, kind: str, source: str, compute: Callable):
        """What `compute` makes of `source` alone (a formula's SVG from its mathtext), keyed by
        `source`, the source of engine.report.mathsvg's import closure (which sets the formula
        and cleans its SVG: engine.kit.figures.clean_svg) and the version of matplotlib."""
        import matplotlib

        key = _digest(kind, source, fingerprint(("engine.report.mathsvg",)), matplotlib.__version__)
        return self._kept(kind, key, compute)

    def analysis(self, claim, records: list, text: dict, studies: dict, language: str, compute: Callable):
        import matplotlib
        import numpy

        catalogue = hashlib.sha256((MESSAGES_DIR / f"{language}.yaml").read_bytes()).hexdigest()
        key = _digest("analysis", claim.id, fingerprint((claim.analyze.__module__,)), text, studies, language,
                      catalogue, sorted((r.key, r.status, r.wall_time_s) for r in records),
                      matplotlib.__version__, numpy.__version__)
        return self._kept("analysis", key, compute)

    def table(self, records: list, compute: Callable) -> str:
        """results.csv of `records`, keyed by their identity and the source that writes it."""
        key = _digest("table", fingerprint(("engine.report.assemble",)),
                      [(r.key, r.status, r.wall_time_s) for r in records])
        return self._kept("table", key, compute, only_latest=True)

    def html(self, context: dict, templates_dir: Path, compute: Callable) -> str:
        """The HTML of `context`, keyed by the context itself, every file under `templates_dir`
        and the source of the renderer (inline formulas are set by matplotlib: slow)."""
        templates = sorted((str(p.relative_to(templates_dir)), hashlib.sha256(p.read_bytes()).hexdigest())
                           for p in Path(templates_dir).rglob("*") if p.is_file())
        body = json.dumps(context, sort_keys=True, default=str, ensure_ascii=True)
        key = _digest("html", hashlib.sha256(body.encode()).hexdigest(), templates,
                      fingerprint(("engine.report.render",)))
        return self._kept("html", key, compute)

    def pdf(self, html: str, compute: Callable) -> tuple[bytes, list[str]]:
        """(PDF bytes, layout problems) of `html`."""
        import weasyprint

        return self._kept("pdf", _digest("pdf", html, weasyprint.__version__), compute)
