"""The instrument library as data: ids, raters, licences, LOINC, text gating."""

from __future__ import annotations

import re

import pytest

from openkap.core.instruments import Licence, Rater, all_instruments, get_instrument

EXPECTED_IDS = {
    "phq9",
    "phq2",
    "gad7",
    "gad2",
    "asq",
    "cssrs-recent",
    "cssrs-slv",
    "pcl5",
    "qidssr16",
    "madrs",
    "cadss",
    "cadss6",
    "meq30",
    "ebi",
    "auditc",
    "dast10",
}

CLINICIAN_RATED = {"madrs", "cadss", "cadss6", "cssrs-recent", "cssrs-slv"}


def test_registry_holds_every_instrument_of_issue_4() -> None:
    assert {i.id for i in all_instruments()} == EXPECTED_IDS


def test_ids_are_lowercase_without_spaces() -> None:
    for instrument in all_instruments():
        assert re.fullmatch(r"[a-z0-9-]+", instrument.id), instrument.id


@pytest.mark.parametrize("instrument_id", sorted(EXPECTED_IDS))
def test_rater_marked(instrument_id: str) -> None:
    expected = Rater.CLINICIAN if instrument_id in CLINICIAN_RATED else Rater.SELF_REPORT
    assert get_instrument(instrument_id).rater is expected


def test_item_text_ships_only_for_free_licences() -> None:
    for instrument in all_instruments():
        if instrument.licence is not Licence.PUBLIC_DOMAIN:
            assert all(item.text is None for item in instrument.items), instrument.id
        assert all(item.licensed_text is None for item in instrument.items)


def test_free_suicide_screens_ship_full_text() -> None:
    # The product must screen for suicide risk with the free instruments alone.
    for instrument_id in ("phq9", "asq"):
        assert all(item.text for item in get_instrument(instrument_id).items)


def test_item_ids_unique_and_labels_present() -> None:
    for instrument in all_instruments():
        ids = [item.id for item in instrument.items]
        assert len(ids) == len(set(ids)), instrument.id
        assert all(item.label for item in instrument.items), instrument.id


@pytest.mark.parametrize(
    ("instrument_id", "panel", "total"),
    [
        ("phq9", "44249-1", "44261-6"),
        ("phq2", "55757-9", "55758-7"),
        ("gad7", "69737-5", "70274-6"),
        ("auditc", "72109-2", "75626-2"),
        ("cssrs-recent", "93373-9", None),
        # loinc.org/82667-7: "Total score [DAST-10]", member of panel 82666-9.
        ("dast10", "82666-9", "82667-7"),
    ],
)
def test_loinc_codes_from_reference(instrument_id: str, panel: str, total: str | None) -> None:
    instrument = get_instrument(instrument_id)
    assert (instrument.loinc_panel, instrument.loinc_total) == (panel, total)


@pytest.mark.parametrize(
    "instrument_id",
    [
        "pcl5",
        "qidssr16",
        "madrs",
        "cadss",
        "cadss6",
        "meq30",
        "ebi",
        "asq",
        "gad2",
        "cssrs-slv",
    ],
)
def test_no_unverified_loinc_codes(instrument_id: str) -> None:
    instrument = get_instrument(instrument_id)
    assert instrument.loinc_panel is None
    assert instrument.loinc_total is None
    assert all(item.loinc is None for item in instrument.items if instrument_id != "gad2")


def test_gad2_never_carries_the_phq15_total_code() -> None:
    # 70273-8 is "PHQ-15 total score" in LOINC's PHQ-SADS panel 69729-2, not a GAD-2 code.
    gad2 = get_instrument("gad2")
    codes = {gad2.loinc_panel, gad2.loinc_total, *(item.loinc for item in gad2.items)}
    assert "70273-8" not in codes
    assert [item.loinc for item in gad2.items] == ["69725-0", "68509-9"]


def test_dast10_items_have_no_loinc_codes() -> None:
    assert all(item.loinc is None for item in get_instrument("dast10").items)


def test_phq9_difficulty_item_is_supplementary_not_scored() -> None:
    phq9 = get_instrument("phq9")
    assert len(phq9.items) == 9
    assert [i.loinc for i in phq9.supplementary_items] == ["69722-7"]


def test_dast10_item3_is_the_only_reverse_item() -> None:
    reversed_items = [
        (i.id, item.id) for i in all_instruments() for item in i.items if item.reverse
    ]
    assert reversed_items == [("dast10", "q3")]
