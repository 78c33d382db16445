"""A finished session's record drawn over the predicted curve of its signed order."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.utils import timezone

from openkap.core.pk import DISCLAIMER
from openkap.pharmacokinetics.sessions import session_overlay


@pytest.fixture
def record(patient, prescriber, nurse, org, site, as_actor):
    """A discharged session with the signed order, vitals from check-in on, two CADSS ratings."""
    from openkap.dosing import services
    from openkap.dosing.models import DoseOrder, DosingSession, Observation, VitalSigns
    from openkap.pathway.models import Episode
    from openkap.patients.models import WeightMeasurement

    def make(example_id: str, dose_mg: str, *, infusion_ran_min: int = 1):
        version = services.protocol_example_import(by=as_actor(prescriber, org), example_id=example_id)
        episode = Episode.objects.create(organization=org, patient=patient, opened_by=prescriber)
        start = timezone.now() - timedelta(hours=3)
        weight = WeightMeasurement.objects.create(
            organization=org, patient=patient, weight_kg=Decimal("70.00"), entered_value=Decimal("70.00"),
            entered_unit="kg", measured_on=start.date(), recorded_by=nurse,
        )
        session = DosingSession.objects.create(
            organization=org, patient=patient, episode=episode, site=site, status=DosingSession.Status.DISCHARGED,
            scheduled_start=start - timedelta(minutes=30), started_at=start - timedelta(minutes=30),
            protocol_version=version, created_by=nurse, administration_started_at=start,
            administration_ended_at=start + timedelta(minutes=infusion_ran_min),
        )
        DoseOrder.objects.create(
            organization=org, session=session, protocol_version=version, weight=weight, weight_kg=Decimal(70),
            weight_measured_on=start.date(), dose_mg=Decimal(dose_mg), dose_mg_per_kg=Decimal(dose_mg) / 70,
            max_mg=Decimal(500), result={}, ordered_at=start - timedelta(minutes=10), signed_by=prescriber,
            signed_at=start - timedelta(minutes=10), signer_name="Dr. Pat Prescriber",
        )
        for minute, sbp, dbp, hr in ((-20, 128, 80, 72), (15, 152, 94, 90), (60, 136, 86, 80), (130, 124, 78, 70)):
            VitalSigns.objects.create(
                organization=org, session=session, taken_at=start + timedelta(minutes=minute),
                minutes_after_dose=minute if minute >= 0 else None, systolic=sbp, diastolic=dbp, heart_rate=hr,
                recorded_by=nurse,
            )
        for minute, total in ((40, 31.0), (120, 6.0)):
            Observation.objects.create(
                organization=org, session=session, at=start + timedelta(minutes=minute), minutes_after_dose=minute,
                cadss_instrument="cadss6", cadss_total=total, recorded_by=nurse,
            )
        return session

    return make


def test_overlay_draws_order_vitals_before_and_after_the_dose_and_cadss(record):
    session = record("im-ketamine", "35")
    overlay = session_overlay(session)
    assert "IM injection (racemic ketamine): 35 mg, 70 kg" in overlay.svg
    assert "CADSS 31" in overlay.svg
    assert "CADSS 6" in overlay.svg
    assert DISCLAIMER in overlay.svg
    assert "systolic BP (mmHg)" in overlay.svg
    assert overlay.notes == ("Dose: the signed order, 35 mg for 70 kg.",)
    # The pre-dose reading widens the axis below zero.
    assert ">\u221220<" in overlay.svg or ">−20<" in overlay.svg


def test_overlay_is_for_the_patients_age_on_the_session_day(record, patient):
    from openkap.patients.models import Patient

    assert "hepatic blood flow" not in session_overlay(record("im-ketamine", "35")).svg
    Patient.objects.filter(id=patient.id).update(date_of_birth=date(timezone.localdate().year - 76, 1, 1))
    patient.refresh_from_db()
    session = record("im-ketamine", "35")
    age = patient.age_on(timezone.localtime(session.administration_started_at).date())
    assert age > 60
    overlay = session_overlay(session)
    assert f"age {age} (hepatic blood flow -{2.19 * (age - 60):.0f} L/h)" in overlay.svg


def test_iv_overlay_uses_the_infusion_as_run(record):
    session = record("iv-ketamine-infusion", "35", infusion_ran_min=52)
    overlay = session_overlay(session)
    assert "infused over 52 min" in overlay.svg
    assert "Infusion as run: 52 min." in overlay.notes


def test_iv_overlay_with_a_pause_falls_back_to_the_protocol_time(record, org, site, admin, nurse, as_actor):
    from openkap.dosing.models import AdministrationEvent, DosePreparation

    session = record("iv-ketamine-infusion", "35", infusion_ran_min=70)
    order = session.orders.get()
    preparation = DosePreparation.objects.create(
        organization=org, session=session, order=order, lot=_lot(as_actor(admin, org), site), product_code="x",
        product_name="Ketamine", concentration=Decimal(10), concentration_unit="mg/mL", volume_ml=Decimal("3.5"),
        result={}, prepared_by=nurse, prepared_at=session.administration_started_at,
    )
    AdministrationEvent.objects.create(
        organization=org, session=session, preparation=preparation, kind="pause",
        at=session.administration_started_at + timedelta(minutes=20), recorded_by=nurse,
    )
    overlay = session_overlay(session)
    assert "infused over 40 min" in overlay.svg
    assert "assumes the protocol's 40 min" in overlay.notes[-1]


def test_session_without_a_dose_has_no_curve(record):
    session = record("im-ketamine", "35")
    session.orders.update(cancelled_at=timezone.now())
    with pytest.raises(ValidationError, match="No dose was given"):
        session_overlay(session)
    html = Template("{% load pk_tags %}{% pk_session_overlay session %}").render(Context({"session": session}))
    assert "No dose was given" in html


def test_session_overlay_tag(record):
    session = record("im-ketamine", "35")
    html = Template("{% load pk_tags %}{% pk_session_overlay session %}").render(Context({"session": session}))
    assert "<svg" in html
    assert "the signed order, 35 mg" in html


def _lot(by, site):
    """A received lot of 10 mg/mL vials, through the ledger's services."""
    from openkap.ledger import services as ledger
    from openkap.ledger.models import Lot

    supplier = ledger.supplier_create(by=by, name="Hudson Pharma", address="1 Depot Rd", dea_number="PH1234563")
    product = ledger.product_create(
        by=by, site_id=site.id, name="Ketamine 10 mg/mL, 20 mL vial", form="vial",
        strength_mg_per_unit=Decimal(10), package_size=Decimal(20), ndc="42023-113-10",
    )
    entry = ledger.lot_receive(
        by=by, site_id=site.id, product_id=product.id, lot_number="L-10",
        expires_on=timezone.localdate() + timedelta(days=365), supplier_id=supplier.id,
        invoice_number="INV-10", containers=1,
    )
    return Lot.objects.get(pk=entry.lot_id)
