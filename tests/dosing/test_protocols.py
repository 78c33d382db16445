"""The protocol library: drafts, approval by a prescriber with the password, new versions."""

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from openkap.audit.models import AuditAction, AuditEvent
from openkap.core.protocols import load_example
from openkap.dosing import services, session_facts
from openkap.dosing.models import ProtocolVersion
from tests.conftest import PASSWORD


@pytest.fixture
def admin_actor(admin, org, as_actor):
    return as_actor(admin, org)


def _content(example: str = "im-ketamine", **changes) -> str:
    from importlib import resources

    data = json.loads(resources.files("openkap.core.protocols.examples").joinpath(f"{example}.json").read_text())
    data.update(changes)
    return json.dumps(data)


def test_protocol_example_import_is_a_draft_with_exact_decimals(admin_actor):
    version = services.protocol_example_import(by=admin_actor, example_id="im-ketamine")
    assert version.status == ProtocolVersion.Status.DRAFT
    assert version.version == 1
    assert version.protocol == load_example("im-ketamine")
    assert '"default": 0.5' in version.content
    assert AuditEvent.objects.filter(object_type="protocol_version", object_id=str(version.id),
                                     action=AuditAction.CREATE).exists()


def test_protocol_approve_by_prescriber_signs_it(admin_actor, prescriber_actor, prescriber):
    draft = services.protocol_example_import(by=admin_actor, example_id="im-ketamine")
    approved = services.protocol_approve(by=prescriber_actor, version_id=draft.id, password=PASSWORD)
    assert approved.is_approved
    assert approved.approved_by == prescriber
    assert approved.approver_name == "Dr. Pat Prescriber"
    assert "NPI 1234567893" in approved.approver_credentials


def test_protocol_approve_with_wrong_password_changes_nothing_and_is_audited(admin_actor, prescriber_actor, prescriber):
    draft = services.protocol_example_import(by=admin_actor, example_id="im-ketamine")
    with pytest.raises(ValidationError) as exc:
        services.protocol_approve(by=prescriber_actor, version_id=draft.id, password="not it")
    assert "password" in exc.value.message_dict
    draft.refresh_from_db()
    assert draft.status == ProtocolVersion.Status.DRAFT
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED, actor_id=prescriber.id).exists()


@pytest.mark.parametrize("role", ["admin", "nurse", "therapist"])
def test_protocol_approve_by_non_prescriber_is_403(role, admin_actor, request, org, as_actor):
    draft = services.protocol_example_import(by=admin_actor, example_id="im-ketamine")
    with pytest.raises(PermissionDenied):
        services.protocol_approve(by=as_actor(request.getfixturevalue(role), org), version_id=draft.id,
                                  password=PASSWORD)


def test_protocol_of_another_organisation_is_404(admin_actor, outsider, other_org, as_actor):
    draft = services.protocol_example_import(by=admin_actor, example_id="im-ketamine")
    with pytest.raises(Http404):
        services.protocol_approve(by=as_actor(outsider, other_org), version_id=draft.id, password=PASSWORD)


def test_protocol_approved_version_never_changes(admin_actor, prescriber_actor):
    draft = services.protocol_example_import(by=admin_actor, example_id="im-ketamine")
    services.protocol_approve(by=prescriber_actor, version_id=draft.id, password=PASSWORD)
    with pytest.raises(ValidationError, match="never changes"):
        services.protocol_draft_update(by=admin_actor, version_id=draft.id, content=_content())


