import csv
import io

import pytest
from django.urls import reverse

from openkap.audit.models import AuditAction, AuditEvent
from openkap.ledger.models import LedgerEntry, LotBalance
from tests.conftest import PASSWORD


def test_navigation_shows_controlled_substances_to_ledger_roles_only(nurse, therapist, client_for, site):
    assert "Controlled substances" in client_for(nurse).get("/").content.decode()
    assert "Controlled substances" not in client_for(therapist).get("/").content.decode()


def test_site_page_shows_concentration_and_balance(nurse, client_for, lot):
    response = client_for(nurse).get(reverse("ledger:site", args=[lot.site_id]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "100 mg/mL" in html
    assert "10 mL" in html
    assert AuditEvent.objects.filter(action=AuditAction.VIEW, object_type="ledger_site").exists()


def test_site_page_rows_link_their_lot_with_local_time_and_kind(nurse, client_for, lot):
    """What the lot and entry rows write, made once in the selector (ADR 0118)."""
    from django.utils import timezone

    entry = LedgerEntry.objects.filter(lot=lot).latest("sequence")
    html = client_for(nurse).get(reverse("ledger:site", args=[lot.site_id])).content.decode()
    lot_url = reverse("ledger:lot", args=[lot.id])
    assert f'<td><a href="{lot_url}">{lot.product.name}</a>' in html  # the stock row
    assert (f'<td>{entry.number}</td><td class="when">{timezone.localtime(entry.occurred_at):%Y-%m-%d %H:%M}</td>'
            f'<td class="kind">{entry.get_kind_display()[:1].upper()}{entry.get_kind_display()[1:]}</td>') in html
    assert f'<td><a href="{lot_url}">{lot.lot_number}</a>' in html  # the entry row


def test_receive_form_records_a_lot(nurse, client_for, site, vial_100, supplier):
    response = client_for(nurse).post(reverse("ledger:receive", args=[site.id]), {
        "product": vial_100.id, "lot_number": "NEW-7", "expires_on": "2030-01-31", "supplier": supplier.id,
        "invoice_number": "INV-77", "containers": "3",
    })
    assert response.status_code == 302
    entry = LedgerEntry.objects.get(lot__lot_number="NEW-7")
    assert response.url == reverse("ledger:lot", args=[entry.lot_id])
    assert entry.units == 15


def test_administer_form_links_the_session(nurse, client_for, lot, session):
    url = reverse("ledger:administer", args=[lot.site_id])
    page = client_for(nurse).get(url, {"dosing_session": session.id})
    assert page.status_code == 200
    assert session.patient.mrn in page.content.decode()
    response = client_for(nurse).post(url, {"dosing_session": session.id, "lot": lot.id, "amount": "35",
                                            "amount_in": "mg"})
    assert response.status_code == 302
    assert LedgerEntry.objects.get(kind="administration").dosing_session_id == session.id


def test_waste_form_needs_the_witness_password(nurse, prescriber, client_for, lot):
    url = reverse("ledger:waste", args=[lot.id])
    data = {"amount": "5", "amount_in": "mg", "witness": prescriber.id, "witness_password": "nope"}
    response = client_for(nurse).post(url, data)
    assert response.status_code == 200
    assert "not Dr. Pat Prescriber" in response.content.decode()
    assert not LedgerEntry.objects.filter(kind="waste").exists()
    assert client_for(nurse).post(url, data | {"witness_password": PASSWORD}).status_code == 302
    assert LedgerEntry.objects.get(kind="waste").witness_id == prescriber.id


def test_count_with_difference_tells_the_nurse_an_admin_must_adjust(nurse, prescriber, admin, client_for, lot):
    response = client_for(nurse).post(reverse("ledger:count", args=[lot.id]), {
        "units": "9.5", "witness": prescriber.id, "witness_password": PASSWORD,
    }, follow=True)
    assert "An admin must review and adjust it" in response.content.decode()
    count = LedgerEntry.objects.get(kind="count")
    assert client_for(nurse).get(reverse("ledger:adjust", args=[count.id])).status_code == 403
    response = client_for(admin).post(reverse("ledger:adjust", args=[count.id]), {"reason": "Spill on 3 May"})
    assert response.status_code == 302
    assert LotBalance.objects.get(lot=lot).units == 9.5


@pytest.mark.parametrize("data", [
    {},
    {"amount": "abc", "amount_in": "mg"},
    {"amount": "5", "amount_in": "grams"},
    {"amount": "99999999999", "amount_in": "mg", "witness": "1", "witness_password": "x"},
    {"amount": "5", "amount_in": "mg", "witness": "999999999", "witness_password": "x"},
])
def test_bad_waste_input_is_a_form_error_not_a_500(nurse, client_for, lot, data):
    response = client_for(nurse).post(reverse("ledger:waste", args=[lot.id]), data)
    assert response.status_code == 200
    assert LedgerEntry.objects.count() == 1


def test_correction_page_and_post(admin, nurse, client_for, lot, session, nurse_actor):
    from openkap.ledger import services

    entry = services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="20")
    url = reverse("ledger:correct", args=[entry.id])
    assert client_for(nurse).get(url).status_code == 403
    assert client_for(admin).post(url, {"reason": ""}).status_code == 200
    assert client_for(admin).post(url, {"reason": "wrong patient"}).status_code == 302
    assert LedgerEntry.objects.filter(kind="correction", refers_to=entry).exists()


def test_lot_ledger_downloads_csv_and_pdf_and_audits_the_export(nurse, client_for, lot):
    url = reverse("ledger:lot", args=[lot.id])
    body = client_for(nurse).get(url, {"format": "csv"}).content.decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["Running ledger: Ketamine HCl 100 mg/mL, 5 mL vial, lot KX-100-A"]
    receipt = next(r for r in rows if r and r[0] == "#1")
    assert receipt[2] == "receipt"
    assert receipt[5:7] == ["1000", "10"]
    pdf = client_for(nurse).get(url, {"format": "pdf"})
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT, object_type="ledger_lot").count() == 2


