from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from openkap.accounts.authz import Denied
from openkap.audit.models import AuditAction, AuditEvent
from openkap.core.identifiers import validate_ndc
from openkap.dosing.models import DosingSession
from openkap.ledger import selectors, services
from openkap.ledger.models import LedgerEntry, Lot, LotBalance
from openkap.ledger.selectors import chain_check
from openkap.patients import services as patient_services
from openkap.patients.models import BreakGlassGrant, CareTeamMember
from openkap.patients.selectors import patient_for

from .conftest import EXPIRY, make_session


def balance(lot):
    b = LotBalance.objects.get(lot=lot)
    return b.mg, b.units


def test_receipt_creates_lot_balance_and_first_link(lot, site):
    assert balance(lot) == (Decimal(1000), Decimal(10))
    entry = LedgerEntry.objects.get(lot=lot)
    assert entry.sequence == 1
    assert entry.detail == {"invoice": "INV-1001", "containers": "2"}
    assert chain_check().ok


def test_administration_takes_mg_and_units_from_the_lot(nurse_actor, lot, session):
    entry = services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="35")
    assert (entry.mg, entry.units) == (Decimal(35), Decimal("0.35"))
    assert entry.patient_id == session.patient_id
    assert balance(lot) == (Decimal(965), Decimal("9.65"))
    assert AuditEvent.objects.filter(action=AuditAction.CREATE, object_type="ledger_entry",
                                     patient_id=session.patient_id).exists()


def test_administration_by_volume(nurse_actor, lot, session):
    entry = services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, units="0.4")
    assert entry.mg == Decimal(40)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"mg": "35", "units": "0.35"}, "units"),
    ({}, "units"),
    ({"mg": "0"}, "mg"),
    ({"mg": "-5"}, "mg"),
    ({"mg": "33.3333"}, "mg"),
    ({"units": "0.0001"}, "units"),
    ({"mg": "nan"}, "mg"),
    ({"mg": "1e30"}, "mg"),
    ({"mg": "abc"}, "mg"),
])
def test_administration_bad_amount_is_refused(nurse_actor, lot, session, kwargs, field):
    with pytest.raises(ValidationError) as exc:
        services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, **kwargs)
    assert field in exc.value.message_dict
    assert balance(lot) == (Decimal(1000), Decimal(10))


def test_administration_more_than_on_hand_is_refused_with_the_book(nurse_actor, lot, session):
    with pytest.raises(ValidationError) as exc:
        services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="1000.5")
    assert "Not enough" in exc.value.message_dict["mg"][0]
    assert LedgerEntry.objects.filter(lot=lot).count() == 1


def test_expired_lot_cannot_be_used(nurse_actor, lot, session):
    Lot.objects.filter(pk=lot.pk).update(expires_on=timezone.localdate() - timedelta(days=1))
    with pytest.raises(ValidationError) as exc:
        services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="10")
    assert "expired" in exc.value.message_dict["lot"][0]


def test_expired_lot_is_not_received(nurse_actor, site, vial_100, supplier):
    with pytest.raises(ValidationError) as exc:
        services.lot_receive(by=nurse_actor, site_id=site.id, product_id=vial_100.id, lot_number="OLD-1",
                             expires_on=timezone.localdate() - timedelta(days=1), supplier_id=supplier.id,
                             invoice_number="INV-9", containers=1)
    assert "expired" in exc.value.message_dict["expires_on"][0]


def test_cancelled_or_other_site_session_is_refused(nurse_actor, org, lot, patient, nurse, other_site):
    cancelled = make_session(org, lot.site, patient, nurse, status=DosingSession.Status.CANCELLED)
    elsewhere = make_session(org, other_site, patient, nurse)
    for s in (cancelled, elsewhere):
        with pytest.raises(ValidationError) as exc:
            services.ledger_administer(by=nurse_actor, dosing_session_id=s.id, lot_id=lot.id, mg="10")
        assert "dosing_session" in exc.value.message_dict


def test_prescriber_outside_the_care_team_cannot_record_for_that_patient(
    prescriber, org, as_actor, lot, unassigned_patient, nurse
):
    s = make_session(org, lot.site, unassigned_patient, nurse)
    with pytest.raises(Denied):
        services.ledger_administer(by=as_actor(prescriber, org), dosing_session_id=s.id, lot_id=lot.id, mg="10")


