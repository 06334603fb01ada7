"""The figure kit, below the claims: what a claim needs to draw and word its results in the
report's language, and nothing of the report itself.

* ``figures``: matplotlib figures as SVG (``new_figure``, ``figure_to_svg``), the optimizers'
  colours and styles, labels of optimizers, models and metrics, number formats, and the language
  context (``report_language``) every label follows;
* ``catalog``: the message catalogues (``templates/messages/<language>.yaml``).

Claims (``engine/claims/``) and the report (``engine/report/``) import this package; it imports
neither, so the report renders claims and never the reverse.
"""
