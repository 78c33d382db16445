from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from openkap.accounts.authz import Denied
from openkap.audit.models import AuditAction, AuditEvent
from openkap.patients import selectors, services
from openkap.patients.models import Patient, WeightMeasurement

VALID = {
    "legal_given_name": "Ines",
    "legal_family_name": "Okoye",
    "date_of_birth": "1991-02-03",
    "sex_at_birth": "female",
}


def test_create_generates_a_checked_mrn_and_audits(therapist, org, as_actor, patient):
    created = services.patient_create(by=as_actor(therapist, org), data=VALID)
    # The fixture patient holds T00000018 (counter 1), so the generator skips to 2.
    assert created.mrn == "T00000026"
    assert AuditEvent.objects.filter(action=AuditAction.CREATE, patient_id=created.id).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"date_of_birth": (timezone.localdate() + timedelta(days=1)).isoformat()}, "date_of_birth"),
        ({"date_of_birth": "1800-01-01"}, "date_of_birth"),
        ({"date_of_birth": "03/02/1991"}, "date_of_birth"),
        ({"legal_family_name": "  "}, "legal_family_name"),
        ({"sex_at_birth": "x"}, "sex_at_birth"),
        ({"email": "nope"}, "email"),
        ({"pronouns": "x" * 41}, "pronouns"),
    ],
)
def test_create_bad_input_is_refused_with_field_message(therapist, org, as_actor, change, field):
    with pytest.raises(ValidationError) as exc:
        services.patient_create(by=as_actor(therapist, org), data=VALID | change)
    assert field in exc.value.message_dict
    assert not Patient.objects.exists()


def test_duplicate_mrn_is_refused(therapist, org, as_actor, patient):
    with pytest.raises(ValidationError) as exc:
        services.patient_create(by=as_actor(therapist, org), data=VALID, mrn=patient.mrn)
    assert "already used" in exc.value.message_dict["mrn"][0]


def test_same_mrn_in_another_organisation_is_fine(outsider, other_org, as_actor, patient):
    other = services.patient_create(by=as_actor(outsider, other_org), data=VALID, mrn=patient.mrn)
    assert other.mrn == patient.mrn


