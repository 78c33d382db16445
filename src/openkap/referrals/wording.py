"""Questionnaire wording of the pre-screen in the person's language.

English comes from the instrument definitions in `openkap.core.instruments`. Spanish is
used only where a validated translation may be reproduced:
- PHQ-9 and GAD-7: the Spanish (USA) versions from the PHQ Screeners site (Pfizer),
  which states that no permission is required to reproduce, translate, display or
  distribute them;
- ASQ: the NIMH ASQ toolkit's Spanish version (a free resource of the toolkit).
Any other language falls back to English rather than to an unvalidated translation.
"""

from __future__ import annotations

from django.utils.translation import get_language

from openkap.core.instruments import get_instrument
from openkap.core.referrals import PRESCREEN_INSTRUMENTS

_FREQUENCY_ES = {0: "Ningún día", 1: "Varios días", 2: "Más de la mitad de los días", 3: "Casi todos los días"}
_YES_NO_ES = {0: "No", 1: "Sí"}

SPANISH: dict[str, dict[str, object]] = {
    "phq9": {
        "stem": "Durante las últimas 2 semanas, ¿qué tan seguido ha tenido molestias debido a los "
        "siguientes problemas?",
        "options": {**_FREQUENCY_ES},
        "items": {
            "q1": "Poco interés o placer en hacer cosas",
            "q2": "Se ha sentido decaído(a), deprimido(a) o sin esperanzas",
            "q3": "Ha tenido dificultad para quedarse o permanecer dormido(a), o ha dormido demasiado",
            "q4": "Se ha sentido cansado(a) o con poca energía",
            "q5": "Sin apetito o ha comido en exceso",
            "q6": "Se ha sentido mal con usted mismo(a) – o que es un fracaso o que ha quedado mal "
            "con usted mismo(a) o con su familia",
            "q7": "Ha tenido dificultad para concentrarse en ciertas actividades, tales como leer el "
            "periódico o ver la televisión",
            "q8": "¿Se ha movido o hablado tan lento que otras personas podrían haberlo notado? o lo "
            "contrario – muy inquieto(a) o agitado(a) que ha estado moviéndose mucho más de lo normal",
            "q9": "Pensamientos de que estaría mejor muerto(a) o de lastimarse de alguna manera",
        },
    },
    "gad7": {
        "stem": "Durante las últimas 2 semanas, ¿con qué frecuencia ha sentido molestias por los "
        "siguientes problemas?",
        "options": {0: "Nunca", 1: "Varios días", 2: "Más de la mitad de los días", 3: "Casi todos los días"},
        "items": {
            "q1": "Se ha sentido nervioso(a), ansioso(a) o con los nervios de punta",
            "q2": "No ha sido capaz de parar o controlar su preocupación",
            "q3": "Se ha preocupado demasiado por motivos diferentes",
            "q4": "Ha tenido dificultad para relajarse",
            "q5": "Se ha sentido tan inquieto(a) que no ha podido quedarse quieto(a)",
            "q6": "Se ha molestado o irritado fácilmente",
            "q7": "Ha tenido miedo de que algo terrible fuera a pasar",
        },
    },
    "asq": {
        "stem": "Por favor, conteste cada pregunta.",
        "options": {**_YES_NO_ES},
        "items": {
            "q1": "En las últimas semanas, ¿ha deseado estar muerto(a)?",
            "q2": "En las últimas semanas, ¿ha sentido que usted o su familia estarían mejor si "
            "usted estuviera muerto(a)?",
            "q3": "En la última semana, ¿ha pensado en suicidarse?",
            "q4": "¿Alguna vez ha intentado suicidarse?",
            "q5": "¿Está pensando en suicidarse en este momento?",
        },
    },
}

_ENGLISH_STEMS = {
    "phq9": "Over the last 2 weeks, how often have you been bothered by any of the following problems?",
    "gad7": "Over the last 2 weeks, how often have you been bothered by the following problems?",
    "asq": "Please answer each question.",
}


def _spanish() -> bool:
    return (get_language() or "en").split("-")[0] == "es"


def stem(instrument_id: str) -> str:
    if _spanish():
        return str(SPANISH[instrument_id]["stem"])
    return _ENGLISH_STEMS[instrument_id]


def item_text(instrument_id: str, item_id: str) -> str:
    if _spanish():
        return SPANISH[instrument_id]["items"][item_id]  # type: ignore[index]
    item = get_instrument(instrument_id).items[get_instrument(instrument_id).item_index(item_id)]
    return item.text or item.label


def options(instrument_id: str, item_id: str) -> list[tuple[int, str]]:
    instrument = get_instrument(instrument_id)
    item = instrument.items[instrument.item_index(item_id)]
    spanish = SPANISH[instrument_id]["options"] if _spanish() else None
    return [(o.value, spanish[o.value] if spanish else o.label) for o in item.scale.options]  # type: ignore[index]


def coverage_gaps() -> list[str]:
    """Items of the pre-screen without Spanish wording (a test keeps this empty)."""
    return [f"{i}.{item}" for i, items in PRESCREEN_INSTRUMENTS.items() for item in items
            if item not in SPANISH[i]["items"]]  # type: ignore[operator]
