"""Integration sessions due after dosing sessions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from openkap.core.pathway import (
    DosingRecord,
    IntegrationDue,
    open_integrations,
    overdue_integrations,
)

MON = date(2026, 3, 2)


def test_due_seven_days_after_dosing_by_default() -> None:
    # Dosed Monday 2 March: due by Monday 9 March; on the 10th it is 1 day overdue.
    records = [DosingRecord("DS-1", MON)]
    assert open_integrations(records, today=date(2026, 3, 9)) == [
        IntegrationDue("DS-1", MON, date(2026, 3, 9), 0)
    ]
    assert overdue_integrations(records, today=date(2026, 3, 9)) == []
    assert overdue_integrations(records, today=date(2026, 3, 10)) == [
        IntegrationDue("DS-1", MON, date(2026, 3, 9), 1)
    ]


def test_integrated_sessions_are_not_due() -> None:
    records = [
        DosingRecord("DS-1", MON, integrated_on=date(2026, 3, 20)),  # late, but done
        DosingRecord("DS-2", date(2026, 3, 5), integrated_on=date(2026, 3, 5)),
    ]
    assert open_integrations(records, today=date(2026, 4, 1)) == []


def test_window_is_a_clinic_setting() -> None:
    records = [DosingRecord("DS-1", MON)]
    overdue = overdue_integrations(records, today=date(2026, 3, 6), window_days=3)
    assert overdue == [IntegrationDue("DS-1", MON, date(2026, 3, 5), 1)]
    assert overdue[0].overdue


def test_several_sessions_soonest_due_first() -> None:
    records = [
        DosingRecord("DS-3", date(2026, 3, 12)),
        DosingRecord("DS-1", MON),
        DosingRecord("DS-2", date(2026, 3, 5), integrated_on=date(2026, 3, 6)),
    ]
    due = open_integrations(records, today=date(2026, 3, 14))
    assert [(d.session_id, d.days_overdue) for d in due] == [("DS-1", 5), ("DS-3", 0)]
    assert [d.session_id for d in overdue_integrations(records, today=date(2026, 3, 14))] == [
        "DS-1"
    ]


def test_integration_before_its_dosing_refused() -> None:
    with pytest.raises(ValueError, match="cannot be integrated before it happened"):
        open_integrations([DosingRecord("DS-1", MON, integrated_on=date(2026, 3, 1))], today=MON)


def test_negative_window_refused() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        open_integrations([], today=MON, window_days=-1)


def test_timestamps_refused() -> None:
    with pytest.raises(ValueError, match="calendar dates"):
        open_integrations([DosingRecord("DS-1", datetime(2026, 3, 2, tzinfo=UTC))], today=MON)
    with pytest.raises(ValueError, match="calendar dates"):
        open_integrations([], today=datetime(2026, 3, 2, tzinfo=UTC))
