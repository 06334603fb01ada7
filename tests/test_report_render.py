"""The rendering layer: context -> HTML + PDF, catalogues, SVG helpers.

Fast (a few seconds): one small fake report rendered once per module.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from engine.report import TEMPLATES_DIR
from engine.report.catalog import flat_keys, load_catalog, message
from engine.report.figures import (
    OPTIMIZER_COLORS,
    figure_to_svg,
    new_figure,
    optimizer_color,
    scope_svg_ids,
)
from engine.report.mathsvg import math_svg
from engine.report.render import format_cell, render_html, write_report

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
                "section": "2. Variantes del SGD",
                "title": "Momentum sigue la dirección de gradientes pesados",
                "quote_es": QUOTE_ES,
                "quote_en": "average the gradient with its value at the previous iteration in order to follow "
                            "the direction of heavy gradients",
                "explanation": [
                    "El promedio móvil exponencial acumula las componentes del gradiente que apuntan siempre "
                    "en la misma dirección y cancela las que oscilan.",
                ],
                "formulas": [
                    {"svg": math_svg(r"$v_t = (1-\beta)\, g_t + \beta\, v_{t-1}$"), "caption": "Actualización de la clase."},
                    {"svg": math_svg(r"$\theta_{t+1} = \theta_t - \frac{\alpha}{\sqrt{v_t + \epsilon}}\, g_t$"),
                     "caption": "Adagrad."},
                ],
                "method": ["Cuadráticas con número de condición κ entre 10 y 10⁴; pasos hasta la precisión fijada."],
                "figures": [{"id": "slopes", "svg": _figure_svg(),
                             "caption": "Pasos hasta la precisión objetivo frente a κ (escala log-log)."}],
                "tables": [{"caption": "Pendientes ajustadas.", "columns": ["optimizador", "pendiente", "IC 95 %"],
                            "rows": [["gd", 1.00231, "0.98 – 1.02"], ["momentum", 0.5012345, "0.47 – 0.53"],
                                     ["adam", float("nan"), "—"]]}],
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
                "section": "6. Redes generativas adversarias",
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


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("report")
    return write_report(fake_context(), TEMPLATES_DIR, out)


@pytest.fixture(scope="module")
def html(rendered) -> str:
    return rendered["html"].read_text(encoding="utf-8")


def test_writes_both_files(rendered):
    assert rendered["html"].name == "index.html" and rendered["html"].is_file()
    assert rendered["pdf"].name == "report.pdf" and rendered["pdf"].is_file()
    leftovers = [p.name for p in rendered["html"].parent.iterdir() if p.name.endswith(".tmp")]
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
    assert html.count('src="data:image/svg+xml') == 1  # the figure
    assert html.count("<svg") == 2  # the formulas, inline


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


def test_svg_ids_unique_in_document(html):
    ids = re.findall(r'\bid="([^"]+)"', html)
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert duplicates == []


def test_floats_formatted_and_numbers_right_aligned(html):
    assert ">1.002<" in html and ">0.5012<" in html and ">NaN<" in html
    assert '<td class="num">1.002</td>' in html
    assert format_cell(0.000123456) == "0.0001235" and format_cell(12) == "12" and format_cell("x") == "x"
    assert format_cell(np.float32(2.5)) == "2.5" and format_cell(np.int64(7)) == "7"
    assert format_cell((0.912345, 1.1)) == "[0.9123, 1.1]" and format_cell(None) == "—"
    assert format_cell(float("inf")) == "∞"


def test_pdf_has_pages(rendered):
    data = rendered["pdf"].read_bytes()
    assert data.startswith(b"%PDF")
    # cover, contents, summary, two claims, appendix
    assert count_pdf_pages(data) >= 3


def test_english_catalogue_renders():
    html = render_html(fake_context(language="en", profile="full"), TEMPLATES_DIR)
    assert '<html lang="en">' in html
    assert "Supported" in html and "Figure 1" in html and "Environment" in html
    assert message(load_catalog("en"), "profile.quick_title") not in html


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


def test_figure_to_svg_is_deterministic():
    first, second = _figure_svg(), _figure_svg()
    assert first == second
    assert first.startswith("<svg") and "<?xml" not in first and "DOCTYPE" not in first
    assert "<text" not in first  # glyphs as paths


def test_scope_svg_ids_rewrites_references():
    svg = '<svg><defs><path id="g1"/></defs><use xlink:href="#g1"/><g clip-path="url(#g1)"/></svg>'
    scoped = scope_svg_ids(svg, "s9-")
    assert 'id="s9-g1"' in scoped and 'href="#s9-g1"' in scoped and "url(#s9-g1)" in scoped


def test_math_svg_returns_svg():
    svg = math_svg(r"$v_t = \beta v_{t-1} + (1-\beta) g_t^2$")
    assert svg.lstrip().startswith("<svg")
    assert math_svg(r"$v_t = \beta v_{t-1} + (1-\beta) g_t^2$") is svg  # cached
    with pytest.raises(ValueError):
        math_svg(r"$\frac{1}{$")


def test_optimizer_colors():
    names = ["gd", "sgd-1", "minibatch-sgd", "momentum", "adagrad", "rmsprop", "adam"]
    assert set(names) <= set(OPTIMIZER_COLORS)
    assert len({OPTIMIZER_COLORS[n] for n in names}) == len(names)
    assert optimizer_color("novel-optimizer") == optimizer_color("novel-optimizer")
    assert re.fullmatch(r"#[0-9A-Fa-f]{6}", optimizer_color("novel-optimizer"))


def test_new_figure_shapes():
    fig, axes = new_figure(ncols=2, nrows=1, width="half")
    assert len(axes) == 2
    width, _ = fig.get_size_inches()
    assert width == pytest.approx(3.15)
    figure_to_svg(fig)
    with pytest.raises(ValueError):
        new_figure(width="huge")
