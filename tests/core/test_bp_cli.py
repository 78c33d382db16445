"""`openkap bp`: the same SPRAVATO blood-pressure answers as the session services (issue 12)."""

from __future__ import annotations

import json

import pytest

from openkap.core.bp_cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else None, err


def test_pre_dose_above_140_90_needs_a_decision(capsys):
    # Label 2.1: ">140 mmHg systolic, >90 mmHg diastolic": weigh risk and benefit first.
    code, out, err = _run(capsys, "pre-dose", "152/94")
    assert (code, out["status"], out["may_dose"]) == (2, "needs_decision", False)
    assert "152/94 mmHg is above 140/90" in err
    code, out, _ = _run(capsys, "pre-dose", "152/94", "--decision", "BP treated; benefit outweighs a short rise.")
    assert (code, out["may_dose"]) == (0, True)


def test_pre_dose_crisis_refuses_even_with_a_decision(capsys):
    code, out, _ = _run(capsys, "pre-dose", "182/100", "--decision", "Anything at all")
    assert (code, out["status"]) == (2, "crisis")


def test_discharge_decreasing_and_still_high(capsys):
    code, out, _ = _run(capsys, "discharge", "--pre-dose", "128/80", "40:170/104", "90:166/100", "120:158/96")
    assert (code, out["status"]) == (0, "decreasing")
    code, out, err = _run(capsys, "discharge", "--pre-dose", "128/80", "40:160/98", "120:164/100")
    assert (code, out["status"]) == (2, "still_high")
    assert "practitioner experienced in blood pressure management" in err
    code, out, _ = _run(capsys, "discharge", "30:128/80")
    assert (code, out["status"]) == (2, "no_post_dose_check")


@pytest.mark.parametrize("argv", [["pre-dose", "152-94"], ["pre-dose", "80/120"], ["discharge", "40-160/98"],
                                  ["pre-dose"], ["nonsense"]])
def test_bad_input_exits_2_with_a_message(capsys, argv):
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (2, None)
    assert err.startswith("error:")
