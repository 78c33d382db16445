"""Reads of patient data. Every read is checked and audited here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import BigIntegerField, Count, Exists, F, Func, OuterRef, Q, QuerySet, Window
from django.http import Http404
from django.utils import timezone

from openkap.accounts.authz import Actor, Denied, require
from openkap.accounts.models import Membership
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.compiled import CompiledRead, CompiledRows
from openkap.core import name_search
from openkap.core.authz import ORGANIZATION_WIDE_ROLES, Perm, Role, held_organization_wide
from openkap.patients.models import (
    BreakGlassGrant,
    CareTeamMember,
    HeightMeasurement,
    Patient,
    PatientNameKey,
    PortalInvitation,
    WeightMeasurement,
)


def is_on_care_team(*, user_id: int, patient_id: int) -> bool:
    return CareTeamMember.objects.filter(
        user_id=user_id, patient_id=patient_id, ended_at__isnull=True
    ).exists()


def active_break_glass(*, user_id: int, patient_id: int) -> BreakGlassGrant | None:
    return BreakGlassGrant.objects.filter(
        user_id=user_id, patient_id=patient_id, expires_at__gt=timezone.now()
    ).first()


# Facts other apps show in every chart's header (the safety banner, the attendance badges),
# registered by those apps at start-up: name -> an expression over the patient row (built
# once: a query copies an expression as it resolves it). The chart page reads them with
# the patient, in its one query, rather than one query each from their template tags
# (ADR 0089). Names start with "chart_".
CHART_FACTS: dict[str, Any] = {}


def register_chart_fact(name: str, expression: Any) -> None:
    if not name.startswith("chart_"):
        raise ValueError(f"a chart fact's name starts with chart_: {name}")
    CHART_FACTS[name] = expression


# The reads every chart page runs, compiled once per process (ADR 0096). The facts are
# registered at start-up, before the first chart read compiles them.
_PATIENT = CompiledRead(Patient, lambda patient_id, organization_id: Patient.objects.filter(
    id=patient_id, organization_id=organization_id).order_by("pk")[:1], "patient_id", "organization_id")
_PATIENT_WITH_FACTS = CompiledRead(Patient, lambda patient_id, organization_id: Patient.objects.filter(
    id=patient_id, organization_id=organization_id).annotate(**CHART_FACTS).order_by("pk")[:1],
    "patient_id", "organization_id")
# The chart's own page: with two facts more, so that it reads heights and the latest portal
# invitation only for a patient who has any (most have neither; ADR 0116).
_PATIENT_FOR_OVERVIEW = CompiledRead(Patient, lambda patient_id, organization_id: Patient.objects.filter(
    id=patient_id, organization_id=organization_id).annotate(
    **CHART_FACTS, chart_has_heights=Exists(HeightMeasurement.objects.filter(patient_id=OuterRef("pk"))),
    chart_has_invitation=Exists(PortalInvitation.objects.filter(patient_id=OuterRef("pk")))).order_by("pk")[:1],
    "patient_id", "organization_id")
_WEIGHTS = CompiledRead(WeightMeasurement, lambda patient_id: WeightMeasurement.objects.filter(
    patient_id=patient_id).select_related("recorded_by")[:20], "patient_id")
_LATEST_WEIGHT = CompiledRead(WeightMeasurement, lambda patient_id: WeightMeasurement.objects.filter(
    patient_id=patient_id).select_related("recorded_by")[:1], "patient_id")
_HEIGHTS = CompiledRead(HeightMeasurement, lambda patient_id: HeightMeasurement.objects.filter(
    patient_id=patient_id).select_related("recorded_by")[:5], "patient_id")
_CARE_TEAM = CompiledRead(CareTeamMember, lambda patient_id: CareTeamMember.objects.filter(
    patient_id=patient_id, ended_at__isnull=True).select_related("user").order_by("role"), "patient_id")
# A search page's patients by id (what ``in_bulk`` reads), compiled once per page length.
_PATIENTS_BY_ID = CompiledRead(Patient, lambda patient_ids: Patient.objects.filter(id__in=patient_ids).order_by(),
                               lists=("patient_ids",))
# Every portal page reads it (ADR 0118).
_PORTAL_PATIENT = CompiledRead(Patient, lambda user_id, organization_id: Patient.objects.filter(
    user_id=user_id, organization_id=organization_id).order_by("pk")[:1], "user_id", "organization_id")
_LATEST_INVITATION = CompiledRead(PortalInvitation, lambda patient_id: PortalInvitation.objects.filter(
    patient_id=patient_id).order_by("-created_at")[:1], "patient_id")


def care_team_of(patient: Patient) -> list[CareTeamMember]:
    """The patient's current care team, each member holding the patient as
    ``patient.care_team`` gives them."""
    members = _CARE_TEAM.read(patient_id=patient.id)
    for member in members:
        member.patient = patient
    return members


def patient_in_organization(by: Actor, patient_id: int, *, chart_facts: bool = False,
                            overview: bool = False) -> Patient:
    """The patient, or 404 when it is not in the actor's organisation. Reveals
    nothing but existence, so it is not a read of patient data (with ``chart_facts``,
    or the chart page's ``overview`` facts, the caller's audited read covers them)."""
    read = _PATIENT_FOR_OVERVIEW if overview else _PATIENT_WITH_FACTS if chart_facts else _PATIENT
    patient = read.first(patient_id=patient_id, organization_id=by.organization.id)
    if patient is None:
        raise Http404("No such patient in your organisation.")
    return patient


def portal_patient(by: Actor) -> Patient:
    """The patient record of a signed-in patient (the portal reads and writes act on it only)."""
    patient = _PORTAL_PATIENT.first(user_id=by.user.id, organization_id=by.organization.id)
    if patient is None:
        raise Denied("This page is for patients of the clinic.")
    return patient


def patient_for(
    by: Actor, patient_id: int, perm: Perm = Perm.PATIENT_VIEW, *, chart_facts: bool = False, overview: bool = False
) -> tuple[Patient, bool]:
    """Fetch a patient for ``perm``: 404 outside the actor's organisation, 403 outside
    the care team (unless broken glass). Returns the patient and whether access is
    by break-glass, so the caller's audit row can be flagged."""
    patient = patient_in_organization(by, patient_id, chart_facts=chart_facts, overview=overview)
    return patient, _access(by, patient, perm)


