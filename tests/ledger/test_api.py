import json
from decimal import Decimal

import pytest
from django.test import Client

from openkap.accounts import services as account_services
from openkap.ledger.models import LedgerEntry
from tests.conftest import PASSWORD


def token_for(user, org, as_actor):
    return account_services.api_token_create(by=as_actor(user, org), name="t")[1]


def call(method, path, token, body=None):
    return Client().generic(method, path, data=json.dumps(body) if body is not None else "",
                            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def nurse_token(nurse, org, as_actor):
    return token_for(nurse, org, as_actor)


def test_api_lists_lots_and_the_running_ledger(nurse_token, lot):
    lots = call("GET", f"/api/v1/ledger/sites/{lot.site_id}/lots", nurse_token).json()
    assert [(x["lot_number"], Decimal(x["on_hand_units"])) for x in lots] == [("KX-100-A", 10)]
    ledger = call("GET", f"/api/v1/ledger/lots/{lot.id}/entries", nurse_token).json()
    assert ledger["lines"][0]["entry"]["kind"] == "receipt"
    assert len(ledger["lines"][0]["entry"]["entry_hash"]) == 64


def test_api_administer_waste_and_count(nurse_token, lot, session, prescriber):
    response = call("POST", f"/api/v1/ledger/lots/{lot.id}/administrations", nurse_token,
                    {"dosing_session_id": session.id, "mg": "40"})
    assert response.status_code == 201, response.content
    assert Decimal(response.json()["units"]) == Decimal("0.4")
    response = call("POST", f"/api/v1/ledger/lots/{lot.id}/wastes", nurse_token,
                    {"witness_id": prescriber.id, "witness_password": "wrong", "mg": "5"})
    assert response.status_code == 422
    assert "witness_password" in response.json()["errors"]
    response = call("POST", f"/api/v1/ledger/lots/{lot.id}/wastes", nurse_token,
                    {"witness_id": prescriber.id, "witness_password": PASSWORD, "mg": "5",
                     "dosing_session_id": session.id})
    assert response.status_code == 201
    response = call("POST", f"/api/v1/ledger/lots/{lot.id}/counts", nurse_token,
                    {"witness_id": prescriber.id, "witness_password": PASSWORD, "units": "9.55"})
    assert Decimal(response.json()["discrepancy_units"]) == 0
    assert LedgerEntry.objects.count() == 4


def test_api_overdraw_is_422_and_changes_nothing(nurse_token, lot, session):
    response = call("POST", f"/api/v1/ledger/lots/{lot.id}/administrations", nurse_token,
                    {"dosing_session_id": session.id, "units": "11"})
    assert response.status_code == 422
    assert "Not enough" in response.json()["errors"]["units"][0]


def test_api_reconciliation_and_reports(nurse_token, lot, session, nurse_actor):
    from openkap.ledger import services

    services.ledger_administer(by=nurse_actor, dosing_session_id=session.id, lot_id=lot.id, mg="40")
    rec = call("GET", f"/api/v1/ledger/sites/{lot.site_id}/reconciliation", nurse_token).json()
    assert rec["matched"][0]["dosing_session_id"] == session.id
    assert Decimal(rec["lots"][0]["administered"]["mg"]) == 40
    report = call("GET", f"/api/v1/ledger/sites/{lot.site_id}/reports/administrations", nurse_token).json()
    assert report["rows"][0][1] == session.patient.mrn
    assert call("GET", f"/api/v1/ledger/sites/{lot.site_id}/reports/other", nurse_token).status_code == 422


def test_api_roles_and_organisations(lot, therapist, admin, outsider, org, other_org, as_actor, nurse_token):
    therapist_token = token_for(therapist, org, as_actor)
    assert call("GET", f"/api/v1/ledger/lots/{lot.id}/entries", therapist_token).status_code == 403
    outsider_token = token_for(outsider, other_org, as_actor)
    assert call("GET", f"/api/v1/ledger/lots/{lot.id}/entries", outsider_token).status_code == 404
    assert call("GET", f"/api/v1/ledger/sites/{lot.site_id}/verify", nurse_token).status_code == 403
    verify = call("GET", f"/api/v1/ledger/sites/{lot.site_id}/verify", token_for(admin, org, as_actor)).json()
    assert verify == {"ok": True, "entries_checked": 1, "problems": []}


def test_api_receive_and_transfer(nurse_token, site, vial_100, supplier, other_site):
    response = call("POST", f"/api/v1/ledger/sites/{site.id}/lots", nurse_token, {
        "product_id": vial_100.id, "lot_number": "API-1", "expires_on": "2031-01-01", "supplier_id": supplier.id,
        "invoice_number": "INV-API", "containers": 2})
    assert response.status_code == 201, response.content
    lot_id = response.json()["lot_id"]
    response = call("POST", f"/api/v1/ledger/lots/{lot_id}/transfers", nurse_token,
                    {"to_site_id": other_site.id, "units": "5"})
    assert response.status_code == 201
    assert response.json()["transfer_in"]["site_id"] == other_site.id
