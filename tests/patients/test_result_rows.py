"""The patient list's rows come from a Python tag (ADR 0098): the HTML must be the old
template loop's, byte for byte, whatever the names hold."""

from __future__ import annotations

from datetime import date

from django.template import Context, Template
from hypothesis import given, settings
from hypothesis import strategies as st

from openkap.patients.models import Patient
from openkap.patients.templatetags.patients_tags import patient_rows
from tests.profiles import examples

# The loop as it was in patients/_results.html (the oracle).
OLD_LOOP = Template("""{% for p in page %}
  <tr><td><a href="{% url 'patients:chart' p.id %}">{{ p.legal_family_name }}, {{ p.preferred_name|default:p.legal_given_name }}</a>{% if p.preferred_name and p.preferred_name != p.legal_given_name %} <span class="muted small">(legal: {{ p.legal_given_name }})</span>{% endif %}</td>
      <td><code>{{ p.mrn }}</code></td><td>{{ p.date_of_birth|date:"Y-m-d" }}</td><td>{{ p.pronouns }}</td></tr>
  {% endfor %}""")

text = st.text(alphabet=st.sampled_from(list("aZé ñ'-\"<>&;/ß")), max_size=12)
patients = st.lists(st.builds(
    Patient, id=st.integers(1, 10**9), legal_family_name=text, legal_given_name=text,
    preferred_name=st.one_of(st.just(""), text), pronouns=st.one_of(st.just(""), text),
    mrn=st.from_regex(r"[A-Z0-9&<]{1,10}", fullmatch=True), date_of_birth=st.dates(date(1900, 1, 1), date(2026, 12, 31)),
), max_size=5)


@given(patients)
@settings(max_examples=examples(200), deadline=None)
def test_rows_are_the_old_loops_html(rows):
    assert patient_rows(rows) == OLD_LOOP.render(Context({"page": rows}))


def test_a_preferred_name_equal_to_the_legal_one_is_not_repeated():
    p = Patient(id=7, legal_family_name="Ng", legal_given_name="Al", preferred_name="Al", pronouns="",
                mrn="K1", date_of_birth=date(1990, 2, 3))
    html = patient_rows([p])
    assert "legal:" not in html
    assert '<a href="/patients/7/">Ng, Al</a>' in html
    assert "<td>1990-02-03</td>" in html
