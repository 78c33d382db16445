"""Models → FHIR R4 resources (dicts). No access checks here: callers are the FHIR
selectors and the bulk exporter, which decide what may be mapped."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, time
from html import escape
from types import SimpleNamespace
from typing import Any

from django.utils import timezone

from openkap.accounts.models import Membership, Organization, Room, Site, User
from openkap.core import fhir as core
from openkap.core.instruments.errors import UnknownInstrumentError
from openkap.core.instruments.model import Instrument
from openkap.core.instruments.registry import get_instrument
from openkap.dosing.models import (
    AdministrationEvent,
    AdverseEvent,
    DoseOrder,
    DosingSession,
    VitalSigns,
)
from openkap.ledger.models import Product
from openkap.measures.models import MeasureResponse
from openkap.pathway.models import ConsentSignature, Intake, TreatmentPlan
from openkap.patients.models import HeightMeasurement, Patient, WeightMeasurement
from openkap.scheduling.models import Appointment


def _meta(updated: datetime, profile: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"lastUpdated": core.instant(updated)}
    if profile:
        meta["profile"] = [profile]
    return meta


def mrn_system(organization_id: int) -> str:
    return f"urn:openkap:organization:{organization_id}:mrn"


# --- Patient -------------------------------------------------------------------------------


def patient(p: Patient) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(p.id),
        "meta": _meta(p.updated_at, f"{core.US_CORE}/us-core-patient"),
        "extension": [{
            "url": f"{core.US_CORE}/us-core-birthsex",
            "valueCode": core.BIRTH_SEX[p.sex_at_birth],
        }],
        "identifier": [{
            "use": "usual",
            "type": {"coding": [core.coding(core.IDENTIFIER_TYPE, "MR", "Medical record number")]},
            "system": mrn_system(p.organization_id),
            "value": p.mrn,
        }],
        "active": True,
        "name": [{"use": "official", "family": p.legal_family_name, "given": [p.legal_given_name]}],
        "gender": core.GENDER[p.sex_at_birth],
        "birthDate": p.date_of_birth.isoformat(),
        "managingOrganization": {"reference": f"Organization/{p.organization_id}"},
    }
    if p.preferred_name:
        res["name"].append({"use": "usual", "family": p.legal_family_name, "given": [p.preferred_name]})
    telecom = []
    if p.phone:
        telecom.append({"system": "phone", "value": p.phone, "use": "home"})
    if p.email:
        telecom.append({"system": "email", "value": p.email, "use": "home"})
    if telecom:
        res["telecom"] = telecom
    if p.address.strip():
        res["address"] = [{"use": "home", "text": p.address.strip()}]
    if p.emergency_contact_name:
        contact: dict[str, Any] = {"name": {"text": p.emergency_contact_name}}
        contact["relationship"] = [{
            "coding": [core.coding("http://terminology.hl7.org/CodeSystem/v2-0131", "C", "Emergency Contact")],
            **({"text": p.emergency_contact_relationship} if p.emergency_contact_relationship else {}),
        }]
        if p.emergency_contact_phone:
            contact["telecom"] = [{"system": "phone", "value": p.emergency_contact_phone}]
        res["contact"] = [contact]
    return res


# --- Practitioner, Organization, Location --------------------------------------------------


def practitioner(user: User, npi: str = "") -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": str(user.id),
        "meta": _meta(user.date_joined, f"{core.US_CORE}/us-core-practitioner"),
        "active": user.is_active,
        "name": [core.split_full_name(user.full_name or user.email)],
    }
    if npi:
        res["identifier"] = [{"system": core.NPI, "value": npi}]
    return res


def organization(org: Organization) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": str(org.id),
        "meta": _meta(org.created_at, f"{core.US_CORE}/us-core-organization"),
        "identifier": [{"system": "urn:openkap:organization", "value": org.slug}],
        "active": True,
        "name": org.name,
    }


def site_location(site: Site, updated: datetime) -> dict[str, Any]:
    address = {
        "line": [line for line in (site.address_line1, site.address_line2) if line],
        "city": site.city, "state": site.state, "postalCode": site.postal_code, "country": "US",
    }
    res: dict[str, Any] = {
        "resourceType": "Location",
        "id": f"site-{site.id}",
        "meta": _meta(updated, f"{core.US_CORE}/us-core-location"),
        "status": "active" if site.is_active else "inactive",
        "name": site.name,
        "mode": "instance",
        "physicalType": {"coding": [core.coding(
            "http://terminology.hl7.org/CodeSystem/location-physical-type", "si", "Site")]},
        "address": address,
        "managingOrganization": {"reference": f"Organization/{site.organization_id}"},
    }
    if site.phone:
        res["telecom"] = [{"system": "phone", "value": site.phone}]
    return res


def room_location(room: Room, updated: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Location",
        "id": f"room-{room.id}",
        "meta": _meta(updated, f"{core.US_CORE}/us-core-location"),
        "status": "active" if room.is_active else "inactive",
        "name": room.name,
        "description": room.get_kind_display(),
        "mode": "instance",
        "physicalType": {"coding": [core.coding(
            "http://terminology.hl7.org/CodeSystem/location-physical-type", "ro", "Room")]},
        "managingOrganization": {"reference": f"Organization/{room.organization_id}"},
        "partOf": {"reference": f"Location/site-{room.site_id}"},
    }


# --- Observation ---------------------------------------------------------------------------

_SURVEY = [{"coding": [core.coding(core.OBSERVATION_CATEGORY, "survey", "Survey")]}]
_VITAL_SIGNS = [{"coding": [core.coding(core.OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")]}]
_SCORE_UNIT = {"unit": "{score}", "system": core.UCUM, "code": "{score}"}


def _instrument(instrument_id: str) -> Instrument | None:
    try:
        return get_instrument(instrument_id)
    except UnknownInstrumentError:
        return None


def total_code(instrument: Instrument | None, instrument_id: str) -> dict[str, Any]:
    name = instrument.short_name if instrument else instrument_id
    codings = []
    if instrument and instrument.loinc_total:
        codings.append(core.coding(core.LOINC, instrument.loinc_total, f"{name} total score"))
    codings.append(core.coding(core.LOCAL_MEASURES, instrument_id, f"{name} total score"))
    return {"coding": codings, "text": f"{name} total score"}


def item_code(instrument: Instrument | None, instrument_id: str, item_id: str) -> dict[str, Any]:
    label = item_id
    codings = []
    if instrument:
        item = next((i for i in instrument.items if i.id == item_id), None)
        if item is not None:
            label = f"{instrument.short_name} {item.label}"
            if item.loinc:
                codings.append(core.coding(core.LOINC, item.loinc, item.label))
    codings.append(core.coding(core.LOCAL_MEASURES, f"{instrument_id}.{item_id}", label))
    return {"coding": codings, "text": label}


def measure_observations(r: MeasureResponse) -> list[dict[str, Any]]:
    """A scored response is a total Observation with its items as members; an unscored
    one (answers missing) has only the items it has."""
    instrument = _instrument(r.instrument_id)
    common = {
        "status": "amended" if r.corrects_id else "final",
        "category": _SURVEY,
        "subject": {"reference": f"Patient/{r.patient_id}"},
        "effectiveDateTime": core.instant(r.completed_at),
        "issued": core.instant(r.submitted_at),
    }
    meta = _meta(r.submitted_at, f"{core.US_CORE}/us-core-observation-survey")
    items = []
    for item_id, value in r.answers.items():
        if value is None:
            continue
        items.append({
            "resourceType": "Observation", "id": f"mr-{r.id}-{_safe(item_id)}", "meta": meta, **common,
            "code": item_code(instrument, r.instrument_id, item_id), "valueInteger": int(value),
            "derivedFrom": [{"reference": f"QuestionnaireResponse/{r.id}"}],
        })
    out = []
    if r.is_scored and r.total is not None:
        total: dict[str, Any] = {
            "resourceType": "Observation", "id": f"mr-{r.id}", "meta": meta, **common,
            "code": total_code(instrument, r.instrument_id),
            "valueQuantity": {"value": r.total, **_SCORE_UNIT},
            "derivedFrom": [{"reference": f"QuestionnaireResponse/{r.id}"}],
            "hasMember": [{"reference": f"Observation/{i['id']}"} for i in items],
        }
        if r.band_label:
            total["interpretation"] = [{"text": r.band_label}]
        if not items:
            del total["hasMember"]
        out.append(total)
    return out + items


def _safe(item_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in item_id)


def _vital_code(vital: core.Vital) -> dict[str, Any]:
    codings = [core.coding(core.LOINC, vital.loinc, vital.display)]
    codings += [core.coding(*c) for c in vital.extra_codings]
    return {"coding": codings, "text": vital.display}


# Built once: a bulk export maps a million of these (the dicts are only ever serialised).
_VITAL_CODES = {v.key: _vital_code(v) for v in (core.BP_PANEL, core.SYSTOLIC, core.DIASTOLIC, core.HEART_RATE,
                                                 core.SPO2, core.RESPIRATORY_RATE, core.BODY_WEIGHT,
                                                 core.BODY_HEIGHT)}


def vital_observations(v: VitalSigns, patient_id: int) -> list[dict[str, Any]]:
    updated = core.instant(v.recorded_at)
    common = {
        "status": "final",
        "category": _VITAL_SIGNS,
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{v.session_id}"},
        "effectiveDateTime": core.instant(v.taken_at),
        "issued": updated,
    }
    out = []

    def obs(vital: core.Vital, **value: Any) -> dict[str, Any]:
        return {
            "resourceType": "Observation", "id": f"vs-{v.id}-{vital.key}",
            "meta": {"lastUpdated": updated, "profile": [vital.profile]}, **common,
            "code": _VITAL_CODES[vital.key], **value,
        }

    if v.systolic is not None and v.diastolic is not None:
        out.append(obs(core.BP_PANEL, component=[
            {"code": _VITAL_CODES[c.key], "valueQuantity": core.quantity(value, c)}
            for c, value in ((core.SYSTOLIC, v.systolic), (core.DIASTOLIC, v.diastolic))
        ]))
    for vital, value in ((core.HEART_RATE, v.heart_rate), (core.SPO2, v.spo2),
                         (core.RESPIRATORY_RATE, v.respiratory_rate)):
        if value is not None:
            out.append(obs(vital, valueQuantity=core.quantity(value, vital)))
    return out


# A vitals row as the fast paths read it: the row's columns, with the two times already
# written as FHIR instants (by the database in the export, by ``vital_values`` otherwise).
VITAL_FIELDS = ("id", "fhir_patient_id", "session_id", "taken", "updated", "systolic", "diastolic",
                "heart_rate", "spo2", "respiratory_rate")
# The same row with the times as datetimes (``vital_values`` turns it into the above).
VITAL_COLUMNS = ("id", "fhir_patient_id", "session_id", "taken_at", "recorded_at", "systolic", "diastolic",
                 "heart_rate", "spo2", "respiratory_rate")
VITAL_KEYS = ("bp", "hr", "spo2", "rr")
_PRESENT = {"bp": "systolic is not None and diastolic is not None", "hr": "heart_rate is not None",
            "spo2": "spo2 is not None", "rr": "respiratory_rate is not None"}


def _vital_templates() -> dict[str, str]:
    """For each vital Observation kind, the reference mapping (``vital_observations``, the
    code the REST tests validate with fhir.resources) serialised for a row of sentinel
    values, with a ``{field}`` where each sentinel appears: the fast paths write exactly
    what the validated mapping writes (a property test compares them byte for byte)."""
    import orjson

    ints = {name: 900_000_000_000 + n for n, name in enumerate(VITAL_FIELDS) if name not in ("taken", "updated")}
    taken, updated = datetime(2999, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2998, 6, 7, 8, 9, 10, tzinfo=UTC)
    row = SimpleNamespace(**ints, taken_at=taken, recorded_at=updated)
    out = {}
    for res in vital_observations(row, row.fhir_patient_id):  # type: ignore[arg-type]
        text = orjson.dumps(res).decode().replace("{", "{{").replace("}", "}}")
        for name, value in ints.items():
            text = text.replace(str(value), "{" + name + "}")
        out[res["id"].rsplit("-", 1)[1]] = (text.replace(core.instant(taken), "{taken}")
                                            .replace(core.instant(updated), "{updated}") + "\n")
    return out


VITAL_TEMPLATES = _vital_templates()


def _compile_vital_lines() -> tuple[Callable[..., str], dict[str, Callable[..., str]]]:
    """The templates as f-strings in generated functions: a million lines are written
    ~3x faster than with ``str.format`` (no format string parsed per call). The source is
    made only from our own serialised mapping (``repr`` quotes it), never from input."""
    unpack = ", ".join(VITAL_FIELDS)
    source = [f"def vital_lines(v):\n    {unpack} = v\n    out = ''"]
    for key in VITAL_KEYS:
        source.append(f"    if {_PRESENT[key]}:\n        out += f{VITAL_TEMPLATES[key]!r}")
    source.append("    return out")
    for key in VITAL_KEYS:
        source.append(f"def line_{key}(v):\n    {unpack} = v\n    return f{VITAL_TEMPLATES[key]!r}")
    namespace: dict[str, Any] = {}
    exec("\n".join(source), namespace)  # noqa: S102 - generated from constants, see above
    return namespace["vital_lines"], {key: namespace[f"line_{key}"] for key in VITAL_KEYS}


vital_lines, _VITAL_LINE = _compile_vital_lines()
vital_lines.__doc__ = """The NDJSON lines of one vitals row (a tuple in ``VITAL_FIELDS`` order): the same
resources as ``vital_observations``, without a dict per resource (ADR 0045)."""

# What a search can tell before reading a row: each vital's codes (weight and height too)
# and each category's.
VITAL_CODINGS = {key: [(c["system"], c["code"]) for c in code["coding"]] for key, code in _VITAL_CODES.items()}
VITAL_CATEGORY_CODINGS = [(c["system"], c["code"]) for cat in _VITAL_SIGNS for c in cat["coding"]]
SURVEY_CATEGORY_CODINGS = [(c["system"], c["code"]) for cat in _SURVEY for c in cat["coding"]]


def vital_values(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row in ``VITAL_COLUMNS`` order (datetimes) as ``VITAL_FIELDS`` (instants)."""
    return (*row[:3], core.instant(row[3]), core.instant(row[4]), *row[5:])


