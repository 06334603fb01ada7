"""The handout as a document: what a reader sees in its words and numbers.

Cheap: the small fake report of test_report_render rendered to HTML only (no PDF), and the verdict
reasons computed on made-up estimates for every criterion of experiments.yaml.
"""
from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from engine.claims.verdict import Estimate, evaluate
from engine.report import TEMPLATES_DIR
from engine.kit.figures import replace_decimals
from engine.report.reason import deciding_row, number_text, verdict_reason
from engine.report.mathsvg import math_svg, split_math
from engine.report.render import render_html
from tests.test_report_render import fake_context

ROOT = Path(__file__).resolve().parent.parent


class _RunningText(HTMLParser):
    """The text of every <p>, <li>, <dd> and <td> inside <main>, code and math left out."""

    BLOCKS = {"p", "li", "dd", "td", "figcaption"}
    SKIP = {"code", "svg", "style", "script"}

    def __init__(self):
        super().__init__()
        self.in_main = self.block = self.skip = 0
        self.chunks: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.in_main += tag == "main"
        self.block += tag in self.BLOCKS
        self.skip += tag in self.SKIP

    def handle_endtag(self, tag):
        self.in_main -= tag == "main"
        self.block -= tag in self.BLOCKS
        self.skip -= tag in self.SKIP

    def handle_data(self, data):
        if self.in_main and self.block and not self.skip:
            self.chunks.append(data)


def running_text(html: str, until: str = 'id="references"') -> str:
    """The prose of the summary, guide and claims (the references cite identifiers such as
    doi:10.1214/…, the appendices versions such as 3.11.9)."""
    parser = _RunningText()
    parser.feed(html.split(until)[0])
    return " ".join(parser.chunks)


def _context(language: str) -> dict:
    context = fake_context(language)
    claim = context["claims"][0]
    claim["explanation"].append(r"Con $\beta = 0.9$ y una tasa 1.5 veces mayor, $10^{0.5}$ pasos; −0.3 décadas.")
    context["reproducibility"]["studies"].append(
        {"study": "long", "claim": "momentum-heavy-directions", "models": ["quadratic"], "optimizers": ["gd"],
         "seeds": "100–149 (50)", "budget": {}, "tune": "", "runs": {}})
    context["environment"]["git_commit"] = "0123456789abcdef0123456789abcdef01234567"
    context["generated_at"] = "2026-12-04"
    claim["command"] = "make report ONLY='claim=momentum-heavy-directions'"
    return context


@pytest.fixture(scope="module")
def spanish() -> str:
    return render_html(_context("es"), TEMPLATES_DIR)


@pytest.fixture(scope="module")
def english() -> str:
    return render_html(_context("en"), TEMPLATES_DIR)


def test_no_list_is_joined_character_by_character(spanish):
    assert "100–149 (50)" in spanish        # a seeds text is shown as written
    assert ">0, 1, 2<" in spanish            # a list of seeds is joined by items
    assert not re.search(r"\d, ,|–, \d", spanish)


def test_spanish_running_text_has_decimal_commas_and_no_decimal_points(spanish):
    text = running_text(spanish)
    assert re.search(r"\d,\d", text)
    assert re.findall(r"\d\.\d", text) == []
    # and in the formulas: the mathtext source (the svg's <title>) carries the braced comma
    assert "10^{0{,}5}" in spanish and r"\beta = 0{,}9" in spanish


def test_english_running_text_keeps_decimal_points(english):
    assert "1.5 " in running_text(english)


def test_no_translation_block_in_the_spanish_edition(spanish, english):
    assert 'class="translation"' not in spanish and "Traducción al inglés" not in spanish
    assert 'class="translation"' in english and "English translation" in english


def _cover(html: str) -> str:
    return html.split('<header class="cover"')[1].split("</header>")[0]


@pytest.mark.parametrize("language", ["es", "en"])
def test_title_page_has_licence_citation_and_version(language, spanish, english):
    cover = _cover(spanish if language == "es" else english)
    assert "CC BY 4.0" in cover and "MIT" in cover and "LICENSE" in cover
    assert "descenso (2026). Redes neuronales (parte 3)." in cover      # the citation
    assert "0123456789ab" in cover and "2026-12-04" in cover             # the version: commit and date
    assert "reports/index.html" in cover                                  # where the HTML edition lives


