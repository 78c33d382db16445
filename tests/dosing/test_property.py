"""Property: whatever the protocol, weight, lot and overrides, no dose stored by the
services is above the protocol's absolute maximum, and no volume comes from anything
but the concentration of the lot drawn from. Each example runs the real services in
a transaction that is rolled back."""

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from openkap.core.protocols import dump_protocol
from openkap.dosing import services, session_facts
from openkap.dosing.models import DoseOrder, DosePreparation
from openkap.ledger.models import Lot
from openkap.patients.models import WeightMeasurement
from tests.conftest import PASSWORD
from tests.dosing.conftest import book, switch_to_route, to_order
from tests.profiles import examples


class Rollback(Exception):
    pass


ROUTES = {
    "im": ("intramuscular", "im-ketamine"),
    "iv": ("iv_infusion", "iv-ketamine-infusion"),
    "esketamine": ("intranasal_esketamine", "intranasal-esketamine-spravato"),
    # Issue 12: a fixed-mg route with a per-kg ceiling (the 10 mg/kg lozenge order).
    "sublingual": ("sublingual", "sublingual-ketamine-lozenge"),
}


@pytest.fixture(params=list(ROUTES))
def ordering(request, ready, library, stock, patient, site, room, nurse, prescriber, admin, therapist, org, as_actor,
             nurse_actor):
    route, protocol_id = ROUTES[request.param]
    if route != "intranasal_esketamine":
        switch_to_route(patient, prescriber=prescriber, admin=admin, therapist=therapist, org=org,
                        as_actor=as_actor, route=route, protocol_id=protocol_id)
    return to_order(book(patient, ready, site, room, nurse), nurse_actor), protocol_id


weights = st.decimals(min_value=Decimal("20"), max_value=Decimal("260"), places=2)
per_kg = st.one_of(st.none(), st.decimals(min_value=Decimal("0.01"), max_value=Decimal("3"), places=3))
fixed_mg = st.one_of(
    st.none(), st.sampled_from([Decimal(d) for d in (14, 28, 56, 70, 84, 100, 112, 150, 168, 200, 300, 400)])
)
overrides = st.sampled_from(["", "Prescriber's reason for going outside the usual range."])
lots = st.sampled_from(["10", "50", "100", "device"])
# A clinic may lower (never raise past the schema) the hard maximum: a fraction of the usual high.
max_factor = st.one_of(st.none(), st.decimals(min_value=Decimal("1"), max_value=Decimal("2"), places=2))


@settings(max_examples=examples(45), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(weight=weights, per_kg_dose=per_kg, mg_dose=fixed_mg, reason=overrides, lot_key=lots, factor=max_factor)
def test_no_stored_dose_above_max_and_volume_only_from_the_lot(ordering, prescriber_actor, nurse_actor, stock,
                                                               patient, weight, per_kg_dose, mg_dose, reason,
                                                               lot_key, factor):
    session, protocol_id = ordering
    try:
        with transaction.atomic():
            version = session_facts.protocol_in_use(session.organization_id, protocol_id)
            if factor is not None and version.protocol.dose_rule.basis.value == "mg_per_kg":
                data = json.loads(version.content, parse_float=Decimal)
                data["absolute_max"] = {
                    "mg_per_kg": version.protocol.dose_rule.usual_high * factor,
                    "mg": version.protocol.absolute_max.mg,
                }
                draft = services.protocol_revise(by=prescriber_actor, version_id=version.id,
                                                 content=dump_protocol(data), change_reason="Clinic maximum")
                # Up to twice the usual top can pass the reference's suggested ceiling: the clinic accepts it.
                version = services.protocol_approve(by=prescriber_actor, version_id=draft.id, password=PASSWORD,
                                                    accept_warnings=True)
            WeightMeasurement.objects.filter(patient=patient).update(weight_kg=weight)
            basis_mg = version.protocol.dose_rule.basis.value == "fixed_mg"
            try:
                order = services.dose_order_sign(
                    by=prescriber_actor, session_id=session.id, password=PASSWORD, override_reason=reason,
                    dose_mg_per_kg=None if basis_mg else per_kg_dose, dose_mg=mg_dose if basis_mg else None,
                )
            except ValidationError:
                assert not DoseOrder.objects.filter(session=session).exists()
                raise Rollback from None
            event("ordered")
            protocol = order.protocol_version.protocol
            ceiling = protocol.absolute_max.for_weight(order.weight_kg)
            assert Decimal(0) < order.dose_mg <= ceiling
            stored = DoseOrder.objects.get(pk=order.pk)
            assert stored.dose_mg <= stored.max_mg
            # Issue 12: neither the absolute mg maximum nor the mg/kg maximum (on the dosing
            # weight, and so on the total) is ever exceeded, whatever the route's basis; and
            # only weights in the allowed range get a dose.
            cap = protocol.absolute_max
            assert cap.mg is not None
            assert cap.mg_per_kg is not None
            assert stored.dose_mg <= cap.mg
            dosing_kg = Decimal(stored.result["dosing_weight"]["kg"])
            assert stored.dose_mg <= cap.mg_per_kg * dosing_kg <= cap.mg_per_kg * stored.weight_kg
            assert protocol.min_weight_kg <= stored.weight_kg <= 250
            lot = Lot.objects.select_related("product").get(pk=stock[lot_key].pk)
            try:
                prep = services.dose_prepare(by=nurse_actor, session_id=session.id, lot_id=lot.id)
            except ValidationError:
                assert not DosePreparation.objects.filter(session=session).exists()
                raise Rollback from None
            event("prepared")
            strength = lot.product.strength_mg_per_unit
            assert prep.concentration == strength
            if prep.volume_ml is not None:
                assert prep.volume_ml * strength == stored.dose_mg
            else:
                assert prep.units * strength == stored.dose_mg
            raise Rollback
    except Rollback:
        pass
