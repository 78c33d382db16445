"""The read-replica router (openkap.dbrouter, docs/adr/0055-scale-out.md): only reads asked
for with ``replica_reads()`` leave the primary, and never those that decide access or
must be read back; writes and migrations never do. The tests turn the router on
over tests/settings.py's second alias, a second connection to the test database
standing in for the replica, and look at which connection each statement went through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.sessions.models import Session
from django.db import connections
from django.test.utils import CaptureQueriesContext, override_settings

from openkap.accounts.models import Membership, User
from openkap.audit.models import AuditEvent
from openkap.dbrouter import REPLICA, ReplicaRouter, replica_reads
from openkap.fhir.models import BackendClient, ExportJob
from openkap.outcomes.cohort import CohortFilters
from openkap.outcomes.selectors import outcome_report
from openkap.pathway.models import Episode
from openkap.patients.models import BreakGlassGrant, CareTeamMember, Patient

router = ReplicaRouter()


@pytest.fixture
def replica() -> Iterator[str]:
    """The router on, with tests/settings.py's second alias as DATABASE_REPLICA_URL's."""
    try:
        with override_settings(DATABASE_ROUTERS=["openkap.dbrouter.ReplicaRouter"]):
            yield REPLICA
    finally:
        connections[REPLICA].close()  # else the test database cannot be dropped


def test_without_a_replica_everything_reads_the_primary(monkeypatch):
    monkeypatch.delitem(connections.settings, REPLICA)
    with replica_reads():
        assert router.db_for_read(Patient) == "default"


def test_only_reads_asked_for_go_to_the_replica(replica):
    assert router.db_for_read(Patient) == "default"
    with replica_reads():
        assert router.db_for_read(Patient) == REPLICA
        assert router.db_for_read(Episode) == REPLICA
        assert router.db_for_write(Patient) == "default"
    assert router.db_for_read(Patient) == "default"


@pytest.mark.parametrize(
    "model", [Session, User, Membership, AuditEvent, CareTeamMember, BreakGlassGrant, ExportJob, BackendClient])
def test_access_sessions_audit_and_jobs_stay_on_the_primary(replica, model):
    with replica_reads():
        assert router.db_for_read(model) == "default"


def test_migrations_run_on_the_primary_only(replica):
    assert router.allow_migrate("default", "patients")
    assert not router.allow_migrate(REPLICA, "patients")


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", REPLICA])
def test_a_cohort_report_reads_the_replica_and_audits_on_the_primary(replica, org, patient, prescriber, as_actor):
    """The report's reads go through the replica's connection, its audit row through the
    primary's (in the test's transaction)."""
    on_primary = CaptureQueriesContext(connections["default"])
    on_replica = CaptureQueriesContext(connections[REPLICA])
    with on_primary, on_replica:
        outcome_report(by=as_actor(prescriber, org), filters=CohortFilters(instrument="phq9"),
                                suppress=False, purpose="page")
    replica_sql = [q["sql"] for q in on_replica.captured_queries]
    primary_sql = [q["sql"] for q in on_primary.captured_queries]
    assert replica_sql
    writes = ("INSERT", "UPDATE", "DELETE")
    assert [sql for sql in replica_sql if sql.lstrip().startswith(writes) or "FOR UPDATE" in sql] == []
    assert any(sql.startswith("INSERT") and "audit_auditevent" in sql for sql in primary_sql)
    assert AuditEvent.objects.filter(object_type="outcomes_report").count() == 1
    assert Patient.objects.filter(pk=patient.pk).exists()  # outside the scope: the primary again
