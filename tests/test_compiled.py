"""Reads compiled once (openkap.compiled, ADR 0096) give what their querysets give: the same
rows in the same order, every column with the same value and Python type (SQLite hands
decimals and dates back as floats and text until converted), the same related objects
and annotations, for every patient of the demo clinic, another organisation's and none."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import openkap.measures.licensed
import openkap.measures.selectors
import openkap.pathway.selectors.episode
import openkap.patients.selectors
from openkap.accounts.models import User
from openkap.compiled import COMPILED_READS, CompiledRead
from openkap.measures.models import LicensedWording
from openkap.pathway.models import Episode
from openkap.patients.models import HeightMeasurement, Patient, PortalInvitation, WeightMeasurement

pytestmark = pytest.mark.django_db

MODULES = [openkap.patients.selectors, openkap.pathway.selectors.episode, openkap.measures.selectors,
           openkap.measures.licensed]
READS = {f"{m.__name__}.{name}": read for m in MODULES for name, read in vars(m).items()
         if isinstance(read, CompiledRead)}


def snapshot(obj: Model) -> dict[str, Any]:
    """Every attribute the instance holds (columns, annotations), each as its repr (type
    and value), and the related objects it carries, the same way."""
    state = {k: repr(v) for k, v in vars(obj).items() if k != "_state"}
    state["_related"] = {k: snapshot(v) if v is not None else None for k, v in obj._state.fields_cache.items()}
    state["_db"] = obj._state.db
    state["_adding"] = obj._state.adding
    return state


def test_every_compiled_read_is_compared_here():
    assert len(READS) == len(COMPILED_READS) >= 14


def test_each_compiled_read_gives_what_its_queryset_gives(demo_clinic):
    org = demo_clinic.report.organization
    patients = list(Patient.objects.filter(organization=org).values_list("id", flat=True))
    assert WeightMeasurement.objects.filter(patient_id__in=patients).count() > len(patients)  # some have several
    _rows_the_demo_lacks(org, patients[:2])
    other = Patient.objects.exclude(organization=org).first()
    cases = [{"patient_id": pid, "organization_id": org.id} for pid in patients]
    cases += [{"patient_id": pid, "organization_id": org.id + 1000} for pid in patients[:3]]  # another organisation
    cases += [{"patient_id": 0, "organization_id": org.id}]
    if other is not None:
        cases.append({"patient_id": other.id, "organization_id": org.id})
    episodes = [*Episode.objects.filter(organization=org).values_list("id", flat=True), 0]
    rows = {}
    for name, read in READS.items():
        if read.ids == ("episode_id",):
            ids_of_case = [{"episode_id": e} for e in episodes]
        else:
            ids_of_case = [{k: v for k, v in case.items() if k in read.ids} for case in cases]
            assert set(read.ids) <= {"patient_id", "organization_id"}, name
        rows[name] = 0
        for ids in ids_of_case:
            expected = [snapshot(o) for o in read.build(**ids)]
            with CaptureQueriesContext(connection) as captured:
                got = [snapshot(o) for o in read.read(**ids)]
            assert got == expected, (name, ids)
            assert len(captured) == 1, name
            rows[name] += len(got)
    # The comparison saw rows of every read (the demo has none of some), not only empty answers.
    assert all(rows.values()), rows  # every read compared on rows, not only on empty answers


def _rows_the_demo_lacks(org: Any, patient_ids: list[int]) -> None:
    """Heights (a decimal with three places), portal invitations and licensed wording (JSON)."""
    staff = User.objects.filter(memberships__organization=org, memberships__role="nurse").first()
    for i, pid in enumerate(patient_ids):
        for n in range(2):
            HeightMeasurement.objects.create(organization=org, patient_id=pid, height_cm=Decimal("170.125") + n,
                                             entered_value=Decimal("170.1"), entered_unit="cm",
                                             measured_on=date(2026, 1, 1 + n), recorded_by=staff)
            PortalInvitation.objects.create(organization=org, patient_id=pid, email=f"p{i}@example.org",
                                            token_hash=f"{i}-{n}".ljust(64, "x"), invited_by=staff,
                                            expires_at=timezone.now() + timedelta(days=n))
    LicensedWording.objects.create(organization=org, instrument_id="madrs", texts={"1": "Wording"}, updated_by=staff)


def test_an_id_the_database_cannot_hold_is_read_as_the_orm_reads_it(demo_clinic):
    read = READS["openkap.patients.selectors._PATIENT"]
    org = demo_clinic.report.organization
    patient = Patient.objects.filter(organization=org).first()
    assert read.read(patient_id=2**70, organization_id=org.id) == []
    assert [p.pk for p in read.read(patient_id=str(patient.id), organization_id=org.id)] == [patient.id]


def test_a_read_whose_query_lost_an_id_is_refused_when_compiled():
    read = CompiledRead(Patient, lambda patient_id: Patient.objects.filter(id=1), "patient_id")
    with pytest.raises(ValueError, match="patient_id"):
        read.read(patient_id=1)