def test_web_form_shows_errors_next_to_fields_and_saves_nothing(therapist, client_for):
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    response = client_for(therapist).post(
        reverse("patients:create"), VALID | {"date_of_birth": future, "email": "bad"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "cannot be in the future" in html
    assert "valid email" in html
    assert not Patient.objects.exists()


def test_tampered_choice_field_is_refused(therapist, client_for):
    response = client_for(therapist).post(reverse("patients:create"), VALID | {"sex_at_birth": "robot"})
    assert response.status_code == 200
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("value", "unit", "kg"),
    [("70", "kg", Decimal("70.00")), ("154.32", "lb", Decimal("70.00")), ("220", "lb", Decimal("99.79"))],
)
def test_weight_is_converted_once_and_stored_in_kg(therapist, org, as_actor, patient, value, unit, kg):
    # 154.32 lb x 0.45359237 = 69.998 kg; 220 lb = 99.790 kg (hand-computed).
    w = services.weight_record(by=as_actor(therapist, org), patient_id=patient.id, value=value, unit=unit)
    assert w.weight_kg == kg
    assert (w.entered_value, w.entered_unit) == (Decimal(value).quantize(Decimal("0.01")), unit)


@pytest.mark.parametrize(("value", "unit"), [("0", "kg"), ("900", "kg"), ("-5", "kg"), ("abc", "kg"), ("70", "st"), ("NaN", "kg")])
def test_implausible_weight_is_refused(therapist, org, as_actor, patient, value, unit):
    with pytest.raises(ValidationError):
        services.weight_record(by=as_actor(therapist, org), patient_id=patient.id, value=value, unit=unit)
    assert not WeightMeasurement.objects.exists()


def test_weight_in_the_future_is_refused(therapist, org, as_actor, patient):
    with pytest.raises(ValidationError):
        services.weight_record(
            by=as_actor(therapist, org), patient_id=patient.id, value="70", unit="kg",
            measured_on=timezone.localdate() + timedelta(days=2),
        )


def test_therapist_sees_only_care_team_patients(therapist, org, as_actor, patient, unassigned_patient):
    page = selectors.patient_search(by=as_actor(therapist, org))
    assert [p.id for p in page] == [patient.id]
    with pytest.raises(Denied):
        selectors.patient_chart(by=as_actor(therapist, org), patient_id=unassigned_patient.id)


def test_nurse_and_admin_see_the_whole_registry(nurse, admin, org, as_actor, patient, unassigned_patient):
    for user in (nurse, admin):
        assert {p.id for p in selectors.patient_search(by=as_actor(user, org))} == {patient.id, unassigned_patient.id}


def test_other_organisation_gets_404(outsider, other_org, as_actor, patient):
    with pytest.raises(Http404):
        selectors.patient_chart(by=as_actor(outsider, other_org), patient_id=patient.id)
    with pytest.raises(Http404):
        services.patient_update(by=as_actor(outsider, other_org), patient_id=patient.id, data={"pronouns": "x"})
    assert Patient.objects.get(pk=patient.pk).pronouns == ""


def test_break_glass_opens_the_chart_for_a_while_and_flags_the_audit(
    therapist, org, as_actor, unassigned_patient
):
    by = as_actor(therapist, org)
    with pytest.raises(ValidationError):
        services.break_glass(by=by, patient_id=unassigned_patient.id, reason="need")
    services.break_glass(by=by, patient_id=unassigned_patient.id, reason="Patient in crisis at front desk")
    chart = selectors.patient_chart(by=by, patient_id=unassigned_patient.id)
    assert chart.via_break_glass
    assert AuditEvent.objects.filter(action=AuditAction.VIEW, break_glass=True, patient_id=unassigned_patient.id).exists()
    assert AuditEvent.objects.filter(action=AuditAction.BREAK_GLASS, reason__contains="crisis").exists()


@pytest.mark.parametrize(
    ("query", "expected"),
    [("lindq", True), ("MAYA lind", True), ("T0000001", True), ("1988-04-12", True), ("04/12/1988", True),
     ("zzz", False), ("1999-01-01", False),
     # Each word must start a name part: a fragment from inside a name does not match.
     ("indqvist", False), ("aya", False)],
)
def test_search_by_name_mrn_and_date_of_birth(therapist, org, as_actor, patient, query, expected):
    page = selectors.patient_search(by=as_actor(therapist, org), query=query)
    assert (patient.id in [p.id for p in page]) is expected


def test_search_counts_no_further_than_its_cap(nurse, org, as_actor, patient, unassigned_patient, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_COUNT_CAP", 1)
    page = selectors.patient_search(by=as_actor(nurse, org), per_page=1)
    assert (page.count, page.count_exact, page.has_next, len(page)) == (1, False, True, 1)
    second = selectors.patient_search(by=as_actor(nurse, org), per_page=1, page=2)
    assert {page.items[0].id, second.items[0].id} == {patient.id, unassigned_patient.id}
    monkeypatch.setattr(selectors, "SEARCH_COUNT_CAP", 5)
    whole = selectors.patient_search(by=as_actor(nurse, org), per_page=2)
    assert (whole.count, whole.count_exact, whole.has_next) == (2, True, False)


def test_search_is_audited_with_the_ids_shown(therapist, org, as_actor, patient):
    selectors.patient_search(by=as_actor(therapist, org), query="maya")
    event = AuditEvent.objects.get(action=AuditAction.SEARCH)
    assert event.detail["result_ids"] == [patient.id]


def test_update_records_changed_fields(therapist, org, as_actor, patient):
    services.patient_update(by=as_actor(therapist, org), patient_id=patient.id, data={"pronouns": "she/her", "legal_given_name": "Maya"})
    event = AuditEvent.objects.get(action=AuditAction.UPDATE)
    assert event.detail["fields"] == ["pronouns"]


def test_care_team_needs_a_member_with_that_role(admin, nurse, therapist, org, as_actor, unassigned_patient):
    by = as_actor(admin, org)
    with pytest.raises(ValidationError):
        services.care_team_add(by=by, patient_id=unassigned_patient.id, user_id=nurse.id, role="therapist")
    services.care_team_add(by=by, patient_id=unassigned_patient.id, user_id=therapist.id, role="therapist")
    assert selectors.patient_chart(by=as_actor(therapist, org), patient_id=unassigned_patient.id)


def test_chart_page_shows_the_header(therapist, patient, client_for, org, as_actor):
    services.weight_record(by=as_actor(therapist, org), patient_id=patient.id, value="71.5", unit="kg")
    html = client_for(therapist).get(reverse("patients:chart", args=[patient.id])).content.decode()
    for text in ("Maya Lindqvist", patient.mrn, "NKDA", "71.50 kg", "Theo Therapist", "Dr. Pat Prescriber"):
        assert text in html


def test_prescriber_manages_the_team_of_their_own_patients_only(
    prescriber, nurse, org, as_actor, patient, unassigned_patient
):
    by = as_actor(prescriber, org)
    services.care_team_add(by=by, patient_id=patient.id, user_id=nurse.id, role="nurse")
    with pytest.raises(Denied):
        services.care_team_add(by=by, patient_id=unassigned_patient.id, user_id=nurse.id, role="nurse")


def test_registering_therapist_joins_the_care_team_in_the_same_transaction(therapist, org, as_actor):
    by = as_actor(therapist, org)
    created = services.patient_create(by=by, data=VALID)
    # Without the membership, the chart the form redirects to would answer 403.
    assert selectors.patient_chart(by=by, patient_id=created.id).care_team[0].user == therapist
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="care_team", patient_id=created.id
    ).exists()


def test_registering_admin_does_not_join_the_care_team(admin, org, as_actor):
    created = services.patient_create(by=as_actor(admin, org), data=VALID)
    assert not created.care_team.exists()


def test_registration_refused_leaves_no_care_team_row(therapist, org, as_actor):
    with pytest.raises(ValidationError):
        services.patient_create(by=as_actor(therapist, org), data=VALID | {"sex_at_birth": "x"})
    from openkap.patients.models import CareTeamMember

    assert not CareTeamMember.objects.exists()


def test_web_registration_opens_the_chart(therapist, client_for):
    client = client_for(therapist)
    response = client.post(reverse("patients:create"), VALID | {"mrn": ""}, follow=True)
    # The chart opens (it answered 403 before the registering therapist joined the team).
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith("/patients/")
    assert "Ines Okoye registered with MRN" in response.content.decode()


def test_weight_before_birth_is_refused(therapist, org, as_actor, patient):
    with pytest.raises(ValidationError) as exc:
        services.weight_record(
            by=as_actor(therapist, org), patient_id=patient.id, value="70", unit="kg",
            measured_on=timezone.localdate().replace(year=1900, month=1, day=1),
        )
    assert "before the patient was born" in exc.value.message_dict["measured_on"][0]
    assert not WeightMeasurement.objects.exists()


def test_refusal_page_says_whom_to_ask_for_the_care_team(therapist, admin, unassigned_patient, client_for):
    response = client_for(therapist).get(reverse("patients:chart", args=[unassigned_patient.id]))
    assert response.status_code == 403
    text = response.content.decode()
    assert "not on this patient&#x27;s care team" in text
    assert "Ada Admin" in text
    assert "break-glass" in text
    assert "patient.view" not in text


def test_refusal_page_for_a_role_names_the_action_in_words(therapist, admin, client_for):
    response = client_for(therapist).get(reverse("accounts:staff_invite"))
    assert response.status_code == 403
    text = response.content.decode()
    assert "does not allow you to invite and manage staff" in text
    assert "Ada Admin" in text


def test_researcher_home_says_what_a_researcher_can_do(researcher, client_for):
    text = client_for(researcher).get("/").content.decode()
    assert "What a researcher can do here" in text
    assert reverse("accounts:api_tokens") in text


def test_a_search_counts_its_matches_with_the_page_it_reads(admin, nurse, therapist, org, as_actor, monkeypatch):
    """The count comes with the page's rows (a window over the matches): exact, capped as
    before, the last page clamped when asked for one past it, and each patient counted
    once for a clinician on its care team in two roles."""
    from openkap.patients.models import CareTeamMember

    registrar = as_actor(admin, org)
    made = [services.patient_create(by=registrar, data={
        "legal_given_name": given, "legal_family_name": "Okonkwo", "date_of_birth": date(1970, 1, 1),
        "sex_at_birth": "female"}) for given in ("Ada", "Bea", "Cyd")]
    by = as_actor(nurse, org)
    first = selectors.patient_search(by=by, query="okonkwo", per_page=2)
    assert (first.count, first.count_exact, first.has_next, len(first)) == (3, True, True, 2)
    second = selectors.patient_search(by=by, query="okonkwo", per_page=2, page=2)
    assert [p.id for p in first] + [p.id for p in second] == [p.id for p in made]
    past = selectors.patient_search(by=by, query="okonkwo", per_page=2, page=9)
    assert (past.number, [p.id for p in past]) == (2, [made[2].id])
    assert selectors.patient_search(by=by, query="okonkwo zz").count == 0
    monkeypatch.setattr(selectors, "SEARCH_COUNT_CAP", 2)
    capped = selectors.patient_search(by=by, query="okonkwo", per_page=2)
    assert (capped.count, capped.count_exact, capped.has_next) == (2, False, True)
    monkeypatch.undo()
    for role in ("therapist", "prescriber"):
        CareTeamMember.objects.create(organization=org, patient=made[0], user=therapist, role=role)
    mine = selectors.patient_search(by=as_actor(therapist, org), query="okonkwo")
    assert (mine.count, [p.id for p in mine]) == (1, [made[0].id])


@pytest.mark.parametrize("query", ["", "smith", "jo sm", "1980-01-01", "T000123"])
def test_search_is_refused_without_patient_view(researcher, org, as_actor, patient, query):
    """Every kind of search checks the permission itself (a name search reads only the keys)."""
    with pytest.raises(Denied):
        selectors.patient_search(by=as_actor(researcher, org), query=query)
    assert not AuditEvent.objects.filter(action=AuditAction.SEARCH).exists()


def test_the_chart_reads_heights_and_the_invitation_only_for_a_patient_with_some(
    nurse, therapist, org, as_actor, patient, client_for
):
    """The chart page's patient carries whether it has heights and an invitation (ADR 0116):
    with none, neither is read (two queries fewer) and the page says so; with some, the
    page shows them as before."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client, url = client_for(nurse), reverse("patients:chart", args=[patient.id])
    client.get(url)  # the session's first save
    with CaptureQueriesContext(connection) as none:
        html = client.get(url).content.decode()
    assert "No height recorded." in html
    assert "No portal access" in html
    services.height_record(by=as_actor(nurse, org), patient_id=patient.id, value="171.5", unit="cm",
                           measured_on=date(2026, 1, 2))
    services.portal_invite(by=as_actor(therapist, org), patient_id=patient.id, email="maya@example.org")
    with CaptureQueriesContext(connection) as some:
        html = client.get(url).content.decode()
    assert "<td>2026-01-02</td><td>171.50</td><td>171.5 cm</td>" in html
    assert "link emailed to maya@example.org" in html
    assert len(some) == len(none) + 2
