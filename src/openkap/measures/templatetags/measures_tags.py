"""Measures on other apps' pages: the chart's safety banner, the Today page's tasks and
the patient home's questionnaires."""

from __future__ import annotations

from typing import Any

from django import template

from openkap.accounts.authz import Denied
from openkap.core.instruments import ScoringError, get_instrument
from openkap.measures import selectors

register = template.Library()


@register.filter
def score(value: Any) -> str:
    """A total as a clinician reads it: 18, not 18.0; percentages to one decimal."""
    if value is None or value == "":
        return "—"
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:.1f}"


@register.filter
def signed_percent(value: Any) -> str:
    if value is None:
        return "—"
    return f"{float(value):+.0f}%"


@register.inclusion_tag("measures/_safety_banner.html", takes_context=True)
def safety_banner(context: template.Context, patient: Any) -> dict[str, Any]:
    """Open safety tasks of the patient, on every chart page until they are resolved."""
    actor = context.get("actor")
    if not actor or not actor.is_staff or patient is None:
        return {"tasks": []}
    # A page that has read them already (the Measures tab) passes them on; the chart read
    # with the patient whether there is any (none: nothing to read).
    tasks = context.get("open_safety_tasks")
    if tasks is None:
        known = getattr(patient, "chart_open_safety_task", None)
        tasks = [] if known is not None and not known else selectors.open_safety_tasks(patient)
    return {"tasks": tasks, "patient": patient}





@register.inclusion_tag("measures/_portal_card.html", takes_context=True)
def portal_questionnaires(context: template.Context) -> dict[str, Any]:
    actor = context.get("actor")
    if not actor or not actor.is_patient_only:
        return {"show": False}
    try:
        items = selectors.portal_questionnaires(by=actor)
    except Denied:
        return {"show": False}
    return {"show": True, "items": items}


@register.filter
def words(value: Any) -> str:
    """'reliable_improvement' -> 'reliable improvement'."""
    return str(value or "").replace("_", " ")


@register.filter
def instrument_name(instrument_id: Any) -> str:
    """'phq9' -> 'PHQ-9'."""
    try:
        return get_instrument(str(instrument_id)).short_name
    except ScoringError:
        return str(instrument_id)
