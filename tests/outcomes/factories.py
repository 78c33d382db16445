"""Cohorts written straight into the tables the report reads (test data only: the
report is what is under test, not the booking or dosing workflows)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import date, datetime, time

from django.utils import timezone

from openkap.core.instruments import score
from openkap.core.outcomes import PatientInput

_mrn = itertools.count(1000)


def at(day: date, hour: int = 10) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


def phq9_answers(total: int, item9: int = 0) -> list[int]:
    """Nine PHQ-9 answers (0-3) adding up to `total`, item 9 as given (raised when the
    other eight cannot reach the total)."""
    item9 = max(item9, total - 24)
    rest = total - item9
    if not 0 <= rest <= 24:
        raise ValueError(total)
    answers = [min(3, max(0, rest - 3 * i)) for i in range(8)]
    return [*answers, item9]


def add_patient(org, site, user, patient_input: PatientInput | None = None, *, session_days: Iterable[date] = (),
                scores: Iterable[tuple[date, int, int]] = (), route: str = "intramuscular", dob=date(1980, 6, 1),
                sex: str = "female", gender: str = "", diagnoses: Iterable[str] = (), instrument: str = "phq9"):
    """One patient with an episode (intake diagnoses, a signed plan's route) and held,
    discharged dosing sessions on `session_days`, and scored responses (day, total, item 9)."""
    from openkap.dosing.models import DosingSession
    from openkap.measures.models import MeasureResponse
    from openkap.pathway.models import Episode, Intake
    from openkap.patients.models import Patient

    if patient_input is not None:
        session_days = patient_input.session_days
        scores = [(s.day, int(s.total), s.item9 or 0) for s in patient_input.scores]
    n = next(_mrn)
    patient = Patient.objects.create(
        organization=org, mrn=f"T{n:08d}", legal_given_name=f"Given{n}", legal_family_name=f"Family{n}",
        date_of_birth=dob, sex_at_birth=sex, gender_identity=gender, search_name=f"given{n} family{n}",
    )
    episode = Episode.objects.create(organization=org, patient=patient, opened_by=user, state="active")
    Intake.objects.create(organization=org, episode=episode, updated_by=user, intended_route=route,
                          diagnoses=[{"code": c, "description": c} for c in diagnoses])
    for day in session_days:
        DosingSession.objects.create(
            organization=org, patient=patient, episode=episode, site=site, status=DosingSession.Status.DISCHARGED,
            scheduled_start=at(day), started_at=at(day), administration_started_at=at(day), created_by=user,
        )
    # The route comes from the episode's signed plan when the session has no protocol.
    from openkap.pathway.models import TreatmentPlan

    TreatmentPlan.objects.create(
        organization=org, episode=episode, version=1, indication="TRD", route=route, protocol_id="im-ketamine",
        dose_level="psycholytic", dosing_sessions_planned=6, goals="g", signed_by=user, signed_at=timezone.now(),
        signer_name=user.full_name,
    )
    for day, total, item9 in scores:
        answers = phq9_answers(total, item9) if instrument == "phq9" else None
        result = score(instrument, answers) if answers else None
        MeasureResponse.objects.create(
            organization=org, patient=patient, episode=episode, instrument_id=instrument, instrument_version="test",
            occasion="ad_hoc", answers={f"q{i + 1}": v for i, v in enumerate(answers or [])},
            result=result.to_dict() if result else {}, is_scored=True, total=total, completed_at=at(day, 9),
            via="staff", entered_by=user,
        )
    return patient


def add_response(org, patient, instrument: str, day: date, answers: list[int], supplementary: dict | None = None):
    """A scored response of any instrument, scored by the core as the app would."""
    from openkap.measures.models import MeasureResponse

    result = score(instrument, answers)
    return MeasureResponse.objects.create(
        organization=org, patient=patient, episode=patient.episodes.first(), instrument_id=instrument,
        instrument_version="test", occasion="ad_hoc",
        answers={item.id: v for item, v in zip(_items(instrument), answers, strict=True)},
        result=result.to_dict(), is_scored=True, total=result.total, completed_at=at(day, 14), via="staff",
        supplementary=supplementary or {},
    )


def _items(instrument: str):
    from openkap.core.instruments import get_instrument

    return get_instrument(instrument).items