def test_license_file_is_mit():
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_reading_guide_and_glossary_are_on_the_summary(spanish):
    summary = spanish.split('id="summary"')[1].split("</section>")[0]
    assert "Cómo leer un veredicto" in summary and "Glosario" in summary
    assert "tasa de aprendizaje" in summary and "minibatch" in summary


def test_claim_ids_are_secondary_and_commands_close_each_claim(spanish):
    summary = spanish.split('id="summary"')[1].split("</section>")[0]
    assert 'class="claim-id"' not in summary
    claim = spanish.split('id="momentum-heavy-directions"')[1].split("</section>")[0]
    assert "Para reproducirla:" in claim


def test_criterion_rows_show_descriptions_not_quantity_ids(spanish):
    table = spanish.split('class="data criterion-table"')[1].split("</table>")[0]
    assert "pendiente log-log de pasos frente a κ" in table
    assert "pendiente GD" not in table


# --------------------------------------------------------------------------- verdict reasons


def _estimate(low: float, high: float, n: int = 10) -> Estimate:
    return Estimate((low + high) / 2, low, high, n, (), "seed", "t")


CRITERIA = [{"quantity": "slope", "description": "la pendiente cae como 1/B", "between": [-1.1, -0.9]},
            {"quantity": "gain", "description": "SGD gana", "at_least": 0.0}]


def test_reason_names_the_failing_condition_and_its_numbers():
    verdict, rows = evaluate(CRITERIA, {"slope": _estimate(-1.05, -0.95), "gain": _estimate(-0.17, -0.04)})
    assert verdict == "not supported" and deciding_row(verdict, rows, CRITERIA) == 1
    assert verdict_reason(verdict, rows, CRITERIA, "es") == (
        "falla «SGD gana» (−0,105 [−0,17; −0,04], 10 semillas; se pedía ≥ 0).")
    assert verdict_reason(verdict, rows, CRITERIA, "en") == (
        "“SGD gana” fails (−0.105 [−0.17, −0.04], 10 seeds; required ≥ 0).")


def test_reason_of_a_supported_verdict_names_the_tightest_condition():
    # the slope's interval ends 0.02 from its bound, a fifth of its width; the gain's 2 widths away
    verdict, rows = evaluate(CRITERIA, {"slope": _estimate(-1.08, -0.98), "gain": _estimate(0.2, 0.3)})
    assert verdict == "supported" and deciding_row(verdict, rows, CRITERIA) == 0
    assert "«la pendiente cae como 1/B»" in verdict_reason(verdict, rows, CRITERIA, "es")
    assert "entre −1,1 y −0,9" in verdict_reason(verdict, rows, CRITERIA, "es")


def test_reason_of_an_inconclusive_verdict_and_of_a_single_replicate():
    verdict, rows = evaluate(CRITERIA, {"slope": _estimate(-1.05, -0.95), "gain": _estimate(-0.1, 0.3)})
    assert verdict == "inconclusive"
    assert verdict_reason(verdict, rows, CRITERIA, "es").startswith("el intervalo de «SGD gana» cruza el límite")
    verdict, rows = evaluate(CRITERIA, {"slope": _estimate(-1.05, -0.95), "gain": Estimate(0.1, 0.1, 0.1, 1)})
    assert "se midió una sola vez (0,1, una sola medición" in verdict_reason(verdict, rows, CRITERIA, "es")


def test_numbers_are_written_as_the_language_writes_them():
    assert number_text(-0.10612, "es") == "−0,106"
    assert number_text(1.89e-16, "es") == "1,89·10⁻¹⁶"
    assert number_text(2.0e-12, "en") == "2·10⁻¹²"


def _experiments_claims() -> dict:
    return yaml.safe_load((ROOT / "experiments.yaml").read_text(encoding="utf-8"))["claims"]


