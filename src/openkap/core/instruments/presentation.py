"""How an instrument is put to a person: the words an item is shown with, which items the
skip logic asks, the answers given so far, and whether a patient may complete it alone.
Scoring stays in the engine."""

from __future__ import annotations

from collections.abc import Mapping

from .model import Instrument, Item, Licence, Rater


def item_wording(item: Item) -> str:
    """The clinic's licensed wording, else the shipped text, else the short label."""
    return item.licensed_text or item.text or item.label


def patient_can_complete(instrument: Instrument) -> bool:
    """Self-report only, and only with wording the clinic may show: instruments whose text
    needs permission go to patients once the organisation has loaded its licensed text."""
    if instrument.rater is not Rater.SELF_REPORT:
        return False
    full_wording = all(item.licensed_text or item.text for item in instrument.items)
    return instrument.licence is not Licence.PERMISSION_REQUIRED or full_wording


def is_asked(item: Item, answers: Mapping[str, int | None]) -> bool:
    """The form's skip logic: any clause of ``asked_if`` whose matches all hold."""
    if item.asked_if is None:
        return True
    return any(all(answers.get(m.item) in m.values for m in clause) for clause in item.asked_if)


def given_so_far(instrument: Instrument, answers: Mapping[str, int | None]) -> list[int | None]:
    """Answers up to the last item seen: later items are not yet given (not refusals)."""
    ids = [item.id for item in instrument.items]
    last = max((ids.index(k) for k in answers if k in ids), default=-1)
    return [answers.get(i) for i in ids[: last + 1]]
