"""Printable records rendered with WeasyPrint: the session record and the SPRAVATO REMS
patient monitoring form. The templates are plain HTML with their own print CSS."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from openkap.dosing.charts import session_vitals_svg
from openkap.dosing.models import RemsForm
from openkap.dosing.selectors import SessionView, pk_observations


def _pdf(template: str, context: dict[str, Any], request: HttpRequest | None) -> bytes:
    from weasyprint import HTML  # imported on use: it loads Pango

    html = render_to_string(template, context, request=request)
    return HTML(string=html).write_pdf()


def record_context(view: SessionView) -> dict[str, Any]:
    session = view.session
    return {
        "view": view, "session": session, "patient": view.patient, "protocol": view.protocol,
        "checklist": getattr(session, "checklist", None),
        "orders": list(session.orders.select_related("protocol_version").order_by("ordered_at", "id")),
        "refused_orders": list(session.refused_orders.select_related("attempted_by")),
        "preparations": list(session.preparations.select_related("lot", "verification__verified_by", "prepared_by")
                             .order_by("prepared_at", "id")),
        "observations": list(session.observations.select_related("recorded_by").order_by("at", "id")),
        "adverse_events": list(session.adverse_events.select_related("recorded_by").order_by("onset_at", "id")),
        "discharge": getattr(session, "discharge", None),
        "rems": getattr(session, "rems_form", None),
        "pk": pk_observations(view),
        "chart_svg": mark_safe(session_vitals_svg(view)),  # noqa: S308 - built from numbers, labels escaped
        "printed_at": timezone.now(),
        "footer": f"OpenKAP medicine session record · MRN {view.patient.mrn} · session {session.id}",
        "time_zone": settings.TIME_ZONE,
    }


def session_record_pdf(view: SessionView, *, request: HttpRequest | None = None) -> bytes:
    return _pdf("dosing/pdf/session_record.html", record_context(view), request)


def rems_form_pdf(view: SessionView, form: RemsForm, *, request: HttpRequest | None = None) -> bytes:
    return _pdf("dosing/pdf/rems_form.html", {
        "view": view, "session": view.session, "patient": view.patient, "form": form,
        "site": view.session.site, "printed_at": timezone.now(), "time_zone": settings.TIME_ZONE,
        "footer": f"SPRAVATO REMS patient monitoring form · MRN {view.patient.mrn} · session {view.session.id}",
    }, request)
