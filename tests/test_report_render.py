"""The rendering layer: context -> HTML + PDF, catalogues, prose and math, figures' language.

Fast (a few seconds): one small fake report rendered once per module (its PDF laid out once and
checked: contents with page numbers, running header, nothing past the margins, no split figure).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
import zlib
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import yaml

from engine.report import TEMPLATES_DIR
from engine.kit.catalog import flat_keys, load_catalog, message
from engine.kit.figures import (
    FIGURE_FONTS,
    OPTIMIZER_COLORS,
    RASTER_DPI,
    annotate_heatmap,
    clean_svg,
    figure_to_svg,
    legend_under_figure,
    localize_decimals,
    metric_label,
    new_figure,
    optimizer_color,
    optimizer_label,
    optimizer_style,
    plain_power,
    report_language,
)
from engine.report.mathsvg import INLINE_SIZE, math_svg, split_math
from engine.report.render import format_cell, render_html, write_report
from engine.report.svg import _math_img, _svg_data_uri

LECTURE_OPTIMIZERS = ["gd", "sgd-1", "minibatch-sgd", "momentum", "adagrad", "rmsprop", "adam"]

QUOTE_ES = "promediar el gradiente con su valor en la iteración anterior con el fin de seguir la dirección de gradientes pesados"


def _figure_svg() -> str:
    fig, ax = new_figure()
    kappa = np.array([10, 100, 1000, 10000])
    ax.loglog(kappa, 2.0 * kappa, "o-", color=optimizer_color("gd"), label="GD")
    ax.loglog(kappa, 6.0 * np.sqrt(kappa), "s-", color=optimizer_color("momentum"), label="momentum")
    ax.set_xlabel(r"número de condición $\kappa$")
    ax.set_ylabel("pasos hasta $10^{-6}$")
    ax.legend()
    return figure_to_svg(fig)


def fake_context(language: str = "es", profile: str = "quick") -> dict:
    return {
        "language": language,
        "title": "Redes neuronales (parte 3)",
        "subtitle": "Cada afirmación de la clase, contrastada con experimentos",
        "course": "MA5204 Aprendizaje de Máquinas",
        "institution": "Universidad de Chile",
        "lecture": "Clase 19",
        "date": "18 de marzo de 2021",
        "generated_at": "2025-01-01 12:00 UTC",
        "profile": profile,
        "summary": [
            {"id": "momentum-heavy-directions", "title": "Momentum sigue la dirección de gradientes pesados",
             "verdict": "supported"},
            {"id": "gan-indistinguishable", "title": "Las muestras del generador son indistinguibles <b>x</b>",
             "verdict": "missing"},
        ],
        "claims": [
            {
                "id": "momentum-heavy-directions",
                "section": "2",
                "title": "Momentum sigue la dirección de gradientes pesados",
                "quote_es": QUOTE_ES,
                "quote_en": "average the gradient with its value at the previous iteration in order to follow "
                            "the direction of heavy gradients",
                "explanation": [
                    "El promedio móvil exponencial acumula las componentes del gradiente que apuntan siempre "
                    "en la misma dirección y cancela las que oscilan.",
                    r"El promedio $v_t = (1-\beta)\, g_t + \beta\, v_{t-1}$ cuesta \$0 & <nada>.",
                ],
                "formulas": [
                    {"svg": math_svg(r"$v_t = (1-\beta)\, g_t + \beta\, v_{t-1}$"), "caption": "Actualización de la clase."},
                    {"svg": math_svg(r"$\theta_{t+1} = \theta_t - \frac{\alpha}{\sqrt{v_t + \epsilon}}\, g_t$"),
                     "caption": "Adagrad."},
                ],
                "method": ["Cuadráticas con número de condición κ entre 10 y 10⁴; pasos hasta la precisión fijada."],
                "figures": [{"id": "slopes", "svg": _figure_svg(),
                             "caption": "Pasos hasta la precisión objetivo 0.5 frente a κ (escala log-log)."}],
                "tables": [{"caption": "Pendientes ajustadas.", "columns": ["optimizador", "pendiente", "IC 95 %"],
                            "rows": [["gd", 1.00231, "0.98 – 1.02"], ["momentum", 0.5012345, "0.47 – 0.53"],
                                     ["adam", float("nan"), "—"]]},
                           {"caption": "Una tabla ancha.",
                            "columns": ["optimizer", "lr", "test_accuracy", "val_loss", "semillas completadas",
                                        "wall_time_s", "divergen en la grilla", "pasos", "precisión"],
                            "rows": [["sgd-1", "0.01 (borde inf.)", "0.9513 ± 0.0059", 0.25, "2/2", 9.51, "0/5",
                                      16850.0, 1e-6]]}],
                "criterion": [
                    {"quantity": "pendiente GD", "description": "pendiente log-log de pasos frente a κ",
                     "expected": "0.9 – 1.1", "measured": 1.00231, "outcome": "pass"},
                    {"quantity": "pendiente momentum", "description": "pendiente log-log de pasos frente a κ",
                     "expected": "0.4 – 0.6", "measured": "0.501", "outcome": "pass"},
                ],
                "verdict": "supported",
                "verdict_reason": "Ambas pendientes caen dentro del intervalo declarado.",
                "missing": [],
            },
            {
                "id": "gan-indistinguishable",
                "section": "6",
                "title": "Las muestras del generador son indistinguibles <b>x</b>",
                "quote_es": "en convergencia, las muestras del generador son indistinguibles de los datos reales",
                "quote_en": "at convergence, the generator's samples are indistinguishable from real data",
                "explanation": [],
                "formulas": [],
                "method": ["MMD entre muestras reales y generadas a lo largo del entrenamiento."],
                "figures": [],
                "tables": [],
                "criterion": [],
                "verdict": "missing",
                "verdict_reason": "",
                "missing": ["gan/ring8/adam/seed0", "gan/ring8/sgd/seed0"],
            },
        ],
        "runs": {"total": 12, "ok": 9, "diverged": 1, "failed": 0, "missing": 2},
        "alternates": [{"language": "en", "href": "en/index.html"}],
        "reproducibility": {
            "all_command": "make report PROFILE=quick",
            "commands": [{"id": "momentum-heavy-directions", "title": "Momentum sigue la dirección de gradientes pesados",
                          "command": "make report PROFILE=quick ONLY='claim=momentum-heavy-directions'"}],
            "studies": [{"study": "momentum-scaling", "claim": "momentum-heavy-directions", "models": ["quadratic"],
                         "optimizers": ["gd", "momentum"], "seeds": [0, 1, 2],
                         "budget": {"max_steps": 60000, "target": 1e-6}, "tune": "",
                         "runs": {"ok": 9, "diverged": 1, "failed": 0, "missing": 2}}],
            "results_csv": "results.csv", "claims_json": "claims.json",
        },
        "environment": {
            "python": "3.11.9", "platform": "Linux-x86_64", "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "packages": {"numpy": "2.4.6", "autograd": "1.9.1", "weasyprint": "70.0"},
            "store": "results/store", "experiments_file": "experiments.yaml",
            "experiments_sha256": "ab" * 32,
        },
    }


def count_pdf_pages(data: bytes) -> int:
    """Count page objects, looking inside compressed object streams too."""
    chunks = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            chunks.append(zlib.decompress(match.group(1)))
        except zlib.error:
            pass
    pattern = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
    return sum(len(pattern.findall(chunk)) for chunk in chunks)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("report")
    collect = _Collect()
    logger = logging.getLogger("descenso.report")
    logger.addHandler(collect)
    try:
        written = write_report(fake_context(), TEMPLATES_DIR, out)
    finally:
        logger.removeHandler(collect)
    return {**written, "warnings": collect.messages}


@pytest.fixture(scope="module")
def html(rendered) -> str:
    return rendered["html"].read_text(encoding="utf-8")


def test_writes_both_files(rendered):
    assert rendered["html"].name == "index.html" and rendered["html"].is_file()
    assert rendered["pdf"].name == "report.pdf" and rendered["pdf"].is_file()
    # engine.atomic writes through ".tmp-<name>.<random>.part" files and renames them into place
    leftovers = [p.name for p in rendered["html"].parent.rglob("*")
                 if p.name.startswith(".tmp-") or p.name.endswith(".part")]
    assert leftovers == []


def test_html_has_anchors_quote_and_verdicts(html):
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="es">' in html
    assert 'id="momentum-heavy-directions"' in html
    assert 'id="gan-indistinguishable"' in html
    assert 'href="#momentum-heavy-directions"' in html
    assert QUOTE_ES in html
    catalog = load_catalog("es")
    for key in ("verdict.supported", "verdict.missing", "missing.title", "environment.title",
                "claim.method", "claim.verdict", "profile.quick_title"):
        assert message(catalog, key) in html
    assert "Figura 1" in html and "Tabla 1" in html
    assert "gan/ring8/adam/seed0" in html
    assert "<style>" in html
    assert html.count('src="data:image/svg+xml') == 4  # the figure, the two formulas and one in the prose
    assert html.count('<img class="math') == 3 and "<svg" not in html  # formulas are images too


def test_html_is_self_contained(html):
    assert "<script" not in html.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "@import" not in html
    assert '<link rel="stylesheet"' not in html


def test_html_parses_without_html5_errors(html):
    from tinyhtml5.parser import HTMLParser  # WeasyPrint's HTML5 parser

    parser = HTMLParser()
    parser.parse(html)
    assert parser.errors == []


def test_html_escapes_text(html):
    assert "indistinguibles &lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html


def test_ids_unique_in_document(html):
    ids = re.findall(r'\bid="([^"]+)"', html)
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert duplicates == []


def test_floats_formatted_and_numbers_right_aligned(html):
    # Spanish: decimal comma, in numbers the renderer formats and in numeric strings
    assert ">1,002<" in html and ">0,5012<" in html and ">NaN<" in html
    assert '<td class="num">1,002</td>' in html and '<td class="num">0,98 – 1,02</td>' in html
    assert ">1,685·10⁴<" in html and ">10⁻⁶<" in html and ">0,9513\u00a0±\u00a00,0059<" in html
    assert format_cell(0.5, "es") == "0,5" and format_cell([0.25, 1.5], "es") == "[0,25; 1,5]"
    assert format_cell(0.5, "en") == "0.5" and format_cell([0.25, 1.5], "en") == "[0.25, 1.5]"
    assert format_cell(0.000123456) == "0.0001235" and format_cell(12) == "12" and format_cell("x") == "x"
    assert format_cell(np.float32(2.5)) == "2.5" and format_cell(np.int64(7)) == "7"
    assert format_cell((0.912345, 1.1)) == "[0.9123, 1.1]" and format_cell(None) == "—"
    assert format_cell(float("inf")) == "∞"


def test_pdf_has_pages(rendered):
    data = rendered["pdf"].read_bytes()
    assert data.startswith(b"%PDF")
    # cover, contents, summary, parts, references, appendices
    assert count_pdf_pages(data) >= 6


def test_pdf_layout_has_no_problems(rendered):
    """Nothing past the right margin (the wide table wraps), no figure split across pages."""
    assert rendered["warnings"] == []


@pytest.fixture(scope="module")
def document(html, tmp_path_factory):
    from engine.report.pdf import render_document

    return render_document(html, tmp_path_factory.mktemp("layout"))


def _page_text(page, margins: bool = False) -> str:
    from weasyprint.formatting_structure import boxes

    texts = []
    for child in page._page_box.children:
        if isinstance(child, boxes.MarginBox) != margins:
            continue
        texts += [box.text for box in child.descendants() if isinstance(box, boxes.TextBox)]
    return " ".join(texts)


def test_pdf_contents_page_numbers_and_running_header(document):
    from engine.report.pdf import layout_problems

    assert layout_problems(document) == []
    pages = [_page_text(page) for page in document.pages]
    headers = [_page_text(page, margins=True) for page in document.pages]
    toc = next(i for i, text in enumerate(pages) if "Índice" in text)
    claim_page = next(i for i, text in enumerate(pages) if "Momentum sigue la dirección de gradientes pesados" in text
                      and i > toc + 1)
    # the contents give each part and claim its page number
    assert re.search(rf"Momentum sigue la dirección de gradientes pesados[\s.]*{claim_page + 1}\b", pages[toc])
    assert re.search(r"7\. Matriz optimizador × modelo[\s.]*\d+", pages[toc])
    # page numbers, and a running header with the part
    assert f"página {claim_page + 1} de {len(document.pages)}" in headers[claim_page]
    # the header names the section its page opens in: the body follows the front matter on the
    # same page, so the claim's page opens in the glossary and the next one inside part 2
    assert "Resumen de veredictos" in headers[claim_page] and "Minibatch" in pages[claim_page]
    assert "2. Variantes del SGD" in headers[claim_page + 1]
    assert "página" not in headers[0]  # the title page has none
    # the outline: parts, with the claims under them
    outline = [(b.label, [c.label for c in b.children]) for b in _bookmarks(document)]
    assert ("2. Variantes del SGD", ["Momentum sigue la dirección de gradientes pesados"]) in outline


def _bookmarks(document):
    from collections import namedtuple

    Node = namedtuple("Node", "label children")

    def convert(nodes):
        return [Node(label, convert(children)) for label, _, children, _ in nodes]

    return convert(document.make_bookmark_tree())


def test_structure_follows_the_lecture(html):
    parts = re.findall(r'<section class="part[^"]*" id="(part-\d)"', html)
    assert parts == [f"part-{n}" for n in range(1, 8)]
    catalog = load_catalog("es")
    for n in range(1, 8):
        assert message(catalog, f"part.{n}.title") in html
    # each claim sits in its part
    part2 = html[html.index('id="part-2"'):html.index('id="part-3"')]
    assert 'id="momentum-heavy-directions"' in part2
    part6 = html[html.index('id="part-6"'):html.index('id="part-7"')]
    assert 'id="gan-indistinguishable"' in part6
    assert message(catalog, "part.empty") in html  # parts 1, 3, 4, 5, 7 have no claim here
    # summary with the verdict of every claim, then references, then the appendices
    order = [html.index(f'id="{anchor}"') for anchor in ("toc", "summary", "part-1", "references",
                                                         "reproducibility", "environment")]
    assert order == sorted(order)


def test_references_are_listed(html):
    refs = yaml.safe_load((TEMPLATES_DIR / "references.yaml").read_text(encoding="utf-8"))
    assert len(refs) >= 12
    for author, year in [("Goodfellow", 2016), ("Polyak", 1964), ("Duchi", 2011), ("Tieleman", 2012),
                         ("Kingma", 2014), ("Goodfellow", 2014), ("Kingma", 2013), ("Greydanus", 2020),
                         ("Goh", 2017), ("Gretton", 2012), ("Lopez-Paz", 2017), ("Hinton", 2006)]:
        assert any(author in r["authors"] and r["year"] == year for r in refs), (author, year)
    for ref in refs:
        assert set(ref["note"]) == {"es", "en"}, ref["key"]
        assert ref["title"] in html
    assert "El texto de la clase" in html  # the Spanish note


def test_reproducibility_appendix(html):
    assert "make report PROFILE=quick ONLY=&#39;claim=momentum-heavy-directions&#39;" in html
    assert 'href="results.csv"' in html and 'href="claims.json"' in html
    assert "momentum-scaling" in html and "≤ 60000 pasos; hasta precisión 10⁻⁶" in html
    assert "GD (lote completo), momentum" in html  # optimizers by their display names
    assert "9 / 1 / 0 / 2" in html
    assert 'href="en/index.html"' in html  # the other language


def test_wide_tables_scroll_in_their_own_box(html):
    tables = re.findall(r"<table\b", html)
    boxed = re.findall(r'<div class="table-scroll">\s*<table\b', html)
    assert len(boxed) == len(tables)


def test_prose_math_is_rendered_and_the_rest_escaped(html):
    assert "$v_t" not in html.split("<title>")[0]  # no raw math in the text
    assert 'class="math math-inline"' in html
    assert "cuesta $0 &amp; &lt;nada&gt;." in html


def test_log_axis_powers_are_plain_text_with_superscripts():
    """matplotlib's mathtext tick labels of a log axis become the same powers in plain text
    (no mathtext parse); any other text is left alone."""
    assert plain_power(r"$\mathdefault{10^{-2}}$") == "10⁻²"
    assert plain_power(r"$\mathdefault{10^{0}}$") == "10⁰"
    assert plain_power(r"$\mathdefault{2\times10^{-12}}$") == "2×10⁻¹²"
    assert plain_power(r"$\mathdefault{2^{4}}$") == "2⁴"
    for other in (r"$\lambda$", r"$\mathdefault{0.5}$", "10^2", "", None):
        assert plain_power(other) == other
    from engine.kit.figures import _present_figure

    fig, ax = new_figure()
    ax.loglog([1, 1000], [0.01, 10])
    _present_figure(fig, "en")   # what figure_to_svg does before drawing
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
    assert "10³" in labels and "10⁻²" in labels and not any("$" in t for t in labels)


def test_captions_take_the_decimal_comma(html):
    assert "precisión objetivo 0,5 frente" in html


def test_ids_become_display_names_in_tables(html):
    assert ">GD (lote completo)<" in html and ">SGD (un ejemplo)<" in html
    assert ">pérdida en validación<" in html  # column header val_loss
    assert ">sgd-1<" not in html and ">val_loss<" not in html


def test_english_catalogue_renders():
    html = render_html(fake_context(language="en", profile="full"), TEMPLATES_DIR)
    assert '<html lang="en">' in html
    assert "Supported" in html and "Figure 1" in html and "Environment" in html
    assert message(load_catalog("en"), "profile.quick_title") not in html
    assert "2. SGD variants" in html and "References" in html and "Reproducibility" in html
    assert ">1.002<" in html and '<td class="num">0.98 – 1.02</td>' in html  # decimal point
    assert ">GD (full batch)<" in html and ">validation loss<" in html
    assert "The lecture&#39;s textbook" in html


def _structure(node):
    """The shape of a prose block: keys of mappings, lengths of lists, 'str' for text."""
    if isinstance(node, dict):
        return {k: _structure(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_structure(v) for v in node]
    return type(node).__name__


@pytest.mark.parametrize("path", sorted((TEMPLATES_DIR / "claims").glob("*.yaml")), ids=lambda p: p.stem)
def test_claim_prose_exists_in_both_languages(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # every claim quotes the lecture; the benchmark (optimizer × model matrix) is no claim of it
    assert isinstance(data.get("quote_es"), str) and (data["quote_es"].strip() or path.stem == "optimizer-matrix")
    assert "es" in data and "en" in data, f"{path.name} needs an es: and an en: block"
    assert _structure(data["es"]) == _structure(data["en"]), f"{path.name}: es and en differ in keys or lengths"
    for key in ("title", "quote_en", "explanation", "method"):
        assert key in data["es"], f"{path.name}: es.{key} missing"
    for language in ("es", "en"):
        for paragraph in data[language]["explanation"] + data[language]["method"] + [data["quote_es"]]:
            for kind, piece in split_math(paragraph):  # unmatched $ raises
                if kind == "math":
                    math_svg(piece)  # mathtext can set it


def test_catalogues_have_the_same_keys():
    es = set(flat_keys(load_catalog("es")))
    en = set(flat_keys(load_catalog("en")))
    assert es == en, f"only in es: {sorted(es - en)}; only in en: {sorted(en - es)}"
    assert len(es) > 50


def test_message_lookup_and_missing_key():
    catalog = load_catalog("es")
    assert message(catalog, "figure.label", number=3) == "Figura 3"
    assert message(catalog, "verdict.not_supported") == "No respaldada"
    with pytest.raises(KeyError, match=r"verdict\.nope.*es\.yaml"):
        message(catalog, "verdict.nope")
    with pytest.raises(KeyError, match="group"):
        message(catalog, "verdict")


def test_bad_verdict_and_unsafe_svg_are_rejected():
    context = fake_context()
    context["claims"][0]["verdict"] = "probably"
    with pytest.raises(ValueError, match="probably"):
        render_html(context, TEMPLATES_DIR)
    context = fake_context()
    context["claims"][0]["figures"][0]["svg"] = '<svg><script>alert(1)</script></svg>'
    with pytest.raises(ValueError, match="script"):
        render_html(context, TEMPLATES_DIR)
    context = fake_context()
    context["claims"][0]["formulas"][0]["svg"] = '<svg onload="alert(1)"><title>$x$</title></svg>'
    with pytest.raises(ValueError, match="formula 1.*onload"):
        render_html(context, TEMPLATES_DIR)


def test_figure_to_svg_is_deterministic():
    first, second = _figure_svg(), _figure_svg()
    assert first == second
    assert first.startswith("<svg") and "<?xml" not in first and "DOCTYPE" not in first


def _panels_with_a_cloud():
    """Two panels, a legend under them, a colour bar and a rasterized point cloud."""
    fig, axes = new_figure(ncols=2)
    rng = np.random.default_rng(0)
    axes[0].plot(np.arange(30), rng.normal(size=30).cumsum(), label="adam")
    axes[0].set_xlabel("pasos")
    axes[0].set_title("val_loss")
    points = axes[1].scatter(*rng.normal(size=(2, 400)), s=2, c=rng.uniform(size=400), rasterized=True)
    fig.colorbar(points, ax=axes[1])
    legend_under_figure(fig, axes[0], ncols=1)
    return fig


def test_the_layout_is_run_once_and_gives_the_figure_savefig_would(monkeypatch):
    """figure_to_svg runs the constrained layout itself before savefig (which would otherwise draw
    the whole figure once more, without output, to run it): the SVG is the same, byte for byte."""
    ours = figure_to_svg(_panels_with_a_cloud())
    monkeypatch.setattr("engine.kit.figures._lay_out", lambda fig: None)
    assert figure_to_svg(_panels_with_a_cloud()) == ours


def test_a_rasterized_point_cloud_is_one_image_at_print_resolution():
    svg = figure_to_svg(_panels_with_a_cloud())
    assert svg.count("<use") < 100  # not one per point (400)
    assert "<text" in svg  # labels stay text
    images = [(float(width), base64.b64decode(data)) for data, width in
              re.findall(r'<image xlink:href="data:image/png;base64,([^"]+)"[^>]*\bwidth="([\d.]+)"', svg)]
    assert len(images) == 2  # the cloud and the colour bar
    width_pt, png = max(images)
    width_px = int.from_bytes(png[16:20], "big")  # the PNG header's width
    assert width_px / (width_pt / 72) == pytest.approx(RASTER_DPI, rel=0.02)


def test_figure_text_stays_text_in_the_figures_faces_with_fallbacks():
    svg = _figure_svg()  # plain labels, and formulas ($\kappa$, $10^{-6}$)
    assert 'id="DejaVuSans' not in svg  # no glyph outlines
    assert "número de condición" in svg and "momentum" in svg
    faces = ", ".join([*(repr(face) for face in FIGURE_FONTS), "sans-serif"])
    assert re.search(r"<text[^>]*font-family=\"" + re.escape(faces) + '"', svg)
    assert re.search(r"<tspan[^>]*font-family=\"" + re.escape(faces) + '"', svg)
    assert set(re.findall(r'font-family="([^"]*)"', svg)) == {faces}


def test_svg_data_uri_collapses_ascii_white_space_and_keeps_no_break_spaces():
    uri = _svg_data_uri('<svg>\n  <text>a\u00a0 \n b</text>\n  <g/>\n</svg>', "test")
    assert unquote(uri.split(",", 1)[1]) == "<svg><text>a\u00a0 b</text><g/></svg>"


def test_clean_svg_unwraps_the_groups_that_carry_nothing():
    svg = ('<svg><g id="figure_1"><g id="patch_1"><path d="M 0 0"/></g>'
           '<g id="axes_1"><g id="line2d_1"><path d="M 1 1"/><text>a</text></g><g><use xlink:href="#m1"/></g>'
           '<g id="empty"/></g></g></svg>')
    assert clean_svg(svg) == '<svg><path d="M 0 0"/><path d="M 1 1"/><text>a</text><use xlink:href="#m1"/></svg>\n'


def test_clean_svg_keeps_the_groups_that_set_something_or_are_referenced():
    svg = ('<svg><defs><g id="glyph"><path d="M 0 0"/></g><clipPath id="p1"><rect/></clipPath></defs>'
           '<g id="axes_1"><g clip-path="url(#p1)"><g id="line2d_1"><path d="M 1 1"/></g></g>'
           '<g id="text_1"><g transform="translate(1 2)"><use href="#glyph"/></g></g>'
           '<g id="legend_1" fill="#ff0000"><path d="M 2 2"/></g><g id="x" style="opacity: 0.5"/>'
           '<g id="marker"><path d="M 3 3"/></g><use xlink:href="#marker"/></g></svg>')
    assert clean_svg(svg) == (
        '<svg><defs><g id="glyph"><path d="M 0 0"/></g><clipPath id="p1"><rect/></clipPath></defs>'
        '<g clip-path="url(#p1)"><path d="M 1 1"/></g>'
        '<g transform="translate(1 2)"><use href="#glyph"/></g>'
        '<g id="legend_1" fill="#ff0000"><path d="M 2 2"/></g><g id="x" opacity="0.5"/>'
        '<g id="marker"><path d="M 3 3"/></g><use xlink:href="#marker"/></svg>\n')


def _drawing(svg: str) -> list[tuple]:
    """What an SVG draws, read by xml.etree: every element other than a plain group (one with no
    attribute but an id), in document order, with its attributes, its text and the attributes
    of the groups around it that are not plain."""
    out = []

    def walk(node, groups):
        tag = node.tag.split("}")[-1]
        if tag == "g" and set(node.attrib) <= {"id"}:
            for child in node:
                walk(child, groups)
            return
        if tag == "g":
            groups = groups + (tuple(sorted((k, v) for k, v in node.attrib.items() if k != "id")),)
        out.append((tag, dict(node.attrib) if tag != "g" else None, (node.text or "").strip(), groups))
        for child in node:
            walk(child, groups)

    walk(ET.fromstring(svg), ())
    return out


@pytest.mark.parametrize("draw", [_figure_svg, lambda: figure_to_svg(_panels_with_a_cloud()),
                                  lambda: math_svg.__wrapped__(r"$\sqrt{\hat v_t} + \epsilon$")],
                         ids=["lines", "panels", "formula"])
def test_unwrapping_plain_groups_changes_nothing_drawn(draw, monkeypatch):
    """A figure with and without its plain groups, parsed by xml.etree: the same elements in the
    same order, with the same attributes, text and enclosing groups that set something; every
    group with an attribute besides its id survives, and every reference still finds its id."""
    after = draw()
    with monkeypatch.context() as patch:
        patch.setattr("engine.kit.figures._unwrap_plain_groups", lambda svg: svg)
        before = draw()
    groups_before = [g.attrib for g in ET.fromstring(before).iter("{http://www.w3.org/2000/svg}g")]
    groups_after = [g.attrib for g in ET.fromstring(after).iter("{http://www.w3.org/2000/svg}g")]
    assert len(groups_after) < len(groups_before) / 2
    assert [a for a in groups_before if set(a) - {"id"}] == [a for a in groups_after if set(a) - {"id"}]
    assert _drawing(after) == _drawing(before)
    ids = set(re.findall(r'\bid="([^"]+)"', after))
    references = re.findall(r'href="#([^"]+)"|url\(#([^)]+)\)', after)
    assert references and {a or b for a, b in references} <= ids


def test_math_svg_returns_svg():
    svg = math_svg(r"$v_t = \beta v_{t-1} + (1-\beta) g_t^2$")
    assert svg.lstrip().startswith("<svg")
    assert math_svg(r"$v_t = \beta v_{t-1} + (1-\beta) g_t^2$") is svg  # cached
    with pytest.raises(ValueError):
        math_svg(r"$\frac{1}{$")


def test_optimizer_colors():
    names = LECTURE_OPTIMIZERS
    assert set(names) <= set(OPTIMIZER_COLORS)
    assert len({OPTIMIZER_COLORS[n] for n in names}) == len(names)
    assert re.fullmatch(r"#[0-9A-Fa-f]{6}", optimizer_color("novel-optimizer"))


def _styles_in_subprocess(names: list[str], hash_seed: str) -> list:
    code = ("import json, sys; from engine.kit.figures import optimizer_style; "
            "print(json.dumps([optimizer_style(n) for n in sys.argv[1:]]))")
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, check=True,
                         env=env, cwd=TEMPLATES_DIR.parent)
    return json.loads(out.stdout)


def test_unknown_optimizers_keep_their_style_across_processes():
    """Styles of names no table lists come from a hash that does not change between processes
    (Python's own string hash does, with PYTHONHASHSEED): a figure drawn twice looks the same."""
    names = ["novel-optimizer", "my-adam", "lion"]
    here = json.loads(json.dumps([optimizer_style(n) for n in names]))
    assert _styles_in_subprocess(names, "1") == here
    assert _styles_in_subprocess(names, "2") == here


def test_every_study_tells_its_optimizers_apart():
    """Within each study of experiments.yaml, the optimizers it trains differ in colour and in
    (line style, marker): its figures can be read in colour and in black and white."""
    studies = yaml.safe_load((TEMPLATES_DIR.parent / "experiments.yaml").read_text(encoding="utf-8"))["studies"]
    for name, study in studies.items():
        optimizers = study.get("optimizers") or []
        styles = [optimizer_style(o) for o in optimizers]
        assert len({s["color"] for s in styles}) == len(optimizers), name
        assert len({(repr(s["linestyle"]), s["marker"]) for s in styles}) == len(optimizers), name


def test_optimizer_styles_tell_lines_apart_without_colour():
    styles = [optimizer_style(n) for n in LECTURE_OPTIMIZERS]
    assert len({(repr(s["linestyle"]), s["marker"]) for s in styles}) == len(styles)
    assert len({s["marker"] for s in styles}) == len(styles)
    fig, ax = new_figure()
    ax.plot([1, 2, 3], [3, 2, 1], **optimizer_style("adam"))  # valid Line2D properties
    figure_to_svg(fig)


def test_optimizer_and_metric_labels():
    assert [optimizer_label(n, "es") for n in LECTURE_OPTIMIZERS] == [
        "GD (lote completo)", "SGD (un ejemplo)", "SGD (minibatch)", "momentum", "Adagrad", "RMSprop", "Adam"]
    assert [optimizer_label(n, "en") for n in LECTURE_OPTIMIZERS] == [
        "GD (full batch)", "SGD (single example)", "SGD (minibatch)", "momentum", "Adagrad", "RMSprop", "Adam"]
    assert optimizer_label("my-optimizer", "es") == "my-optimizer"
    assert metric_label("val_loss", "es") == "pérdida en validación"
    assert metric_label("val_loss", "en") == "validation loss"
    assert metric_label("val_accuracy", "es") == "exactitud en validación (fracción)"
    assert metric_label("val_accuracy", "en", units=False) == "validation accuracy"
    assert metric_label("test_mmd", "en") == "test MMD²"
    assert metric_label("train_loss", "es") == "pérdida en entrenamiento"
    assert metric_label("wall_time_s", "es") == "tiempo por corrida (s)"
    assert metric_label("test_long_accuracy", "en") == "test accuracy (long) (fraction)"
    assert metric_label("something_else", "es") == "something_else"
    with report_language("en"):
        assert optimizer_label("sgd-1") == "SGD (single example)" and metric_label("examples") == "examples processed"
    assert optimizer_label("sgd-1") == "SGD (un ejemplo)"  # Spanish outside


def test_figures_speak_the_language_of_the_report():
    def draw():
        fig, ax = new_figure()
        ax.plot([0.5, 1.5, 2.5], [0.25, 0.5, 0.75], label="sgd-1")
        ax.set_xlabel("examples")
        ax.set_ylabel("val_accuracy")
        ax.legend()
        return fig

    with report_language("es"):
        spanish = figure_to_svg(draw())
    with report_language("en"):
        english = figure_to_svg(draw())
    assert "SGD (un ejemplo)" in spanish and "exactitud en validación (fracción)" in spanish
    assert "SGD (single example)" in english and "validation accuracy (fraction)" in english
    assert "0,5" in spanish and "0,5" not in english  # tick labels: decimal comma in Spanish
    assert localize_decimals("0.25, v3.11.9 y $0.5$", "es") == "0,25, v3.11.9 y $0{,}5$"


def test_heatmap_annotations_contrast_with_their_cells():
    fig, ax = new_figure()
    values = np.array([[0.001, 0.5], [1.0, np.nan]])
    ax.imshow(values, cmap="viridis")
    texts = annotate_heatmap(ax, values)
    colours = {t.get_text(): t.get_color() for t in texts}
    # viridis: dark purple (white text), teal and yellow (black text: the higher WCAG contrast)
    assert colours == {"0,001": "white", "0,5": "black", "1": "black"}
    assert all(t.get_fontsize() >= 7 for t in texts)
    figure_to_svg(fig)


def test_bad_prose_math_does_not_stop_the_report():
    context = fake_context()
    context["claims"][0]["method"] = [r"Un $\frac{1}{$ roto.", "Un $ suelto."]
    html = render_html(context, TEMPLATES_DIR)
    assert '<code class="math-source">$\\frac{1}{$</code>' in html
    assert "Un $ suelto." in html


def test_tex_commands_mathtext_lacks_are_mapped():
    for formula in (r"$x \le 1$", r"$x \ge 1$", r"$\lVert x \rVert$", r"$\tfrac{1}{2}$"):
        assert "<svg" in math_svg(formula)


def test_prose_is_split_into_text_and_math():
    assert split_math(r"a $x_1$ b \$2") == [("text", "a "), ("math", "$x_1$"), ("text", " b $2")]
    with pytest.raises(ValueError, match="unmatched"):
        split_math("one $ alone")


def _imgs(markup: str) -> list[dict]:
    """The attributes of every <img> in `markup`, read by the standard library's HTML parser."""
    from html.parser import HTMLParser

    found = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                found.append(dict(attrs))

    Parser().feed(markup)
    return found


def test_a_formula_is_an_img_with_its_source_size_and_baseline():
    """A formula is embedded as an <img>: its alt text is its source, its width and baseline
    offset are math_svg's (in points for a display formula, in em of the running text for inline
    math, set at INLINE_SIZE points), and its data: URI holds math_svg's SVG as a
    document of its own: the namespaces declared, so that it parses and its glyphs' xlink:href
    resolve."""
    from xml.etree import ElementTree

    from engine.report.context import _prose

    source = r"$\frac{\alpha}{\sqrt{v_t}} < \beta_1$"
    svg_ns, xlink = "{http://www.w3.org/2000/svg}", "{http://www.w3.org/1999/xlink}"
    cases = [(_prose(f"Con {source} y más.", "test"), math_svg(source, fontsize=INLINE_SIZE), "math math-inline"),
             (_math_img(math_svg(source), "test"), math_svg(source), "math")]
    for markup, svg, classes in cases:
        [img] = _imgs(str(markup))
        expected = ElementTree.fromstring(svg)
        depth = float(re.fullmatch(r"vertical-align: -([\d.]+)pt", expected.get("style")).group(1))
        width = float(expected.get("width").removesuffix("pt"))
        assert img["class"] == classes
        assert img["alt"] == source
        unit, scale = ("pt", 1) if classes == "math" else ("em", INLINE_SIZE)
        style = dict(rule.split(": ") for rule in img["style"].split("; "))
        assert set(style) == {"vertical-align", "width"}  # the height follows from the SVG's aspect ratio
        assert style["vertical-align"].endswith(unit) and style["width"].endswith(unit)
        assert float(style["vertical-align"].removesuffix(unit)) == pytest.approx(-depth / scale, abs=5e-4)
        assert float(style["width"].removesuffix(unit)) == pytest.approx(width / scale, abs=5e-4)
        prefix = "data:image/svg+xml;charset=utf-8,"
        assert img["src"].startswith(prefix)
        root = ElementTree.fromstring(unquote(img["src"][len(prefix):]))
        assert root.tag == svg_ns + "svg"
        assert (root.get("width"), root.get("height"), root.get("viewBox")) == (
            expected.get("width"), expected.get("height"), expected.get("viewBox"))
        uses = root.findall(f".//{svg_ns}use")
        assert uses and all(u.get(xlink + "href", "").startswith("#") for u in uses)
        assert root.find(svg_ns + "title").text == source


def test_new_figure_shapes():
    fig, axes = new_figure(ncols=2, nrows=1, width="half")
    assert len(axes) == 2
    width, _ = fig.get_size_inches()
    assert width == pytest.approx(3.15)
    figure_to_svg(fig)
    with pytest.raises(ValueError):
        new_figure(width="huge")


def test_a_formula_at_a_line_end_does_not_strand_the_first_word():
    """WeasyPrint did not break at the space before an inline formula that no longer fit, and
    went back to the paragraph's first space: gan-minimax's quote opened with "Para" alone on
    its line.  The quote, set in print with the handout's stylesheet, fills its first line."""
    import weasyprint
    from weasyprint.formatting_structure import boxes

    from engine.report.context import _prose

    quote = yaml.safe_load((TEMPLATES_DIR / "claims" / "gan-minimax.yaml").read_text(encoding="utf-8"))["quote_es"]
    first = _prose(quote.splitlines()[0], "test")
    style = (TEMPLATES_DIR / "style.css").read_text(encoding="utf-8")
    html = (f'<html lang="es"><head><meta charset="utf-8"><style>{style}</style></head><body><main>'
            f'<figure class="quote"><blockquote lang="es"><p>{first}</p></blockquote></figure></main></body></html>')
    page = weasyprint.HTML(string=html).render(presentational_hints=True).pages[0]
    lines = [box for box in page._page_box.descendants() if isinstance(box, boxes.LineBox)]
    words = " ".join(b.text for b in lines[0].descendants() if isinstance(b, boxes.TextBox)).split()
    assert words[0] == "Para" and len(words) > 5, words