def test_break_glass_lets_an_off_team_prescriber_record_and_flags_the_audit(
    prescriber, org, as_actor, lot, unassigned_patient, nurse
):
    s = make_session(org, lot.site, unassigned_patient, nurse)
    by = as_actor(prescriber, org)
    expired = BreakGlassGrant.objects.create(organization=org, patient=unassigned_patient, user=prescriber,
                                             reason="Earlier emergency", expires_at=timezone.now())
    with pytest.raises(Denied):
        services.ledger_administer(by=by, dosing_session_id=s.id, lot_id=lot.id, mg="10")
    patient_services.break_glass(by=by, patient_id=unassigned_patient.id, reason="Covering the infusion")
    entry = services.ledger_administer(by=by, dosing_session_id=s.id, lot_id=lot.id, mg="10")
    event = AuditEvent.objects.get(object_type="ledger_entry", object_id=str(entry.id))
    assert (event.break_glass, event.patient_id, event.actor_id) == (True, unassigned_patient.id, prescriber.id)
    assert expired.expires_at < timezone.now()


@pytest.mark.parametrize("who", ["prescriber", "nurse"])
@pytest.mark.parametrize("team", ["on", "ended", "never"])
@pytest.mark.parametrize("glass", ["open", "expired", "none"])
def test_administration_grants_access_exactly_as_patient_for(
    who, team, glass, prescriber, nurse, org, as_actor, lot, unassigned_patient
):
    """The hot path reads the care team and break-glass in its own SQL: every combination
    must end as ``patient_for`` decides (allowed, refused, or allowed and flagged)."""
    user = prescriber if who == "prescriber" else nurse
    now = timezone.now()
    if team != "never":
        CareTeamMember.objects.create(organization=org, patient=unassigned_patient, user=user, role=who,
                                      ended_at=now - timedelta(days=1) if team == "ended" else None)
    if glass != "none":
        BreakGlassGrant.objects.create(organization=org, patient=unassigned_patient, user=user, reason="Cover",
                                       expires_at=now + timedelta(hours=1 if glass == "open" else -1))
    s = make_session(org, lot.site, unassigned_patient, nurse)
    by = as_actor(user, org)
    try:
        expected: tuple[object, ...] = ("allowed", patient_for(by, unassigned_patient.id)[1])
    except Denied:
        expected = ("refused",)
    try:
        entry = services.ledger_administer(by=by, dosing_session_id=s.id, lot_id=lot.id, mg="10")
        got: tuple[object, ...] = ("allowed", AuditEvent.objects.get(object_type="ledger_entry",
                                                                     object_id=str(entry.id)).break_glass)
    except Denied:
        got = ("refused",)
    assert got == expected
    assert expected[0] == ("refused" if (who, team, glass) in {("prescriber", "ended", "none"),
                                                              ("prescriber", "ended", "expired"),
                                                              ("prescriber", "never", "none"),
                                                              ("prescriber", "never", "expired")} else "allowed")


ADMINISTRATION_STATEMENTS = {"postgresql": 2, "sqlite": 5}


def test_administration_takes_few_statements(nurse_actor, lot, session):
    """bench/ledger.py measures what these cost: the lot, the session with its patient's
    access, the chain head and the balance (both locked, with the new entry's id on
    PostgreSQL) in one statement, then on PostgreSQL the entry, its audit row, the balance
    and the head in one statement (SQLite: four)."""
    services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="10")
    with CaptureQueriesContext(connection) as queries:
        entry = services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="10")
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == ADMINISTRATION_STATEMENTS[connection.vendor], statements
    entry.refresh_from_db()
    assert (entry.sequence, entry.mg) == (3, Decimal(10))
    assert LotBalance.objects.get(lot=lot).mg == Decimal(980)
    assert AuditEvent.objects.filter(object_type="ledger_entry", object_id=str(entry.id)).exists()
    assert chain_check().ok


def test_administration_from_a_lot_with_no_entry_yet_is_refused_for_stock(nurse_actor, org, site, vial_100,
                                                                           supplier, session):
    """A lot with no entry has no balance row (nor, at a site with no entry, a chain head):
    the locked read finds nothing to lock, makes both and reads again; the core then
    refuses for want of stock, and the refusal takes the new rows back with it."""
    lot = Lot.objects.create(organization=org, site=site, product=vial_100, lot_number="NEW-1",
                             expires_on=EXPIRY, supplier=supplier)
    with pytest.raises(ValidationError, match="Not enough in lot"):
        services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="10")
    assert not LotBalance.objects.filter(lot=lot).exists()


