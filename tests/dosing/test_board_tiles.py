"""The monitoring board's tiles come from a Python tag (ADR 0101): the HTML must be the old
template loop's, byte for byte, whatever the names, rooms, vitals and alarms hold, in any
time zone, for whoever may record or order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from django.template import Context, Template
from django.utils import timezone, translation
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.core.vitals import VitalsDue
from openkap.dosing.models import Alarm, VitalSigns
from openkap.dosing.selectors import STAGE_LABELS, BoardRow
from tests.profiles import examples

# The loop as it was in dosing/_board.html (the oracle).
OLD_LOOP = Template('{% for r in board.rows %}{% url \'dosing:session\' r.session.id as session_url %}\n  <article class="tile{% if r.open_alarms %} alarm-on{% elif r.overdue %} overdue{% endif %}" aria-label="{{ r.session.patient.display_name }}" data-testid="tile-{{ r.session.id }}">\n    <div class="who"><a href="{{ session_url }}">{{ r.session.patient.display_name }}</a><span class="room">{{ r.session.room.name|default:"" }}</span></div>\n    <div><span class="stage {{ r.stage }}">{{ r.stage_label }}</span>{% if r.session.protocol_version %} <span class="muted small">{{ r.session.protocol_version.protocol.route.label }}</span>{% endif %}</div>\n    <dl>\n      <dt>In clinic</dt><dd>{% if r.elapsed_min is not None %}{{ r.elapsed_min|floatformat:0 }} min{% else %}—{% endif %}</dd>\n      <dt>Since dose</dt><dd>{% if r.since_dose_min is not None %}{{ r.since_dose_min|floatformat:0 }} min{% else %}not dosed yet{% endif %}</dd>\n      <dt>Last vitals</dt><dd>{% if r.last_vitals %}{% with v=r.last_vitals %}{% if v.systolic %}BP {{ v.systolic }}/{{ v.diastolic }} · {% endif %}{% if v.heart_rate %}HR {{ v.heart_rate }} · {% endif %}{% if v.spo2 %}SpO2 {{ v.spo2 }}% · {% endif %}{% if v.respiratory_rate %}RR {{ v.respiratory_rate }}{% endif %} <span class="muted small">at {{ v.taken_at|time:"H:i" }}</span>{% endwith %}{% else %}none{% endif %}</dd>\n      <dt>Next vitals</dt><dd>{% if r.overdue %}<span class="due-overdue">OVERDUE: due {{ r.next_due_at|time:"H:i" }} (+{{ r.due.next_due_min }} min check)</span>{% elif r.next_due_at %}{{ r.next_due_at|time:"H:i" }} <span class="muted small">(+{{ r.due.next_due_min }} min check)</span>{% elif r.since_dose_min is not None %}schedule complete{% else %}after the dose{% endif %}</dd>\n    </dl>\n    {% if r.open_alarms %}<div class="alarms" role="alert">{% for a in r.open_alarms %}<div>⚠ {{ a.severity|upper }}: {{ a.message }} <span class="small">({{ a.raised_at|time:"H:i" }})</span></div>{% endfor %}</div>{% endif %}\n    <div class="actions">\n      {% if r.stage == "order" and can_order %}<a class="button" href="{{ session_url }}#order">Order<span class="skip"> the dose for {{ r.session.patient.display_name }}</span></a>{% endif %}\n      {% if r.stage == "verify" and can_record %}<a class="button" href="{{ session_url }}#verify">Verify<span class="skip"> the dose for {{ r.session.patient.display_name }}</span></a>{% endif %}\n      {% if can_record %}<a class="button" href="{{ session_url }}#vitals">Vitals</a>{% endif %}\n      {% if r.open_alarms and can_record %}<a class="button" style="background:var(--danger)" href="{{ session_url }}#alarms">Acknowledge</a>{% endif %}\n      <a class="button secondary" href="{{ session_url }}">Open</a>\n    </div>\n  </article>\n{% empty %}<p class="muted">No session in progress at {{ board.site.name }}.</p>\n{% endfor %}')
TAG = Template("{% load dosing_tags %}{% board_tiles board can_record can_order %}")

text = st.text(alphabet=st.sampled_from(list("aZé ñ'-\"<>&;/ß0")), max_size=10)
# Hypothesis takes naive bounds; the values it draws are in UTC.
moments = st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC))  # noqa: DTZ001
minutes = st.one_of(st.none(), st.floats(-50, 5000, allow_nan=False))
small = st.one_of(st.none(), st.integers(0, 300))
vitals = st.builds(VitalSigns, systolic=small, diastolic=small, heart_rate=small, spo2=small,
                   respiratory_rate=small, taken_at=moments)
alarms = st.lists(st.builds(Alarm, severity=st.sampled_from(["warning", "critical", "<b>"]), message=text,
                            raised_at=moments), max_size=2)
sessions = st.builds(
    SimpleNamespace, id=st.integers(1, 10**12), administration_started_at=st.one_of(st.none(), moments),
    patient=st.builds(SimpleNamespace, display_name=text),
    room=st.one_of(st.none(), st.builds(SimpleNamespace, name=text)),
    protocol_version=st.one_of(st.none(), st.builds(
        SimpleNamespace, protocol=st.builds(SimpleNamespace, route=st.builds(SimpleNamespace, label=text)))),
)
dues = st.one_of(st.none(), st.builds(VitalsDue, next_due_min=st.one_of(st.none(), st.integers(0, 240)),
                                      overdue=st.booleans(), missed=st.just(())))
rows = st.lists(st.builds(BoardRow, session=sessions, stage=st.sampled_from(sorted(STAGE_LABELS)),
                          elapsed_min=minutes, since_dose_min=minutes, last_vitals=st.one_of(st.none(), vitals),
                          due=dues, open_alarms=alarms), max_size=3)
boards = st.builds(SimpleNamespace, rows=rows, site=st.builds(SimpleNamespace, name=text))


@given(boards, st.booleans(), st.booleans(), st.sampled_from(["America/New_York", "UTC", "Asia/Kolkata"]),
       st.sampled_from(["en", "es"]), st.booleans())
@settings(max_examples=examples(300), deadline=None)
def test_tiles_are_the_old_loops_html(board, can_record, can_order, zone, language, autoescape):
    context = {"board": board, "can_record": can_record, "can_order": can_order}
    with timezone.override(ZoneInfo(zone)), translation.override(language):
        assert (TAG.render(Context(context, autoescape=autoescape))
                == OLD_LOOP.render(Context(context, autoescape=autoescape)))


def test_a_tile_escapes_and_links_to_its_session():
    at = datetime(2026, 12, 7, 15, 5, tzinfo=UTC)
    session = SimpleNamespace(id=42, administration_started_at=at, patient=SimpleNamespace(display_name="A<b>&"),
                              room=None, protocol_version=None)
    row = BoardRow(session=session, stage="verify", elapsed_min=61.5, since_dose_min=30.0,
                   last_vitals=VitalSigns(systolic=150, diastolic=95, taken_at=at + timedelta(minutes=30)),
                   due=VitalsDue(next_due_min=45, overdue=True, missed=()), open_alarms=[])
    board = SimpleNamespace(rows=[row], site=SimpleNamespace(name="Main"))
    with timezone.override(ZoneInfo("UTC")):
        html = TAG.render(Context({"board": board, "can_record": True, "can_order": False}))
    assert 'aria-label="A&lt;b&gt;&amp;"' in html
    assert '<a class="button" href="/dosing/sessions/42/#verify">Verify' in html
    assert "OVERDUE: due 15:50 (+45 min check)" in html
    assert "<dd>62 min</dd>" in html


def test_tiles_group_thousands_when_the_settings_do(settings):
    settings.USE_THOUSAND_SEPARATOR = True
    at = datetime(2026, 12, 7, 15, 5, tzinfo=UTC)
    session = SimpleNamespace(id=1234567, administration_started_at=at, patient=SimpleNamespace(display_name="A"),
                              room=None, protocol_version=None)
    row = BoardRow(session=session, stage="monitor", elapsed_min=1500.0, since_dose_min=None,
                   last_vitals=VitalSigns(systolic=1500, heart_rate=80, taken_at=at), due=None, open_alarms=[])
    context = {"board": SimpleNamespace(rows=[row], site=SimpleNamespace(name="Main")), "can_record": True,
               "can_order": True}
    html = TAG.render(Context(context))
    assert 'data-testid="tile-1,234,567"' in html
    assert html == OLD_LOOP.render(Context(context))