def vital_keys(v: tuple[Any, ...]) -> list[str]:
    """The Observations a vitals row gives (either order): bp needs both pressures."""
    present = (v[5] is not None and v[6] is not None, v[7] is not None, v[8] is not None, v[9] is not None)
    return [key for key, there in zip(VITAL_KEYS, present, strict=True) if there]


def vital_observation(v: tuple[Any, ...], key: str) -> dict[str, Any]:
    """One Observation of a vitals row (``VITAL_FIELDS`` order), from the export's template."""
    import orjson

    return orjson.loads(_VITAL_LINE[key](v))


def weight_observation(w: WeightMeasurement) -> dict[str, Any]:
    return _body_observation(f"wt-{w.id}", w, core.BODY_WEIGHT, float(w.weight_kg), "kg")


def height_observation(h: HeightMeasurement) -> dict[str, Any]:
    return _body_observation(f"ht-{h.id}", h, core.BODY_HEIGHT, float(h.height_cm), "cm")


def _body_observation(resource_id: str, row: WeightMeasurement | HeightMeasurement, vital: core.Vital,
                      value: float, stored_unit: str) -> dict[str, Any]:
    """A body weight or height, in the unit stored; the unit it was entered in noted."""
    return {
        "resourceType": "Observation", "id": resource_id, "meta": _meta(row.recorded_at, vital.profile),
        "status": "final", "category": _VITAL_SIGNS,
        "code": _VITAL_CODES[vital.key],
        "subject": {"reference": f"Patient/{row.patient_id}"},
        "effectiveDateTime": row.measured_on.isoformat(),
        "issued": core.instant(row.recorded_at),
        "valueQuantity": core.quantity(value, vital),
        **({"note": [{"text": f"Entered as {row.entered_value} {row.entered_unit}"}]}
           if row.entered_unit != stored_unit else {}),
    }