@pytest.mark.postgres
def test_the_hot_statements_are_prepared_on_postgresql(nurse_actor, lot, session):
    """The locked read (with the balance lock) and the write are parsed and planned once
    per connection (ADR 0076); the id sequence is named in the text, not looked up on
    every entry (ADR 0111)."""
    for _ in range(2):
        services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="10")
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("FOR UPDATE OF b" in sql and "nextval('" in sql for sql in prepared), prepared
    assert any(sql.startswith("WITH e AS (INSERT INTO") for sql in prepared), prepared
    assert not any("pg_get_serial_sequence" in sql for sql in prepared), prepared


def test_waste_needs_a_different_ledger_witness(nurse_actor, nurse, therapist, prescriber, lot, session):
    for witness in (nurse, therapist):
        with pytest.raises(ValidationError) as exc:
            services.ledger_waste(by=nurse_actor, witness_id=witness.id, lot_id=lot.id, mg="15")
        assert "witness" in exc.value.message_dict
    entry = services.ledger_waste(by=nurse_actor, witness_id=prescriber.id, lot_id=lot.id, mg="15",
                                  dosing_session_id=session.id, reason="rest of the draw")
    assert entry.witness_id == prescriber.id
    assert balance(lot) == (Decimal(985), Decimal("9.85"))