def _access(by: Actor, patient: Patient, perm: Perm) -> bool:
    # A nurse or admin may open any patient of the organisation: the team is not read then.
    on_team = not held_organization_wide(by.roles, perm) and is_on_care_team(user_id=by.user.id, patient_id=patient.id)
    glass = (
        not on_team
        and not (by.roles & ORGANIZATION_WIDE_ROLES)
        and active_break_glass(user_id=by.user.id, patient_id=patient.id) is not None
    )
    require(by, perm, on_care_team=on_team, break_glass_active=glass, patient_id=patient.id)
    return glass


def patient_allows(by: Actor, patient: Patient, perm: Perm) -> bool:
    """Whether ``patient_for`` would give ``by`` this patient, already read by
    ``patient_for`` for another permission, for ``perm`` (a button to show or not)."""
    try:
        _access(by, patient, perm)
    except PermissionDenied:
        return False
    return True


def access_annotations(by: Actor, patient_path: str = "patient") -> dict[str, Exists]:
    """The facts ``patient_for`` reads (on the care team, an open break-glass grant) as
    annotations, so a caller that fetches a row holding a patient (a dosing session, say)
    gets them in the same query; decide with ``require_patient_access``."""
    patient_id = OuterRef(f"{patient_path}_id")
    return {
        "_on_team": Exists(CareTeamMember.objects.filter(
            user_id=by.user.id, patient_id=patient_id, ended_at__isnull=True)),
        "_glass": Exists(BreakGlassGrant.objects.filter(
            user_id=by.user.id, patient_id=patient_id, expires_at__gt=timezone.now())),
    }


