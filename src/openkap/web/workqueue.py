"""Hand-offs as work: what waits for this person now, read from the records' state.

A hand-off (eligibility requested, a plan to sign, a dose to order, a dose to
verify) is not a stored task that someone must remember to close: it is a query
over the pathway and the medicine sessions, so it appears the moment the earlier
step is done and disappears the moment the waiting step is. Each item names the
patient and links to the exact page of the step. Stored tasks (safety flags,
REMS forms, integration overdue) stay in the task list and are counted beside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse

from openkap.accounts.authz import Actor
from openkap.accounts.models import Organization
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import ORGANIZATION_WIDE_ROLES, Perm, Role
from openkap.core.pathway.episode import State
from openkap.dosing.models import (
    DoseOrder,
    DosePreparation,
    DosingSession,
    PreDoseChecklist,
    Verification,
)
from openkap.pathway.models import EligibilityDecision, Episode, EpisodeTransition, TreatmentPlan
from openkap.patients.models import CareTeamMember, Patient


@dataclass(frozen=True)
class WorkItem:
    kind: str
    title: str
    patient: Patient
    url: str
    since: datetime | None
    action: str  # the button's words


def _on_team(by: Actor, patient_ref: str) -> Exists:
    return Exists(CareTeamMember.objects.filter(patient=OuterRef(patient_ref), user=by.user, ended_at__isnull=True))


def _has_prescriber(patient_ref: str) -> Exists:
    return Exists(
        CareTeamMember.objects.filter(patient=OuterRef(patient_ref), role=Role.PRESCRIBER, ended_at__isnull=True)
    )


def _signer_scope(by: Actor, perm: Perm, patient_ref: str) -> Q | None:
    """Whose items these are: a prescriber's on their care team; when a patient has no
    prescriber on the team, whoever may change the team and open the chart to do it (the
    clinic's admins; a prescriber off the team would meet a 403) is asked to add one."""
    mine = Q(_on_team(by, patient_ref)) if by.can(perm) else None
    may_add = by.can(Perm.CARE_TEAM_MANAGE) and bool(by.roles & ORGANIZATION_WIDE_ROLES)
    orphan = ~Q(_has_prescriber(patient_ref)) if may_add else None
    if mine is not None and orphan is not None:
        return mine | orphan
    return mine if mine is not None else orphan


def _eligibility_requested(by: Actor) -> QuerySet[Episode]:
    entered = (
        EpisodeTransition.objects.filter(episode=OuterRef("pk"), to_state=State.ELIGIBILITY)
        .values("episode").annotate(at=Max("at")).values("at")
    )
    return (
        Episode.objects.filter(organization=by.organization, state=State.ELIGIBILITY)
        .annotate(entered=Subquery(entered))
        .exclude(Exists(EligibilityDecision.objects.filter(episode=OuterRef("pk"), signed_at__gte=OuterRef("entered"))))
    )


def _plan_to_sign(by: Actor) -> QuerySet[Episode]:
    entered = (
        EpisodeTransition.objects.filter(episode=OuterRef("pk"), to_state=State.PLANNED)
        .values("episode").annotate(at=Max("at")).values("at")
    )
    return (
        Episode.objects.filter(organization=by.organization, state=State.PLANNED)
        .annotate(entered=Subquery(entered))
        .exclude(Exists(TreatmentPlan.objects.filter(episode=OuterRef("pk"))))
    )


def _order_waiting(by: Actor) -> QuerySet[DosingSession]:
    return (
        DosingSession.objects.filter(organization=by.organization, status=DosingSession.Status.CHECKED_IN)
        .filter(Exists(PreDoseChecklist.objects.filter(session=OuterRef("pk"))))
        .exclude(Exists(DoseOrder.objects.filter(session=OuterRef("pk"), cancelled_at__isnull=True)))
    )


def _verification_waiting(by: Actor) -> QuerySet[DosePreparation]:
    qs = (
        DosePreparation.objects.filter(
            organization=by.organization, voided_at__isnull=True, session__status=DosingSession.Status.CHECKED_IN,
        )
        .exclude(Exists(Verification.objects.filter(preparation=OuterRef("pk"))))
        .exclude(prepared_by=by.user)  # the check needs a second clinician
    )
    if not by.roles & ORGANIZATION_WIDE_ROLES:
        qs = qs.filter(_on_team(by, "session__patient"))
    return qs


def _queries(by: Actor) -> list[tuple[str, QuerySet]]:
    found: list[tuple[str, QuerySet]] = []
    for kind, perm, query in (
        ("eligibility", Perm.PATHWAY_SIGN, _eligibility_requested),
        ("plan", Perm.PATHWAY_SIGN, _plan_to_sign),
        ("order", Perm.DOSE_ORDER, _order_waiting),
    ):
        scope = _signer_scope(by, perm, "patient")
        if scope is not None:
            found.append((kind, query(by).filter(scope)))
    if by.can(Perm.DOSING_RECORD):
        found.append(("verify", _verification_waiting(by)))
    return found


def work_count(by: Actor) -> int:
    """The hand-offs waiting for the actor: a number, no identifiers (not a read of patient data)."""
    return sum(qs.count() for _, qs in _queries(by))


def waiting_count(by: Actor) -> int:
    """The number beside Today on every staff page: the hand-offs waiting for the actor
    plus their open tasks, counted in one query (a round trip per count cost every page
    a few; numbers only, not a read of patient data)."""
    from openkap.tasks.selectors import open_tasks_mine_to_count

    querysets: list[QuerySet] = [qs for _, qs in _queries(by)]
    tasks = open_tasks_mine_to_count(by)
    if tasks is not None:
        querysets.append(tasks)
    if not querysets:
        return 0
    # Each count is a scalar subquery (an aggregate without GROUP BY: always one row),
    # selected beside the actor's organisation, the one row the query is anchored on.
    counts = {
        f"n{i}": Coalesce(Subquery(qs.order_by().annotate(one=Value(1)).values("one")
                                   .annotate(n=Count("pk", distinct=True)).values("n")), 0)
        for i, qs in enumerate(querysets)
    }
    row = Organization.objects.filter(pk=by.organization.id).annotate(**counts).values_list(*counts).first()
    return sum(row) if row else 0


def _item(by: Actor, kind: str, obj: Episode | DosingSession | DosePreparation) -> WorkItem:
    if isinstance(obj, DosePreparation):
        session = obj.session
        return WorkItem(
            kind, f"Verify the {obj.product_name} dose prepared by {obj.prepared_by.full_name}", session.patient,
            reverse("dosing:session", args=[session.id]) + "#verify", obj.prepared_at, "Verify",
        )
    patient = obj.patient
    if not any(m.role == Role.PRESCRIBER and m.ended_at is None for m in patient.care_team.all()):
        what = {"eligibility": "Eligibility requested", "plan": "Plan to sign", "order": "Dose to order"}[kind]
        return WorkItem(
            kind, f"{what}, but no prescriber is on the care team: add one", patient,
            reverse("patients:chart", args=[patient.id]), getattr(obj, "entered", None), "Add a prescriber",
        )
    if isinstance(obj, DosingSession):
        return WorkItem(
            kind, "Checked in, checklist done: the dose order is waiting for you", patient,
            reverse("dosing:session", args=[obj.id]) + "#order", obj.started_at, "Order",
        )
    if kind == "eligibility":
        return WorkItem(
            kind, "Eligibility decision requested", patient,
            reverse("pathway:eligibility", args=[patient.id]), obj.entered, "Decide",  # type: ignore[attr-defined]
        )
    return WorkItem(
        kind, "Eligible: the treatment plan is waiting for your signature", patient,
        reverse("pathway:plan", args=[patient.id]), obj.entered, "Write and sign the plan",  # type: ignore[attr-defined]
    )


def work_items(by: Actor) -> list[WorkItem]:
    """The Today page's list: names patients, so the read is audited."""
    items: list[WorkItem] = []
    for kind, qs in _queries(by):
        if kind == "verify":
            rows = qs.select_related("session__patient", "prepared_by").prefetch_related("session__patient__care_team")
        else:
            rows = qs.select_related("patient").prefetch_related("patient__care_team")
        items.extend(_item(by, kind, obj) for obj in rows[:50])
    items.sort(key=lambda i: i.since.timestamp() if i.since else 0.0)
    if items:
        audit_record(
            by=by, action=AuditAction.VIEW, object_type="work_queue",
            detail={"items": [[i.kind, i.patient.id] for i in items]},
        )
    return items
