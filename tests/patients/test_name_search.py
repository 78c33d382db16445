"""Name search answered from the word-start keys returns exactly what the definition it
replaced returned: each word starts ``search_name``, or follows a space or a hyphen in it
(ADR 0041), tested against that definition written as the old query."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection, transaction
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkap.patients import selectors, services
from openkap.patients.models import Patient, PatientNameKey
from tests.profiles import examples

ALPHABET = "abé -'"
part = st.text(alphabet=ALPHABET, min_size=1, max_size=9).map(str.strip).filter(bool)
people = st.lists(st.tuples(part, part, st.one_of(st.just(""), part)), min_size=1, max_size=6)
query = st.lists(st.text(alphabet="abéAB-'", min_size=1, max_size=4), min_size=1, max_size=3).map(" ".join)


def _old_definition(qs, query: str):  # type: ignore[no-untyped-def]
    for term in query.lower().split()[:4]:
        qs = qs.filter(Q(search_name__startswith=term) | Q(search_name__contains=f" {term}")
                       | Q(search_name__contains=f"-{term}"))
    return qs


@pytest.mark.django_db
@settings(max_examples=examples(40), suppress_health_check=[HealthCheck.function_scoped_fixture])  # each example rolls back
@given(people=people, renamed=st.one_of(st.none(), part), queries=st.lists(query, min_size=1, max_size=4))
def test_indexed_search_returns_what_the_word_start_definition_returns(
    people, renamed, queries, org, other_org, admin, nurse, outsider, as_actor
):
    by, registrar = as_actor(nurse, org), as_actor(admin, org)
    with transaction.atomic():
        made = [services.patient_create(by=registrar, data={
            "legal_given_name": g, "legal_family_name": f, "preferred_name": p,
            "date_of_birth": date(1980, 1, 1), "sex_at_birth": "female"}) for g, f, p in people]
        # Another clinic's patient with the same name must never be found.
        g, f, p = people[0]
        services.patient_create(by=as_actor(outsider, other_org), data={
            "legal_given_name": g, "legal_family_name": f, "preferred_name": p,
            "date_of_birth": date(1980, 1, 1), "sex_at_birth": "female"})
        if renamed is not None:  # a renamed patient is found by the new name only
            services.patient_update(by=registrar, patient_id=made[0].id, data={"legal_family_name": renamed})
        for q in queries:
            found = selectors.patient_search(by=by, query=q, per_page=100)
            expected = _old_definition(Patient.objects.filter(organization=org), q).order_by("id")
            assert sorted(p.id for p in found) == list(expected.values_list("id", flat=True)), q
        transaction.set_rollback(True)


def test_the_keys_follow_the_name(admin, org, as_actor):
    by = as_actor(admin, org)
    p = services.patient_create(by=by, data={"legal_given_name": "Ana", "legal_family_name": "Ruiz-Soto",
                                             "date_of_birth": "1980-01-01", "sex_at_birth": "female"})
    assert set(PatientNameKey.objects.filter(patient=p).values_list("key", flat=True)) == {
        "ana ruiz-soto", "ruiz-soto", "soto"}
    services.patient_update(by=by, patient_id=p.id, data={"preferred_name": "Annie"})
    assert set(PatientNameKey.objects.filter(patient=p).values_list("key", flat=True)) == {
        "ana ruiz-soto annie", "ruiz-soto annie", "soto annie", "annie"}
    assert [x.id for x in selectors.patient_search(by=by, query="ann sot")] == [p.id]
    assert list(selectors.patient_search(by=by, query="uiz")) == []


@pytest.mark.postgres
def test_postgresql_answers_name_and_mrn_searches_from_their_indexes(nurse, org, as_actor):
    by = as_actor(nurse, org)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask whether the index *can* answer
        for sql in _searches_sql(by):
            cursor.execute("EXPLAIN " + sql[0], sql[1])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan on patients_patientnamekey" not in plan, plan
            assert "Seq Scan on patients_patient " not in plan, plan


def _searches_sql(by):  # type: ignore[no-untyped-def]
    name = Patient.objects.filter(organization=by.organization).filter(selectors._name_term(by.organization.id, "smi"))
    mrn = Patient.objects.filter(organization=by.organization, mrn__istartswith="T0001")
    return [q.query.sql_with_params() for q in (name, mrn)]
