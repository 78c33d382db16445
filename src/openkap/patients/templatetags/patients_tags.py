"""The patient list's rows, written in Python: a search page shows 25 of them and the
template loop (a URL reversed, filters and lookups per cell) was most of the page's
rendering (ADR 0098). The HTML is the loop's, byte for byte (tests/patients)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape as _escape

from django import template
from django.utils.safestring import SafeString, mark_safe

from openkap.addresses import around_id
from openkap.patients.models import Patient

register = template.Library()


def escape(value: str) -> str:
    """What django.utils.html.escape writes (it is html.escape of the text), without its
    wrapper for lazy text (a patient's fields are plain strings): five calls a row."""
    return _escape(str(value))


@register.simple_tag
def patient_rows(patients: Iterable[Patient]) -> SafeString:
    before, after = around_id("patients:chart", None)  # reversed once per process (ADR 0115)
    out = []
    for p in patients:
        given = p.preferred_name or p.legal_given_name
        legal = (f' <span class="muted small">(legal: {escape(p.legal_given_name)})</span>'
                 if p.preferred_name and p.preferred_name != p.legal_given_name else "")
        out.append(
            f'\n  <tr><td><a href="{before}{p.id}{after}">{escape(p.legal_family_name)}, {escape(given)}</a>{legal}</td>'
            f'\n      <td><code>{escape(p.mrn)}</code></td><td>{p.date_of_birth.isoformat()}</td>'
            f'<td>{escape(p.pronouns)}</td></tr>\n  '
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped
