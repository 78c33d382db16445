"""Instrument wording in other languages, only where a validated translation may be used.

A questionnaire's meaning rests on its validated wording: a home-made translation is a
different instrument. So only these ship:

- PHQ-9 and GAD-7 in Spanish: Pfizer's Spanish (USA) versions of the PHQ screeners,
  free to reproduce and translate without permission (phqscreeners.com; the PHQ-9
  and GAD-7 licence notes in ``definitions``). Checked against public transcriptions
  of those forms, item by item (docs/instrument-translations.md, which lists what was
  compared, where, and what was corrected); compare with Pfizer's current PDFs
  before clinical use.

Every other instrument stays in English for a Spanish reader (the portal says so):
C-SSRS and ASQ Spanish versions exist but are distributed by their owners with
training and terms; PCL-5, AUDIT-C, DAST-10 and the others have no licence here to
reproduce a translation. Answers are stored as option values, so a response scores
the same whatever language it was shown in."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .model import Instrument, Item, Option


@dataclass(frozen=True)
class Wording:
    instructions: str
    items: dict[str, str]  # item id -> text (scored and supplementary items)
    options: dict[str, tuple[str, ...]]  # item id -> option labels by value, lowest first
    source: str


_PHQ_FREQUENCY_ES = ("Ningún día", "Varios días", "Más de la mitad de los días", "Casi todos los días")
_PFIZER_ES = "Pfizer Inc., PHQ screeners, Spanish for the USA (phqscreeners.com)"

TRANSLATIONS: dict[tuple[str, str], Wording] = {
    ("phq9", "es"): Wording(
        instructions="Durante las últimas 2 semanas, ¿qué tan seguido ha tenido molestias debido a los "
        "siguientes problemas?",
        items={
            "q1": "Poco interés o placer en hacer cosas",
            "q2": "Se ha sentido decaído(a), deprimido(a) o sin esperanzas",
            "q3": "Ha tenido dificultad para quedarse o permanecer dormido(a), o ha dormido demasiado",
            "q4": "Se ha sentido cansado(a) o con poca energía",
            "q5": "Sin apetito o ha comido en exceso",
            "q6": "Se ha sentido mal con usted mismo(a) \u2013 o que es un fracaso o que ha quedado mal con "
            "usted mismo(a) o con su familia",
            "q7": "Ha tenido dificultad para concentrarse en ciertas actividades, tales como leer el "
            "periódico o ver la televisión",
            "q8": "¿Se ha movido o hablado tan lento que otras personas podrían haberlo notado? o lo "
            "contrario \u2013 muy inquieto(a) o agitado(a) que ha estado moviéndose mucho más de lo normal",
            "q9": "Pensamientos de que estaría mejor muerto(a) o de lastimarse de alguna manera",
            "q10": "Si marcó cualquiera de los problemas, ¿qué tanta dificultad le han dado estos problemas "
            "para hacer su trabajo, encargarse de las tareas del hogar, o llevarse bien con otras personas?",
        },
        options={
            **{f"q{n}": _PHQ_FREQUENCY_ES for n in range(1, 10)},
            "q10": ("No ha sido difícil", "Un poco difícil", "Muy difícil", "Extremadamente difícil"),
        },
        source=_PFIZER_ES,
    ),
    ("gad7", "es"): Wording(
        # The same stem and answer words as the Spanish PHQ-9 of the series.
        instructions="Durante las últimas 2 semanas, ¿qué tan seguido ha tenido molestias debido a los "
        "siguientes problemas?",
        items={
            "q1": "Se ha sentido nervioso(a), ansioso(a) o con los nervios de punta",
            "q2": "No ha sido capaz de parar o controlar su preocupación",
            "q3": "Se ha preocupado demasiado por motivos diferentes",
            "q4": "Ha tenido dificultad para relajarse",
            "q5": "Se ha sentido tan inquieto(a) que no ha podido quedarse quieto(a)",
            "q6": "Se ha molestado o irritado fácilmente",
            "q7": "Ha tenido miedo de que algo terrible fuera a pasar",
        },
        options={f"q{n}": _PHQ_FREQUENCY_ES for n in range(1, 8)},
        source=_PFIZER_ES,
    ),
}


def has_wording(instrument_id: str, language: str) -> bool:
    """Whether the instrument can be shown in ``language`` (English always can)."""
    return language == "en" or (instrument_id, language) in TRANSLATIONS


def _item(item: Item, wording: Wording) -> Item:
    labels = wording.options[item.id]
    if len(labels) != len(item.scale.options):
        raise ValueError(f"{item.id}: {len(labels)} option labels for {len(item.scale.options)} options")
    options = tuple(Option(o.value, label, o.loinc) for o, label in zip(item.scale.options, labels, strict=True))
    # The validated translation replaces any English wording, the clinic's licensed text included.
    return replace(item, text=wording.items[item.id], licensed_text=None, scale=replace(item.scale, options=options))


def localized(instrument: Instrument, language: str) -> Instrument:
    """The instrument as shown in ``language``: its validated translation, or unchanged
    (English) when there is none. Values, scoring and flags are untouched."""
    wording = TRANSLATIONS.get((instrument.id, language))
    if wording is None:
        return instrument
    return replace(
        instrument,
        instructions=wording.instructions,
        items=tuple(_item(item, wording) for item in instrument.items),
        supplementary_items=tuple(_item(item, wording) for item in instrument.supplementary_items),
    )