def observation_codings(res: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in res["code"]["coding"]]


def observation_time(res: dict[str, Any]) -> datetime:
    text = res["effectiveDateTime"]
    if "T" in text:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    day = datetime.fromisoformat(text).date()
    return timezone.make_aware(datetime.combine(day, time.min))


# --- Encounter -----------------------------------------------------------------------------

ENCOUNTER_STATUS = {
    DosingSession.Status.SCHEDULED: "planned",
    DosingSession.Status.CHECKED_IN: "arrived",
    DosingSession.Status.DOSING: "in-progress",
    DosingSession.Status.MONITORING: "in-progress",
    DosingSession.Status.DISCHARGED: "finished",
    DosingSession.Status.CANCELLED: "cancelled",
    DosingSession.Status.NOT_DOSED: "finished",
}


def session_updated(s: DosingSession) -> datetime:
    stamps = [s.created_at, s.started_at, s.administration_started_at, s.administration_ended_at,
              s.discharged_at, s.ended_at]
    return max(t for t in stamps if t is not None)


def encounter(s: DosingSession) -> dict[str, Any]:
    start = s.started_at or s.scheduled_start
    end = s.discharged_at or s.ended_at
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": str(s.id),
        "meta": _meta(session_updated(s), f"{core.US_CORE}/us-core-encounter"),
        "identifier": [{"system": "urn:openkap:dosing-session", "value": str(s.id)}],
        "status": ENCOUNTER_STATUS[DosingSession.Status(s.status)],
        "class": core.coding(core.ACT_CODE, "AMB", "ambulatory"),
        "type": [{
            "coding": [core.coding(core.LOCAL_ENCOUNTER_TYPE, "dosing-session", "Medicine (dosing) session")],
            "text": "Medicine (dosing) session",
        }],
        "subject": {"reference": f"Patient/{s.patient_id}"},
        "period": {"start": core.instant(start), **({"end": core.instant(end)} if end else {})},
        "location": [{"location": {"reference": f"Location/room-{s.room_id}" if s.room_id
                                   else f"Location/site-{s.site_id}"}}],
        "serviceProvider": {"reference": f"Organization/{s.organization_id}"},
    }
    if s.checked_in_by_id:
        res["participant"] = [{
            "type": [{"coding": [core.coding(
                "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PART", "Participation")]}],
            "individual": {"reference": f"Practitioner/{s.checked_in_by_id}"},
        }]
    return res


