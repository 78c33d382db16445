"""The protocol editor (issue 21.9): every field in a form and in the API through one
service, checks by field, a preview of the dose lines, route limits, approval that
names the warnings, versions that leave past sessions on the version they used."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client

from openkap.accounts.services import api_token_create
from openkap.audit.models import AuditAction, AuditEvent
from openkap.dosing import services
from openkap.dosing.models import ProtocolVersion
from tests.conftest import PASSWORD


@pytest.fixture
def admin_actor(admin, org, as_actor):
    return as_actor(admin, org)


@pytest.fixture
def draft(admin_actor):
    return services.protocol_example_import(by=admin_actor, example_id="im-ketamine")


EDIT = {
    "min_weight_kg": "45", "dosing_weight": "adjusted", "ideal_weight_formula": "robinson",
    "dose_rule.usual_low": "0.3", "dose_rule.usual_high": "0.9", "absolute_max.mg": "140",
    "absolute_max.mg_per_kg": "1.4", "vitals_schedule_min": "5, 15, 30, 60, 90, 120",
    "min_monitoring_minutes": "120", "missed_vitals": "block",
}


def test_a_draft_is_edited_field_by_field_in_place(draft, admin_actor):
    saved = services.protocol_fields_save(by=admin_actor, version_id=draft.id, fields=EDIT, change_reason="Policy")
    assert saved.id == draft.id
    p = saved.protocol
    assert (str(p.min_weight_kg), p.dosing_weight.value, p.ideal_weight_formula.value) == ("45", "adjusted", "robinson")
    assert (str(p.dose_rule.usual_low), str(p.dose_rule.usual_high)) == ("0.3", "0.9")
    assert (str(p.absolute_max.mg), str(p.absolute_max.mg_per_kg)) == ("140", "1.4")
    assert p.missed_vitals.value == "block"
    assert '"usual_high": 0.9' in saved.content  # exact decimals in the stored JSON
    assert AuditEvent.objects.filter(object_type="protocol_version", object_id=str(draft.id),
                                     action=AuditAction.UPDATE).exists()


def test_an_approved_version_is_never_changed_a_new_draft_is_made(library, admin_actor):
    v1 = library["im-ketamine"]
    before = (v1.content, v1.sha256)
    v2 = services.protocol_fields_save(by=admin_actor, version_id=v1.id, fields={"absolute_max.mg": "120"},
                                       change_reason="Lower ceiling after review")
    v1.refresh_from_db()
    assert (v1.content, v1.sha256) == before
    assert (v2.version, v2.status, v2.based_on_id) == (2, "draft", v1.id)
    assert str(v2.protocol.absolute_max.mg) == "120"
    # The revision needs its reason, like any other.
    with pytest.raises(ValidationError) as exc:
        services.protocol_fields_save(by=admin_actor, version_id=v1.id, fields={"absolute_max.mg": "110"})
    assert "change_reason" in exc.value.message_dict


def test_a_past_dose_order_keeps_the_version_it_was_signed_on(im_ordering, admin_actor, prescriber_actor, library,
                                                               prescriber, client_for):
    order = services.dose_order_sign(by=prescriber_actor, session_id=im_ordering.id, password=PASSWORD)
    v1 = library["im-ketamine"]
    v2 = services.protocol_fields_save(by=admin_actor, version_id=v1.id, fields={"dose_rule.default": "0.4"},
                                       change_reason="Lower default")
    services.protocol_approve(by=prescriber_actor, version_id=v2.id, password=PASSWORD)
    order.refresh_from_db()
    assert order.protocol_version_id == v1.id
    page = client_for(prescriber).get(f"/dosing/sessions/{im_ordering.id}/").content.decode()
    assert f'href="/dosing/protocols/{v1.id}/"' in page


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"dose_rule.usual_high": "2"}, "dose_rule.usual_high", "above the absolute maximum"),
    ({"dose_rule.usual_low": "-1"}, "dose_rule.usual_low", "must be a positive number"),
    ({"min_weight_kg": "heavy"}, "min_weight_kg", "is not a number"),
    ({"rounding_mg": "0"}, "rounding_mg", "must be a positive number"),
    ({"vitals_schedule_min": "30, 15"}, "vitals_schedule_min", "strictly increasing"),
    ({"infusion_minutes": "40"}, "infusion_minutes", "only for IV infusion"),
    ({"dose_rule.usual_low": "0.9", "dose_rule.usual_high": "0.6"}, "__all__", "must lie within the usual range"),
    ({"absolute_max.mg": "", "absolute_max.mg_per_kg": "7"}, "__all__", "anaesthetic induction"),
])
def test_bad_values_are_refused_by_field_and_nothing_changes(draft, admin_actor, fields, field, words):
    with pytest.raises(ValidationError) as exc:
        services.protocol_fields_save(by=admin_actor, version_id=draft.id, fields=fields)
    assert words in " ".join(exc.value.message_dict[field])
    assert ProtocolVersion.objects.get(id=draft.id).content == draft.content


def test_esketamine_route_limits_hold_in_the_editor(admin_actor):
    with pytest.raises(ValidationError) as exc:
        services.protocol_fields_save(by=admin_actor, example_id="intranasal-esketamine-spravato",
                                      fields={"absolute_max.mg": "112", "dose_rule.allowed": "56, 84, 112"})
    assert "at most 84 mg esketamine" in " ".join(exc.value.message_dict["absolute_max.mg"])


def test_a_new_protocol_starts_from_an_example(admin_actor):
    made = services.protocol_fields_save(
        by=admin_actor, example_id="im-ketamine",
        fields={"id": "im-ketamine-gentle", "title": "Gentle IM", "dose_rule.default": "0.3"})
    assert (made.protocol_id, made.version, made.status) == ("im-ketamine-gentle", 1, "draft")
    assert str(made.protocol.dose_rule.default) == "0.3"


@pytest.mark.parametrize("role", ["therapist", "nurse", "researcher"])
def test_only_those_who_manage_protocols_edit_them(draft, role, request, org, as_actor):
    actor = as_actor(request.getfixturevalue(role), org)
    with pytest.raises(PermissionDenied):
        services.protocol_fields_save(by=actor, version_id=draft.id, fields={"absolute_max.mg": "100"})


def test_another_organisations_version_is_not_found(draft, outsider, other_org, as_actor):
    with pytest.raises(Http404):
        services.protocol_fields_save(by=as_actor(outsider, other_org), version_id=draft.id,
                                      fields={"absolute_max.mg": "100"})


def test_approval_above_the_reference_needs_the_prescriber_to_accept(admin_actor, prescriber_actor):
    made = services.protocol_fields_save(by=admin_actor, example_id="im-ketamine",
                                         fields={"id": "im-high", "absolute_max.mg_per_kg": "2"})
    with pytest.raises(ValidationError) as exc:
        services.protocol_approve(by=prescriber_actor, version_id=made.id, password=PASSWORD)
    assert "1.5 mg/kg IM" in " ".join(exc.value.message_dict["accept_warnings"])
    assert not ProtocolVersion.objects.get(id=made.id).is_approved
    services.protocol_approve(by=prescriber_actor, version_id=made.id, password=PASSWORD, accept_warnings=True)
    event = AuditEvent.objects.filter(object_type="protocol_version", object_id=str(made.id)).latest("id")
    assert "1.5 mg/kg IM" in event.detail["warnings_accepted"][0]


# --- the pages -------------------------------------------------------------------------------


def _form_data(client, url):
    """The editor's fields as the page fills them in."""
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["form"]
    data = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form[name].value()
        data[name] = value if value is not None else ""
    return data


