"""The CapabilityStatement, written from the registry that routes requests: a type,
interaction or search parameter appears here only if a request for it is served."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from openkap.fhir.framework import OPERATION_DEFINITIONS, REGISTRY, SYSTEM_OPERATIONS

COMMON_SEARCH_PARAMS = (
    ("_id", "token", "Logical id"),
    ("_lastUpdated", "date", "meta.lastUpdated"),
)
# Result parameters (hl7.org/fhir/R4/search.html#return): paging and counting.
RESULT_PARAMS_DOC = (
    "Every search answers a Bundle (searchset) with total and first/previous/next links; "
    "_count (default 50, at most 500), _summary=count, _total and _format=json are supported. "
    "Unknown search parameters are refused with 400, not ignored."
)


def _software_version() -> str:
    try:
        return version("openkap")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0"


def capability_statement(base: str) -> dict[str, Any]:
    resources = []
    for rt in sorted(REGISTRY.values(), key=lambda r: r.name):
        entry: dict[str, Any] = {"type": rt.name, "documentation": rt.documentation}
        if rt.profile:
            entry["supportedProfile"] = [rt.profile]
        entry["interaction"] = [{"code": code} for code in rt.interactions]
        if rt.update is not None:
            entry["updateCreate"] = False
        if rt.search is not None:
            entry["searchParam"] = [
                {"name": name, "type": kind, "documentation": doc} for name, kind, doc in COMMON_SEARCH_PARAMS
            ] + [{"name": p.name, "type": p.type, "documentation": p.documentation} for p in rt.params]
        if rt.operations:
            entry["operation"] = [{"name": op, "definition": OPERATION_DEFINITIONS[op]} for op in rt.operations]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-06",
        "kind": "instance",
        "software": {"name": "OpenKAP", "version": _software_version()},
        "implementation": {"description": "OpenKAP FHIR R4 API", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "documentation": RESULT_PARAMS_DOC,
            "security": {
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{"url": "token", "valueUri": f"{base}/auth/token"}],
                }],
                "cors": False,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"}]}],
                "description": "A personal API token of a staff member (created under 'API tokens' in "
                               "the web app): Authorization: Bearer okap_…; or SMART Backend Services "
                               "(client credentials with a JWT assertion signed RS384 or ES384, "
                               "system/<Type>.<cruds> scopes; see .well-known/smart-configuration). "
                               "Every read and search is checked like the same read in the web app and "
                               "audited.",
            },
            "resource": resources,
            "operation": [{"name": op, "definition": OPERATION_DEFINITIONS[op]} for op in SYSTEM_OPERATIONS],
        }],
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
    }