# --- Questionnaire and QuestionnaireResponse -----------------------------------------------


def questionnaire_url(instrument_id: str) -> str:
    return f"{core.QUESTIONNAIRE_BASE}/{instrument_id}"


def _answer_coding(instrument_id: str, item: Any, value: int) -> dict[str, str]:
    labels = {o.value: o.label for o in item.scale.options}
    return core.coding(f"{core.QUESTIONNAIRE_BASE}/{instrument_id}/answers", str(value), labels.get(value, ""))


def questionnaire(instrument: Instrument, published: datetime) -> dict[str, Any]:
    """The instrument as a Questionnaire. Item text is the published wording only where
    its licence lets us reproduce it (``Item.text``); otherwise the short label. A
    clinic's licensed wording is never sent out."""
    items = []
    for item in (*instrument.items, *instrument.supplementary_items):
        entry: dict[str, Any] = {
            "linkId": item.id,
            "text": item.text or item.label,
            "type": "choice",
            "required": item in instrument.items and item.asked_if is None and item.missing.value == "required",
            "answerOption": [{"valueCoding": _answer_coding(instrument.id, item, v)} for v in item.scale.values],
        }
        if item.loinc:
            entry["code"] = [core.coding(core.LOINC, item.loinc, item.label)]
        items.append(entry)
    res: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": instrument.id,
        "meta": _meta(published),
        "url": questionnaire_url(instrument.id),
        "version": instrument.version,
        "name": "".join(c for c in instrument.short_name if c.isalnum()) or instrument.id,
        "title": instrument.name,
        "status": "active",
        "subjectType": ["Patient"],
        "description": f"{instrument.recall_period}. {instrument.licence_note}".strip(),
        "item": items,
    }
    if instrument.loinc_panel:
        res["code"] = [core.coding(core.LOINC, instrument.loinc_panel, instrument.name)]
    return res


