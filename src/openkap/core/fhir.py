"""FHIR R4 pieces that need no database: code tables (LOINC, UCUM, SNOMED CT, HL7
code systems), search-parameter grammar and the shapes of OperationOutcome and Bundle.

The Django app ``openkap.fhir`` maps models to resources with these; keeping them
here lets the grammar be tested exhaustively and the codes be reviewed in one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
OBSERVATION_STATUS = "http://hl7.org/fhir/observation-status"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
NPI = "http://hl7.org/fhir/sid/us-npi"
# OpenKAP's own code system for instrument scores that have no LOINC code
# (docs/adr/0022-fhir-api.md): code "<instrument id>" for a total, "<instrument id>.<item id>"
# for an item.
LOCAL_MEASURES = "https://openkap.org/fhir/CodeSystem/measures"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
NDC = "http://hl7.org/fhir/sid/ndc"
LOCAL_APPOINTMENT_KIND = "https://openkap.org/fhir/CodeSystem/appointment-kind"
LOCAL_ADVERSE_EVENT = "https://openkap.org/fhir/CodeSystem/adverse-event"
LOCAL_MEDICATION = "https://openkap.org/fhir/CodeSystem/medication"
LOCAL_ROLE = "https://openkap.org/fhir/CodeSystem/role"
DEA_SCHEDULE_EXTENSION = "https://openkap.org/fhir/StructureDefinition/dea-schedule"
QUESTIONNAIRE_BASE = "https://openkap.org/fhir/Questionnaire"
LOCAL_ENCOUNTER_TYPE = "https://openkap.org/fhir/CodeSystem/encounter-type"
# Document types without a LOINC code here: "session-record" (the medicine session record
# PDF) and "rems-monitoring-form" (the SPRAVATO REMS patient monitoring form).
LOCAL_DOCUMENT_TYPE = "https://openkap.org/fhir/CodeSystem/document-type"
US_CORE_DOCUMENT_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
# IHE format code for a document whose MIME type says all (US Core DocumentReference examples).
IHE_FORMAT = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"


@dataclass(frozen=True)
class Vital:
    """A vital sign as US Core profiles it: LOINC code and display, UCUM unit."""

    key: str
    loinc: str
    display: str
    unit: str  # UCUM code
    unit_display: str
    profile: str
    extra_codings: tuple[tuple[str, str, str], ...] = ()  # (system, code, display)


# LOINC codes and UCUM units from the FHIR R4 vital signs profile (hl7.org/fhir/R4/observation-vitalsigns.html)
# and US Core 6.1 (Pulse Oximetry adds 59408-5 beside the base 2708-6).
BP_PANEL = Vital("bp", "85354-9", "Blood pressure panel with all children optional", "mm[Hg]", "mmHg",
                 f"{US_CORE}/us-core-blood-pressure")
SYSTOLIC = Vital("systolic", "8480-6", "Systolic blood pressure", "mm[Hg]", "mmHg", "")
DIASTOLIC = Vital("diastolic", "8462-4", "Diastolic blood pressure", "mm[Hg]", "mmHg", "")
HEART_RATE = Vital("hr", "8867-4", "Heart rate", "/min", "beats/minute", f"{US_CORE}/us-core-heart-rate")
SPO2 = Vital(
    "spo2", "2708-6", "Oxygen saturation in Arterial blood", "%", "%", f"{US_CORE}/us-core-pulse-oximetry",
    extra_codings=((LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),),
)
RESPIRATORY_RATE = Vital("rr", "9279-1", "Respiratory rate", "/min", "breaths/minute",
                         f"{US_CORE}/us-core-respiratory-rate")
BODY_WEIGHT = Vital("weight", "29463-7", "Body weight", "kg", "kg", f"{US_CORE}/us-core-body-weight")
BODY_HEIGHT = Vital("height", "8302-2", "Body height", "cm", "cm", f"{US_CORE}/us-core-body-height")
VITALS: dict[str, Vital] = {v.key: v for v in (BP_PANEL, HEART_RATE, SPO2, RESPIRATORY_RATE, BODY_WEIGHT,
                                               BODY_HEIGHT)}

# Route of administration (SNOMED CT, the FHIR R4 RouteCodes value set) for each route
# OpenKAP knows; a sublingual lozenge is sublingual, a swallowed troche oral.
ROUTE_SNOMED: dict[str, tuple[str, str]] = {
    "iv_infusion": ("47625008", "Intravenous route"),
    "intramuscular": ("78421000", "Intramuscular route"),
    "intranasal_esketamine": ("46713006", "Nasal route"),
    "intranasal_racemic": ("46713006", "Nasal route"),
    "sublingual": ("37839007", "Sublingual route"),
    "oral": ("26643006", "Oral route"),
}

# Patient.gender is administrative gender; OpenKAP records sex at birth, and US Core's
# birth-sex extension carries it too (F, M, or UNK where neither applies).
GENDER = {"female": "female", "male": "male", "intersex": "other", "unknown": "unknown"}
BIRTH_SEX = {"female": "F", "male": "M", "intersex": "UNK", "unknown": "UNK"}
SEX_FROM_GENDER = {"female": "female", "male": "male", "other": "intersex", "unknown": "unknown"}


def coding(system: str, code: str, display: str = "") -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def quantity(value: float | int, vital: Vital) -> dict[str, Any]:
    return {"value": value, "unit": vital.unit_display, "system": UCUM, "code": vital.unit}


def instant(moment: datetime) -> str:
    """An aware datetime as a FHIR instant in UTC (``2026-01-05T14:03:00Z``)."""
    if moment.tzinfo is None:
        raise ValueError("a FHIR instant needs a time zone")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- OperationOutcome and Bundle ---------------------------------------------------------


_NOT_FHIR_WHITESPACE = re.compile(r"[^\S \r\n\t]")


def fhir_string(text: str) -> str:
    """A FHIR string: no whitespace but space, tab and line breaks (an echoed parameter
    name may hold anything)."""
    return _NOT_FHIR_WHITESPACE.sub(" ", text)


def operation_outcome(code: str, diagnostics: str, *, expression: list[str] | None = None,
                      severity: str = "error") -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": fhir_string(diagnostics)}
    kept = [fhir_string(e) for e in expression or [] if e.strip()]
    if kept:
        issue["expression"] = kept
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def searchset(*, base: str, entries: list[dict[str, Any]] | None, total: int | None,
              links: dict[str, str]) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = [{"relation": rel, "url": url} for rel, url in links.items()]
    if entries is not None:
        bundle["entry"] = [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in entries
        ]
    return bundle


# --- search-parameter grammar (hl7.org/fhir/R4/search.html) ------------------------------


class SearchParamError(ValueError):
    """A search parameter that does not parse; the message names it."""


DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_DATE = re.compile(
    r"^(?P<prefix>[a-z]{2})?(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True)
class DateRange:
    """A date search value: the prefix and the half-open interval [start, end) that its
    precision implies (``2026-03`` is all of March). ``ap`` (approximately) is read as
    ``eq`` on the value's own precision."""

    prefix: str
    start: datetime
    end: datetime

    def matches(self, low: datetime, high: datetime | None = None) -> bool:
        """Whether a resource whose time is the instant ``low`` (``high`` None) or the
        period [low, high) satisfies the search, per the R4 rule of each prefix."""
        if high is None:
            if self.prefix in ("eq", "ap"):
                return self.start <= low < self.end
            if self.prefix == "ne":
                return not self.start <= low < self.end
            if self.prefix in ("gt", "ge", "sa"):
                return low >= (self.start if self.prefix == "ge" else self.end)
            return low < (self.end if self.prefix == "le" else self.start)  # lt, le, eb
        inside = low >= self.start and high <= self.end
        return {
            "eq": inside, "ap": inside, "ne": not inside,
            "gt": high > self.end, "ge": high > self.start,
            "lt": low < self.start, "le": low < self.end,
            "sa": low >= self.end, "eb": high <= self.start,
        }[self.prefix]


