"""Experience measures of each analysed patient's induction, for the experience versus
outcome section of the report (the statistics are `core.outcomes.experience`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from openkap.core.instruments import get_instrument
from openkap.core.instruments.change import is_response, percent_change
from openkap.core.outcomes import OutcomeDefinitions
from openkap.core.outcomes.cohort import Analysed
from openkap.core.outcomes.experience import ExperienceCase, analyse
from openkap.core.outcomes.suppression import SMALL, suppress_count
from openkap.measures.models import MeasureResponse

if TYPE_CHECKING:
    from openkap.outcomes.cohort import Enrolled

EXPERIENCE_INSTRUMENTS = ("meq30", "cadss", "cadss6", "ebi")


def experience_rows(organization_id: int, patients: tuple[int, int]) -> list[tuple[Any, ...]]:
    """The experience measures of the patients with ids in the closed range `patients` (one
    chunk of the report, read by the (organisation, instrument, patient) index in one round
    trip), for `experience_cases`."""
    return list(
        MeasureResponse.objects.filter(organization_id=organization_id, instrument_id__in=EXPERIENCE_INSTRUMENTS,
                                       is_scored=True, correction__isnull=True,
                                       patient_id__gte=patients[0], patient_id__lte=patients[1])
        .order_by("patient_id", "completed_at")
        .values_list("patient_id", "instrument_id", "completed_at", "total",
                     "result__indicators__complete_mystical_experience")
    )


def experience_cases(
    rows: list[tuple[Any, ...]],
    analysed_of: Callable[[int], Analysed | None],
    enrolled: dict[int, Enrolled],
    definitions: OutcomeDefinitions,
) -> dict[str, list[ExperienceCase]]:
    """Per experience instrument: one case per analysed patient (`analysed_of` gives an
    analysed patient's induction and totals, else None) who completed it during the induction (from
    the first session's day to the day after the last), the mean of their totals; for
    the MEQ-30 also whether any met the complete mystical experience. Of one chunk's
    `experience_rows`, in ascending patient order within each instrument, so that chunks in
    order add up to the whole (ADR 0093)."""

    analysed: dict[int, Analysed | None] = {}
    totals: dict[tuple[str, int], list[float]] = defaultdict(list)
    complete: dict[int, bool] = {}
    for pid, instrument, at, total, cme in rows:
        if pid not in analysed:
            analysed[pid] = analysed_of(pid)
        outcome = analysed[pid]
        if outcome is None or total is None:
            continue
        day = timezone.localtime(at).date()
        if not outcome.first_day <= day <= outcome.last_day + timedelta(days=1):
            continue
        totals[(instrument, pid)].append(total)
        if instrument == "meq30":
            complete[pid] = complete.get(pid, False) or cme is True
    cases: dict[str, list[ExperienceCase]] = {get_instrument(i).short_name: [] for i in EXPERIENCE_INSTRUMENTS}
    for (instrument, pid), values in sorted(totals.items()):
        outcome = analysed[pid]
        assert outcome is not None
        change = percent_change(outcome.baseline, outcome.endpoint)
        assert change is not None  # analysed: the baseline is above 0
        cases[get_instrument(instrument).short_name].append(ExperienceCase(
            experience=sum(values) / len(values),
            percent_change=change,
            responded=bool(is_response(outcome.baseline, outcome.endpoint,
                                       reduction_percent=definitions.response_reduction_percent)),
            baseline=outcome.baseline,
            route=enrolled[pid].route or "not recorded",
            complete_mystical=complete.get(pid) if instrument == "meq30" else None,
        ))
    return cases


def experience_dict(name: str, cases: list[ExperienceCase], *, suppress: bool) -> dict[str, Any]:
    out = analyse(name, cases)
    if suppress:
        out["n"] = suppress_count(out["n"])
        for group in ("responders", "non_responders"):
            if group in out:
                small = out[group]["n"] <= SMALL
                out[group] = {"n": suppress_count(out[group]["n"]), "mean": None if small else out[group]["mean"],
                              "sd": None if small else out[group]["sd"]}
        cme = out.get("complete_mystical_experience")
        if cme:
            for side, pct in (("n_complete", "response_pct_complete"), ("n_not", "response_pct_not")):
                if cme[side] <= SMALL:
                    cme[pct] = None
                cme[side] = suppress_count(cme[side])
    else:
        # Each patient's point, for the scatter plot on the clinic's own view only.
        out["points"] = [[round(c.experience, 1), round(c.percent_change, 1)] for c in cases]
    return out
