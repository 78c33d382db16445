"""Form fields rendered once: the chart's unbound weight, height and portal forms are the
same HTML for every patient on a given day, and Django renders each widget through its
own templates (about a fifth of a chart page's CPU before this tag)."""

from __future__ import annotations

from django import forms, template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import get_language

register = template.Library()

# Rendered fields by (form class, initial values, prefix, field names, language); a few
# dozen entries at most (a new one a day per form), emptied if it ever grows past this.
_KEPT: dict[tuple[object, ...], SafeString] = {}
_KEEP_AT_MOST = 256


def _render(form: forms.BaseForm, names: tuple[str, ...]) -> SafeString:
    fields = [form[name] for name in names] if names else list(form)
    return render_to_string("_fields.html", {"fields": fields})


@register.simple_tag
def form_fields(form: forms.BaseForm, *names: str) -> SafeString:
    """The form's fields (or the ``names`` given) through ``_field.html``. A form class that
    declares ``static_fields = True`` promises that an unbound instance renders from its
    class, initial values and prefix alone (no choices read per request): such a form is
    rendered once per process and language; a bound form (with its values and errors)
    is always rendered afresh."""
    if form.is_bound or not getattr(form, "static_fields", False):
        return _render(form, names)
    key = (type(form), tuple(sorted(form.initial.items())), form.prefix, names, get_language())
    try:
        html = _KEPT.get(key)
    except TypeError:  # an initial value that cannot be a key (a list, say): not kept
        return _render(form, names)
    if html is None:
        if len(_KEPT) >= _KEEP_AT_MOST:
            _KEPT.clear()
        html = _KEPT[key] = _render(form, names)
    return html