def questionnaire_response(r: MeasureResponse) -> dict[str, Any]:
    instrument = _instrument(r.instrument_id)
    by_id = {i.id: i for i in (*instrument.items, *instrument.supplementary_items)} if instrument else {}
    items = []
    for item_id, value in [*r.answers.items(), *r.supplementary.items()]:
        entry: dict[str, Any] = {"linkId": item_id}
        item = by_id.get(item_id)
        if item is not None:
            entry["text"] = item.text or item.label
        if value is not None:
            coding = _answer_coding(r.instrument_id, item, int(value)) if item else core.coding(
                f"{core.QUESTIONNAIRE_BASE}/{r.instrument_id}/answers", str(value))
            entry["answer"] = [{"valueCoding": coding}]
        items.append(entry)
    res: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": str(r.id),
        "meta": _meta(r.submitted_at),
        "questionnaire": f"{questionnaire_url(r.instrument_id)}|{r.instrument_version}",
        "status": "amended" if r.corrects_id else "completed",
        "subject": {"reference": f"Patient/{r.patient_id}"},
        "authored": core.instant(r.completed_at),
        "item": items,
    }
    if r.entered_by_id and r.via not in ("portal", "link"):
        res["author"] = {"reference": f"Practitioner/{r.entered_by_id}"}
    if r.via in ("portal", "link") or r.on_behalf:
        res["source"] = {"reference": f"Patient/{r.patient_id}"}
    return res


