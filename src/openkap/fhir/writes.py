"""Writes another system needs: Patient create and update, QuestionnaireResponse create.
The resource is read into the arguments of the same service functions the web UI and
the JSON API call (``patient_create``, ``patient_update``, ``response_enter``), so the
same checks, audit rows and safety tasks follow. Errors name the FHIR element."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError

from openkap.accounts.authz import Actor
from openkap.core import fhir as core
from openkap.core.instruments.errors import UnknownInstrumentError
from openkap.core.instruments.model import Instrument
from openkap.core.instruments.registry import get_instrument
from openkap.fhir import mapping
from openkap.fhir.framework import Found, db_id
from openkap.measures import services as measures
from openkap.patients import services as patients

# Service field → the FHIR element it came from, so a refusal names what the client sent.
PATIENT_ELEMENTS = {
    "legal_given_name": "Patient.name[0].given",
    "legal_family_name": "Patient.name[0].family",
    "preferred_name": "Patient.name",
    "date_of_birth": "Patient.birthDate",
    "sex_at_birth": "Patient.gender",
    "email": "Patient.telecom",
    "phone": "Patient.telecom",
    "address": "Patient.address",
    "emergency_contact_name": "Patient.contact[0].name",
    "emergency_contact_phone": "Patient.contact[0].telecom",
    "emergency_contact_relationship": "Patient.contact[0].relationship",
    "mrn": "Patient.identifier",
}
_SEX_FROM_BIRTHSEX = {"F": "female", "M": "male"}


def _invalid(element: str, message: str) -> ValidationError:
    return ValidationError({element: message})


def _list(body: dict[str, Any], key: str, path: str) -> list[Any]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _invalid(f"{path}.{key}", f"{key} must be a list of objects")
    return value


def _text(value: Any, element: str) -> str:
    if not isinstance(value, str):
        raise _invalid(element, "must be a string")
    return value


def _renamed(exc: ValidationError, elements: dict[str, str]) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({elements.get(k, k): v for k, v in exc.message_dict.items()})


def patient_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The service's demographic fields: every field the mapping writes, so that a PUT
    replaces them (fields FHIR does not carry, such as allergies, are left alone)."""
    names = _list(body, "name", "Patient")
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if official is None:
        raise _invalid("Patient.name", "a name with family and given is required")
    given = official.get("given", [])
    if not isinstance(given, list) or not given or not all(isinstance(g, str) for g in given):
        raise _invalid("Patient.name[0].given", "a given name is required")
    usual = next((n for n in names if n.get("use") == "usual" and n is not official), None)
    data: dict[str, Any] = {
        "legal_family_name": _text(official.get("family", ""), "Patient.name[0].family"),
        "legal_given_name": " ".join(given),
        "preferred_name": " ".join(usual.get("given", [])) if usual and isinstance(usual.get("given"), list) else "",
        "date_of_birth": _text(body.get("birthDate", ""), "Patient.birthDate"),
    }
    birth_sex = next((e.get("valueCode") for e in _list(body, "extension", "Patient")
                      if e.get("url") == f"{core.US_CORE}/us-core-birthsex"), None)
    gender = body.get("gender")
    if birth_sex in _SEX_FROM_BIRTHSEX:
        data["sex_at_birth"] = _SEX_FROM_BIRTHSEX[birth_sex]
    elif gender in core.SEX_FROM_GENDER:
        data["sex_at_birth"] = core.SEX_FROM_GENDER[gender]
    else:
        raise _invalid("Patient.gender", "gender (male, female, other, unknown) or the US Core birth sex is required")
    telecom = _list(body, "telecom", "Patient")
    data["phone"] = next((_text(t.get("value", ""), "Patient.telecom") for t in telecom if t.get("system") == "phone"), "")
    data["email"] = next((_text(t.get("value", ""), "Patient.telecom") for t in telecom if t.get("system") == "email"), "")
    data["address"] = "\n".join(_address_text(a) for a in _list(body, "address", "Patient")[:1])
    contacts = _list(body, "contact", "Patient")
    contact = contacts[0] if contacts else {}
    name = contact.get("name") or {}
    data["emergency_contact_name"] = _text(name.get("text") or " ".join(
        [*name.get("given", []), name.get("family", "")]).strip(), "Patient.contact[0].name")
    data["emergency_contact_phone"] = next(
        (t.get("value", "") for t in contact.get("telecom", []) if isinstance(t, dict) and t.get("system") == "phone"), "")
    relationship = contact.get("relationship") or [{}]
    data["emergency_contact_relationship"] = str(relationship[0].get("text", "")) if isinstance(relationship[0], dict) else ""
    return data


def _address_text(address: dict[str, Any]) -> str:
    if address.get("text"):
        return _text(address["text"], "Patient.address[0].text")
    lines = [*address.get("line", [])]
    place = " ".join(str(p) for p in (address.get("city"), address.get("state"), address.get("postalCode")) if p)
    return "\n".join(str(x) for x in [*lines, place] if x)