def require_patient_access(by: Actor, row: Any, perm: Perm, *, patient_id: int) -> bool:
    """``patient_for``'s decision on a row fetched with ``access_annotations``: raises
    Denied, or returns whether access is by break-glass."""
    glass = not row._on_team and not (by.roles & ORGANIZATION_WIDE_ROLES) and bool(row._glass)
    require(by, perm, on_care_team=row._on_team, break_glass_active=glass, patient_id=patient_id)
    return glass


@dataclass(frozen=True)
class PortalAccess:
    """Whether the patient can use the portal: none, invited, expired (the link lapsed
    unused), active or disabled; with the address and dates a clinician needs."""

    status: str
    email: str
    invited_at: datetime | None
    expires_at: datetime | None
    last_login: datetime | None

    LABELS = {
        "none": "No portal access",
        "invited": "Invited",
        "expired": "Invitation expired",
        "active": "Active",
        "disabled": "Disabled",
    }

    @property
    def label(self) -> str:
        return self.LABELS[self.status]

    @property
    def can_invite(self) -> bool:
        return self.status != "active"

    @property
    def can_revoke(self) -> bool:
        return self.status in {"invited", "active"}


def portal_access_of(patient: Patient, *, invited: bool = True) -> PortalAccess:
    """Part of a chart read (the caller has checked and audits it). ``invited=False``: the
    caller knows the patient has never been invited (no invitation is read)."""
    latest = _LATEST_INVITATION.first(patient_id=patient.id) if invited else None
    membership = (
        Membership.objects.filter(organization_id=patient.organization_id, user_id=patient.user_id, role=Role.PATIENT)
        .select_related("user")
        .first()
        if patient.user_id
        else None
    )
    if membership is not None and (latest is None or latest.accepted_at or latest.revoked_at):
        status = "active" if membership.is_active and membership.user.is_active else "disabled"
        return PortalAccess(
            status=status, email=membership.user.email, invited_at=latest.created_at if latest else None,
            expires_at=None, last_login=membership.user.last_login,
        )
    if latest is None or latest.revoked_at is not None:
        return PortalAccess(
            status="disabled" if membership else "none", email=patient.email,
            invited_at=None, expires_at=None, last_login=None,
        )
    status = "invited" if latest.expires_at > timezone.now() else "expired"
    return PortalAccess(
        status=status, email=latest.email, invited_at=latest.created_at, expires_at=latest.expires_at,
        last_login=membership.user.last_login if membership else None,
    )


def portal_access(*, by: Actor, patient_id: int) -> PortalAccess:
    patient, glass = patient_for(by, patient_id, Perm.PORTAL_ACCESS_MANAGE)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="portal_access", object_id=patient.id,
        patient_id=patient.id, break_glass=glass,
    )
    return portal_access_of(patient)


@dataclass(frozen=True)
class Chart:
    patient: Patient
    latest_weight: WeightMeasurement | None
    weights: list[WeightMeasurement]
    care_team: list[CareTeamMember]
    age: int
    via_break_glass: bool
    # Filled on the chart's own page only (other sections share the header).
    portal: PortalAccess | None = None
    # Latest first; only the chart page loads them (other callers build a Chart without).
    heights: list[HeightMeasurement] = field(default_factory=list)


def patient_chart(*, by: Actor, patient_id: int) -> Chart:
    """Opening a chart is a read of patient data: audited (the header's facts with it)."""
    patient, glass = patient_for(by, patient_id, overview=True)
    weights = _WEIGHTS.read(patient_id=patient.id)
    heights = _HEIGHTS.read(patient_id=patient.id) if patient.chart_has_heights else []  # type: ignore[attr-defined]
    care_team = _CARE_TEAM.read(patient_id=patient.id)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="patient", object_id=patient.id,
        patient_id=patient.id, break_glass=glass,
    )
    return Chart(
        patient=patient,
        latest_weight=weights[0] if weights else None,
        weights=weights,
        heights=heights,
        care_team=care_team,
        age=patient.age_on(timezone.localdate()),
        via_break_glass=glass,
        portal=portal_access_of(patient, invited=patient.chart_has_invitation),  # type: ignore[attr-defined]
    )


