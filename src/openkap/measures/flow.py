"""Where a patient is in a questionnaire: one item per screen, then optional extra
items, then a review. Only the form's skip logic is evaluated here; scoring and flags
stay in the core."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openkap.core.instruments import Instrument
from openkap.core.instruments.model import MissingRule
from openkap.core.instruments.presentation import is_asked

REVIEW = "review"
EXTRA_PREFIX = "extra-"


@dataclass(frozen=True)
class Step:
    kind: str  # "item", "extra" or "review"
    item: Any | None
    number: int  # position among the questions asked, 1-based
    total: int
    answered: int
    previous: str | None  # the step id "Back" returns to

    @property
    def id(self) -> str:
        if self.item is None:
            return REVIEW
        return self.item.id if self.kind == "item" else EXTRA_PREFIX + self.item.id

    @property
    def skippable(self) -> bool:
        return self.kind == "extra" or (self.item is not None and self.item.missing is not MissingRule.REQUIRED)

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.total) if self.total else 100


def asked_items(instrument: Instrument, answers: Mapping[str, int | None]) -> list[Any]:
    return [item for item in instrument.items if is_asked(item, answers)]


def current_step(
    instrument: Instrument,
    answers: Mapping[str, int | None],
    extra: Mapping[str, int | None],
    requested: str | None = None,
) -> Step:
    """The step to show: the one asked for if the patient may go there (back to any
    answered question), else the first unanswered one, else the review."""
    asked = asked_items(instrument, answers)
    ids = [item.id for item in asked]
    answered = sum(1 for i in ids if i in answers)
    first_open = next((n for n, i in enumerate(ids) if i not in answers), None)
    extras = list(instrument.supplementary_items)
    total = len(ids)

    def item_step(n: int) -> Step:
        return Step("item", asked[n], n + 1, total, answered, ids[n - 1] if n > 0 else None)

    def extra_step(n: int) -> Step:
        back = EXTRA_PREFIX + extras[n - 1].id if n > 0 else (ids[-1] if ids else None)
        return Step("extra", extras[n], total, total, answered, back)

    if requested in ids:
        n = ids.index(requested)
        if first_open is None or n <= first_open:
            return item_step(n)
    if requested and requested.startswith(EXTRA_PREFIX) and first_open is None:
        extra_ids = [e.id for e in extras]
        wanted = requested[len(EXTRA_PREFIX):]
        if wanted in extra_ids:
            return extra_step(extra_ids.index(wanted))
    if first_open is not None:
        return item_step(first_open)
    for n, item in enumerate(extras):
        if item.id not in extra:
            return extra_step(n)
    previous = EXTRA_PREFIX + extras[-1].id if extras else (ids[-1] if ids else None)
    return Step(REVIEW, None, total, total, answered, previous)
