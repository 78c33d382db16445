"""The FHIR REST framework: the registry of resource types (which routes requests and
writes the CapabilityStatement, so that the statement can never claim more than is
served), the common search parameters, paging and errors as OperationOutcome."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404, HttpResponse
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.core import fhir as core

FHIR_JSON = "application/fhir+json"
DEFAULT_COUNT = 50
MAX_COUNT = 500
COMMON_PARAMS = frozenset({"_count", "_offset", "_summary", "_total", "_format", "_id", "_lastUpdated"})


class FhirError(Exception):
    """An error answered as an OperationOutcome with ``status``."""

    def __init__(self, status: int, code: str, diagnostics: str, *, expression: list[str] | None = None):
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.expression = expression

    def outcome(self) -> dict[str, Any]:
        return core.operation_outcome(self.code, self.diagnostics, expression=self.expression)


def respond(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(
        json.dumps(body, separators=(",", ":")), status=status, content_type=f"{FHIR_JSON}; charset=utf-8"
    )
    # Patient data must not stay in a shared cache or proxy.
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def is_fhir_path(path: str) -> bool:
    return path.startswith("/fhir/")


def refused(status: int, code: str, diagnostics: str) -> HttpResponse:
    """An OperationOutcome for input refused before a FHIR view runs (middleware, error
    handlers): a FHIR client gets FHIR, never a plain-text or HTML page."""
    return respond(core.operation_outcome(code, diagnostics), status)


def bad_param(name: str, message: str) -> FhirError:
    return FhirError(400, "invalid", message, expression=[name])


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # FHIR SearchParamType: token, date, reference, string
    documentation: str


@dataclass
class Query:
    """A parsed search: the type's own parameters (repeatable, so lists) and the common ones."""

    params: dict[str, list[str]]
    count: int = DEFAULT_COUNT
    offset: int = 0
    summary_count: bool = False
    ids: list[str] | None = None
    last_updated: list[core.DateRange] = field(default_factory=list)

    def one(self, name: str) -> str | None:
        values = self.params.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise bad_param(name, f"{name} may be given once (use commas for alternatives)")
        return values[0]

    def dates(self, name: str) -> list[core.DateRange]:
        try:
            return [core.parse_date(v, tz=timezone.get_current_timezone()) for v in self.params.get(name, [])]
        except core.SearchParamError as exc:
            raise bad_param(name, str(exc)) from None

    def tokens(self, name: str) -> list[list[core.Token]]:
        try:
            return [core.parse_token(v) for v in self.params.get(name, [])]
        except core.SearchParamError as exc:
            raise bad_param(name, str(exc)) from None


@dataclass
class Page:
    total: int
    resources: list[dict[str, Any]]
    patient_ids: set[int] = field(default_factory=set)
    break_glass: bool = False


@dataclass
class Found:
    resource: dict[str, Any]
    patient_id: int | None = None
    break_glass: bool = False


@dataclass(frozen=True)
class ResourceType:
    name: str
    documentation: str
    profile: str | None = None
    params: tuple[Param, ...] = ()
    read: Callable[[Actor, str], Found] | None = None
    search: Callable[[Actor, Query], Page] | None = None
    create: Callable[[Actor, dict[str, Any]], Found] | None = None
    update: Callable[[Actor, str, dict[str, Any]], Found] | None = None
    operations: tuple[str, ...] = ()  # e.g. "export" for Patient/$export (served by views)

    @property
    def interactions(self) -> list[str]:
        pairs = (("read", self.read), ("search-type", self.search), ("create", self.create),
                 ("update", self.update))
        return [name for name, fn in pairs if fn is not None]


REGISTRY: dict[str, ResourceType] = {}
# The server's base URL (…/fhir/R4) for absolute links inside resources (a document's
# attachment URL): set per request by the views and per run by the export task.
BASE_URL: ContextVar[str] = ContextVar("fhir_base_url", default="")
SYSTEM_OPERATIONS: tuple[str, ...] = ("export",)  # /$export
OPERATION_DEFINITIONS = {"export": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}


def register(resource_type: ResourceType) -> ResourceType:
    REGISTRY[resource_type.name] = resource_type
    return resource_type