def test_the_editor_page_checks_without_saving_and_saves(draft, admin, client_for):
    client = client_for(admin)
    url = f"/dosing/protocols/{draft.id}/edit/"
    data = _form_data(client, url)
    assert data["absolute_max__mg"] == "150"
    data["absolute_max__mg"] = "120"
    count = ProtocolVersion.objects.count()
    checked = client.post(url, {**data, "action": "check"})
    assert checked.status_code == 200
    html = checked.content.decode()
    # 0.5 mg/kg x 70 kg = 35 mg for the typical sample patient.
    assert "70 kg: 35 mg" in html
    assert ProtocolVersion.objects.get(id=draft.id).content == draft.content
    assert ProtocolVersion.objects.count() == count
    saved = client.post(url, {**data, "action": "save"})
    assert saved.status_code == 302
    assert str(ProtocolVersion.objects.get(id=draft.id).protocol.absolute_max.mg) == "120"


def test_the_editor_page_puts_a_refusal_beside_its_field(draft, admin, client_for):
    client = client_for(admin)
    url = f"/dosing/protocols/{draft.id}/edit/"
    data = {**_form_data(client, url), "dose_rule__usual_high": "5", "action": "save"}
    response = client.post(url, data)
    assert response.status_code == 422
    assert "above the absolute maximum" in " ".join(response.context["form"].errors["dose_rule__usual_high"])
    assert ProtocolVersion.objects.get(id=draft.id).content == draft.content


def test_a_new_protocol_page_starts_from_an_example(admin, client_for):
    client = client_for(admin)
    start = client.get("/dosing/protocols/new/")
    assert start.status_code == 200
    assert "?from=iv-ketamine-infusion" in start.content.decode()
    assert client.get("/dosing/protocols/new/?from=nothing").status_code == 422
    url = "/dosing/protocols/new/?from=oral-ketamine"
    data = {**_form_data(client, url), "id": "oral-low", "dose_rule__default": "0.3", "action": "save"}
    response = client.post(url, data)
    assert response.status_code == 302
    made = ProtocolVersion.objects.get(protocol_id="oral-low")
    assert str(made.protocol.dose_rule.default) == "0.3"
    # JSON import stays.
    assert client.get("/dosing/protocols/new/json/").status_code == 200
    assert client.get(f"/dosing/protocols/{made.id}/edit/json/").status_code == 200


