"""Occasions and due states in the reader's language (issue 17.6 and 21.6): core gives
the state and the numbers, the measures app the words; English as before, Spanish
written out by hand here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from openkap.measures.wording import due_words, occasion_words

THURSDAY = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
DUE = THURSDAY - timedelta(days=3)

CASES = [
    # (occasion, now, English, Spanish)
    ("before_dosing", datetime(2026, 12, 8, 12, 0, tzinfo=UTC),
     "Due now, before the dosing session on Thursday 10 December at 09:00",
     "Pendiente ahora, antes de la sesión con el medicamento del jueves 10 de diciembre a las 09:00"),
    ("before_dosing", datetime(2026, 12, 1, tzinfo=UTC),
     "Due from Monday 7 December, before the dosing session on Thursday 10 December at 09:00",
     "Pendiente desde el lunes 7 de diciembre, antes de la sesión con el medicamento del jueves 10 de "
     "diciembre a las 09:00"),
    ("before_dosing", THURSDAY,
     "Overdue: due before the dosing session on Thursday 10 December at 09:00",
     "Atrasado: debía completarse antes de la sesión con el medicamento del jueves 10 de diciembre a las 09:00"),
    ("follow_up", datetime(2026, 12, 11, tzinfo=UTC),
     "Overdue since Thursday 10 December", "Atrasado desde el jueves 10 de diciembre"),
    ("follow_up", datetime(2026, 12, 8, tzinfo=UTC),
     "Due now, by Thursday 10 December", "Pendiente ahora, a más tardar el jueves 10 de diciembre"),
    # Another year is named.
    ("baseline", datetime(2025, 12, 1, tzinfo=UTC),
     "Due from Monday 7 December 2026 to Thursday 10 December 2026",
     "Pendiente del lunes 7 de diciembre de 2026 al jueves 10 de diciembre de 2026"),
]


@pytest.mark.parametrize(("occasion", "now", "english", "spanish"), CASES)
def test_due_words_in_both_languages(occasion, now, english, spanish):
    with translation.override("en"):
        assert due_words(occasion, DUE, THURSDAY, now) == english
    with translation.override("es"):
        assert due_words(occasion, DUE, THURSDAY, now) == spanish


@pytest.mark.parametrize(("args", "english", "spanish"), [
    (("baseline", "", "Baseline"), "Baseline", "Medición inicial"),
    (("before_dosing", "dosing:7", "Before dosing session 2"), "Before dosing session 2",
     "Antes de la sesión con el medicamento 2"),
    (("after_integration", "dosing:7", "After integration of session 4"), "After integration of session 4",
     "Después de la integración de la sesión 4"),
    (("follow_up", "1m", "1-month follow-up"), "1-month follow-up", "Seguimiento a 1 mes"),
    (("follow_up", "6m", "6-month follow-up"), "6-month follow-up", "Seguimiento a 6 meses"),
    # A clinician's own name for an occasion is kept as written.
    (("ad_hoc", "manual:1f", "After the retreat"), "After the retreat", "After the retreat"),
])
def test_occasion_words_in_both_languages(args, english, spanish):
    with translation.override("en"):
        assert occasion_words(*args, fallback="Additional") == english
    with translation.override("es"):
        assert occasion_words(*args, fallback="Adicional") == spanish
