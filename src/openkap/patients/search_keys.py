"""A patient's search name and its word-start keys (ADR 0052): written with the patient
by the services, and in bulk by the demo seed and the tests' fixtures."""

from __future__ import annotations

from collections.abc import Iterable

from openkap.core import name_search
from openkap.patients.models import Patient, PatientNameKey


def search_name_of(p: Patient) -> str:
    return name_search.search_name(p.legal_given_name, p.legal_family_name, p.preferred_name)


def name_keys_of(patients: Iterable[Patient]) -> list[PatientNameKey]:
    """The search keys of saved patients whose ``search_name`` is set, each with the
    patient's place in the list (lower-cased family and given names)."""
    return [
        PatientNameKey(organization_id=p.organization_id, patient_id=p.id, key=key,
                       sort_family=p.legal_family_name.lower(), sort_given=p.legal_given_name.lower())
        for p in patients for key in name_search.word_start_suffixes(p.search_name)
    ]
