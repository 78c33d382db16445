"""Questionnaire wording of the pre-screen in the person's language.

PHQ-9 and GAD-7 come from the instrument library and its validated translations
(`openkap.core.instruments.translations`: Pfizer's Spanish for the USA, free to reproduce
and translate). The ASQ's Spanish is the NIMH ASQ toolkit's, one of the toolkit's
translations, which NIMH publishes as a free resource with the tool; it is used here, and
only here, because a suicide-risk screen read in a language the person does not read is
worse than none (docs/adr/0039-referrals.md). Checked against public transcriptions of
the NIMH Spanish ASQ (docs/instrument-translations.md); compare with the toolkit's
current Spanish PDF before clinical use. Answers are stored as option values, so the
language never changes a score.
"""

from __future__ import annotations

from django.utils.translation import get_language

from openkap.core.instruments import Instrument, get_instrument
from openkap.core.instruments.translations import localized
from openkap.core.referrals import PRESCREEN_INSTRUMENTS

ASQ_SPANISH_ITEMS = {
    "q1": "En las últimas semanas, ¿ha deseado estar muerto?",
    "q2": "En las últimas semanas, ¿ha sentido que usted o su familia estarían mejor si estuviera muerto?",
    "q3": "En la última semana, ¿ha estado pensando en suicidarse?",
    "q4": "¿Alguna vez ha intentado suicidarse?",
    "q5": "¿Está pensando en suicidarse en este momento?",
}
ASQ_SPANISH_OPTIONS = {0: "No", 1: "Sí"}

# The ASQ's own instructions are for the clinician who asks ("Ask the patient:").
_ASQ_STEM = {"en": "Please answer each question.", "es": "Por favor, conteste cada pregunta."}


def _language() -> str:
    return (get_language() or "en").split("-")[0]


def _shown(instrument_id: str) -> Instrument:
    return localized(get_instrument(instrument_id), _language())


def stem(instrument_id: str) -> str:
    if instrument_id == "asq":
        return _ASQ_STEM.get(_language(), _ASQ_STEM["en"])
    return _shown(instrument_id).instructions or ""


def item_text(instrument_id: str, item_id: str) -> str:
    if instrument_id == "asq" and _language() == "es":
        return ASQ_SPANISH_ITEMS[item_id]
    instrument = _shown(instrument_id)
    item = instrument.items[instrument.item_index(item_id)]
    return item.text or item.label


def options(instrument_id: str, item_id: str) -> list[tuple[int, str]]:
    instrument = _shown(instrument_id)
    item = instrument.items[instrument.item_index(item_id)]
    if instrument_id == "asq" and _language() == "es":
        return [(o.value, ASQ_SPANISH_OPTIONS[o.value]) for o in item.scale.options]
    return [(o.value, o.label) for o in item.scale.options]


def coverage_gaps(language: str = "es") -> list[str]:
    """Items of the pre-screen shown in English to a reader of ``language`` (a test keeps
    this empty for Spanish)."""
    from django.utils import translation

    gaps = []
    with translation.override(language):
        for instrument_id, items in PRESCREEN_INSTRUMENTS.items():
            english = get_instrument(instrument_id)
            for item_id in items:
                original = english.items[english.item_index(item_id)]
                if item_text(instrument_id, item_id) in (original.text, original.label):
                    gaps.append(f"{instrument_id}.{item_id}")
    return gaps
