"""Today's arrivals on the monitoring board come from a Python tag (ADR 0115): the HTML must
be the old template loop's, byte for byte, whatever the names, rooms and routes hold, in
any time zone and language, with or without the right to check in, and whatever the
request's CSRF token."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import timezone, translation
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.dosing.selectors import Arrival
from tests.profiles import examples

# The loop as it was in dosing/_board.html (the oracle).
OLD_LOOP = Template(
    '{% for a in board.arriving %}{% with s=a.session %}\n  <tr data-testid="arrival-{{ s.id }}"><td>'
    '{{ s.scheduled_start|time:"H:i" }}</td><td><a href="{% url \'dosing:session\' s.id %}">'
    '{{ s.patient.display_name }}</a></td><td>{{ a.route_label }}</td><td>{{ s.room.name|default:"—" }}</td>\n'
    '    <td>{% if can_record %}<form method="post" action="{% url \'dosing:check_in\' s.id %}">{% csrf_token %}'
    '<button type="submit" aria-label="Check in {{ s.patient.display_name }}">Check in</button></form>{% endif %}'
    "</td></tr>\n  {% endwith %}{% empty %}<tr><td colspan=\"5\" class=\"muted\">No one else is booked today.</td></tr>"
    "{% endfor %}"
)
TAG = Template("{% load dosing_tags %}{% arrival_rows board can_record %}")

text = st.text(alphabet=st.sampled_from(list("aZé ñ'-\"<>&;/ß0")), max_size=10)
moments = st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC))  # noqa: DTZ001
sessions = st.builds(
    SimpleNamespace, id=st.integers(1, 10**17), scheduled_start=moments,
    patient=st.builds(SimpleNamespace, display_name=text),
    room=st.one_of(st.none(), st.builds(SimpleNamespace, name=text)),
)
boards = st.builds(SimpleNamespace, arriving=st.lists(st.builds(Arrival, session=sessions, route_label=text), max_size=3))
tokens = st.one_of(st.none(), st.just("NOTPROVIDED"), st.just(""), text)


@pytest.mark.filterwarnings("ignore:Calling format_html:DeprecationWarning")  # Django's own csrf_token tag
@given(boards, st.booleans(), st.sampled_from(["America/New_York", "UTC", "Asia/Kolkata"]),
       st.sampled_from(["en", "es"]), st.booleans(), tokens)
@settings(max_examples=examples(300), deadline=None)
def test_arrivals_are_the_old_loops_html(board, can_record, zone, language, autoescape, token):
    context = {"board": board, "can_record": can_record}
    if token is not None:
        context["csrf_token"] = token
    with timezone.override(ZoneInfo(zone)), translation.override(language):
        assert (TAG.render(Context(context, autoescape=autoescape))
                == OLD_LOOP.render(Context(context, autoescape=autoescape)))


def test_an_arrival_escapes_and_links_to_its_session_and_check_in():
    session = SimpleNamespace(id=42, scheduled_start=datetime(2026, 12, 7, 13, 30, tzinfo=UTC),
                              patient=SimpleNamespace(display_name="A<b>&"), room=None)
    board = SimpleNamespace(arriving=[Arrival(session, "IM & IV")])
    with timezone.override(ZoneInfo("America/New_York")):
        html = TAG.render(Context({"board": board, "can_record": True, "csrf_token": "tok"}))
    assert '<td>08:30</td><td><a href="/dosing/sessions/42/">A&lt;b&gt;&amp;</a></td><td>IM &amp; IV</td><td>—</td>' in html
    assert ('<form method="post" action="/dosing/sessions/42/check-in/"><input type="hidden" '
            'name="csrfmiddlewaretoken" value="tok"><button type="submit" aria-label="Check in A&lt;b&gt;&amp;">') in html
