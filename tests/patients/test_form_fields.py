"""The chart's forms rendered once per day (web_forms.form_fields): the kept HTML is what
rendering the form gives, changes with the initial values, and a bound form is never kept."""

from __future__ import annotations

from datetime import date

from django.template import Context, Template

from openkap.patients.forms import CareTeamForm, WeightForm
from openkap.web.templatetags.web_forms import _render, form_fields

TAG = Template('{% load web_forms %}{% form_fields form %}')


def _direct(form) -> str:
    return str(_render(form, ()))


def test_an_unbound_form_is_rendered_once_and_as_rendering_it_gives():
    first = WeightForm(initial={"unit": "kg", "measured_on": date(2026, 12, 7)})
    again = WeightForm(initial={"unit": "kg", "measured_on": date(2026, 12, 7)})
    html = TAG.render(Context({"form": first}))
    assert html == _direct(first)
    assert form_fields(again) is form_fields(first)  # kept, not rendered again
    assert 'value="2026-12-07"' in html


def test_other_initial_values_are_rendered_on_their_own():
    today = TAG.render(Context({"form": WeightForm(initial={"unit": "kg", "measured_on": date(2026, 12, 7)})}))
    tomorrow = TAG.render(Context({"form": WeightForm(initial={"unit": "lb", "measured_on": date(2026, 12, 8)})}))
    assert 'value="2026-12-08"' in tomorrow
    assert 'value="2026-12-07"' not in tomorrow
    assert today != tomorrow


def test_a_bound_form_shows_what_was_typed_and_its_errors():
    bound = WeightForm({"value": "-0.5", "unit": "kg", "measured_on": "2026-12-07"})
    assert not bound.is_valid()
    html = TAG.render(Context({"form": bound}))
    assert 'value="-0.5"' in html
    assert "errorlist" in html
    assert form_fields(bound) is not form_fields(bound)  # rendered afresh each time


def test_a_form_with_choices_read_per_request_is_never_kept():
    form = CareTeamForm(choices=[("1:nurse", "Ana · Nurse")])
    assert "Ana · Nurse" in TAG.render(Context({"form": form}))
    other = CareTeamForm(choices=[("2:nurse", "Bo · Nurse")])
    assert "Bo · Nurse" in TAG.render(Context({"form": other}))
