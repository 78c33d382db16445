"""Exact numbers in medicine-session pages: a dose reads as it was computed."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.conf import settings
from django.template import Context
from django.template.base import render_value_in_context
from django.template.defaultfilters import floatformat, upper
from django.template.defaultfilters import time as time_filter
from django.template.defaulttags import CsrfTokenNode
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]  # missing from django-stubs

from openkap.addresses import around_id
from openkap.web.templatetags.addresses import current_app

register = template.Library()


@register.filter
def dec(value: object) -> str:
    """A Decimal (or number) without exponent or trailing zeros: 0.5, 33, 0.66."""
    if value is None or value == "":
        return ""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        return str(value)
    if not number.is_finite():
        return str(value)
    text = format(number.normalize(), "f")
    return text


def _writers(context: Context) -> tuple[Callable[[object], str], Callable[[object], str]]:
    """The template engine's output of a value (``{{ value }}``: localised, escaped) and of
    ``{{ value|time:"H:i" }}``. The commonest values skip the engine's generic dispatch
    with the same text (ADR 0115): a str escaped as conditional_escape escapes it, an int
    as number_format writes it when thousands are not grouped, a datetime's hour and minute."""
    grouped = settings.USE_THOUSAND_SEPARATOR

    def out(value: object) -> str:
        if type(value) is str:
            return html.escape(value) if context.autoescape else value
        if type(value) is int and not grouped:
            return str(value)
        return render_value_in_context(value, context)

    def hhmm(value: object) -> str:
        local = template_localtime(value, context.use_tz)
        if type(local) is datetime:
            return f"{local.hour:02d}:{local.minute:02d}"
        return out(time_filter(local, "H:i"))

    return out, hhmm


@register.simple_tag(takes_context=True)
def board_tiles(context: Context, board: Any, can_record: object, can_order: object) -> SafeString:
    """The monitoring board's tiles, as the template loop wrote them (ADR 0101): every value
    goes through the template engine's output (localised, escaped) and filters."""
    out, hhmm = _writers(context)
    if not board.rows:
        return mark_safe(f'<p class="muted">No session in progress at {out(board.site.name)}.</p>\n')  # noqa: S308
    before, after = around_id("dosing:session", current_app(context))
    parts = []
    for r in board.rows:
        s = r.session
        url = out(f"{before}{s.id}{after}")
        name = out(s.patient.display_name)
        version = s.protocol_version
        route = f' <span class="muted small">{out(version.protocol.route.label)}</span>' if version else ""
        elapsed = f"{out(floatformat(r.elapsed_min, 0))} min" if r.elapsed_min is not None else "—"
        since = f"{out(floatformat(r.since_dose_min, 0))} min" if r.since_dose_min is not None else "not dosed yet"
        v = r.last_vitals
        if v:
            vitals = (
                (f"BP {out(v.systolic)}/{out(v.diastolic)} · " if v.systolic else "")
                + (f"HR {out(v.heart_rate)} · " if v.heart_rate else "")
                + (f"SpO2 {out(v.spo2)}% · " if v.spo2 else "")
                + (f"RR {out(v.respiratory_rate)}" if v.respiratory_rate else "")
                + f' <span class="muted small">at {hhmm(v.taken_at)}</span>'
            )
        else:
            vitals = "none"
        check = out(r.due.next_due_min if r.due is not None else "")
        if r.overdue:
            due = f'<span class="due-overdue">OVERDUE: due {hhmm(r.next_due_at)} (+{check} min check)</span>'
        elif r.next_due_at:
            due = f'{hhmm(r.next_due_at)} <span class="muted small">(+{check} min check)</span>'
        else:
            due = "schedule complete" if r.since_dose_min is not None else "after the dose"
        alarms = "".join(f'<div>⚠ {out(upper(a.severity))}: {out(a.message)} <span class="small">({hhmm(a.raised_at)})'
                         "</span></div>" for a in r.open_alarms)
        room = out(s.room.name or "") if s.room is not None else ""
        parts.append(
            f'\n  <article class="tile{" alarm-on" if r.open_alarms else " overdue" if r.overdue else ""}"'
            f' aria-label="{name}" data-testid="tile-{out(s.id)}">'
            f'\n    <div class="who"><a href="{url}">{name}</a><span class="room">{room}</span></div>'
            f'\n    <div><span class="stage {out(r.stage)}">{out(r.stage_label)}</span>{route}</div>'
            "\n    <dl>"
            f"\n      <dt>In clinic</dt><dd>{elapsed}</dd>"
            f"\n      <dt>Since dose</dt><dd>{since}</dd>"
            f"\n      <dt>Last vitals</dt><dd>{vitals}</dd>"
            f"\n      <dt>Next vitals</dt><dd>{due}</dd>"
            "\n    </dl>"
            f'\n    {f"""<div class="alarms" role="alert">{alarms}</div>""" if r.open_alarms else ""}'
            '\n    <div class="actions">'
            "\n      " + (f'<a class="button" href="{url}#order">Order<span class="skip"> the dose for {name}</span></a>'
                          if r.stage == "order" and can_order else "")
            + "\n      " + (f'<a class="button" href="{url}#verify">Verify<span class="skip"> the dose for {name}</span>'
                            "</a>" if r.stage == "verify" and can_record else "")
            + "\n      " + (f'<a class="button" href="{url}#vitals">Vitals</a>' if can_record else "")
            + "\n      " + (f'<a class="button" style="background:var(--danger)" href="{url}#alarms">Acknowledge</a>'
                            if r.open_alarms and can_record else "")
            + f'\n      <a class="button secondary" href="{url}">Open</a>'
            "\n    </div>"
            "\n  </article>\n"
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value above went through the engine's escaping


@register.simple_tag(takes_context=True)
def arrival_rows(context: Context, board: Any, can_record: object) -> SafeString:
    """The rows of today's arrivals, as the template loop wrote them (ADR 0115): values
    written as the tiles write theirs, the CSRF field by the ``{% csrf_token %}`` tag."""
    if not board.arriving:
        return mark_safe('<tr><td colspan="5" class="muted">No one else is booked today.</td></tr>')
    out, hhmm = _writers(context)
    app = current_app(context)
    session_before, session_after = around_id("dosing:session", app)
    check_in_before, check_in_after = around_id("dosing:check_in", app)
    csrf = CsrfTokenNode().render(context) if can_record else ""  # the request's one token
    parts = []
    for a in board.arriving:
        s = a.session
        name = out(s.patient.display_name)
        room = out(s.room.name) if s.room is not None and s.room.name else "—"
        check_in = (f'<form method="post" action="{out(f"{check_in_before}{s.id}{check_in_after}")}">{csrf}'
                    f'<button type="submit" aria-label="Check in {name}">Check in</button></form>'
                    if can_record else "")
        parts.append(
            f'\n  <tr data-testid="arrival-{out(s.id)}"><td>{hhmm(s.scheduled_start)}</td>'
            f'<td><a href="{out(f"{session_before}{s.id}{session_after}")}">{name}</a></td>'
            f"<td>{out(a.route_label)}</td><td>{room}</td>"
            f"\n    <td>{check_in}</td></tr>\n  "
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value above went through the engine's escaping
