"""Validated Spanish wording of the PHQ-9 and GAD-7 (issue 17, item 6)."""

from __future__ import annotations

from openkap.core.instruments.registry import all_instruments, get_instrument
from openkap.core.instruments.translations import TRANSLATIONS, has_wording, localized


def test_only_the_pfizer_screeners_have_spanish_wording():
    assert set(TRANSLATIONS) == {("phq9", "es"), ("gad7", "es")}
    translated = {i.id for i in all_instruments() if has_wording(i.id, "es")}
    assert translated == {"phq9", "gad7"}
    assert all(has_wording(i.id, "en") for i in all_instruments())


def test_every_item_and_option_is_covered_and_values_are_kept():
    for (instrument_id, language), wording in TRANSLATIONS.items():
        english = get_instrument(instrument_id)
        spanish = localized(english, language)
        items = english.items + english.supplementary_items
        assert set(wording.items) == {item.id for item in items}
        for before, after in zip(items, spanish.items + spanish.supplementary_items, strict=True):
            assert after.id == before.id
            assert after.text != before.text
            assert after.licensed_text is None
            assert [o.value for o in after.scale.options] == [o.value for o in before.scale.options]
            assert [o.loinc for o in after.scale.options] == [o.loinc for o in before.scale.options]
        assert spanish.total_rule == english.total_rule
        assert spanish.item_flags == english.item_flags


def test_published_wording_of_the_items_that_trigger_safety_review():
    # Pfizer's Spanish (USA) PHQ-9 item 9 and answer set, as printed on the form.
    phq9 = localized(get_instrument("phq9"), "es")
    item9 = next(item for item in phq9.items if item.id == "q9")
    assert item9.text == "Pensamientos de que estaría mejor muerto(a) o de lastimarse de alguna manera"
    assert [o.label for o in item9.scale.options] == [
        "Ningún día", "Varios días", "Más de la mitad de los días", "Casi todos los días"]


def test_an_instrument_without_a_validated_translation_stays_english():
    pcl5 = get_instrument("pcl5")
    assert localized(pcl5, "es") is pcl5
    assert not has_wording("pcl5", "es")


def test_wording_corrected_against_the_published_forms():
    # Copied from the sources listed in docs/instrument-translations.md, not from the code.
    phq9 = localized(get_instrument("phq9"), "es")
    q10 = next(item for item in phq9.items + phq9.supplementary_items if item.id == "q10")
    assert q10.text == ("Si marcó cualquiera de los problemas, ¿qué tanta dificultad le han dado estos problemas "
                        "para hacer su trabajo, encargarse de las tareas del hogar, o llevarse bien con otras personas?")
    assert [o.label for o in q10.scale.options] == [
        "No ha sido difícil", "Un poco difícil", "Muy difícil", "Extremadamente difícil"]
    gad7 = localized(get_instrument("gad7"), "es")
    assert gad7.instructions == ("Durante las últimas 2 semanas, ¿qué tan seguido ha tenido molestias debido a los "
                                 "siguientes problemas?")
    assert [item.text for item in gad7.items] == [
        "Se ha sentido nervioso(a), ansioso(a) o con los nervios de punta",
        "No ha sido capaz de parar o controlar su preocupación",
        "Se ha preocupado demasiado por motivos diferentes",
        "Ha tenido dificultad para relajarse",
        "Se ha sentido tan inquieto(a) que no ha podido quedarse quieto(a)",
        "Se ha molestado o irritado fácilmente",
        "Ha tenido miedo de que algo terrible fuera a pasar",
    ]
    assert [o.label for o in gad7.items[0].scale.options] == [
        "Ningún día", "Varios días", "Más de la mitad de los días", "Casi todos los días"]