def test_reports_render_on_screen_and_as_files(nurse, client_for, lot, session, nurse_actor, prescriber):
    from openkap.ledger import services

    services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="20")
    services.ledger_waste(by=nurse_actor, witness_id=prescriber.id, lot_id=lot.id, mg="5")
    client = client_for(nurse)
    for name in ("report_administrations", "report_waste", "report_form41", "report_form106", "reconciliation"):
        url = reverse(f"ledger:{name}", args=[lot.site_id])
        assert client.get(url).status_code == 200, name
        assert client.get(url, {"format": "csv"}).status_code == 200, name
    html = client.get(reverse("ledger:report_administrations", args=[lot.site_id])).content.decode()
    assert "Lindqvist" in html
    event = AuditEvent.objects.filter(object_type="ledger_report", detail__report="administrations").first()
    assert event.detail["patient_ids"] == [session.patient_id]


def test_bad_period_falls_back_to_this_month(nurse, client_for, site):
    response = client_for(nurse).get(reverse("ledger:reconciliation", args=[site.id]), {"start": "x", "end": "2"})
    assert response.status_code == 200


def test_inverted_period_is_a_clear_error(nurse, client_for, site):
    response = client_for(nurse).get(reverse("ledger:reconciliation", args=[site.id]),
                                     {"start": "2026-05-01", "end": "2026-04-01"})
    assert response.status_code == 422


def test_inventory_form_takes_a_signed_inventory(nurse, prescriber, client_for, lot):
    url = reverse("ledger:inventory_new", args=[lot.site_id])
    page = client_for(nurse).get(url)
    assert f"count_{lot.id}" in page.content.decode()
    response = client_for(nurse).post(url, {
        "kind": "initial", "business_time": "opening", f"count_{lot.id}": "10", "witness": prescriber.id,
        "witness_password": PASSWORD, "signature": "Nell Nurse",
    })
    assert response.status_code == 302
    detail = client_for(nurse).get(response.url)
    assert "Initial inventory" in detail.content.decode()
    assert client_for(nurse).get(response.url, {"format": "pdf"}).content.startswith(b"%PDF")


def test_admin_verifies_integrity_from_the_site_page(admin, client_for, lot):
    response = client_for(admin).post(reverse("ledger:verify", args=[lot.site_id]), follow=True)
    assert "Chain intact: 1 entries checked" in response.content.decode()


def test_products_and_suppliers_pages_for_admins(admin, client_for, site):
    client = client_for(admin)
    response = client.post(reverse("ledger:suppliers"), {"name": "X Pharma", "address": "1 St", "dea_number": "bad"})
    assert "DEA number" in response.content.decode()
    response = client.post(reverse("ledger:products", args=[site.id]), {
        "name": "Ketamine 50", "form": "vial", "strength_mg_per_unit": "50", "package_size": "10",
        "ndc": "0409-2053-10"})
    assert response.status_code == 302


def test_every_ledger_page_is_audited(admin, client_for, patient, therapist, org):
    from django.urls import get_resolver

    from tests.ledger.factories import url_objects
    from tests.test_url_authorization import _fill, _walk

    objects = url_objects(patient=patient, therapist=therapist, org=org)
    client = client_for(admin)
    routes = [r for r in _walk(get_resolver().url_patterns) if r.name.startswith("ledger:")]
    assert len(routes) > 20
    for route in routes:
        before = AuditEvent.objects.filter(actor_id=admin.id).count()
        response = client.get(_fill(route.pattern, objects))
        if response.status_code == 405:
            continue
        assert response.status_code in (200, 302), route.name
        assert AuditEvent.objects.filter(actor_id=admin.id).count() > before, route.name