def group(group_id: str, name: str, quantity: int, updated: datetime,
          practitioner_id: int | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Group", "id": group_id, "meta": _meta(updated),
        "type": "person", "actual": True, "name": name, "quantity": quantity,
    }
    if practitioner_id is not None:
        res["managingEntity"] = {"reference": f"Practitioner/{practitioner_id}"}
    return res


# --- the rest of the clinical record --------------------------------------------------------

_HL7 = "http://terminology.hl7.org/CodeSystem"


def _narrative(text: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{escape(text)}</div>'}


def conditions(intake: Intake, patient_id: int) -> list[dict[str, Any]]:
    """The intake's diagnoses (ICD-10-CM, shape-checked on entry) as problem-list Conditions."""
    out = []
    for n, dx in enumerate(intake.diagnoses):
        code = str(dx.get("code", ""))
        description = str(dx.get("description", "")) or code
        out.append({
            "resourceType": "Condition", "id": f"dx-{intake.id}-{n}",
            "meta": _meta(intake.updated_at, f"{core.US_CORE}/us-core-condition-problems-health-concerns"),
            "clinicalStatus": {"coding": [core.coding(f"{_HL7}/condition-clinical", "active", "Active")]},
            "verificationStatus": {"coding": [core.coding(f"{_HL7}/condition-ver-status", "confirmed", "Confirmed")]},
            "category": [{"coding": [core.coding(f"{_HL7}/condition-category", "problem-list-item",
                                                 "Problem List Item")]}],
            "code": {"coding": [core.coding(core.ICD10CM, code, description)], "text": description},
            "subject": {"reference": f"Patient/{patient_id}"},
            "recordedDate": core.instant(intake.updated_at),
        })
    return out


APPOINTMENT_STATUS = {"booked": "booked", "cancelled": "cancelled", "no_show": "noshow", "completed": "fulfilled"}


def appointment(a: Appointment) -> dict[str, Any]:
    participants = [{"actor": {"reference": f"Patient/{a.patient_id}"}, "status": "accepted"},
                    {"actor": {"reference": f"Location/room-{a.room_id}" if a.room_id else f"Location/site-{a.site_id}"},
                     "status": "accepted"}]
    res: dict[str, Any] = {
        "resourceType": "Appointment", "id": str(a.id),
        "meta": _meta(a.status_changed_at or a.created_at),
        "status": APPOINTMENT_STATUS[a.status],
        "serviceType": [{"coding": [core.coding(core.LOCAL_APPOINTMENT_KIND, a.kind, str(a.get_kind_display()))],
                         "text": str(a.get_kind_display())}],
        "start": core.instant(a.start), "end": core.instant(a.end),
        "created": core.instant(a.created_at),
        "participant": participants,
    }
    if a.patient_instructions:
        res["patientInstruction"] = a.patient_instructions
    if a.status == "cancelled" and a.cancellation_reason:
        res["cancelationReason"] = {"text": a.cancellation_reason}
    return res


_AE_OUTCOME = {"resolved": "resolved", "resolving": "recovering", "ongoing": "ongoing", "transferred": "ongoing"}


def adverse_event(e: AdverseEvent, patient_id: int) -> dict[str, Any]:
    return {
        "resourceType": "AdverseEvent", "id": str(e.id), "meta": _meta(e.recorded_at),
        "actuality": "actual",
        "event": {"coding": [core.coding(core.LOCAL_ADVERSE_EVENT, e.code, e.get_code_display())], "text": e.label},
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{e.session_id}"},
        "date": core.instant(e.onset_at), "recordedDate": core.instant(e.recorded_at),
        "recorder": {"reference": f"Practitioner/{e.recorded_by_id}"},
        "seriousness": {"coding": [core.coding(f"{_HL7}/adverse-event-seriousness",
                                               "serious" if e.serious else "non-serious")]},
        "severity": {"coding": [core.coding(f"{_HL7}/adverse-event-severity", e.severity)]},
        "outcome": {"coding": [core.coding(f"{_HL7}/adverse-event-outcome", _AE_OUTCOME[e.outcome])],
                    "text": e.get_outcome_display()},
    }


def _route(route: str) -> dict[str, Any]:
    code, display = core.ROUTE_SNOMED[route]
    return {"coding": [core.coding(core.SNOMED, code, display)], "text": display}


def _medication_concept(route: str) -> dict[str, Any]:
    name = "Esketamine" if route == "intranasal_esketamine" else "Ketamine"
    return {"coding": [core.coding(core.LOCAL_MEDICATION, name.lower(), name)], "text": name}


def medication_request(o: DoseOrder, patient_id: int, route: str) -> dict[str, Any]:
    dose = float(o.dose_mg)
    text = f"{o.dose_mg.normalize():f} mg"
    if o.ordered_mg_per_kg is not None:
        text += f" ({o.ordered_mg_per_kg.normalize():f} mg/kg x {o.weight_kg.normalize():f} kg)"
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": str(o.id), "meta": _meta(o.cancelled_at or o.signed_at),
        "status": "cancelled" if o.cancelled_at else "active",
        "intent": "order",
        "medicationCodeableConcept": _medication_concept(route),
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{o.session_id}"},
        "authoredOn": core.instant(o.ordered_at),
        "requester": {"reference": f"Practitioner/{o.signed_by_id}", "display": o.signer_name},
        "dosageInstruction": [{
            "text": text, "route": _route(route),
            "doseAndRate": [{"doseQuantity": {"value": dose, "unit": "mg", "system": core.UCUM, "code": "mg"}}],
        }],
    }
    if o.override_reason:
        res["note"] = [{"text": f"Override of {', '.join(map(str, o.overridden))}: {o.override_reason}"}]
    if o.cancelled_at and o.cancel_reason:
        res["statusReason"] = {"text": o.cancel_reason}
    return res


