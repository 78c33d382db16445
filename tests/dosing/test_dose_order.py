"""Every hard stop and soft limit of ``core.dosing``, surfaced through the services:
a refusal names each problem and stores nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from openkap.core.dosing import SoftLimitCode, StopCode
from openkap.dosing import services
from openkap.dosing.models import DoseOrder, DosePreparation, DosingSession, ProtocolVersion
from openkap.ledger import services as ledger
from openkap.ledger.models import Lot, Product, Supplier
from openkap.patients.models import WeightMeasurement
from tests.conftest import PASSWORD
from tests.dosing.conftest import EXPIRY_DAYS, book, to_order

# Each code below has a test in this module that reaches it through the services.
COVERED_STOPS = {
    StopCode.PROTOCOL_NOT_APPROVED, StopCode.WEIGHT_MISSING, StopCode.WEIGHT_IMPLAUSIBLE, StopCode.WEIGHT_TOO_OLD,
    StopCode.WEIGHT_DATE_IN_FUTURE, StopCode.INTERVAL_TOO_SHORT, StopCode.DOSE_UNIT_MISMATCH, StopCode.DOSE_INVALID,
    StopCode.DOSE_NOT_ALLOWED, StopCode.ABOVE_ABSOLUTE_MAX, StopCode.DOSE_ROUNDS_TO_ZERO,
    StopCode.PRODUCT_NOT_ALLOWED, StopCode.CONCENTRATION_UNKNOWN, StopCode.CONCENTRATION_NOT_ALLOWED,
    StopCode.UNDILUTED_IV, StopCode.DILUTION_IMPOSSIBLE, StopCode.NOT_WHOLE_UNITS, StopCode.VOLUME_OUT_OF_RANGE,
    # Issue 12: tests/dosing/test_ceilings.py reaches these through the services.
    StopCode.PROTOCOL_LACKS_LIMITS, StopCode.WEIGHT_BELOW_MINIMUM, StopCode.DOSING_WEIGHT_UNAVAILABLE,
}
COVERED_SOFT = {
    SoftLimitCode.BELOW_USUAL_RANGE, SoftLimitCode.ABOVE_USUAL_RANGE, SoftLimitCode.FIRST_SESSION_DOSE,
    SoftLimitCode.BELOW_USUAL_RANGE_PER_KG, SoftLimitCode.ABOVE_USUAL_RANGE_PER_KG,
}


def test_every_stop_and_soft_limit_of_the_core_is_covered_here():
    assert set(StopCode) == COVERED_STOPS
    assert set(SoftLimitCode) == COVERED_SOFT


def _refused(ordering, prescriber_actor, **kwargs) -> services.DoseRefused:
    with pytest.raises(services.DoseRefused) as exc:
        services.dose_order_sign(by=prescriber_actor, session_id=ordering.id, password=PASSWORD, **kwargs)
    assert not DoseOrder.objects.filter(session=ordering).exists()
    return exc.value


def _stops(refused: services.DoseRefused) -> set[str]:
    return {s.code for s in refused.refusal.stops}


def _soft(refused: services.DoseRefused) -> set[str]:
    return {s.code for s in refused.refusal.soft_limits}


def _weight(patient, **fields) -> None:
    WeightMeasurement.objects.filter(patient=patient).update(**fields)


# --- stops at the order ---------------------------------------------------------------


def test_order_protocol_not_approved_is_a_hard_stop(im_session, nurse_actor, prescriber_actor, library):
    ProtocolVersion.objects.filter(protocol_id="im-ketamine").update(status=ProtocolVersion.Status.DRAFT)
    ordering = to_order(im_session, nurse_actor)
    refused = _refused(ordering, prescriber_actor)
    assert _stops(refused) == {StopCode.PROTOCOL_NOT_APPROVED}
    assert "not approved by a prescriber of this organisation" in str(refused.messages)


def test_order_weight_missing(im_ordering, prescriber_actor, patient):
    from openkap.pathway.models import Intake

    Intake.objects.update(weight=None)
    WeightMeasurement.objects.filter(patient=patient).delete()
    assert _stops(_refused(im_ordering, prescriber_actor)) == {StopCode.WEIGHT_MISSING}


def test_order_weight_implausible(im_ordering, prescriber_actor, patient):
    _weight(patient, weight_kg=Decimal("20.00"))
    assert _stops(_refused(im_ordering, prescriber_actor)) == {StopCode.WEIGHT_IMPLAUSIBLE}


def test_order_weight_too_old(im_ordering, prescriber_actor, patient):
    _weight(patient, measured_on=timezone.localdate() - timedelta(days=31))
    refused = _refused(im_ordering, prescriber_actor)
    assert _stops(refused) == {StopCode.WEIGHT_TOO_OLD}
    assert "31 days old" in str(refused.messages)


def test_order_weight_dated_in_future(im_ordering, prescriber_actor, patient):
    _weight(patient, measured_on=timezone.localdate() + timedelta(days=1))
    assert _stops(_refused(im_ordering, prescriber_actor)) == {StopCode.WEIGHT_DATE_IN_FUTURE}


def test_order_interval_too_short(im_session, nurse_actor, prescriber_actor, library, patient, ready, site, nurse):
    yesterday = timezone.now() - timedelta(days=1)
    DosingSession.objects.create(
        organization=patient.organization, patient=patient, episode=ready, site=site, scheduled_start=yesterday,
        started_at=yesterday, administration_started_at=yesterday, status=DosingSession.Status.DISCHARGED,
        protocol_version=library["im-ketamine"], created_by=nurse,
    )
    refused = _refused(to_order(im_session, nurse_actor), prescriber_actor)
    assert _stops(refused) == {StopCode.INTERVAL_TOO_SHORT}
    assert "at least 7 days" in str(refused.messages)


def test_order_in_the_wrong_unit(im_ordering, prescriber_actor):
    assert _stops(_refused(im_ordering, prescriber_actor, dose_mg="35")) == {StopCode.DOSE_UNIT_MISMATCH}


@pytest.mark.parametrize("dose", ["0", "-0.5"])
def test_order_dose_not_usable(im_ordering, prescriber_actor, dose):
    assert _stops(_refused(im_ordering, prescriber_actor, dose_mg_per_kg=dose)) == {StopCode.DOSE_INVALID}


def test_order_esketamine_dose_not_allowed(esk_ordering, prescriber_actor):
    assert _stops(_refused(esk_ordering, prescriber_actor, dose_mg="70")) == {StopCode.DOSE_NOT_ALLOWED}


def test_order_above_absolute_max_cannot_be_overridden(im_ordering, prescriber_actor):
    refused = _refused(im_ordering, prescriber_actor, dose_mg_per_kg="2", override_reason="I insist")
    assert StopCode.ABOVE_ABSOLUTE_MAX in _stops(refused)
    assert "cannot be overridden" in str(refused.messages)


def test_order_dose_rounding_to_zero(im_ordering, prescriber_actor):
    refused = _refused(im_ordering, prescriber_actor, dose_mg_per_kg="0.001", override_reason="test")
    assert _stops(refused) == {StopCode.DOSE_ROUNDS_TO_ZERO}


# --- soft limits ------------------------------------------------------------------------


@pytest.mark.parametrize(("dose", "code"), [("0.2", SoftLimitCode.BELOW_USUAL_RANGE),
                                            ("1.2", SoftLimitCode.ABOVE_USUAL_RANGE)])
def test_order_outside_usual_range_needs_a_reason(im_ordering, prescriber_actor, dose, code):
    refused = _refused(im_ordering, prescriber_actor, dose_mg_per_kg=dose)
    assert _soft(refused) == {code}
    assert not refused.refusal.stops
    assert "override_reason" in refused.message_dict
    order = services.dose_order_sign(by=prescriber_actor, session_id=im_ordering.id, password=PASSWORD,
                                     dose_mg_per_kg=dose, override_reason="Tolerated well at the last session.")
    assert order.overridden == [code.value]
    assert order.override_reason == "Tolerated well at the last session."
    assert any("Soft limit overridden by prescriber" in line for line in order.lines)


def test_order_esketamine_first_session_other_than_56_mg_needs_a_reason(esk_ordering, prescriber_actor):
    assert _soft(_refused(esk_ordering, prescriber_actor, dose_mg="84")) == {SoftLimitCode.FIRST_SESSION_DOSE}


def test_order_by_a_nurse_is_403(im_ordering, nurse_actor):
    with pytest.raises(PermissionDenied):
        services.dose_order_sign(by=nurse_actor, session_id=im_ordering.id, password=PASSWORD)


def test_order_default_shows_mg_mg_per_kg_and_arithmetic(im_ordering, prescriber_actor):
    order = services.dose_order_sign(by=prescriber_actor, session_id=im_ordering.id, password=PASSWORD)
    # 0.5 mg/kg x 68.5 kg = 34.25 mg, rounded to 1 mg steps = 34 mg.
    assert order.dose_mg == Decimal(34)
    assert order.lines[0] == "0.5 mg/kg × 68.5 kg = 34.25 mg"
    assert order.max_mg == Decimal("102.75")
    assert order.weight_measured_on == timezone.localdate()


# --- stops at the preparation (the lot) --------------------------------------------------


@pytest.fixture
def im_ordered(im_ordering, prescriber_actor):
    services.dose_order_sign(by=prescriber_actor, session_id=im_ordering.id, password=PASSWORD,
                             dose_mg_per_kg="0.75")  # 51 mg
    return im_ordering


def _prep_refused(session, nurse_actor, lot) -> set[str]:
    with pytest.raises(services.DoseRefused) as exc:
        services.dose_prepare(by=nurse_actor, session_id=session.id, lot_id=lot.id)
    assert not DosePreparation.objects.filter(session=session).exists()
    return {s.code for s in exc.value.refusal.stops}


def _new_lot(admin, org, site, as_actor, *, name, form, strength, ndc, days=EXPIRY_DAYS) -> Lot:
    by = as_actor(admin, org)
    product = ledger.product_create(by=by, site_id=site.id, name=name, form=form, ndc=ndc,
                                    strength_mg_per_unit=Decimal(strength), package_size=Decimal(10))
    supplier = Supplier.objects.filter(organization=org).first()
    entry = ledger.lot_receive(by=by, site_id=site.id, product_id=product.id, lot_number=f"N-{strength}",
                               expires_on=timezone.localdate() + timedelta(days=days), supplier_id=supplier.id,
                               invoice_number="INV-N", containers=1)
    return entry.lot


def test_prepare_product_not_allowed_for_the_route(im_ordered, nurse_actor, stock):
    assert _prep_refused(im_ordered, nurse_actor, stock["device"]) == {StopCode.PRODUCT_NOT_ALLOWED}


def test_prepare_concentration_not_allowed(im_ordered, nurse_actor, admin, org, site, as_actor, stock):
    lot = _new_lot(admin, org, site, as_actor, name="Ketamine 25 mg/mL", form="vial", strength=25, ndc="1111-2222-33")
    assert _prep_refused(im_ordered, nurse_actor, lot) == {StopCode.CONCENTRATION_NOT_ALLOWED}


def test_prepare_concentration_unknown(im_ordered, nurse_actor, stock):
    Product.objects.filter(id=stock["50"].product_id).update(strength_mg_per_unit=Decimal(0))
    assert _prep_refused(im_ordered, nurse_actor, stock["50"]) == {StopCode.CONCENTRATION_UNKNOWN}


def test_prepare_volume_out_of_range(im_ordered, nurse_actor, stock):
    # 51 mg from 10 mg/mL is 5.1 mL: above the 5 mL an IM injection site takes.
    assert _prep_refused(im_ordered, nurse_actor, stock["10"]) == {StopCode.VOLUME_OUT_OF_RANGE}


def test_prepare_expired_lot_is_refused(im_ordered, nurse_actor, stock):
    Lot.objects.filter(id=stock["50"].id).update(expires_on=timezone.localdate() - timedelta(days=1))
    with pytest.raises(ValidationError, match="expired"):
        services.dose_prepare(by=nurse_actor, session_id=im_ordered.id, lot_id=stock["50"].id)


def test_prepare_lot_of_another_site_is_refused(im_ordered, nurse_actor, org, admin, as_actor, stock):
    from openkap.accounts.models import Site

    other = Site.objects.create(organization=org, name="Annex", address_line1="1", city="A", state="NY",
                                postal_code="12207", dea_registration="AB1234563")
    lot = _new_lot(admin, org, other, as_actor, name="Ketamine 50 mg/mL annex", form="vial", strength=50,
                   ndc="2222-3333-44")
    with pytest.raises(ValidationError, match="this site's inventory"):
        services.dose_prepare(by=nurse_actor, session_id=im_ordered.id, lot_id=lot.id)


def _custom_iv(prescriber_actor, **changes) -> ProtocolVersion:
    import json
    from importlib import resources

    data = json.loads(resources.files("openkap.core.protocols.examples").joinpath(
        "iv-ketamine-infusion.json").read_text())
    data.update(changes)
    draft = services.protocol_draft_create(by=prescriber_actor, content=json.dumps(data),
                                           change_reason="Clinic variant for the test.")
    return services.protocol_approve(by=prescriber_actor, version_id=draft.id, password=PASSWORD)


@pytest.fixture
def iv_session(ready, library, stock, patient, site, room, nurse, prescriber, admin, therapist, org, as_actor):
    from tests.dosing.conftest import switch_to_route

    switch_to_route(patient, prescriber=prescriber, admin=admin, therapist=therapist, org=org, as_actor=as_actor,
                    route="iv_infusion", protocol_id="iv-ketamine-infusion")
    return book(patient, ready, site, room, nurse)


def test_prepare_undiluted_iv(iv_session, nurse_actor, prescriber_actor, stock):
    _custom_iv(prescriber_actor, dilution=None,
               products=[{"code": "ketamine-hcl-injection", "name": "Ketamine injection", "form": "solution",
                          "strengths": [10, 50]}])
    ordering = to_order(iv_session, nurse_actor)
    services.dose_order_sign(by=prescriber_actor, session_id=ordering.id, password=PASSWORD)
    assert _prep_refused(ordering, nurse_actor, stock["100"]) == {
        StopCode.CONCENTRATION_NOT_ALLOWED, StopCode.UNDILUTED_IV}


def test_prepare_dilution_impossible(iv_session, nurse_actor, prescriber_actor, stock):
    _custom_iv(prescriber_actor, dilution={"diluent": "0.9% sodium chloride", "final_volume_ml": 2})
    ordering = to_order(iv_session, nurse_actor)
    services.dose_order_sign(by=prescriber_actor, session_id=ordering.id, password=PASSWORD)
    # 34 mg from 10 mg/mL is 3.4 mL: it does not fit in a 2 mL final volume.
    assert _prep_refused(ordering, nurse_actor, stock["10"]) == {StopCode.DILUTION_IMPOSSIBLE}


def test_prepare_not_whole_units(ready, library, patient, site, room, nurse, prescriber, admin, therapist, org,
                                 as_actor, nurse_actor, prescriber_actor, stock):
    from tests.dosing.conftest import switch_to_route

    switch_to_route(patient, prescriber=prescriber, admin=admin, therapist=therapist, org=org, as_actor=as_actor,
                    route="sublingual", protocol_id="sublingual-ketamine-lozenge")
    by = as_actor(admin, org)
    product = ledger.product_create(by=by, site_id=site.id, name="Ketamine troche 100 mg (compounded)",
                                    form="lozenge", strength_mg_per_unit=Decimal(100), package_size=Decimal(30),
                                    is_compounded=True)
    supplier = Supplier.objects.filter(organization=org).first()
    lot = ledger.lot_receive(by=by, site_id=site.id, product_id=product.id, lot_number="T-100",
                             expires_on=timezone.localdate() + timedelta(days=100), supplier_id=supplier.id,
                             invoice_number="INV-T", containers=1).lot
    ordering = to_order(book(patient, ready, site, room, nurse), nurse_actor)
    services.dose_order_sign(by=prescriber_actor, session_id=ordering.id, password=PASSWORD, dose_mg="150")
    assert _prep_refused(ordering, nurse_actor, lot) == {StopCode.NOT_WHOLE_UNITS}


def test_prepare_volume_comes_from_the_lot(im_ordered, nurse_actor, stock):
    prep = services.dose_prepare(by=nurse_actor, session_id=im_ordered.id, lot_id=stock["100"].id)
    assert (prep.concentration, prep.volume_ml) == (Decimal(100), Decimal("0.51"))
    assert prep.lines[-1] == "51.0 mg ÷ 100.0 mg/mL = 0.51 mL"