def chart_header(*, by: Actor, patient: Patient, via_break_glass: bool) -> Chart:
    """The header of a chart tab whose own selector has fetched ``patient`` with
    ``patient_for`` (checked for its permission) and audited the read. Every
    patient-scoped permission is decided by the same object rule (``core.authz.allows``:
    an organisation-wide role, else the care team or break-glass), so the role's
    PATIENT_VIEW is all that is left to check; the tab's audit row records the read, and
    the patient is not fetched, checked and audited a second time."""
    require(by, Perm.PATIENT_VIEW)
    latest = _LATEST_WEIGHT.first(patient_id=patient.id)
    care_team = _CARE_TEAM.read(patient_id=patient.id)
    return Chart(
        patient=patient, latest_weight=latest, weights=[latest] if latest else [], care_team=care_team,
        age=patient.age_on(timezone.localdate()), via_break_glass=via_break_glass,
    )


def patient_get(*, by: Actor, patient_id: int) -> Patient:
    patient, glass = patient_for(by, patient_id)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type="patient", object_id=patient.id,
        patient_id=patient.id, break_glass=glass,
    )
    return patient


# A page of a patient's weight or height history in the API (the chart page shows the
# latest 20 weights and 5 heights from patient_chart).
HISTORY_PER_PAGE = 25


def _measurement_page(
    by: Actor, patient_id: int, model: type[WeightMeasurement] | type[HeightMeasurement], object_type: str,
    page: int, per_page: int,
) -> Page[Any]:
    patient, glass = patient_for(by, patient_id)
    # -id last: two entries of one day at the same instant keep their place from page to page.
    rows = model.objects.filter(patient=patient).order_by("-measured_on", "-recorded_at", "-id")
    result = Paginator(rows, per_page).get_page(page)
    audit_record(
        by=by, action=AuditAction.VIEW, object_type=object_type, patient_id=patient.id, break_glass=glass,
        detail={"page": result.number, "ids": [m.pk for m in result]},
    )
    return result


def weight_history(
    *, by: Actor, patient_id: int, page: int = 1, per_page: int = HISTORY_PER_PAGE
) -> Page[WeightMeasurement]:
    """Every weight of the patient, newest first, a page at a time (a page past the last
    is the last, as in the other paged lists): checked and audited as a read of the chart."""
    return _measurement_page(by, patient_id, WeightMeasurement, "weight", page, per_page)


def height_history(
    *, by: Actor, patient_id: int, page: int = 1, per_page: int = HISTORY_PER_PAGE
) -> Page[HeightMeasurement]:
    """Every height of the patient, newest first, a page at a time; as weight_history."""
    return _measurement_page(by, patient_id, HeightMeasurement, "height", page, per_page)


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")


def _parse_date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    return None


def visible_patients(by: Actor) -> QuerySet[Patient]:
    """The patients the actor may see in lists: the whole registry for admins and
    nurses, the care team's patients for other clinicians, none otherwise."""
    require(by, Perm.PATIENT_VIEW)
    qs = Patient.objects.filter(organization=by.organization)
    if by.roles & ORGANIZATION_WIDE_ROLES:
        return qs
    # EXISTS rather than a join: one row per patient (no DISTINCT), whatever roles the
    # actor holds on the team.
    return qs.filter(Exists(CareTeamMember.objects.filter(patient=OuterRef("pk"), user=by.user,
                                                          ended_at__isnull=True)))


# Counting past this many matches costs more than it tells: the page says "1,000+".
SEARCH_COUNT_CAP = 1000


