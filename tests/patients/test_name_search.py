"""Name search answered from the word-start keys returns exactly what the definition it
replaced returned: each word starts ``search_name``, or follows a space or a hyphen in it
(ADR 0041), tested against that definition written as the old query; and in the order
and with the count the old query gave (ADR 0091: sorted and counted from the keys)."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkap.patients import selectors, services
from openkap.patients.models import CareTeamMember, Patient, PatientNameKey
from tests.profiles import examples

# Capitals (ASCII: SQLite's LOWER folds no others) so the order is case-insensitive as before.
ALPHABET = "abéAB -'"
part = st.text(alphabet=ALPHABET, min_size=1, max_size=9).map(str.strip).filter(bool)
people = st.lists(st.tuples(part, part, st.one_of(st.just(""), part)), min_size=1, max_size=6)
query = st.lists(st.text(alphabet="abéAB-'", min_size=1, max_size=4), min_size=1, max_size=3).map(" ".join)


def _old_definition(qs, query: str):  # type: ignore[no-untyped-def]
    for term in query.lower().split()[:4]:
        qs = qs.filter(Q(search_name__startswith=term) | Q(search_name__contains=f" {term}")
                       | Q(search_name__contains=f"-{term}"))
    return qs


def _old_order(qs):  # type: ignore[no-untyped-def]
    """The list's order before ADR 0091 (the patients' names, lower-cased by the database)."""
    return list(qs.order_by(Lower("legal_family_name"), Lower("legal_given_name"), "id").values_list("id", flat=True))


@pytest.mark.django_db
@settings(max_examples=examples(40), suppress_health_check=[HealthCheck.function_scoped_fixture])  # each example rolls back
@given(people=people, renamed=st.one_of(st.none(), part), queries=st.lists(query, min_size=1, max_size=4),
       team=st.lists(st.booleans(), min_size=6, max_size=6), per_page=st.integers(1, 3))
def test_indexed_search_returns_what_the_word_start_definition_returns(
    people, renamed, queries, team, per_page, org, other_org, admin, nurse, therapist, outsider, as_actor
):
    by, registrar = as_actor(nurse, org), as_actor(admin, org)
    with transaction.atomic():
        made = [services.patient_create(by=registrar, data={
            "legal_given_name": g, "legal_family_name": f, "preferred_name": p,
            "date_of_birth": date(1980, 1, 1), "sex_at_birth": "female"}) for g, f, p in people]
        # The therapist sees their care team's patients only (some in two roles).
        for p, on_team in zip(made, team, strict=False):
            if on_team:
                for role in ("therapist", "prescriber"):
                    CareTeamMember.objects.create(organization=org, patient=p, user=therapist, role=role)
        # Another clinic's patient with the same name must never be found.
        g, f, p = people[0]
        services.patient_create(by=as_actor(outsider, other_org), data={
            "legal_given_name": g, "legal_family_name": f, "preferred_name": p,
            "date_of_birth": date(1980, 1, 1), "sex_at_birth": "female"})
        if renamed is not None:  # a renamed patient is found by the new name only
            services.patient_update(by=registrar, patient_id=made[0].id, data={"legal_family_name": renamed})
        mine = Patient.objects.filter(id__in=[p.id for p, on in zip(made, team, strict=False) if on])
        for q in queries:
            for actor, visible in ((by, Patient.objects.filter(organization=org)), (as_actor(therapist, org), mine)):
                expected = _old_order(_old_definition(visible, q))
                last = max(1, -(-len(expected) // per_page))
                pages = [selectors.patient_search(by=actor, query=q, per_page=per_page, page=n)
                         for n in range(1, last + 2)]  # and one past the end: the last again
                assert [p.id for page in pages[:-1] for p in page] == expected, q
                assert (pages[-1].number, list(pages[-1])) == (last, list(pages[-2])), q
                assert {(page.count, page.count_exact) for page in pages} == {(len(expected), True)}, q
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


def test_the_keys_carry_the_sort_names_when_only_the_split_changes(admin, org, as_actor):
    """"Mary Ann" + "Smith" and "Mary" + "Ann Smith" search alike (the same keys) but sort
    apart: the keys are written again whenever a name field changes."""
    by = as_actor(admin, org)
    p = services.patient_create(by=by, data={"legal_given_name": "Mary Ann", "legal_family_name": "Smith",
                                             "date_of_birth": "1980-01-01", "sex_at_birth": "female"})
    q = services.patient_create(by=by, data={"legal_given_name": "Mary", "legal_family_name": "Lane",
                                             "date_of_birth": "1980-01-01", "sex_at_birth": "female"})
    assert [x.id for x in selectors.patient_search(by=by, query="mary")] == [q.id, p.id]  # Lane, Smith
    services.patient_update(by=by, patient_id=p.id, data={"legal_given_name": "Mary", "legal_family_name": "Ann Smith"})
    assert set(PatientNameKey.objects.filter(patient=p).values_list("sort_family", "sort_given")) == {
        ("ann smith", "mary")}
    assert [x.id for x in selectors.patient_search(by=by, query="mary")] == [p.id, q.id]  # Ann Smith, Lane


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


BENCH_KEY_STATS = {
    "patient_name_key_prefix": "208260 208260 3 1 1 1",
    "patients_patientnamekey_patient_id_827f8aa6": "208260 3",
    "patients_patientnamekey_organization_id_2247c119": "208260 208260",
    "sqlite_autoindex_patients_patientnamekey_1": "208260 3 1",
}


@pytest.mark.django_db
def test_sqlite_answers_every_term_of_a_name_search_from_the_prefix_index(nurse, org, as_actor):
    """A further term's semi-join would otherwise be driven through the patient_id index,
    reading each listed patient's keys from the table (ADR 0103)."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's planner")
    by = as_actor(nurse, org)
    sql, params = _searches_sql(by)[0]
    with connection.cursor() as cursor:
        # The planner as it sees the bench's 208,260 keys of 100,000 patients (its ANALYZE).
        cursor.execute("ANALYZE")
        cursor.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'patients_patientnamekey'")
        for index, stat in BENCH_KEY_STATS.items():
            cursor.execute("INSERT INTO sqlite_stat1 VALUES ('patients_patientnamekey', %s, %s)", [index, stat])
        cursor.execute("ANALYZE sqlite_schema")  # reads the statistics again
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = [row[3] for row in cursor.fetchall()]
    searches = [step for step in plan if step.startswith("SEARCH")]
    assert len(searches) == 2, plan
    assert all("USING COVERING INDEX patient_name_key_prefix" in step for step in searches), plan


def _searches_sql(by):  # type: ignore[no-untyped-def]
    name = selectors._name_matches(by, ["smi", "jo"])
    mrn = Patient.objects.filter(organization=by.organization, mrn__istartswith="T0001")
    return [q.query.sql_with_params() for q in (name, mrn)]