def test_witness_signature_checks_the_password_and_throttles(nurse_actor, prescriber):
    from django.conf import settings

    from openkap.audit.services import record_refusal
    from tests.conftest import PASSWORD

    assert services.witness_sign(by=nurse_actor, witness_id=prescriber.id, password=PASSWORD) == prescriber
    for _ in range(settings.LOGIN_MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(ValidationError, match="password") as exc:
            services.witness_sign(by=nurse_actor, witness_id=prescriber.id, password="wrong")
        # As the request's error handler does, after the caller's transaction is gone.
        record_refusal(exc.value)
    with pytest.raises(ValidationError, match="Too many"):
        services.witness_sign(by=nurse_actor, witness_id=prescriber.id, password=PASSWORD)


def test_therapist_and_researcher_cannot_touch_the_ledger(therapist, researcher, org, as_actor, lot):
    for user in (therapist, researcher):
        with pytest.raises(Denied):
            selectors.lot_ledger(by=as_actor(user, org), lot_id=lot.id)


def test_another_organisation_gets_404(outsider, other_org, as_actor, lot, session):
    by = as_actor(outsider, other_org)
    with pytest.raises(Http404):
        services.ledger_administer(by=by, dosing_session_id=session.id, lot_id=lot.id, mg="10")
    with pytest.raises(Http404):
        selectors.site_overview(by=by, site_id=lot.site_id)


def test_transfer_writes_both_sites_chains(nurse_actor, lot, other_site):
    out, into = services.ledger_transfer(by=nurse_actor, lot_id=lot.id, to_site_id=other_site.id, units="5")
    assert (out.site_id, into.site_id) == (lot.site_id, other_site.id)
    assert into.lot.lot_number == lot.lot_number
    assert into.lot.transferred_from_id == lot.id
    assert into.sequence == 1
    assert balance(lot) == (Decimal(500), Decimal(5))
    assert balance(into.lot) == (Decimal(500), Decimal(5))
    assert into.detail["from_dea"] == lot.site.dea_registration
    assert chain_check().ok


def test_transfer_to_the_same_or_another_organisations_site_is_refused(nurse_actor, lot, other_org):
    from openkap.accounts.models import Site

    foreign = Site.objects.create(organization=other_org, name="X", address_line1="x", city="x", state="NY",
                                  postal_code="1", dea_registration="AB1234563")
    for target in (lot.site_id, foreign.id):
        with pytest.raises(ValidationError) as exc:
            services.ledger_transfer(by=nurse_actor, lot_id=lot.id, to_site_id=target, units="1")
        assert "to_site" in exc.value.message_dict


def test_destruction_needs_two_different_witnesses_and_a_distributor(
    nurse_actor, lot, prescriber, admin, reverse_distributor
):
    with pytest.raises(ValidationError) as exc:
        services.ledger_destroy(by=nurse_actor, lot_id=lot.id, witness_id=prescriber.id,
                                second_witness_id=prescriber.id, method="reverse_distributor", units="5",
                                location="Med room")
    assert {"second_witness", "reverse_distributor"} <= set(exc.value.message_dict)
    entry = services.ledger_destroy(by=nurse_actor, lot_id=lot.id, witness_id=prescriber.id,
                                    second_witness_id=admin.id, method="reverse_distributor", units="5",
                                    location="Med room", reverse_distributor_id=reverse_distributor.id)
    assert entry.detail["reverse_distributor_dea"] == "RR1234563"
    assert balance(lot) == (Decimal(500), Decimal(5))


def test_expired_lot_can_still_be_destroyed(nurse_actor, lot, prescriber, admin):
    Lot.objects.filter(pk=lot.pk).update(expires_on=timezone.localdate() - timedelta(days=3))
    services.ledger_destroy(by=nurse_actor, lot_id=lot.id, witness_id=prescriber.id, second_witness_id=admin.id,
                            method="on_site", units="10", location="Med room, chemical digestion pouch")
    assert balance(lot) == (Decimal(0), Decimal(0))


def test_loss_records_form_106_facts(nurse_actor, lot):
    entry = services.ledger_loss(by=nurse_actor, lot_id=lot.id, units="1", loss_type="other_loss",
                                 discovered_on=timezone.localdate(), circumstances="Vial dropped and broke",
                                 police_report="")
    assert entry.reason == "Vial dropped and broke"
    assert entry.detail["loss_type"] == "other_loss"


def test_count_discrepancy_stays_open_until_an_admin_adjusts(nurse_actor, admin_actor, prescriber, lot):
    count = services.ledger_count(by=nurse_actor, witness_id=prescriber.id, lot_id=lot.id, units="9.8")
    assert (count.discrepancy_mg, count.discrepancy_units) == (Decimal(-20), Decimal("-0.2"))
    assert balance(lot) == (Decimal(1000), Decimal(10))  # a count does not move the book
    assert selectors.open_discrepancies(lot.site) == [count]
    with pytest.raises(Denied):
        services.ledger_adjust(by=nurse_actor, count_id=count.id, reason="spill")
    with pytest.raises(ValidationError):
        services.ledger_adjust(by=admin_actor, count_id=count.id, reason=" ")
    services.ledger_adjust(by=admin_actor, count_id=count.id, reason="Overfill estimate on opened vial")
    assert balance(lot) == (Decimal(980), Decimal("9.8"))
    assert selectors.open_discrepancies(lot.site) == []
    with pytest.raises(ValidationError, match="already adjusted"):
        services.ledger_adjust(by=admin_actor, count_id=count.id, reason="again")
    assert chain_check().ok


def test_matching_count_has_nothing_to_adjust(nurse_actor, admin_actor, prescriber, lot):
    count = services.ledger_count(by=nurse_actor, witness_id=prescriber.id, lot_id=lot.id, units="10")
    assert count.discrepancy_units == 0
    with pytest.raises(ValidationError, match="nothing to adjust"):
        services.ledger_adjust(by=admin_actor, count_id=count.id, reason="x")


def test_correction_reverses_once_and_only_movements(nurse_actor, admin_actor, prescriber, lot, session):
    given = services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="50")
    [correction] = services.ledger_correct(by=admin_actor, entry_id=given.id, reason="Entered on the wrong lot")
    assert (correction.mg, correction.units, correction.refers_to_id) == (Decimal(50), Decimal("0.5"), given.id)
    assert balance(lot) == (Decimal(1000), Decimal(10))
    with pytest.raises(ValidationError, match="already corrected"):
        services.ledger_correct(by=admin_actor, entry_id=given.id, reason="again")
    with pytest.raises(ValidationError, match="cannot be corrected"):
        services.ledger_correct(by=admin_actor, entry_id=correction.id, reason="undo")
    count = services.ledger_count(by=nurse_actor, witness_id=prescriber.id, lot_id=lot.id, units="10")
    with pytest.raises(ValidationError, match="new count"):
        services.ledger_correct(by=admin_actor, entry_id=count.id, reason="miscounted")
    assert chain_check().ok


def test_correcting_a_receipt_that_was_used_is_refused(nurse_actor, admin_actor, lot, session):
    services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="50")
    receipt = LedgerEntry.objects.get(lot=lot, kind="receipt")
    with pytest.raises(ValidationError, match="Not enough"):
        services.ledger_correct(by=admin_actor, entry_id=receipt.id, reason="wrong invoice")