def test_the_protocol_page_shows_warnings_and_asks_to_accept_them(admin_actor, prescriber, client_for):
    made = services.protocol_fields_save(by=admin_actor, example_id="iv-ketamine-infusion",
                                         fields={"id": "iv-high", "dose_rule.usual_high": "0.9"})
    client = client_for(prescriber)
    html = client.get(f"/dosing/protocols/{made.id}/").content.decode()
    assert "Above the reference's suggested limits" in html
    assert 'name="accept_warnings"' in html
    refused = client.post(f"/dosing/protocols/{made.id}/approve/", {"password": PASSWORD})
    assert refused.status_code == 422
    ok = client.post(f"/dosing/protocols/{made.id}/approve/", {"password": PASSWORD, "accept_warnings": "on"})
    assert ok.status_code == 302


# --- the API -----------------------------------------------------------------------------------


def _api(token, method, path, body=None):
    return Client().generic(method, f"/api/v1/dosing{path}", json.dumps(body) if body is not None else "",
                            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def admin_token(admin, org, as_actor):
    return api_token_create(by=as_actor(admin, org), name="protocols")[1]


def test_api_edits_the_same_fields_through_the_same_service(draft, admin_token):
    fields = _api(admin_token, "GET", f"/protocols/{draft.id}/fields").json()
    assert fields["absolute_max.mg"] == "150"
    assert fields["dosing_weight"] == "total"
    response = _api(admin_token, "PATCH", f"/protocols/{draft.id}",
                    {"fields": {"min_weight_kg": "45", "ideal_weight_formula": "robinson"}, "change_reason": "x"})
    assert response.status_code == 200, response.content
    assert '"min_weight_kg": 45' in response.json()["content"]
    bad = _api(admin_token, "PATCH", f"/protocols/{draft.id}", {"fields": {"dose_rule.usual_high": "3"}})
    assert bad.status_code == 422
    assert "above the absolute maximum" in bad.content.decode()


def test_api_checks_an_edit_with_the_dose_lines_and_writes_nothing(draft, admin_token):
    count = AuditEvent.objects.count(), ProtocolVersion.objects.count()
    body = _api(admin_token, "POST", "/protocol-checks",
                {"version_id": draft.id, "fields": {"absolute_max.mg_per_kg": "1.6"}}).json()
    assert body["errors"] == {}
    assert "1.5 mg/kg IM" in body["warnings"][0]
    sample = next(s for s in body["samples"] if s["label"] == "70 kg")
    assert sample["dose_mg"] == "35"
    assert sample["lines"][0].startswith("0.5 mg/kg")
    assert ProtocolVersion.objects.count() == count[1]
    assert ProtocolVersion.objects.get(id=draft.id).content == draft.content
    assert _api(admin_token, "POST", "/protocol-checks", {"fields": {}}).status_code == 422


def test_api_new_protocol_from_an_example_and_approval_with_warnings(admin_token, prescriber, org, as_actor):
    made = _api(admin_token, "POST", "/protocol-imports",
                {"example_id": "oral-ketamine", "fields": {"id": "oral-big", "absolute_max.mg": "350"}})
    assert made.status_code == 201, made.content
    version_id = made.json()["id"]
    token = api_token_create(by=as_actor(prescriber, org), name="p")[1]
    refused = _api(token, "POST", f"/protocols/{version_id}/approval", {"password": PASSWORD})
    assert refused.status_code == 422
    assert "300 mg" in refused.content.decode()
    ok = _api(token, "POST", f"/protocols/{version_id}/approval", {"password": PASSWORD, "accept_warnings": True})
    assert ok.json()["status"] == "approved"


def test_api_other_organisation_and_other_roles(draft, outsider, other_org, nurse, org, as_actor):
    theirs = api_token_create(by=as_actor(outsider, other_org), name="o")[1]
    assert _api(theirs, "PATCH", f"/protocols/{draft.id}", {"fields": {"absolute_max.mg": "1"}}).status_code == 404
    assert _api(theirs, "GET", f"/protocols/{draft.id}/fields").status_code == 404
    assert _api(theirs, "POST", "/protocol-checks", {"version_id": draft.id}).status_code == 404
    nurse_token = api_token_create(by=as_actor(nurse, org), name="n")[1]
    assert _api(nurse_token, "PATCH", f"/protocols/{draft.id}", {"fields": {"absolute_max.mg": "1"}}).status_code == 403
