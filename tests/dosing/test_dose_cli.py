"""``openkap dose --protocol N``: a version of the clinic's protocol library, read from
the database and dosed from as a session doses from it (approval included)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from openkap.cli import dose_main
from openkap.dosing import services
from tests.conftest import PASSWORD
from tests.core.dosing.helpers import example_dict

BASE = ["--session-date", "2026-11-23"]


def run(capsys, *argv):
    code = dose_main([*BASE, *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def clinic_im(prescriber_actor):
    """The IM example as the clinic's own protocol, with its default raised to 0.6 mg/kg,
    so a result from the shipped example (0.5 mg/kg) cannot pass for it."""
    data = example_dict("im-ketamine")
    data["id"] = "clinic-im"
    data["dose_rule"]["default"] = Decimal("0.6")
    return services.protocol_draft_create(
        by=prescriber_actor, content=json.dumps(data, default=float)
    )


@pytest.fixture
def approved_im(clinic_im, prescriber_actor):
    return services.protocol_approve(
        by=prescriber_actor, version_id=clinic_im.id, password=PASSWORD
    )


def test_an_approved_library_version_gives_the_dose(capsys, approved_im):
    code, out, err = run(
        capsys,
        "--protocol",
        str(approved_im.id),
        "--weight-kg",
        "70",
        "--concentration-mg-ml",
        "50",
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "approved"
    assert result["protocol"] == {"id": "clinic-im", "version": 1, "route": "intramuscular"}
    # 0.6 mg/kg x 70 kg = 42 mg; 42 mg / 50 mg/mL = 0.84 mL.
    assert (result["dose_mg"], result["dose_mg_per_kg"], result["volume_ml"]) == (
        "42",
        "0.6",
        "0.84",
    )
    assert result["lines"][0].startswith("0.6 mg/kg")
    # Which version the number named, on stderr, away from the JSON.
    assert f"protocol version {approved_im.id}: clinic-im v1 of Test KAP Clinic, approved by" in err


def test_a_draft_gives_the_sessions_hard_stop(capsys, clinic_im):
    code, out, err = run(capsys, "--protocol", str(clinic_im.id), "--weight-kg", "70")
    assert code == 2
    refusal = json.loads(out)
    assert refusal["status"] == "refused"
    assert refusal["stops"] == [
        {
            "code": "protocol_not_approved",
            "message": "Protocol clinic-im version 1 is not approved by a prescriber of this organisation.",
        }
    ]
    assert "STOP protocol_not_approved" in err
    assert "clinic-im v1 of Test KAP Clinic, draft" in err


def test_a_new_draft_does_not_stand_for_the_approved_version(capsys, approved_im, prescriber_actor):
    data = json.loads(approved_im.content)
    data["dose_rule"]["default"] = 0.7
    draft = services.protocol_revise(
        by=prescriber_actor,
        version_id=approved_im.id,
        content=json.dumps(data),
        change_reason="Higher default.",
    )
    code, out, _ = run(capsys, "--protocol", str(draft.id), "--weight-kg", "70")
    assert code == 2
    assert [s["code"] for s in json.loads(out)["stops"]] == ["protocol_not_approved"]
    code, out, _ = run(capsys, "--protocol", str(approved_im.id), "--weight-kg", "70")
    assert code == 0
    assert json.loads(out)["dose_mg"] == "42"


@pytest.mark.django_db
@pytest.mark.parametrize("number", ["999999", "999999999999999999"])
def test_an_unknown_number_is_a_clear_error(capsys, number):
    code, out, err = run(capsys, "--protocol", number, "--weight-kg", "70")
    assert code == 2
    assert out == ""
    assert f"no protocol version {number} in the clinic's protocol library" in err


@pytest.mark.django_db
@pytest.mark.parametrize("word", ["0", "-3", "12a", "nope"])
def test_what_is_not_a_version_number_is_not_looked_up(capsys, word, django_assert_num_queries):
    with django_assert_num_queries(0):
        code, out, err = run(capsys, "--protocol", word, "--weight-kg", "70")
    assert code == 2
    assert out == ""
    assert f"no example protocol {word!r}" in err


def test_examples_and_files_come_before_the_library(
    capsys, approved_im, tmp_path, monkeypatch, django_assert_num_queries
):
    with django_assert_num_queries(0):
        code, out, _ = run(capsys, "--protocol", "im-ketamine", "--weight-kg", "70")
    assert code == 0
    assert json.loads(out)["dose_mg"] == "35"
    # A file in the working directory named like the number is the file.
    data = example_dict("im-ketamine")
    data["id"] = "from-file"
    (tmp_path / str(approved_im.id)).write_text(json.dumps(data, default=float), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with django_assert_num_queries(0):
        code, out, _ = run(capsys, "--protocol", str(approved_im.id), "--weight-kg", "70")
    assert code == 0
    assert json.loads(out)["protocol"]["id"] == "from-file"
