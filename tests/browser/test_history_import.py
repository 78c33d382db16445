import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

PATIENTS = ("external_id,given_name,family_name,date_of_birth,sex_at_birth\n"
            "OLD-1,Ada,Lovelace,1980-12-10,female\nOLD-2,Bo,Byron,2999-01-01,male\n")


def test_admin_checks_a_history_file_and_sees_the_errors_by_line(signed_in, tmp_path):
    page = signed_in("admin@demo.openkap.org")
    page.get_by_role("link", name="Import history").click()
    expect(page.get_by_role("heading", name="Import history")).to_be_visible()
    path = tmp_path / "patients.csv"
    path.write_text(PATIENTS)
    page.get_by_label("Patients:", exact=False).check()
    page.get_by_label("CSV file (UTF-8)").set_input_files(str(path))
    page.get_by_role("button", name="Check").click()
    result = page.get_by_role("status")
    expect(result).to_contain_text("Nothing imported: 1 of 2 rows have errors")
    expect(page.get_by_role("region", name="Errors by line")).to_contain_text("date_of_birth 2999-01-01 is in the future")
    screenshot(page, "history_import_errors")


def test_history_import_page_on_a_phone(signed_in):
    page = signed_in("admin@demo.openkap.org", width=390, height=844)
    page.goto("/import/")
    expect(page.get_by_role("heading", name="Import history")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "phone_history_import")
