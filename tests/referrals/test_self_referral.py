"""The public self-referral: steps, crisis screen, urgent task in the same transaction,
confirmation email with a single-use status link, and what it never reveals."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from openkap.audit.models import AuditEvent
from openkap.referrals import services
from openkap.referrals.models import Referral, StatusLink, SubmissionAttempt
from openkap.tasks.models import Task
from tests.referrals.helpers import CONTACT, PHQ9_LOW, walk

pytestmark = pytest.mark.django_db


def test_self_referral_without_risk_lands_routine_and_sends_confirmation(org, therapist, prescriber, committed):
    client = Client()
    with committed():
        result = walk(client)
    assert result.last.status_code == 302
    assert result.last["Location"] == "/refer/thanks/"
    assert result.crisis_after == []
    referral = Referral.objects.get()
    assert referral.organization == org
    assert referral.kind == "self"
    assert referral.status == "new"
    assert referral.urgency_level.slug == "routine"
    assert referral.triage["instruments"]["phq9"]["total"] == 8  # eight items at 1, item 9 at 0
    assert referral.triage["instruments"]["gad7"]["total"] == 7
    assert referral.triage["instruments"]["asq"]["band"] == "negative"
    assert referral.consent_to_contact
    assert not referral.crisis_shown
    assert not Task.objects.exists()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["rosa@example.org"]
    assert "Rosa" not in mail.outbox[0].subject
    thanks = client.get("/refer/thanks/")
    assert thanks.status_code == 200
    assert "988" in thanks.content.decode()
    event = AuditEvent.objects.get(object_type="referral", action="create")
    assert event.organization_id == org.id
    assert event.actor_id is None


def test_item9_positive_shows_crisis_at_once_and_raises_urgent_task(org, therapist, prescriber, nurse, admin,
                                                                    committed):
    org.crisis_resources = "Albany County Mobile Crisis Team: 518-555-0000, 24/7."
    org.save()
    client = Client()
    with committed():
        result = walk(client, phq9={**PHQ9_LOW, "q9": "2"})
    # The crisis screen came straight after the PHQ-9 step, before the rest of the form.
    assert result.crisis_after == ["gad7"]
    crisis_page = next(p for p in result.pages if 'value="continue"' in p.content.decode())
    text = crisis_page.content.decode()
    assert "Albany County Mobile Crisis Team: 518-555-0000" in text
    assert "988" in text
    referral = Referral.objects.get()
    assert referral.urgency_level.slug == "urgent"
    assert referral.crisis_shown
    task = Task.objects.get()
    assert task.kind == services.RISK_TASK_KIND
    assert task.priority == "urgent"
    assert task.subject_type == "referral"
    assert task.subject_id == str(referral.id)
    assert set(task.assignees.values_list("user_id", flat=True)) == {therapist.id, prescriber.id}
    assert "Rosa" not in task.title
    # The intake team is told by email (no details), the person gets the confirmation.
    confirmation = next(m for m in mail.outbox if m.to == ["rosa@example.org"])
    assert "Albany County Mobile Crisis Team" in confirmation.body
    assert "988" in confirmation.body
    recipients = sorted(r for m in mail.outbox for r in m.to)
    assert recipients == sorted(["rosa@example.org", therapist.email, prescriber.email])
    assert "988" in client.get("/refer/thanks/").content.decode()


def test_asq_acute_positive_is_an_emergency_task_and_crisis(org, therapist):
    result = walk(Client(), asq={"q1": "1", "q2": "0", "q3": "1", "q4": "0"}, q5="1")
    assert result.crisis_after == ["health"]
    referral = Referral.objects.get()
    assert referral.urgency_level.slug == "emergency"
    assert Task.objects.get().priority == "emergency"


def test_asq_acuity_question_only_after_a_positive_screen(org, therapist):
    negative = walk(Client(), stop_before="health")
    assert all('value="asq_acuity"' not in p.content.decode() for p in negative.pages)
    positive = walk(Client(), asq={"q1": "0", "q2": "0", "q3": "0", "q4": "1"}, q5="0")
    assert any('value="asq_acuity"' in p.content.decode() for p in positive.pages)
    assert positive.crisis_after == []
    assert Referral.objects.get().urgency_level.slug == "urgent"  # non-acute positive


def test_risk_task_rolls_back_with_the_referral(org, therapist, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("mail queue down")

    monkeypatch.setattr(services, "_status_link", broken)
    with pytest.raises(RuntimeError):
        walk(Client(raise_request_exception=True), phq9={**PHQ9_LOW, "q9": "1"})
    assert not Referral.objects.exists()
    assert not Task.objects.exists()


def test_status_link_is_single_use_and_shows_no_clinical_detail(org, therapist, committed):
    client = Client()
    with committed():
        walk(client, phq9={**PHQ9_LOW, "q9": "1"})
    link = re.search(r"http://\S+/refer/status/(\S+)/", mail.outbox[-1].body)
    assert link
    token = link.group(1)
    page = Client().get(f"/refer/status/{token}/")
    assert page.status_code == 200
    assert StatusLink.objects.get().used_at is None
    reader = Client()
    opened = reader.post(f"/refer/status/{token}/")
    assert opened.status_code == 302
    status = reader.get("/refer/status/")
    text = status.content.decode()
    assert status.status_code == 200
    assert "Received" in text
    assert "PHQ" not in text
    assert "item 9" not in text
    assert reader.post(f"/refer/status/{token}/").status_code == 410
    assert Client().get("/refer/status/").status_code == 410
    assert Client().post("/refer/status/not-a-token/").status_code == 410


def test_double_post_of_the_last_step_stores_once(org, therapist, committed):
    client = Client()
    result = walk(client, stop_before="consent")
    last = result.last
    state = re.search(r'name="state" value="([^"]*)"', last.content.decode()).group(1)
    data = {"state": state, "step": "consent", "go": "next", "consent_to_contact": "on"}
    with committed():
        first = client.post("/refer/step/", data)
        second = client.post("/refer/step/", data)
    assert first.status_code == second.status_code == 302
    assert Referral.objects.count() == 1
    assert len(mail.outbox) == 1


def test_same_email_again_looks_the_same_and_is_limited(org, therapist, settings):
    settings.REFERRAL_MAX_PER_EMAIL = 2
    pages = [walk(Client()).last for _ in range(3)]
    assert [p["Location"] for p in pages] == ["/refer/thanks/"] * 3
    assert Referral.objects.count() == 2
    assert SubmissionAttempt.objects.filter(outcome="email_limit").count() == 1
    # A suicide-risk answer is stored even over the limit.
    walk(Client(), phq9={**PHQ9_LOW, "q9": "1"})
    assert Referral.objects.count() == 3


def test_per_address_limit_reads_the_client_address_through_trusted_proxies(org, therapist, settings):
    from openkap.core.netaddr import parse_networks

    settings.REFERRAL_MAX_PER_IP = 2
    settings.TRUSTED_PROXIES = parse_networks(["10.0.0.1"])
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(2):
        walk(Client(), contact={**CONTACT, "email": f"p{n}@example.org"}, HTTP_X_FORWARDED_FOR="203.0.113.7",
             **proxy)
    limited = walk(Client(), contact={**CONTACT, "email": "p3@example.org"}, HTTP_X_FORWARDED_FOR="203.0.113.7",
                   **proxy).last
    assert limited.status_code == 429
    assert "988" in limited.content.decode()
    # Another client behind the same proxy is not held up.
    other = walk(Client(), contact={**CONTACT, "email": "p4@example.org"}, HTTP_X_FORWARDED_FOR="198.51.100.2",
                 **proxy).last
    assert other.status_code == 302
    assert Referral.objects.count() == 3
    assert set(SubmissionAttempt.objects.values_list("ip", flat=True)) == {"203.0.113.7", "198.51.100.2"}


def test_honeypot_and_too_fast_store_nothing_but_look_the_same(org, therapist, settings):
    bot = walk(Client(), extra={"website": "http://spam.example"})
    assert bot.last.status_code == 302
    assert bot.last["Location"] == "/refer/thanks/"
    assert not Referral.objects.exists()
    settings.REFERRAL_MIN_FILL_SECONDS = 3600
    fast = walk(Client())
    assert fast.last.status_code == 302
    assert not Referral.objects.exists()
    assert SubmissionAttempt.objects.filter(outcome="automated").count() == 2


def test_tampered_or_foreign_state_is_refused_without_storing(org):
    client = Client()
    page = client.get("/refer/")
    state = re.search(r'name="state" value="([^"]*)"', page.content.decode()).group(1)
    for bad in (state[:-2] + "xx", "", "garbage", state.replace(":", ";")):
        response = client.post("/refer/step/", {"state": bad, "step": "consent", "consent_to_contact": "on"})
        assert response.status_code == 400
    assert client.post("/refer/step/", {"state": state, "step": "../etc"}).status_code == 400
    assert client.get("/refer/step/").status_code == 405
    assert not Referral.objects.exists()


def test_no_consent_is_a_clear_message_and_nothing_stored(org):
    result = walk(Client(), consent=False)
    assert result.last.status_code == 422
    assert "contact you" in result.last.content.decode()
    assert not Referral.objects.exists()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("given_name", "", "required"),
    ("given_name", "x" * 10_000, "under 100 characters"),
    ("email", "not-an-email", "valid email"),
    ("phone", "call me", "phone number"),
    ("phone", "1" * 40, "under 30 characters"),
    ("date_of_birth", "2090-01-01", "future"),
    ("date_of_birth", "1800-01-01", "120 years"),
    ("date_of_birth", "yesterday", "YYYY-MM-DD"),
    ("date_of_birth", "2015-01-01", "18 or older"),
    ("sex_at_birth", "robot", "valid choice"),
    ("preferred_language", "xx", "valid choice"),
])
def test_bad_contact_fields_get_a_clear_message(org, field, value, message):
    result = walk(Client(), contact={**CONTACT, field: value}, stop_before="story")
    page = result.last
    assert page.status_code == 422
    assert message in page.content.decode()
    assert hidden_step(page) == "contact"
    assert not Referral.objects.exists()


def hidden_step(page) -> str:
    return re.search(r'name="step" value="([^"]*)"', page.content.decode()).group(1)


def test_ten_thousand_characters_in_an_answer_is_refused_with_the_limit(org):
    result = walk(Client(), story={"reason": "a" * 10_000, "current_treatment": ""}, stop_before="phq9")
    assert result.last.status_code == 422
    assert "under 2000 characters (you wrote 10000)" in result.last.content.decode()


def test_html_emoji_and_non_latin_names_are_stored_as_typed_and_escaped(org, therapist, client_for):
    contact = {**CONTACT, "given_name": "<script>alert(1)</script>", "family_name": "王小明 🌱"}
    story = {"reason": '<img src=x onerror="alert(2)"> Ünïcödé ✓', "current_treatment": "&amp; <b>bold</b>"}
    result = walk(Client(), contact=contact, story=story)
    assert result.last.status_code == 302
    referral = Referral.objects.get()
    assert referral.given_name == "<script>alert(1)</script>"
    assert referral.family_name == "王小明 🌱"
    page = client_for(therapist).get(f"/referrals/{referral.id}/")
    text = page.content.decode()
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert '<img src=x' not in text
    assert "王小明 🌱" in text


def test_unanswered_questionnaire_items_are_asked_again(org):
    result = walk(Client(), phq9={"q1": "1"}, stop_before="gad7")
    assert result.last.status_code == 422
    assert hidden_step(result.last) == "phq9"


def test_out_of_range_answer_is_refused(org):
    result = walk(Client(), phq9={**PHQ9_LOW, "q9": "7"}, stop_before="gad7")
    assert result.last.status_code == 422
    assert not Referral.objects.exists()


def test_back_keeps_the_answers(org):
    client = Client()
    result = walk(client, stop_before="phq9")
    page = result.last
    back = client.post("/refer/step/", {"state": re.search(r'name="state" value="([^"]*)"', page.content.decode())
                                        .group(1), "step": "phq9", "go": "back"})
    assert back.status_code == 200
    assert hidden_step(back) == "story"
    assert "two antidepressants" in back.content.decode()


def test_public_organisation_by_address_and_by_setting(org, other_org, settings):
    # Two clinics and no setting: /refer/ names none, so it is not found; the clinic's own address works.
    assert Client().get("/refer/").status_code == 404
    assert Client().get(f"/clinics/{other_org.slug}/refer/").status_code == 200
    assert Client().get("/clinics/nope/refer/").status_code == 404
    settings.REFERRAL_ORGANIZATION = other_org.slug
    walk(Client(), contact={**CONTACT, "email": "x@example.org"})
    assert Referral.objects.get().organization == other_org


def test_spanish_wording_covers_every_prescreen_item():
    from django.utils import translation

    from openkap.referrals import wording
    from openkap.referrals.forms import InstrumentForm

    assert wording.coverage_gaps() == []
    with translation.override("es"):
        form = InstrumentForm("phq9")
        assert form.stem.startswith("Durante las últimas 2 semanas")
        assert form.fields["q9"].label == "Pensamientos de que estaría mejor muerto(a) o de lastimarse de alguna manera"
        assert [label for _v, label in form.fields["q9"].choices][-1] == "Casi todos los días"
        asq = InstrumentForm("asq", ("q1",))
        assert dict(asq.fields["q1"].choices)["1"] == "Sí"
    with translation.override("en"):
        assert InstrumentForm("phq9").fields["q1"].label == "Little interest or pleasure in doing things"


def test_the_whole_pre_screen_in_spanish(org, therapist, committed):
    client = Client(HTTP_ACCEPT_LANGUAGE="es")
    with committed():
        result = walk(client, contact={**CONTACT, "preferred_language": "es"}, phq9={**PHQ9_LOW, "q9": "1"})
    texts = [p.content.decode() for p in result.pages if p.status_code == 200]
    assert "Sobre usted" in texts[0]
    assert "No se envía nada hasta el último paso" in texts[0]
    assert any("Pensamientos de que estaría mejor muerto(a)" in t and "Casi todos los días" in t for t in texts)
    assert any("¿Está pensando en suicidarse" in t or "¿ha deseado estar muerto?" in t for t in texts)
    assert any("No tiene que esperarnos" in t for t in texts)  # the crisis screen
    referral = Referral.objects.get()
    assert referral.preferred_language == "es"
    confirmation = next(m for m in mail.outbox if m.to == [CONTACT["email"]])
    assert confirmation.subject == f"[{org.name}] Hemos recibido su solicitud"
    assert "988" in confirmation.body
    assert "Puede ver su estado una vez" in confirmation.body


def test_a_spanish_error_message_for_a_bad_field(org):
    result = walk(Client(HTTP_ACCEPT_LANGUAGE="es"), contact={**CONTACT, "phone": "llámame"}, stop_before="story")
    assert result.last.status_code == 422
    assert "Escriba un número de teléfono" in result.last.content.decode()


def test_the_host_of_a_clinics_public_site_takes_its_referrals(org, other_org, settings):
    settings.PUBLIC_SITES = {"other.example.org": other_org.slug}
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "other.example.org"]
    walk(Client(HTTP_HOST="other.example.org"), contact={**CONTACT, "email": "h@example.org"})
    assert Referral.objects.get().organization == other_org
    assert Client().get("/refer/").status_code == 404  # testserver serves no clinic's site