def _made_up(criterion: dict, outcome: str) -> Estimate:
    """An estimate whose interval passes, fails or straddles the criterion's bound."""
    if "at_least" in criterion:
        bound, side = float(criterion["at_least"]), 1.0
    elif "at_most" in criterion:
        bound, side = float(criterion["at_most"]), -1.0
    else:
        low, high = map(float, criterion["between"])
        bound, side = low, 1.0
        if outcome == "pass" and high > low:
            return _estimate(low + (high - low) / 4, high - (high - low) / 4)
    width = max(abs(bound), 1.0)
    spans = {"pass": (0.1, 0.2), "fail": (-0.2, -0.1), "unclear": (-0.1, 0.1)}[outcome]
    ends = sorted(bound + side * s * width for s in spans)
    return _estimate(*ends)


@pytest.mark.parametrize("outcome", ["pass", "fail", "unclear"])
@pytest.mark.parametrize("language", ["es", "en"])
def test_every_claims_reason_names_a_quantity_and_a_number(outcome, language):
    """For every claim of experiments.yaml, whatever its numbers: the reason quotes the deciding
    condition's description and gives a measured number and its bound."""
    for cid, claim in _experiments_claims().items():
        criteria = [{**c, "description": c.get(f"description_{language}", c.get("description", ""))}
                    for c in claim["criterion"]]
        quantities = {c["quantity"]: _made_up(c, outcome) for c in criteria}
        verdict, rows = evaluate(criteria, quantities)
        reason = verdict_reason(verdict, rows, criteria, language)
        described = replace_decimals(rows[deciding_row(verdict, rows, criteria)]["description"],
                                     "," if language == "es" else ".")
        assert described and described in reason, (cid, reason)
        assert re.search(r"\d", reason.replace(described, "")), (cid, reason)
        assert "[" in reason, (cid, reason)       # the interval



@pytest.mark.parametrize("path", sorted((ROOT / "templates" / "claims").glob("*.yaml")), ids=lambda p: p.stem)
def test_quote_omissions_are_marked_and_formulas_set(path):
    """Omissions in a quote are marked […] (not [...] or …), and its formulas are the lecture's
    math, set by mathtext (the words were checked against the lecture's text when they were written)."""
    quote = yaml.safe_load(path.read_text(encoding="utf-8"))["quote_es"]
    assert "[...]" not in quote and "…" not in quote.replace("[…]", "")
    for line in quote.splitlines():
        for kind, piece in split_math(line):
            if kind == "math":
                math_svg(piece)


DECIMAL_POINT = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")  # nor "3.000": thousands are set apart by a space


@pytest.mark.parametrize("cid", sorted(_experiments_claims()))
def test_every_revision_reads_in_both_editions(cid):
    """A revision's from, to and why are Spanish (decimal commas, no English reason copied in) and
    each has an English text; the handout shows each edition its own."""
    from engine.report.assemble import _criterion_record

    record = _experiments_claims()[cid]
    for revision in record.get("revisions", []):
        for key in ("from", "to", "why"):
            spanish_text, english_text = revision[key], revision[f"{key}_en"]
            assert english_text.strip() and spanish_text != english_text, (cid, key)
            if key != "why":   # the reasons are their authors' lines; from and to were rewritten for both editions
                assert not DECIMAL_POINT.search(spanish_text), (cid, key, spanish_text)
    for language in ("es", "en"):
        suffix = "" if language == "es" else "_en"
        shown = _criterion_record(record, language)["revisions"]
        assert [r["from"] for r in shown] == [r["from" + suffix] for r in record.get("revisions", [])]
        assert [r["to"] for r in shown] == [r["to" + suffix] for r in record.get("revisions", [])]


def test_redesigned_claims_use_the_glossary_terms():
    """The sentences the handout's review asked to rewrite are gone, and no Spanish column header
    calls the learning rate a "paso" (a step is an update, per the glossary)."""
    gone = ["ajuste eligió", "misma aritmética como", "sea el suyo", "pide k = 10", "para caber en su construcción",
            "es FIJO", "eje de miembros", "experiments.yaml", "paso efectivo"]
    for path in (ROOT / "templates" / "claims").glob("*.yaml"):
        text = yaml.safe_load(path.read_text(encoding="utf-8"))
        spanish = yaml.safe_dump(text["es"], allow_unicode=True, width=10_000)
        for phrase in gone:
            assert phrase not in spanish, (path.stem, phrase)
        for columns in (text["es"].get("columns") or {}).values() if isinstance(text["es"].get("columns"), dict) else []:
            assert "paso" not in columns, (path.stem, columns)
