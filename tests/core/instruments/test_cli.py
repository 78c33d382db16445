"""`openkap score` / `openkap instruments`: exit codes, stdout JSON, stderr messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from openkap.core.instruments.cli import list_main, score_main


def run_score(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = score_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_score_phq9_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_score(capsys, "phq9", "3", "3", "2", "2", "2", "2", "2", "1", "1")
    data = json.loads(out)
    assert (code, err) == (0, "")
    assert (data["instrument"], data["total"], data["band"]) == ("phq9", 18, "moderately_severe")
    assert data["flags"] == ["phq9_item9"]
    assert data["subscales"] == {}


def test_cli_score_accepts_published_name_and_commas(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_score(capsys, "GAD-7", "1,1,2,1,0,2,1")
    assert code == 0
    assert json.loads(out)["total"] == 8


def test_cli_score_subscales_present(capsys: pytest.CaptureFixture[str]) -> None:
    answers = [
        "2",
        "1",
        "2",
        "3",
        "2",
        "2",
        "3",
        "0",
        "2",
        "1",
        "3",
        "2",
        "2",
        "2",
        "2",
        "0",
        "3",
        "2",
        "2",
        "3",
    ]
    code, out, _err = run_score(capsys, "pcl5", *answers)
    assert code == 0
    assert json.loads(out)["subscales"] == {
        "cluster_b": 10,
        "cluster_c": 5,
        "cluster_d": 12,
        "cluster_e": 12,
    }


@pytest.mark.parametrize(("sex", "band"), [("female", "positive"), ("male", "negative")])
def test_cli_score_sex_specific_cutoff(
    capsys: pytest.CaptureFixture[str], sex: str, band: str
) -> None:
    code, out, _err = run_score(capsys, "auditc", "1", "1", "1", "--sex", sex)
    assert code == 0
    assert json.loads(out)["band"] == band


def test_cli_score_sex_before_answers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_score(capsys, "auditc", "--sex", "female", "1", "1", "1")
    assert (code, json.loads(out)["band"]) == (0, "positive")


def test_cli_score_blank_allowed_where_rule_exists(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_score(capsys, "asq", "0", "-", "0", "0", "0")
    data = json.loads(out)
    assert code == 0
    assert (data["band"], data["flags"]) == ("non_acute_positive", ["asq_positive"])


def test_cli_score_cssrs_skip_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_score(capsys, "cssrs", "1", "0", "-", "-", "-", "1", "1")
    data = json.loads(out)
    assert code == 0
    assert (data["total"], data["band"], data["flags"]) == (None, "high", ["cssrs_positive"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["phq9", "1", "2", "1"], "expects 9 answers"),
        (["phq9", *["0"] * 10], "expects 9 answers"),
        (["phq9", "1", "2", "1", "2", "1", "1", "0", "1", "4"], "not an answer"),
        (["phq9", "1", "2", "x", "2", "1", "1", "0", "1", "0"], "answer 3 ('x') is not an answer"),
        (["phq9", "1", "2", "1.5", "2", "1", "1", "0", "1", "0"], "answer 3 ('1.5') is not an answer"),
        (["phq9", "-1", "2", "1", "2", "1", "1", "0", "1", "0"], "answer 1 ('-1') is not an answer"),
        (["bdi", "1"], "unknown instrument"),
        (["auditc", "1", "1", "1", "--sex", "other"], "invalid choice"),
        ([], "required"),
    ],
)
def test_cli_score_invalid_input_exits_2_with_stderr_only(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run_score(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err


def test_cli_score_incomplete_reports_safety_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_score(capsys, "cssrs", "1", "1", "1", "-", "0", "0", "-")
    assert code == 2
    assert "cssrs_positive" in err
    assert json.loads(out)["flags"] == ["cssrs_positive"]


def test_cli_score_phq9_blank_item_still_names_item9_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Issue 12, the reviewer's command: item 1 blank, item 9 = 3. PHQ-9 has no rule for a
    # missing item (Kroenke 2001), so no total; item 9 > 0 is a positive suicide-risk
    # answer (DESIGN §2) and must be named on both streams.
    code, out, err = run_score(capsys, "phq9", "-", "0", "0", "0", "0", "0", "0", "0", "3")
    data = json.loads(out)
    assert code == 2
    assert "no rule for missing" in err
    assert "phq9_item9 (urgent)" in err
    assert (data["scored"], data["total"], data["missing"]) == (False, None, ["q1"])
    assert data["flags"] == ["phq9_item9"]
    assert data["flag_details"][0]["items"] == ["q9"]


@pytest.mark.parametrize(
    ("argv", "flags"),
    [
        (["phq9", "1", "-", "1", "2", "1", "1", "0", "1", "0"], []),
        (["qidssr16", *["-"] * 16], []),
        # QIDS-SR16 item 12 (thoughts of death or suicide) >= 1 flags even with q1 blank.
        (["qidssr16", "-", *["0"] * 10, "2", *["0"] * 4], ["qids_item12"]),
    ],
)
def test_cli_score_unscorable_prints_flags_json_and_exits_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], flags: list[str]
) -> None:
    code, out, err = run_score(capsys, *argv)
    assert code == 2
    assert "unanswered" in err
    assert json.loads(out)["flags"] == flags


@pytest.mark.parametrize(
    ("token", "position"),
    [
        ("+1", 1),  # int() reads a sign
        ("-0", 1),
        ("1_0", 1),  # int() reads digit-group underscores: "1_0" would be 10
        ("\u0661", 1),  # ARABIC-INDIC DIGIT ONE: int() reads it as 1
        ("\uff11", 1),  # FULLWIDTH DIGIT ONE
        (" 1", 1),
        ("1.0", 1),
        ("NA", 1),  # only "-" marks a blank
        ("true", 1),
    ],
)
def test_cli_score_refuses_anything_but_plain_digits(
    capsys: pytest.CaptureFixture[str], token: str, position: int
) -> None:
    code, out, err = run_score(capsys, "phq9", token, *["0"] * 8)
    assert (code, out) == (2, "")
    assert f"answer {position} ({token!r}) is not an answer" in err


@pytest.mark.parametrize("answers", ["0,,0,0,0,0,0,0,0,0", ",0,0,0,0,0,0,0,0,0", "0,0,0,0,0,0,0,0,0,"])
def test_cli_score_refuses_empty_comma_fields(
    capsys: pytest.CaptureFixture[str], answers: str
) -> None:
    # Dropping the empty field would shift every later answer onto the wrong item.
    code, out, err = run_score(capsys, "phq9", answers)
    assert (code, out) == (2, "")
    assert "is empty" in err


def test_cli_score_auditc_without_sex_is_a_possible_positive(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Bradley 2007 / US VA: women >= 3 positive, men >= 4; total 3 without sex is the
    # cautious possible positive, with a note, exit 0.
    code, out, _err = run_score(capsys, "auditc", "1", "1", "1")
    data = json.loads(out)
    assert code == 0
    assert data["band"] == "positive"
    assert data["band_label"].startswith("Possible")
    assert any("sex was not given" in note for note in data["notes"])


def test_cli_list_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert list_main([]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["ID", "NAME", "ITEMS", "RANGE", "RATER"]
    phq9_line = next(line for line in out.splitlines() if line.startswith("phq9 "))
    assert " 9 " in phq9_line
    assert "0-27" in phq9_line


def test_cli_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert list_main(["--json"]) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert (rows["phq9"]["items"], rows["phq9"]["range"]) == (9, [0, 27])
    assert rows["asq"]["range"] is None
    assert rows["meq30"]["range"] == [0, 100]
    assert rows["madrs"]["rater"] == "clinician-rated"


def test_cli_list_unknown_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert list_main(["--xml"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "unrecognized" in err


def test_cli_through_openkap_command() -> None:
    # The top-level dispatcher as a user runs it.
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "openkap.cli",
            "score",
            "phq9",
            *["1", "2", "1", "2", "1", "1", "0", "1", "0"],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (ok.returncode, ok.stderr) == (0, "")
    assert json.loads(ok.stdout)["band"] == "mild"
    bad = subprocess.run(
        [sys.executable, "-m", "openkap.cli", "score", "phq9", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.startswith("error:")