def parse_query(resource_type: ResourceType, raw: Iterable[tuple[str, str]]) -> Query:
    """Strict parsing: an unknown parameter is an error naming it, not silently ignored
    (a client filtering by a parameter we do not support must not get everything)."""
    allowed = {p.name for p in resource_type.params}
    query = Query(params={})
    for name, value in raw:
        base = name.split(":", 1)[0]
        if base not in allowed and base not in COMMON_PARAMS:
            raise bad_param(name, f"{resource_type.name} has no search parameter '{name}' (see /metadata)")
        if ":" in name:
            raise bad_param(name, f"modifiers are not supported ('{name}')")
        if name == "_count":
            try:
                query.count = core.parse_count(value, maximum=MAX_COUNT)
            except core.SearchParamError as exc:
                raise bad_param(name, str(exc)) from None
        elif name == "_offset":
            if not value.isdigit() or len(value) > 9:
                raise bad_param(name, "_offset must be a whole number")
            query.offset = int(value)
        elif name == "_summary":
            if value not in ("count", "false"):
                raise bad_param(name, "_summary supports only 'count' and 'false'")
            query.summary_count = value == "count"
        elif name == "_total":
            if value not in ("none", "estimate", "accurate"):
                raise bad_param(name, "_total is none, estimate or accurate (totals here are always accurate)")
        elif name == "_id":
            query.ids = (query.ids or []) + [v for v in value.split(",") if v]
        elif name == "_lastUpdated":
            try:
                query.last_updated.append(core.parse_date(value, tz=timezone.get_current_timezone()))
            except core.SearchParamError as exc:
                raise bad_param(name, str(exc)) from None
        elif name != "_format":
            query.params.setdefault(name, []).append(value)
    return query


def date_q(field_name: str, ranges: Sequence[core.DateRange]) -> Q:
    """ORM condition for date searches on an instant column (each range ANDed)."""
    condition = Q()
    for r in ranges:
        inside = Q(**{f"{field_name}__gte": r.start, f"{field_name}__lt": r.end})
        condition &= {
            "eq": inside, "ap": inside, "ne": ~inside,
            "gt": Q(**{f"{field_name}__gte": r.end}), "sa": Q(**{f"{field_name}__gte": r.end}),
            "ge": Q(**{f"{field_name}__gte": r.start}),
            "lt": Q(**{f"{field_name}__lt": r.start}), "eb": Q(**{f"{field_name}__lt": r.start}),
            "le": Q(**{f"{field_name}__lt": r.end}),
        }[r.prefix]
    return condition


def int_ids(ids: Sequence[str] | None, prefix: str = "") -> list[int] | None:
    """Database ids from resource ids ('12' or, with a prefix, 'site-12'); others match nothing."""
    if ids is None:
        return None
    out = []
    for value in ids:
        digits = value[len(prefix):] if prefix and value.startswith(prefix) else ("" if prefix else value)
        if digits.isdigit() and len(digits) < 18:
            out.append(int(digits))
    return out


def db_id(resource_id: str, prefix: str = "") -> int:
    """The row id of a resource id, or 404 (an id we never issued names nothing)."""
    ids = int_ids([resource_id], prefix)
    if not ids:
        raise Http404
    return ids[0]


def queryset_page(qs: QuerySet[Any], query: Query, *, to_fhir: Callable[[Any], dict[str, Any]],
                  updated_field: str) -> Page:
    """Filter by _id and _lastUpdated in the database, count, and map one page."""
    ids = int_ids(query.ids)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    if query.last_updated:
        qs = qs.filter(date_q(updated_field, query.last_updated))
    total = qs.count()
    if query.summary_count or query.count == 0:
        return Page(total=total, resources=[])
    rows = list(qs.order_by("pk")[query.offset: query.offset + query.count])
    return Page(total=total, resources=[to_fhir(r) for r in rows])


def list_page(resources: list[dict[str, Any]], query: Query) -> Page:
    """The same for resources built in memory (a bounded set: one patient's, one clinic's sites)."""
    if query.ids is not None:
        wanted = set(query.ids)
        resources = [r for r in resources if r["id"] in wanted]
    for r in query.last_updated:
        resources = [res for res in resources if r.matches(_parse_instant(res["meta"]["lastUpdated"]))]
    total = len(resources)
    if query.summary_count:
        return Page(total=total, resources=[])
    return Page(total=total, resources=resources[query.offset: query.offset + query.count])


def _parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