def test_correcting_a_transfer_reverses_both_legs(nurse_actor, admin_actor, lot, other_site):
    _, into = services.ledger_transfer(by=nurse_actor, lot_id=lot.id, to_site_id=other_site.id, units="2")
    corrections = services.ledger_correct(by=admin_actor, entry_id=into.id, reason="sent back before arrival")
    assert len(corrections) == 2
    assert balance(lot) == (Decimal(1000), Decimal(10))
    assert balance(into.lot) == (Decimal(0), Decimal(0))
    assert chain_check().ok


def test_ledger_rows_refuse_update_and_delete(lot):
    entry = LedgerEntry.objects.get(lot=lot)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(units=Decimal(20))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_ledgerentry")
    assert LedgerEntry.objects.get(pk=entry.pk).units == Decimal(10)


def test_balance_row_refuses_to_go_negative_in_the_database(lot):
    with pytest.raises(DatabaseError), transaction.atomic():
        LotBalance.objects.filter(lot=lot).update(units=Decimal(-1))


def test_inventory_counts_every_lot_and_is_signed(nurse_actor, nurse, prescriber, lot, site, esketamine, supplier):
    services.lot_receive(by=nurse_actor, site_id=site.id, product_id=esketamine.id, lot_number="ESK-1",
                         expires_on=EXPIRY, supplier_id=supplier.id, invoice_number="INV-2", containers=3)
    common = {"by": nurse_actor, "site_id": site.id, "kind": "initial", "business_time": "opening",
              "witness_id": prescriber.id}
    with pytest.raises(ValidationError) as exc:
        services.inventory_take(**common, counts={lot.id: "10"}, signature="Somebody Else")
    assert {"counts", "signature"} <= set(exc.value.message_dict)
    esk_lot = Lot.objects.get(lot_number="ESK-1")
    record = services.inventory_take(**common, counts={lot.id: "9.9", esk_lot.id: "6"}, estimated_lot_ids=[lot.id],
                                     signature="nell  nurse")
    counts = list(record.counts.order_by("lot_id"))
    assert [c.units for c in counts] == [Decimal("9.9"), Decimal(6)]
    assert counts[0].detail == {"estimated": "yes"}
    assert counts[0].discrepancy_units == Decimal("-0.1")
    with pytest.raises(ValidationError, match="initial inventory"):
        services.inventory_take(**common, counts={lot.id: "10", esk_lot.id: "6"}, signature="Nell Nurse")


def test_devices_are_whole(nurse_actor, site, esketamine, supplier, session):
    entry = services.lot_receive(by=nurse_actor, site_id=site.id, product_id=esketamine.id, lot_number="ESK-2",
                                 expires_on=EXPIRY, supplier_id=supplier.id, invoice_number="INV-3", containers=1)
    with pytest.raises(ValidationError, match="whole devices"):
        services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=entry.lot_id, mg="42")
    given = services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=entry.lot_id, mg="56")
    assert given.units == 2


@pytest.mark.parametrize(("ndc", "ok"), [
    ("0409-2051-05", True), ("50458-028-02", True), ("12345-6789-1", True), ("12345-6789-01", True),
    ("0409205105", False), ("0409-2051", False), ("040-92051-05", False), ("0409-2051-0a", False),
])
def test_ndc_format(ndc, ok):
    assert (validate_ndc(ndc) is None) is ok


def test_product_needs_an_ndc_unless_compounded(admin_actor, nurse_actor, site):
    base = {"site_id": site.id, "form": "lozenge", "strength_mg_per_unit": "100", "package_size": "30"}
    with pytest.raises(ValidationError) as exc:
        services.product_create(by=admin_actor, name="Troche 100 mg", **base)
    assert "ndc" in exc.value.message_dict
    product = services.product_create(by=admin_actor, name="Troche 100 mg", is_compounded=True, **base)
    assert product.unit == "lozenge"
    with pytest.raises(Denied):
        services.product_create(by=nurse_actor, name="Troche 150 mg", is_compounded=True, **base)


def _dose_then_fail(by, session, lot):
    with transaction.atomic():
        services.ledger_administer(by=by, dosing_session_id=session.id, lot_id=lot.id, mg="10")
        raise RuntimeError("the dosing step failed after the ledger entry")


def test_nested_in_an_outer_transaction_rolls_back_with_it(nurse_actor, lot, session):
    with pytest.raises(RuntimeError):
        _dose_then_fail(nurse_actor, session, lot)
    assert balance(lot) == (Decimal(1000), Decimal(10))
    assert LedgerEntry.objects.filter(lot=lot).count() == 1
    assert chain_check().ok
