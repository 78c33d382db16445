"""HTTP for /fhir/R4: authentication, content negotiation, errors as OperationOutcome,
paging links and the audit of every read and search (via=fhir). What each resource
type supports comes from the registry, which also writes the CapabilityStatement."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from openkap.accounts.authz import Actor, Denied, build_actor
from openkap.accounts.middleware import client_ip
from openkap.accounts.requests import WebRequest
from openkap.accounts.services import api_token_authenticate
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record, record_refusal
from openkap.core import fhir as core
from openkap.fhir import documents, export, resources, smart  # noqa: F401 - these register the types
from openkap.fhir.capability import capability_statement
from openkap.fhir.framework import (
    BASE_URL,
    FHIR_JSON,
    REGISTRY,
    FhirError,
    Query,
    ResourceType,
    parse_query,
    respond,
)
from openkap.fhir.models import ExportJob

_JSON_FORMATS = {"json", "application/json", FHIR_JSON, "application/json+fhir"}
MAX_BODY = 1_000_000


def base_url(request: WebRequest) -> str:
    return request.build_absolute_uri("/fhir/R4").rstrip("/")


def _check_format(request: WebRequest) -> None:
    fmt = request.GET.get("_format")
    if fmt is not None and fmt.split(";")[0].strip() not in _JSON_FORMATS:
        raise FhirError(406, "not-supported", f"_format '{fmt}' is not supported; this server speaks JSON only",
                        expression=["_format"])
    accept = request.headers.get("Accept", "")
    if fmt is None and accept and "xml" in accept and "json" not in accept and "*/*" not in accept:
        raise FhirError(406, "not-supported", "This server returns application/fhir+json only")


def authenticate(request: WebRequest) -> Actor:
    """A personal API token of a staff member (the same Actor as the JSON API, via=fhir),
    or a SMART Backend Services access token (the client's actor, bounded by its scopes)."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip() if scheme.lower() == "bearer" else ""
    request.fhir_scopes = None  # type: ignore[attr-defined]
    request.backend_client = None  # type: ignore[attr-defined]
    ip, agent = client_ip(request), request.headers.get("User-Agent", "")
    if raw.startswith(smart.TOKEN_PREFIX):
        access = smart.token_authenticate(raw, ip=ip, user_agent=agent)
        if access is not None:
            request.fhir_scopes = access.scopes  # type: ignore[attr-defined]
            request.backend_client = access.client  # type: ignore[attr-defined]
            request.actor = access.actor
            return access.actor
    token = api_token_authenticate(raw) if raw else None
    if token is not None:
        actor = build_actor(token.user, token.organization, ip=ip, user_agent=agent, via="fhir",
                            api_token_id=token.id)
        if actor.is_staff:
            request.actor = actor
            return actor
    raise FhirError(401, "login", "Authenticate with a bearer token: Authorization: Bearer okap_… "
                                  "(a personal API token) or a SMART Backend Services access token")


def need_scope(request: WebRequest, resource_type: str, letter: str) -> None:
    """A backend client's token must carry a scope for this type and interaction."""
    scopes = getattr(request, "fhir_scopes", None)
    if scopes is not None and not core.scope_allows(scopes, resource_type, letter):
        raise FhirError(403, "forbidden", f"The token's scopes do not allow '{letter}' on {resource_type} "
                                          f"(e.g. system/{resource_type}.{'rs' if letter in 'rs' else letter})")


def fhir_endpoint(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Every FHIR endpoint answers errors as an OperationOutcome, never an HTML page."""

    @csrf_exempt  # bearer tokens, no cookies: nothing for a cross-site form to ride on
    @wraps(view)
    def wrapper(request: WebRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        request.actor = None
        base = BASE_URL.set("")
        try:
            BASE_URL.set(base_url(request))
            _check_format(request)
            return view(request, *args, **kwargs)
        except FhirError as exc:
            headers = {"WWW-Authenticate": 'Bearer realm="fhir"'} if exc.status == 401 else None
            return respond(exc.outcome(), exc.status, headers)
        except core.SearchParamError as exc:
            return respond(core.operation_outcome("invalid", str(exc)), 400)
        except Http404:
            return respond(core.operation_outcome("not-found", "Not found."), 404)
        except PermissionDenied as exc:
            actor = getattr(request, "actor", None)
            audit_record(
                by=actor, action=AuditAction.PERMISSION_DENIED, object_type="url",
                object_id=request.path[:64], patient_id=exc.patient_id if isinstance(exc, Denied) else None,
            )
            message = exc.message if isinstance(exc, Denied) else "Permission denied."
            return respond(core.operation_outcome("forbidden", message), 403)
        except ValidationError as exc:
            record_refusal(exc)
            return respond(validation_outcome(exc), 422)
        finally:
            BASE_URL.reset(base)

    wrapper.fhir_bearer = True  # type: ignore[attr-defined]
    return wrapper


def validation_outcome(exc: ValidationError) -> dict[str, Any]:
    issues = []
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
    for name, messages in errors.items():
        for message in messages:
            issue: dict[str, Any] = {"severity": "error", "code": "invalid", "diagnostics": core.fhir_string(message)}
            if name.strip() and name != "__all__":
                issue["expression"] = [core.fhir_string(name)]
            issues.append(issue)
    return {"resourceType": "OperationOutcome", "issue": issues}


def _resource_type(name: str) -> ResourceType:
    resource_type = REGISTRY.get(name)
    if resource_type is None:
        raise FhirError(404, "not-supported", f"Resource type '{name}' is not supported here (see /metadata)")
    return resource_type


def _not_allowed(resource_type: ResourceType, interaction: str) -> FhirError:
    return FhirError(405, "not-supported", f"{resource_type.name} does not support {interaction} (see /metadata)")


def _body(request: WebRequest, resource_type: ResourceType) -> dict[str, Any]:
    content_type = request.content_type or ""
    if content_type not in {FHIR_JSON, "application/json", "application/json+fhir"}:
        raise FhirError(415, "not-supported", "Send the resource as application/fhir+json")
    if len(request.body) > MAX_BODY:
        raise FhirError(413, "too-costly", "The resource is too large")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise FhirError(400, "structure", "The body is not JSON") from None
    if not isinstance(body, dict) or body.get("resourceType") != resource_type.name:
        raise FhirError(400, "structure", f"The body must be a {resource_type.name} resource",
                        expression=["resourceType"])
    return body


@fhir_endpoint
def metadata(request: WebRequest) -> HttpResponse:
    if request.method != "GET":
        raise FhirError(405, "not-supported", "metadata is read with GET")
    return respond(capability_statement(base_url(request)))


@fhir_endpoint
def type_endpoint(request: WebRequest, resource_type: str) -> HttpResponse:
    rt = _resource_type(resource_type)
    by = authenticate(request)
    if request.method == "GET":
        if rt.search is None:
            raise _not_allowed(rt, "search")
        need_scope(request, rt.name, "s")
        return _search(request, by, rt)
    if request.method == "POST":
        if rt.create is None:
            raise _not_allowed(rt, "create")
        need_scope(request, rt.name, "c")
        found = rt.create(by, _body(request, rt))
        location = f"{base_url(request)}/{rt.name}/{found.resource['id']}"
        return respond(found.resource, 201, {"Location": location, **_etag(found.resource)})
    raise FhirError(405, "not-supported", f"{request.method} is not supported on {rt.name}")


@fhir_endpoint
def instance_endpoint(request: WebRequest, resource_type: str, resource_id: str) -> HttpResponse:
    rt = _resource_type(resource_type)
    by = authenticate(request)
    if request.method == "GET":
        if rt.read is None:
            raise _not_allowed(rt, "read")
        need_scope(request, rt.name, "r")
        found = rt.read(by, resource_id)
        audit_record(by=by, action=AuditAction.VIEW, object_type=f"fhir.{rt.name}", object_id=resource_id,
                     patient_id=found.patient_id, break_glass=found.break_glass)
        if rt.name == "Binary" and not _wants_fhir(request):
            return _native(found.resource)
        return respond(found.resource, headers=_etag(found.resource))
    if request.method == "PUT":
        if rt.update is None:
            raise _not_allowed(rt, "update")
        need_scope(request, rt.name, "u")
        body = _body(request, rt)
        if body.get("id") != resource_id:
            raise FhirError(400, "invalid", "The resource's id must match the URL", expression=["id"])
        found = rt.update(by, resource_id, body)
        return respond(found.resource, headers=_etag(found.resource))
    raise FhirError(405, "not-supported", f"{request.method} is not supported on {rt.name}/{{id}}")


def _wants_fhir(request: WebRequest) -> bool:
    """A Binary is answered in its own type unless FHIR JSON is asked for
    (hl7.org/fhir/R4/binary.html#rest)."""
    accept = request.headers.get("Accept", "")
    return "_format" in request.GET or "fhir+json" in accept or "json+fhir" in accept


def _native(binary: dict[str, Any]) -> HttpResponse:
    content_type = binary["contentType"]
    extension = ".pdf" if content_type == "application/pdf" else ".txt"
    response = HttpResponse(base64.b64decode(binary["data"]), content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="{binary["id"]}{extension}"'
    response["Cache-Control"] = "no-store"
    for name, value in _etag(binary).items():
        response[name] = value
    return response


def _etag(resource: dict[str, Any]) -> dict[str, str]:
    return {"Last-Modified": resource["meta"]["lastUpdated"]} if "meta" in resource else {}


def _search(request: WebRequest, by: Actor, rt: ResourceType) -> HttpResponse:
    assert rt.search is not None
    pairs = [(k, v) for k in request.GET for v in request.GET.getlist(k)]
    query = parse_query(rt, pairs)
    page = rt.search(by, query)
    audit_record(
        by=by, action=AuditAction.SEARCH, object_type=f"fhir.{rt.name}",
        patient_id=next(iter(page.patient_ids)) if len(page.patient_ids) == 1 else None,
        break_glass=page.break_glass,
        detail={"query": request.GET.urlencode()[:1000], "total": page.total,
                "result_ids": [r["id"] for r in page.resources],
                "patient_ids": sorted(page.patient_ids)[:500]},
    )
    base = base_url(request)
    return respond(core.searchset(
        base=base, entries=None if query.summary_count else page.resources, total=page.total,
        links=_links(f"{base}/{rt.name}", pairs, query, page.total),
    ))


def _links(url: str, pairs: list[tuple[str, str]], query: Query, total: int) -> dict[str, str]:
    kept = [(k, v) for k, v in pairs if k not in ("_offset", "_count")]

    def at(offset: int) -> str:
        return f"{url}?{urlencode([*kept, ('_count', str(query.count)), ('_offset', str(offset))])}"

    links = {"self": at(query.offset)}
    if query.summary_count or query.count == 0:
        return links
    links["first"] = at(0)
    if query.offset > 0:
        links["previous"] = at(max(0, query.offset - query.count))
    if query.offset + query.count < total:
        links["next"] = at(query.offset + query.count)
    return links


@fhir_endpoint
def unknown(request: WebRequest) -> HttpResponse:
    raise FhirError(404, "not-supported", "No such FHIR endpoint here (see /fhir/R4/metadata)")


# --- Bulk Data $export ----------------------------------------------------------------------


def _kickoff(request: WebRequest, level: str, group_id: str = "") -> HttpResponse:
    by = authenticate(request)
    if request.method != "GET":
        raise FhirError(405, "not-supported", "Start an export with GET")
    if "respond-async" not in request.headers.get("Prefer", ""):
        raise FhirError(400, "invalid", "$export needs the header Prefer: respond-async")
    pairs = [(k, v) for k in request.GET for v in request.GET.getlist(k)]
    scopes = request.fhir_scopes  # type: ignore[attr-defined]
    types, since = export.parse_kickoff(by, level, pairs, scopes=scopes)
    for name in types:
        need_scope(request, name, "r")
    job = export.export_start(by=by, level=level, group_id=group_id, types=types, since=since,
                              request_url=request.build_absolute_uri(),
                              backend_client=request.backend_client)  # type: ignore[attr-defined]
    status_url = f"{base_url(request)}/$export-poll/{job.id}"
    return respond(core.operation_outcome("informational", f"Export accepted; poll {status_url}",
                                          severity="information"), 202, {"Content-Location": status_url})


@fhir_endpoint
def export_system(request: WebRequest) -> HttpResponse:
    return _kickoff(request, ExportJob.Level.SYSTEM)


@fhir_endpoint
def export_patients(request: WebRequest) -> HttpResponse:
    return _kickoff(request, ExportJob.Level.PATIENT)


@fhir_endpoint
def export_group(request: WebRequest, group_id: str) -> HttpResponse:
    return _kickoff(request, ExportJob.Level.GROUP, group_id)


@fhir_endpoint
def export_status(request: WebRequest, job_id: str) -> HttpResponse:
    by = authenticate(request)
    if request.method == "DELETE":
        export.export_cancel(by=by, job_id=job_id)
        return respond(core.operation_outcome("informational", "Export cancelled; its files are deleted",
                                              severity="information"), 202)
    if request.method != "GET":
        raise FhirError(405, "not-supported", "Poll with GET, cancel with DELETE")
    job = export.job_for(by, job_id)
    if job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING):
        progress = job.progress or job.status
        return respond(core.operation_outcome("informational", f"Export {progress}", severity="information"), 202,
                       {"X-Progress": progress, "Retry-After": "5"})
    if job.status == ExportJob.Status.CANCELLED:
        raise Http404
    if job.status == ExportJob.Status.FAILED:
        return respond(core.operation_outcome("exception", "The export failed; start it again"), 500)
    base = base_url(request)
    manifest = {
        "transactionTime": core.instant(job.started_at or job.created_at),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [{"type": o["type"], "url": f"{base}/$export-file/{job.id}/{o['file']}", "count": o["count"]}
                   for o in job.output],
        "error": [],
    }
    assert job.expires_at is not None
    return HttpResponse(json.dumps(manifest), status=200, content_type="application/json", headers={
        "Expires": http_date(job.expires_at.timestamp()), "Cache-Control": "no-store"})


@fhir_endpoint
def export_file(request: WebRequest, job_id: str, name: str) -> HttpResponseBase:
    by = authenticate(request)
    if request.method != "GET":
        raise FhirError(405, "not-supported", "Download with GET")
    path = export.file_path(by, job_id, name)
    if not export.is_gzip(path):  # the clinic keeps exports uncompressed
        response: HttpResponseBase = FileResponse(open(path, "rb"), content_type=export.NDJSON)  # noqa: SIM115 - FileResponse closes it
    elif _accepts_gzip(request):  # sent as stored, with Content-Encoding: gzip
        response = FileResponse(open(path, "rb"), content_type=export.NDJSON)  # noqa: SIM115 - FileResponse closes it
        response["Content-Encoding"] = "gzip"
        response["Content-Length"] = str(path.stat().st_size)
    else:  # a client that cannot take gzip gets the NDJSON, decompressed as it is sent
        response = StreamingHttpResponse(_decompressed(path), content_type=export.NDJSON)
    response["Vary"] = "Accept-Encoding"
    response["Cache-Control"] = "no-store"
    return response


def _accepts_gzip(request: WebRequest) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        weight = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            accepted = float(weight) > 0
        except ValueError:
            accepted = False
        if coding.lower() in {"gzip", "x-gzip", "*"} and accepted:
            return True
    return False


def _decompressed(path: Path, size: int = 1 << 16) -> Iterator[bytes]:
    with gzip.open(path, "rb") as stream:
        while block := stream.read(size):
            yield block


# --- SMART Backend Services -----------------------------------------------------------------


def token_url(request: WebRequest) -> str:
    return f"{base_url(request)}/auth/token"


@csrf_exempt  # client credentials in the body, no cookies
def token(request: WebRequest) -> HttpResponse:
    """OAuth 2.0 client credentials with a signed JWT assertion; errors as OAuth errors."""
    if request.method != "POST":
        body, status = {"error": "invalid_request", "error_description": "POST the token request"}, 405
    elif request.content_type != "application/x-www-form-urlencoded":
        body, status = {"error": "invalid_request", "error_description": "Send the form urlencoded"}, 400
    else:
        try:
            body, status = smart.token_issue(form=request.POST.dict(), token_url=token_url(request)), 200
        except smart.OAuthError as exc:
            body, status = {"error": exc.error, "error_description": exc.description}, exc.status
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


token.fhir_bearer = True  # type: ignore[attr-defined]


@fhir_endpoint
def smart_configuration(request: WebRequest) -> HttpResponse:
    response = HttpResponse(json.dumps(smart.smart_configuration(token_url(request))),
                            content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response