def parse_date(value: str, *, tz: Any = UTC) -> DateRange:
    """Parse ``[prefix]YYYY[-MM[-DD[Thh:mm[:ss][zone]]]]``. A value without a zone is
    read in ``tz`` (the clinic's zone), as R4 leaves it to the server."""
    match = _DATE.match(value.strip())
    if not match:
        raise SearchParamError(f"'{value}' is not a FHIR date (e.g. ge2026-01-31 or 2026-01-31T09:00:00Z)")
    prefix = match["prefix"] or "eq"
    if prefix not in DATE_PREFIXES:
        raise SearchParamError(f"'{prefix}' is not a date prefix ({', '.join(DATE_PREFIXES)})")
    year = int(match["year"])
    try:
        if match["hour"] is not None:
            zone: Any = tz
            if match["tz"] == "Z":
                zone = UTC
            elif match["tz"]:
                sign = 1 if match["tz"][0] == "+" else -1
                hours, minutes = int(match["tz"][1:3]), int(match["tz"][4:6])
                zone = dt_timezone(sign * timedelta(hours=hours, minutes=minutes))
            second = int(match["second"]) if match["second"] else None
            start = datetime(year, int(match["month"]), int(match["day"]), int(match["hour"]),
                             int(match["minute"]), second or 0, tzinfo=zone)
            end = start + (timedelta(seconds=1) if second is not None else timedelta(minutes=1))
        elif match["day"] is not None:
            first = date(year, int(match["month"]), int(match["day"]))
            start, end = _local_day(first, tz), _local_day(first + timedelta(days=1), tz)
        elif match["month"] is not None:
            month = int(match["month"])
            first = date(year, month, 1)
            after = date(year + month // 12, month % 12 + 1, 1)
            start, end = _local_day(first, tz), _local_day(after, tz)
        else:
            start, end = _local_day(date(year, 1, 1), tz), _local_day(date(year + 1, 1, 1), tz)
    except (ValueError, OverflowError) as exc:
        raise SearchParamError(f"'{value}' is not a valid date: {exc}") from None
    return DateRange(prefix, start, end)


def _local_day(day: date, tz: Any) -> datetime:
    moment = datetime(day.year, day.month, day.day)  # noqa: DTZ001 - localised on the next line
    if hasattr(tz, "localize"):
        return tz.localize(moment)  # type: ignore[no-any-return]
    return moment.replace(tzinfo=tz)


@dataclass(frozen=True)
class Token:
    system: str | None  # None: any system; "": no system
    code: str


def parse_token(value: str) -> list[Token]:
    """``code``, ``system|code``, ``|code`` or ``system|``; commas separate alternatives (OR)."""
    tokens = []
    for part in _split_commas(value):
        if "|" in part:
            system, code = part.split("|", 1)
            tokens.append(Token(system, code))
        else:
            tokens.append(Token(None, part))
        if not tokens[-1].code and not tokens[-1].system:
            raise SearchParamError(f"'{value}' is not a token (code or system|code)")
    return tokens


def token_matches(tokens: list[Token], codings: list[tuple[str, str]]) -> bool:
    for token in tokens:
        for system, code in codings:
            if token.system is not None and token.system != system:
                continue
            if token.code and token.code != code:
                continue
            return True
    return False


def parse_reference(value: str, resource_type: str) -> str:
    """``123``, ``Patient/123`` or a full URL ending in ``Patient/123`` → ``123``."""
    text = value.strip()
    if "/" in text:
        parts = text.rstrip("/").split("/")
        if len(parts) < 2 or parts[-2] != resource_type:
            raise SearchParamError(f"'{value}' is not a reference to a {resource_type}")
        text = parts[-1]
    if not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", text):
        raise SearchParamError(f"'{value}' is not a {resource_type} id")
    return text


def _split_commas(value: str) -> list[str]:
    # A backslash escapes a comma inside a value (R4 search.html#escaping).
    parts = re.split(r"(?<!\\),", value)
    return [p.replace("\\,", ",") for p in parts]


def parse_count(value: str, *, maximum: int) -> int:
    try:
        count = int(value)
    except ValueError:
        raise SearchParamError(f"_count must be a whole number, not '{value}'") from None
    if count < 0:
        raise SearchParamError("_count may not be negative")
    return min(count, maximum)


def split_full_name(full_name: str) -> dict[str, Any]:
    """A HumanName from a single "full name" field: the last word is the family name,
    a leading "Dr." a prefix. The text keeps the name as written."""
    words = full_name.split()
    name: dict[str, Any] = {"text": full_name}
    if words and words[0].rstrip(".").lower() in {"dr", "mr", "mrs", "ms", "mx", "prof"}:
        name["prefix"] = [words.pop(0)]
    if words:
        name["family"] = words[-1]
        if len(words) > 1:
            name["given"] = words[:-1]
    return name


# --- SMART scopes (hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html) -----------

SCOPE_LETTERS = "cruds"
_V1_ACTIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"^system/(?P<type>\*|[A-Z][A-Za-z]{1,63})\.(?P<action>read|write|\*|[cruds]{1,5})$")