@dataclass(frozen=True)
class SearchPage:
    """One page of a patient search. ``count`` is exact up to SEARCH_COUNT_CAP (a search
    over a large registry never counts every match: ``count_exact`` is False beyond it)."""

    items: list[Patient]
    number: int
    per_page: int
    count: int
    count_exact: bool

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages or (not self.count_exact and len(self.items) == self.per_page)

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


class _UnindexedOnSQLite(Func):
    """The column itself, written ``+column`` on SQLite so its planner uses no index on it.

    Given ``patient_id IN (keys of a further term)``, SQLite drives the search from that
    list through the patient_id index, reading each listed patient's keys from the table,
    instead of from the keys' covering prefix index; the bench's "given family" searches
    took 5.7-8.5 ms of SQLite's CPU that way and 1.2-1.7 ms with ``+patient_id`` (ADR 0103).
    Elsewhere the SQL is unchanged."""

    template = "%(expressions)s"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, template="+%(expressions)s", **extra)


def _name_term(organization_id: int, term: str) -> Q:
    """Patients with a name part that starts with ``term`` (core.name_search): one of
    their word-start keys begins with it, a prefix range on the keys' index. Filters a
    queryset carrying ``_name_matches``' ``term_patient`` alias."""
    keys = PatientNameKey.objects.filter(organization_id=organization_id, key__startswith=term)
    return Q(term_patient__in=keys.values("patient_id"))


def _name_matches(by: Actor, terms: list[str]) -> QuerySet[Any, Any]:
    """One row per patient the actor may see whose name matches every term (see _matches)."""
    return _matches(by.organization.id, None if by.roles & ORGANIZATION_WIDE_ROLES else by.user.id, terms)


def _matches(organization_id: int, team_of: int | None, terms: list[str]) -> QuerySet[Any, Any]:
    """One row per patient of the organisation whose name matches every term (only those on
    ``team_of``'s care team unless None), with its place in the list: read from the keys'
    index alone (it carries the patient and the sort names), so no matching patient is read
    to be sorted or counted (ADR 0091)."""
    keys = PatientNameKey.objects.filter(organization_id=organization_id, key__startswith=terms[0])
    if terms[1:]:
        keys = keys.alias(term_patient=_UnindexedOnSQLite(F("patient_id"), output_field=BigIntegerField()))
    for term in terms[1:]:
        keys = keys.filter(_name_term(organization_id, term))
    if team_of is not None:  # visible_patients' rule, on the keys
        keys = keys.filter(Exists(CareTeamMember.objects.filter(patient=OuterRef("patient_id"), user_id=team_of,
                                                                ended_at__isnull=True)))
    # GROUP BY: a patient whose name has two parts starting with a term is one match.
    return (keys.values("patient_id", "sort_family", "sort_given").annotate(keys=Count("id"))
            .order_by("sort_family", "sort_given", "patient_id"))


def _ranked(organization_id: int, team_of: int | None, terms: list[str], offset: int,
            limit: int) -> QuerySet[Any, Any]:
    """A page of the matches' patient ids in list order, each with the count of all matches."""
    return (_matches(organization_id, team_of, terms).annotate(matches=Window(Count("patient_id")))
            .values_list("patient_id", "matches")[offset: offset + limit])


def _ranked_read(n_terms: int, team: bool) -> CompiledRows:
    def build(organization_id: int, offset: int, limit: int, user_id: int | None = None, **terms: str) -> Any:
        return _ranked(organization_id, user_id, [terms[f"term{i}"] for i in range(n_terms)], offset, limit)

    return CompiledRows(PatientNameKey, build, "organization_id", *(["user_id"] if team else []),
                        likes=tuple(f"term{i}" for i in range(n_terms)), shapes=("offset", "limit"))


# The ranked query compiled once per process (ADR 0116), by the number of terms and whether
# the actor sees only their care team's patients: the terms are bound as LIKE prefixes.
_RANKED = {(n, team): _ranked_read(n, team) for n in range(1, name_search.MAX_TERMS + 1) for team in (False, True)}


