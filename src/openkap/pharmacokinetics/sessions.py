"""A medicine session's record as the PK overlay draws it.

Reads a ``dosing.DosingSession`` the caller has already fetched through the dosing
app's checked and audited selector; nothing here checks access or audits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from openkap.core.pk.overlay import DissociationScore, VitalsReading
from openkap.core.routes import Route
from openkap.pharmacokinetics.predictions import overlay_svg

# Events after which a constant-rate infusion no longer describes what was given.
_IRREGULAR = ("rate_change", "pause", "resume", "stop")


@dataclass(frozen=True)
class SessionOverlay:
    svg: str
    notes: tuple[str, ...]  # how the session was turned into model inputs


def session_overlay(session: Any) -> SessionOverlay:
    """The predicted curve of the session's signed (not cancelled) order, with every
    set of vitals (those before the dose at negative minutes) and every CADSS rating,
    on minutes from the start of administration.

    IV: the infusion time is the one actually run (start to end of administration)
    when it ran without pause, stop or rate change; otherwise the protocol's, and a
    note says so. Raises ValidationError when no dose was given.
    """
    start = session.administration_started_at
    order = session.orders.filter(cancelled_at__isnull=True).order_by("-ordered_at", "-id").first()
    if start is None or order is None or session.protocol_version is None:
        raise ValidationError({"__all__": "No dose was given in this session, so there is no curve."})
    protocol = session.protocol_version.protocol
    notes = [f"Dose: the signed order, {order.dose_mg.normalize():f} mg for {order.weight_kg.normalize():f} kg."]
    infusion = None
    if protocol.route is Route.IV_INFUSION:
        end = session.administration_ended_at
        irregular = session.administration_events.filter(kind__in=_IRREGULAR).exists()
        if end is not None and end > start and not irregular:
            infusion = round(_minutes(end, start))
            notes.append(f"Infusion as run: {infusion} min.")
        else:
            infusion = protocol.infusion_minutes
            notes.append(
                f"The infusion did not run at one constant rate (or has not ended): the curve "
                f"assumes the protocol's {infusion} min."
            )
    vitals = [
        VitalsReading(
            minute=_minutes(v.taken_at, start),
            systolic=v.systolic,
            diastolic=v.diastolic,
            heart_rate=v.heart_rate,
        )
        for v in session.vitals.all()
    ]
    ratings = [
        DissociationScore(minute=_minutes(o.at, start), score=o.cadss_total)
        for o in session.observations.all()
        if o.cadss_total is not None
    ]
    age = session.patient.age_on(timezone.localtime(start).date())
    svg = overlay_svg(
        route=protocol.route,
        dose_mg=order.dose_mg,
        weight_kg=order.weight_kg,
        infusion_min=infusion,
        vitals=vitals,
        dissociation=ratings,
        age_years=age,
    )
    return SessionOverlay(svg, tuple(notes))


def _minutes(when: datetime, start: datetime) -> float:
    return round((when - start).total_seconds() / 60.0, 2)
