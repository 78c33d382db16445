"""The pre-screen's Spanish ASQ is the NIMH's (docs/instrument-translations.md)."""

from __future__ import annotations

from django.utils import translation

from openkap.referrals import wording


def test_spanish_asq_items_as_published_by_nimh():
    # Copied from the sources listed in docs/instrument-translations.md, not from the code.
    with translation.override("es"):
        assert [wording.item_text("asq", f"q{n}") for n in range(1, 6)] == [
            "En las últimas semanas, ¿ha deseado estar muerto?",
            "En las últimas semanas, ¿ha sentido que usted o su familia estarían mejor si estuviera muerto?",
            "En la última semana, ¿ha estado pensando en suicidarse?",
            "¿Alguna vez ha intentado suicidarse?",
            "¿Está pensando en suicidarse en este momento?",
        ]
        assert [label for _value, label in wording.options("asq", "q1")] == ["No", "Sí"]
    assert wording.coverage_gaps("es") == []