def parse_scope(scope: str) -> tuple[str, str] | None:
    """``system/Patient.rs`` (SMART v2) or ``system/Patient.read`` (v1) → (type, letters);
    None for anything else (user/, patient/, launch scopes are not granted here). v2
    letters must be in the order c, r, u, d, s."""
    match = _SCOPE.match(scope)
    if not match:
        return None
    action = match["action"]
    if action in _V1_ACTIONS:
        return match["type"], _V1_ACTIONS[action]
    if "".join(c for c in SCOPE_LETTERS if c in action) != action:
        return None
    return match["type"], action


def scope_allows(scopes: Iterable[str], resource_type: str, letter: str) -> bool:
    for scope in scopes:
        parsed = parse_scope(scope)
        if parsed and parsed[0] in ("*", resource_type) and letter in parsed[1]:
            return True
    return False


def grant_scopes(requested: Iterable[str], registered: Iterable[str]) -> list[str]:
    """The requested scopes that the registered ones cover, each interaction by interaction
    (``system/Patient.rs`` asked of a client registered for ``system/*.read`` is granted)."""
    allowed = list(registered)
    granted = []
    for scope in requested:
        parsed = parse_scope(scope)
        if parsed is None:
            continue
        resource_type, letters = parsed
        if all(_star_allowed(allowed, c) if resource_type == "*" else scope_allows(allowed, resource_type, c)
               for c in letters):
            granted.append(scope)
    return granted


def _star_allowed(registered: list[str], letter: str) -> bool:
    return any((p := parse_scope(s)) is not None and p[0] == "*" and letter in p[1] for s in registered)