def medication(product: Product) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Medication", "id": str(product.id), "meta": _meta(product.created_at),
        "code": {"coding": [core.coding(core.NDC, product.ndc, product.name)] if product.ndc else [],
                 "text": product.name},
        "status": "active",
        "form": {"text": product.get_form_display()},
        "ingredient": [{
            "itemCodeableConcept": {"text": product.substance},
            "isActive": True,
            "strength": {"numerator": {"value": float(product.strength_mg_per_unit), "unit": "mg",
                                       "system": core.UCUM, "code": "mg"},
                         "denominator": {"value": 1, "unit": product.unit}},
        }],
        # 21 CFR 1308.13: ketamine and esketamine are Schedule III controlled substances.
        "extension": [{"url": core.DEA_SCHEDULE_EXTENSION, "valueCode": "CIII"}],
    }
    if not res["code"]["coding"]:
        del res["code"]["coding"]
    return res


def medication_administration(e: AdministrationEvent, patient_id: int, route: str) -> dict[str, Any]:
    prep = e.preparation
    unit_code = "mL" if prep.volume_ml is not None else "{" + (prep.unit_name or "unit") + "}"
    lot = prep.lot
    return {
        "resourceType": "MedicationAdministration", "id": str(e.id), "meta": _meta(e.recorded_at),
        "contained": [{
            "resourceType": "Medication", "id": "drawn",
            "code": {"text": prep.product_name},
            "batch": {"lotNumber": lot.lot_number, "expirationDate": lot.expires_on.isoformat()},
        }],
        "status": "completed" if e.kind not in ("stop",) else "stopped",
        "medicationReference": {"reference": "#drawn", "display": prep.product_name},
        "subject": {"reference": f"Patient/{patient_id}"},
        "context": {"reference": f"Encounter/{e.session_id}"},
        "effectiveDateTime": core.instant(e.at),
        "performer": [{"actor": {"reference": f"Practitioner/{e.recorded_by_id}"}}],
        "request": {"reference": f"MedicationRequest/{prep.order_id}"},
        "dosage": {
            "text": f"{e.amount.normalize():f} {prep.amount_unit} of {prep.concentration.normalize():f} "
                    f"{prep.concentration_unit} ({e.get_kind_display().lower()}), lot {lot.lot_number}",
            "route": _route(route),
            "dose": {"value": float(e.amount), "unit": prep.amount_unit, "system": core.UCUM, "code": unit_code},
        },
    }