def patient_create(by: Actor, body: dict[str, Any]) -> Found:
    data = patient_fields(body)
    mrn = _own_mrn(by, body)
    try:
        patient = patients.patient_create(by=by, data=data, mrn=mrn)
    except ValidationError as exc:
        raise _renamed(exc, PATIENT_ELEMENTS) from None
    return Found(mapping.patient(patient), patient.id)


def patient_update(by: Actor, resource_id: str, body: dict[str, Any]) -> Found:
    data = patient_fields(body)
    try:
        patient = patients.patient_update(by=by, patient_id=db_id(resource_id), data=data)
    except ValidationError as exc:
        raise _renamed(exc, PATIENT_ELEMENTS) from None
    return Found(mapping.patient(patient), patient.id)


def _own_mrn(by: Actor, body: dict[str, Any]) -> str:
    system = mapping.mrn_system(by.organization.id)
    for identifier in _list(body, "identifier", "Patient"):
        if identifier.get("system") == system:
            return _text(identifier.get("value", ""), "Patient.identifier")
    return ""


# --- QuestionnaireResponse -----------------------------------------------------------------


def instrument_of(canonical: Any) -> Instrument:
    """``https://openkap.org/fhir/Questionnaire/phq9|version``, ``Questionnaire/phq9`` or
    any URL ending in ``/Questionnaire/<id>``."""
    if not isinstance(canonical, str) or "Questionnaire/" not in canonical:
        raise _invalid("QuestionnaireResponse.questionnaire", "name the Questionnaire (Questionnaire/phq9)")
    instrument_id = canonical.split("|", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    try:
        return get_instrument(instrument_id)
    except UnknownInstrumentError:
        raise _invalid("QuestionnaireResponse.questionnaire", f"no Questionnaire '{instrument_id}' here") from None


def _answer_value(answer: dict[str, Any], element: str) -> int:
    if "valueInteger" in answer and isinstance(answer["valueInteger"], int) and not isinstance(answer["valueInteger"], bool):
        return int(answer["valueInteger"])
    coding = answer.get("valueCoding")
    if isinstance(coding, dict) and isinstance(coding.get("code"), str) and coding["code"].lstrip("-").isdigit():
        return int(coding["code"])
    raise _invalid(element, "answer with valueInteger or the valueCoding of an answerOption")


def response_create(by: Actor, body: dict[str, Any]) -> Found:
    if body.get("status") not in ("completed", "amended"):
        raise _invalid("QuestionnaireResponse.status", "only completed responses are accepted")
    instrument = instrument_of(body.get("questionnaire"))
    subject = body.get("subject") or {}
    try:
        patient_id = db_id(core.parse_reference(str(subject.get("reference", "")), "Patient"))
    except core.SearchParamError:
        raise _invalid("QuestionnaireResponse.subject", "subject must reference a Patient") from None
    completed_at = None
    if body.get("authored") is not None:
        try:
            completed_at = datetime.fromisoformat(_text(body["authored"], "QuestionnaireResponse.authored")
                                                  .replace("Z", "+00:00"))
        except ValueError:
            raise _invalid("QuestionnaireResponse.authored", "authored must be a dateTime with a zone") from None
        if completed_at.tzinfo is None:
            raise _invalid("QuestionnaireResponse.authored", "authored needs a time zone")
    scored = {i.id for i in instrument.items}
    extra = {i.id for i in instrument.supplementary_items}
    answers: dict[str, int | None] = {}
    supplementary: dict[str, int | None] = {}
    where: dict[str, str] = {}
    for n, item in enumerate(_list(body, "item", "QuestionnaireResponse")):
        element = f"QuestionnaireResponse.item[{n}]"
        link = item.get("linkId")
        if link not in scored and link not in extra:
            raise _invalid(f"{element}.linkId", f"{instrument.short_name} has no item '{link}'")
        if item.get("item"):
            raise _invalid(f"{element}.item", "nested items are not part of this questionnaire")
        given = item.get("answer", [])
        if not isinstance(given, list) or len(given) > 1 or not all(isinstance(a, dict) for a in given):
            raise _invalid(f"{element}.answer", "at most one answer per item")
        value = _answer_value(given[0], f"{element}.answer[0]") if given else None
        (answers if link in scored else supplementary)[link] = value
        where[link] = f"{element}.answer[0]"
    try:
        response = measures.response_enter(
            by=by, patient_id=patient_id, instrument_id=instrument.id, answers=answers,
            supplementary=supplementary, completed_at=completed_at,
        )
    except ValidationError as exc:
        raise _item_error(exc, where) from None
    return Found(mapping.questionnaire_response(response), response.patient_id)


def _item_error(exc: ValidationError, where: dict[str, str]) -> ValidationError:
    """The service says 'q3 (Sleep): 7 is not an answer' under 'answers': point at the item."""
    if not hasattr(exc, "error_dict"):
        return exc
    out: dict[str, list[str]] = {}
    for key, messages in exc.message_dict.items():
        for message in messages:
            item = next((i for i in where if message.startswith((f"{i}:", f"{i} ("))), None)
            element = where[item] if item else {
                "answers": "QuestionnaireResponse.item", "supplementary": "QuestionnaireResponse.item",
                "completed_at": "QuestionnaireResponse.authored",
            }.get(key, key)
            out.setdefault(element, []).append(message)
    return ValidationError(out)
