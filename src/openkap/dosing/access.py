"""Who may open a dosing session: the one check the services (before a write) and the
selectors (before a read) both make, so neither imports the other for it."""

from __future__ import annotations

from django.http import Http404

from openkap.accounts.authz import Actor, require
from openkap.core.authz import Perm
from openkap.dosing.models import DosingSession
from openkap.patients.selectors import patient_for


def session_for(by: Actor, session_id: int, perm: Perm, *, lock: bool = False) -> tuple[DosingSession, bool]:
    """The session, 404 outside the actor's organisation; the patient checked for ``perm``."""
    require(by, perm)
    qs = DosingSession.objects.filter(id=session_id, organization=by.organization)
    if lock:
        qs = qs.select_for_update()
    session = qs.first()
    if session is None:
        raise Http404("No such dosing session in your organisation.")
    _patient, glass = patient_for(by, session.patient_id, perm)
    return session, glass