def test_protocol_change_is_a_new_draft_version(admin_actor, prescriber_actor):
    v1 = services.protocol_example_import(by=admin_actor, example_id="im-ketamine")
    services.protocol_approve(by=prescriber_actor, version_id=v1.id, password=PASSWORD)
    v2 = services.protocol_revise(by=admin_actor, version_id=v1.id, content=_content(min_interval_days=10),
                                  change_reason="Clinic policy: 10 days between IM sessions.")
    assert (v2.version, v2.status, v2.based_on_id) == (2, "draft", v1.id)
    assert v2.protocol.version == 2
    assert v2.protocol.min_interval_days == 10
    # Until v2 is approved, sessions keep using v1.
    assert session_facts.protocol_in_use(admin_actor.organization.id, "im-ketamine").id == v1.id
    services.protocol_approve(by=prescriber_actor, version_id=v2.id, password=PASSWORD)
    assert session_facts.protocol_in_use(admin_actor.organization.id, "im-ketamine").id == v2.id


def test_protocol_revision_needs_a_reason(admin_actor):
    v1 = services.protocol_example_import(by=admin_actor, example_id="im-ketamine")
    with pytest.raises(ValidationError) as exc:
        services.protocol_revise(by=admin_actor, version_id=v1.id, content=_content(), change_reason="")
    assert "change_reason" in exc.value.message_dict


@pytest.mark.parametrize(("content", "expected"), [
    (_content(absolute_max={"mg_per_kg": 0.8}), "above the absolute maximum"),
    (_content(absolut_max={"mg_per_kg": 1.5}), "unknown field"),
    (_content(min_monitoring_minutes=-5), "min_monitoring_minutes"),
    (_content("intranasal-esketamine-spravato", min_monitoring_minutes=60), "at least 120"),
    ('{"id": "x", "id": "y"}', "appears twice"),
    ("not json", "not valid JSON"),
    ("[1, 2]", "expected an object"),
])
def test_protocol_invalid_content_is_refused_with_every_reason(admin_actor, content, expected):
    with pytest.raises(ValidationError) as exc:
        services.protocol_draft_create(by=admin_actor, content=content)
    assert expected in " ".join(exc.value.message_dict["content"])
    assert not ProtocolVersion.objects.exists()


def test_protocol_undiluted_iv_product_is_refused(admin_actor):
    content = _content("iv-ketamine-infusion", dilution=None)
    with pytest.raises(ValidationError) as exc:
        services.protocol_draft_create(by=admin_actor, content=content)
    assert "cannot be infused undiluted" in " ".join(exc.value.message_dict["content"])


def test_protocol_web_pages(admin, prescriber, client_for, admin_actor):
    draft = services.protocol_example_import(by=admin_actor, example_id="intranasal-esketamine-spravato")
    page = client_for(admin).get(f"/dosing/protocols/{draft.id}/")
    assert page.status_code == 200
    assert "not usable until approved" in page.content.decode()
    wrong = client_for(prescriber).post(f"/dosing/protocols/{draft.id}/approve/", {"password": "nope"})
    assert wrong.status_code == 422
    ok = client_for(prescriber).post(f"/dosing/protocols/{draft.id}/approve/", {"password": PASSWORD})
    assert ok.status_code == 302
    draft.refresh_from_db()
    assert draft.is_approved
    listing = client_for(prescriber).get("/dosing/protocols/").content.decode()
    assert "v1</a> <span class=\"badge ok\">approved</span>" in listing


def test_protocol_javascript_source_url_is_refused(admin_actor):
    # Issue 12: a javascript: address would be stored and rendered as a link.
    data = json.loads(_content())
    data["sources"][0]["url"] = "javascript:alert(1)"
    with pytest.raises(ValidationError) as exc:
        services.protocol_draft_create(by=admin_actor, content=json.dumps(data))
    assert "sources[0].url" in " ".join(exc.value.message_dict["content"])
    assert not ProtocolVersion.objects.exists()


def test_protocol_page_links_a_doi_at_doi_org(admin, client_for, admin_actor):
    data = json.loads(_content())
    data["sources"][0]["url"] = "10.1080/02791072.2019.1587556"
    draft = services.protocol_draft_create(by=admin_actor, content=json.dumps(data))
    page = client_for(admin).get(f"/dosing/protocols/{draft.id}/").content.decode()
    assert 'href="https://doi.org/10.1080/02791072.2019.1587556"' in page
