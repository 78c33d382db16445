"""Engine behaviour shared by all instruments: lookup, errors, result shape."""

from __future__ import annotations

import dataclasses
import json

import pytest

from openkap.core.instruments import (
    DefinitionError,
    IncompleteResponseError,
    InvalidAnswerError,
    ItemCountError,
    ScoreResult,
    UnknownInstrumentError,
    all_instruments,
    get_instrument,
    safety_flags,
    score,
    with_licensed_text,
)
from openkap.core.instruments.engine import _Plan
from openkap.core.instruments.model import Band


@pytest.mark.parametrize("name", ["phq9", "PHQ-9", "phq_9", "Phq 9", "PHQ9"])
def test_get_instrument_spellings_resolve_to_phq9(name: str) -> None:
    assert get_instrument(name).id == "phq9"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("C-SSRS", "cssrs-recent"),
        ("cssrs-since-last-visit", "cssrs-slv"),
        ("QIDS-SR16", "qidssr16"),
        ("AUDIT-C", "auditc"),
        ("CADSS-6", "cadss6"),
        ("MEQ-30", "meq30"),
        ("DAST-10", "dast10"),
        ("PCL-5", "pcl5"),
    ],
)
def test_get_instrument_published_names_resolve(name: str, expected: str) -> None:
    assert get_instrument(name).id == expected


def test_get_instrument_unknown_raises_with_known_list() -> None:
    with pytest.raises(UnknownInstrumentError, match="phq9"):
        get_instrument("bdi2")


def test_score_unknown_instrument_raises() -> None:
    with pytest.raises(UnknownInstrumentError):
        score("nope", [1])


@pytest.mark.parametrize("answers", [[0] * 8, [0] * 10, []])
def test_score_wrong_item_count_raises(answers: list[int]) -> None:
    with pytest.raises(ItemCountError, match="expects 9 answers"):
        score("phq9", answers)


@pytest.mark.parametrize("bad", [4, -1, "1", 1.5, [1]])
def test_score_out_of_range_or_non_numeric_answer_raises(bad: object) -> None:
    answers: list[object] = [0] * 9
    answers[4] = bad
    with pytest.raises(InvalidAnswerError, match="q5"):
        score("phq9", answers)  # type: ignore[arg-type]


def test_score_invalid_answer_wins_over_missing_answer() -> None:
    with pytest.raises(InvalidAnswerError):
        score("phq9", [None, 9, 0, 0, 0, 0, 0, 0, 0])


def test_incomplete_response_error_names_missing_items() -> None:
    with pytest.raises(IncompleteResponseError, match="q2, q4") as info:
        score("gad7", [0, None, 0, None, 0, 0, 0])
    assert info.value.missing == ("q2", "q4")


def test_result_is_frozen() -> None:
    result = score("phq9", [0] * 9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.total = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.subscales["x"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("instrument_id", "answers"),
    [
        ("phq9", [3, 3, 2, 2, 2, 2, 2, 1, 1]),
        ("asq", [1, None, 0, 0, 1]),
        ("cssrs", [1, 1, 1, 1, 0, 1, 1]),
        ("meq30", [3] * 30),
        ("pcl5", [2] * 20),
        ("ebi", [1, 2, 3, 4, 5, 6]),
        ("qidssr16", [1] * 16),
    ],
)
def test_result_to_dict_is_json_serialisable(instrument_id: str, answers: list[int]) -> None:
    result = score(instrument_id, answers)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["instrument"] == get_instrument(instrument_id).id
    assert data["flags"] == list(result.flag_ids)
    assert [f["id"] for f in data["flag_details"]] == data["flags"]
    assert set(data) >= {
        "instrument",
        "total",
        "band",
        "flags",
        "subscales",
        "items",
        "missing",
        "missing_handling",
    }
    assert isinstance(result, ScoreResult)


def test_safety_flags_on_partial_phq9() -> None:
    # Save-and-resume: item 9 positive before items 1-8 are all answered.
    flags = safety_flags("phq9", [None, None, None, None, None, None, None, None, 2])
    assert [f.id for f in flags] == ["phq9_item9"]


def test_safety_flags_reject_bad_values() -> None:
    with pytest.raises(InvalidAnswerError):
        safety_flags("phq9", [7])


def test_with_licensed_text_keeps_scoring_and_adds_text() -> None:
    madrs = with_licensed_text(get_instrument("madrs"), {"q10": "Clinic's licensed wording"})
    assert madrs.items[9].licensed_text == "Clinic's licensed wording"
    assert score(madrs, [1] * 10).total == 10


def test_with_licensed_text_unknown_item_raises() -> None:
    with pytest.raises(KeyError):
        with_licensed_text(get_instrument("madrs"), {"q99": "x"})


def test_definition_with_band_gap_is_refused() -> None:
    broken = dataclasses.replace(
        get_instrument("gad7"),
        bands=(Band("low", "Low", 0, 9), Band("high", "High", 11, 21)),
    )
    with pytest.raises(DefinitionError, match="gaps"):
        _Plan(broken)


def test_definition_with_band_overlap_is_refused() -> None:
    broken = dataclasses.replace(
        get_instrument("gad7"),
        bands=(Band("low", "Low", 0, 10), Band("high", "High", 10, 21)),
    )
    with pytest.raises(DefinitionError):
        _Plan(broken)


def test_every_registered_definition_compiles() -> None:
    for instrument in all_instruments():
        _Plan(instrument)


def test_result_fast_path_sets_every_field() -> None:
    for answers in ([0] * 9, [0, None, 0, 0, 0, 0, 0, 0, 0]):
        try:
            result = score("phq9", answers)
        except IncompleteResponseError:
            continue
        assert set(vars(result)) == {f.name for f in dataclasses.fields(ScoreResult)}
    result = score("asq", [0, None, 0, 0, 0])
    assert set(vars(result)) == {f.name for f in dataclasses.fields(ScoreResult)}


def test_plans_for_instrument_copies_are_bounded() -> None:
    from openkap.core.instruments.engine import _plan_of

    base = get_instrument("gad2")
    for n in range(100):
        score(with_licensed_text(base, {"q1": f"wording {n}"}), [1, 1])
    assert _plan_of.cache_info().currsize <= 64