def care_plan(p: TreatmentPlan, patient_id: int, current: bool) -> dict[str, Any]:
    summary = (f"Treatment plan v{p.version}: {p.indication}. {p.dosing_sessions_planned} "
               f"{core.ROUTE_SNOMED[p.route][1].lower()} medicine sessions ({p.protocol_id}, "
               f"{p.get_dose_level_display().lower()}); integration within {p.integration_cadence_days} days. "
               f"Goals: {p.goals}")
    res: dict[str, Any] = {
        "resourceType": "CarePlan", "id": str(p.id),
        "meta": _meta(p.signed_at, f"{core.US_CORE}/us-core-careplan"),
        "text": _narrative(summary),
        "status": "active" if current else "revoked",
        "intent": "plan",
        "category": [{"coding": [core.coding("http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
                                             "assess-plan", "Assessment and Plan of Treatment")]}],
        "title": f"Treatment plan v{p.version}",
        "description": p.indication,
        "subject": {"reference": f"Patient/{patient_id}"},
        "created": core.instant(p.signed_at),
        "author": {"reference": f"Practitioner/{p.signed_by_id}", "display": p.signer_name},
        "activity": [{"detail": {
            "kind": "MedicationRequest", "status": "scheduled",
            "code": _medication_concept(p.route),
            "description": f"{p.dosing_sessions_planned} medicine sessions, {p.protocol_id}",
        }}],
        "note": [{"text": f"Goals: {p.goals}"}],
    }
    return res


CONSENT_CONTENT_TYPE = "text/plain; charset=utf-8"


def consent_text(s: ConsentSignature) -> bytes:
    """The exact text the patient signed (its SHA-256 was recorded at signing)."""
    return (s.signed_text or s.document.text).encode()  # signed before placeholders: the document's own


def sha1_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()


def consent(s: ConsentSignature) -> dict[str, Any]:
    document = s.document
    return {
        "resourceType": "Consent", "id": str(s.id), "meta": _meta(s.withdrawn_at or s.signed_at),
        "status": "inactive" if s.withdrawn_at else "active",
        "scope": {"coding": [core.coding(f"{_HL7}/consentscope", "treatment", "Treatment")]},
        "category": [{"coding": [core.coding(core.LOINC, "59284-0", "Consent Document")]}],
        "patient": {"reference": f"Patient/{s.patient_id}"},
        "dateTime": core.instant(s.signed_at),
        "performer": [{"reference": f"Patient/{s.patient_id}", "display": s.typed_name}],
        "organization": [{"reference": f"Organization/{s.organization_id}"}],
        # The text signed, served at Binary/consent-N (DocumentReference/consent-N). FHIR's
        # Attachment.hash is SHA-1; the SHA-256 recorded at signing is in the DocumentReference.
        "sourceAttachment": {"contentType": CONSENT_CONTENT_TYPE, "title": f"{document.title} v{document.version}",
                             "hash": sha1_base64(consent_text(s)), "size": len(consent_text(s))},
        "policyRule": {"text": f"{document.title} v{document.version} ({document.get_route_display()})"},
        "provision": {"type": "deny" if s.withdrawn_at else "permit"},
    }


def practitioner_role(m: Membership) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "PractitionerRole", "id": str(m.id),
        "meta": _meta(m.created_at, f"{core.US_CORE}/us-core-practitionerrole"),
        "active": m.is_active,
        "practitioner": {"reference": f"Practitioner/{m.user_id}"},
        "organization": {"reference": f"Organization/{m.organization_id}"},
        "code": [{"coding": [core.coding(core.LOCAL_ROLE, m.role, m.get_role_display())],
                  "text": m.get_role_display()}],
    }
    if m.npi:
        res["identifier"] = [{"system": core.NPI, "value": m.npi}]
    if m.site_id:
        res["location"] = [{"reference": f"Location/site-{m.site_id}"}]
    return res