def _name_page(by: Actor, terms: list[str], page: int, per_page: int) -> tuple[list[Patient], int | None]:
    """The page's patients in list order and how many match in all (None past the end).
    The matches are sorted and counted in one query over the keys; the page's 25
    patients are then read by id."""
    team = not by.roles & ORGANIZATION_WIDE_ROLES
    values: dict[str, Any] = {f"term{i}": term for i, term in enumerate(terms)}
    if team:
        values["user_id"] = by.user.id
    rows = _RANKED[(len(terms), team)].read(organization_id=by.organization.id, offset=(page - 1) * per_page,
                                            limit=per_page, **values)
    if not rows:
        return [], None
    found = {p.id: p for p in _PATIENTS_BY_ID.read(patient_ids=[pid for pid, _n in rows])}
    return [found[pid] for pid, _n in rows if pid in found], rows[0][1]


def patient_search(*, by: Actor, query: str = "", page: int = 1, per_page: int = 25) -> SearchPage:
    """Search by name (each word the start of a name part), MRN (exact or prefix) or date
    of birth; paginated without counting past SEARCH_COUNT_CAP, and audited."""
    query = query.strip()
    page = max(1, page)
    items: list[Patient] = []
    total: int | None = None
    terms: list[str] = []
    filters: dict[str, Any] = {}
    if query:
        as_date = _parse_date(query)
        if as_date is not None:
            filters = {"date_of_birth": as_date}
        elif re.fullmatch(r"[A-Za-z]{0,8}\d{3,}", query):
            filters = {"mrn__istartswith": query.upper()}
        else:
            terms = name_search.search_terms(query)
    if terms:
        # visible_patients' permission; its rule (the care team) is on the keys (_matches).
        require(by, Perm.PATIENT_VIEW)
        items, total = _name_page(by, terms, page, per_page)
    else:
        qs = visible_patients(by).filter(**filters).order_by("legal_family_name", "legal_given_name", "id")
        if query:
            # A search's matches are all read to be sorted: they are counted in the same query
            # (a second query walked them again), unless the page is past the last one.
            items = list(qs.annotate(matches=Window(Count("id")))[(page - 1) * per_page: page * per_page])
            total = items[0].matches if items else None  # type: ignore[attr-defined]  # the window annotation
    if total is not None:
        count, exact = min(total, SEARCH_COUNT_CAP), total <= SEARCH_COUNT_CAP
    else:
        # The whole registry (never counted past the cap), or a page past the end.
        if terms:
            capped = _name_matches(by, terms).order_by()[: SEARCH_COUNT_CAP + 1].count()
        else:
            capped = qs.order_by().values("id")[: SEARCH_COUNT_CAP + 1].count()
        count, exact = min(capped, SEARCH_COUNT_CAP), capped <= SEARCH_COUNT_CAP
        if exact:
            page = min(page, max(1, -(-count // per_page)))
        if count and terms:
            items, _total = _name_page(by, terms, page, per_page)
        elif count:
            offset = (page - 1) * per_page
            items = list(qs[offset: offset + per_page])
    audit_record(
        by=by, action=AuditAction.SEARCH, object_type="patient",
        detail={"query": query, "page": page, "result_ids": [p.id for p in items]},
    )
    return SearchPage(items=items, number=page, per_page=per_page, count=count, count_exact=exact)


def care_team_names(*, by: Actor, patient_id: int, role: str) -> list[str]:
    """Names of the patient's current care team in a role, the actor aside (staff names
    only: who may be asked to change the team)."""
    return list(
        CareTeamMember.objects.filter(
            organization=by.organization, patient_id=patient_id, role=role, ended_at__isnull=True,
        )
        .exclude(user=by.user)
        .values_list("user__full_name", flat=True)
        .order_by("user__full_name")
    )


def care_team_user_ids(patient: Patient) -> list[int]:
    """The current care team's user ids (whom a patient's task is raised for)."""
    return sorted(set(
        CareTeamMember.objects.filter(patient=patient, ended_at__isnull=True).values_list("user_id", flat=True)
    ))
