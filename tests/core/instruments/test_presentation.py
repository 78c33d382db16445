"""How an instrument is put to a person (core.instruments.presentation), on the shipped
definitions: the C-SSRS screener's published skip pattern, PHQ-9's public-domain text,
MADRS (clinician-rated) and QIDS-SR16 (self-report whose wording needs a licence)."""

from hypothesis import given
from hypothesis import strategies as st

from openkap.core.instruments import get_instrument, with_licensed_text
from openkap.core.instruments.presentation import (
    given_so_far,
    is_asked,
    item_wording,
    patient_can_complete,
)

CSSRS = get_instrument("cssrs-recent")
PHQ9 = get_instrument("phq9")


def _item(instrument, item_id):
    return next(i for i in instrument.items if i.id == item_id)


def test_cssrs_asks_items_3_to_5_only_after_a_yes_to_item_2():
    for item_id in ("q3", "q4", "q5"):
        assert not is_asked(_item(CSSRS, item_id), {"q1": 1, "q2": 0})
        assert not is_asked(_item(CSSRS, item_id), {})
        assert is_asked(_item(CSSRS, item_id), {"q2": 1})


def test_cssrs_asks_6a_only_after_behaviour_in_a_lifetime():
    assert is_asked(_item(CSSRS, "q6a"), {"q6": 1})
    assert not is_asked(_item(CSSRS, "q6a"), {"q6": 0})


def test_an_item_without_skip_logic_is_always_asked():
    assert is_asked(_item(CSSRS, "q1"), {})
    assert is_asked(_item(PHQ9, "q9"), {"q1": None})


def test_item_wording_prefers_licensed_text_then_shipped_text_then_label():
    appetite = _item(PHQ9, "q5")
    assert item_wording(appetite) == "Poor appetite or overeating"
    madrs = get_instrument("madrs")
    assert item_wording(madrs.items[1]) == madrs.items[1].label  # only names ship for MADRS
    licensed = with_licensed_text(madrs, {madrs.items[1].id: "The clinic's own words"})
    assert item_wording(licensed.items[1]) == "The clinic's own words"


def test_patients_complete_self_report_with_wording_they_may_see():
    assert patient_can_complete(PHQ9)  # public domain, text ships
    assert not patient_can_complete(get_instrument("madrs"))  # clinician-rated
    qids = get_instrument("qidssr16")
    assert not patient_can_complete(qids)  # permission required, no licensed text loaded
    assert not patient_can_complete(with_licensed_text(qids, {qids.items[0].id: "words"}))  # not every item
    assert patient_can_complete(with_licensed_text(qids, {i.id: f"words {i.id}" for i in qids.items}))


def test_given_so_far_stops_at_the_last_item_seen():
    assert given_so_far(PHQ9, {}) == []
    assert given_so_far(PHQ9, {"q1": 1, "q3": 2}) == [1, None, 2]
    assert given_so_far(PHQ9, {"q2": None}) == [None, None]


@given(st.dictionaries(st.sampled_from([i.id for i in PHQ9.items]), st.none() | st.integers(0, 3)))
def test_given_so_far_keeps_every_answer_in_item_order(answers):
    ids = [i.id for i in PHQ9.items]
    got = given_so_far(PHQ9, answers)
    assert got == [answers.get(i) for i in ids[: len(got)]]
    assert all(ids.index(k) < len(got) for k in answers)
