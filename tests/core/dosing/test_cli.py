import json
import os
import subprocess
import sys

import pytest

from openkap.core.dosing.cli import main

from .helpers import example_dict

BASE = ["--session-date", "2026-11-23"]


def run(capsys, *argv):
    code = main([*BASE, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv)
    return code, json.loads(out), err


def test_iv_dose_with_a_lot_concentration(capsys):
    code, result, err = run_json(
        capsys,
        "--protocol",
        "iv-ketamine-infusion",
        "--weight-kg",
        "72.0",
        "--concentration-mg-ml",
        "10",
    )
    assert code == 0
    assert err == ""
    assert result["status"] == "approved"
    assert result["stage"] == "prepared"
    assert (result["dose_mg"], result["dose_mg_per_kg"], result["volume_ml"]) == (
        "36",
        "0.5",
        "3.6",
    )
    assert result["infusion"]["rate_ml_per_h"] == "150"
    assert result["lines"][0] == "0.5 mg/kg \u00d7 72.0 kg = 36.0 mg"


def test_without_a_concentration_only_the_order_is_computed(capsys):
    code, result, _ = run_json(capsys, "--protocol", "im-ketamine", "--weight-kg", "80")
    assert code == 0
    assert result["stage"] == "order"
    assert result["dose_mg"] == "40"
    assert "volume_ml" not in result


def test_esketamine_devices(capsys):
    code, result, _ = run_json(
        capsys,
        "--protocol",
        "intranasal-esketamine-spravato",
        "--weight-kg",
        "70",
        "--dose-mg",
        "84",
        "--last-session-date",
        "2026-11-20",
        "--mg-per-unit",
        "28",
        "--lot-number",
        "ESK-42",
    )
    assert code == 0
    assert (result["units"], result["unit_name"], result["unit_times_min"]) == (
        3,
        "device",
        [0, 5, 10],
    )
    assert result["lot_number"] == "ESK-42"


def test_product_choice_for_a_protocol_with_several(capsys):
    code, result, _ = run_json(
        capsys,
        "--protocol",
        "sublingual-ketamine-lozenge",
        "--weight-kg",
        "70",
        "--dose-mg",
        "200",
        "--product",
        "ketamine-troche-compounded",
        "--mg-per-unit",
        "200",
    )
    assert code == 0
    assert (result["units"], result["unit_name"]) == (1, "troche")


def test_hard_stop_exits_2_with_json_and_a_summary(capsys):
    code, result, err = run_json(capsys, "--protocol", "iv-ketamine-infusion", "--weight-kg", "300")
    assert code == 2
    assert result["status"] == "refused"
    assert [s["code"] for s in result["stops"]] == ["weight_implausible"]
    assert "refused (1 hard stop(s), 0 soft limit(s))" in err
    assert "STOP weight_implausible" in err


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        (["--weight-date", "2026-09-01"], "weight_too_old"),
        (["--weight-date", "2026-11-24"], "weight_date_in_future"),
        (["--last-session-date", "2026-11-22"], "interval_too_short"),
        (["--dose-mg-per-kg", "1.2"], "above_absolute_max"),
        (["--dose-mg", "36"], "dose_unit_mismatch"),
        (["--concentration-mg-ml", "0"], "concentration_unknown"),
        (["--concentration-mg-ml", "20"], "concentration_not_allowed"),
        (["--concentration-mg-ml", "100"], "volume_out_of_range"),
    ],
)
def test_each_hard_stop_through_the_cli(capsys, extra, code):
    status, result, _ = run_json(
        capsys, "--protocol", "iv-ketamine-infusion", "--weight-kg", "72", *extra
    )
    assert status == 2
    assert code in [s["code"] for s in result["stops"]]


def test_soft_limit_needs_the_override_reason(capsys):
    args = ["--protocol", "im-ketamine", "--weight-kg", "80", "--dose-mg-per-kg", "1.2"]
    code, result, err = run_json(capsys, *args)
    assert code == 2
    assert [s["code"] for s in result["soft_limits"]] == ["above_usual_range"]
    assert "--override-reason" in err
    code, result, _ = run_json(capsys, *args, "--override-reason", "Tolerated 1.0 mg/kg well")
    assert code == 0
    assert result["dose_mg"] == "96"
    assert result["override"] == {"by_role": "prescriber", "reason": "Tolerated 1.0 mg/kg well"}


def test_blank_override_reason_is_not_accepted(capsys):
    code, result, err = run_json(
        capsys,
        "--protocol",
        "im-ketamine",
        "--weight-kg",
        "80",
        "--dose-mg-per-kg",
        "1.2",
        "--override-reason",
        "  ",
    )
    assert code == 2
    assert result["override_rejected"] == "An override needs a reason."
    assert "override not accepted" in err


def test_protocol_from_a_file(capsys, tmp_path):
    data = example_dict("im-ketamine")
    data["id"] = "clinic-im"
    path = tmp_path / "clinic-im.json"
    path.write_text(json.dumps(data, default=float), encoding="utf-8")
    code, result, _ = run_json(capsys, "--protocol", str(path), "--weight-kg", "80")
    assert code == 0
    assert result["protocol"]["id"] == "clinic-im"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--weight-kg", "70"], "the following arguments are required: --protocol"),
        (["--protocol", "im-ketamine"], "required: --weight-kg"),
        (
            ["--protocol", "im-ketamine", "--weight-kg", "seventy"],
            "--weight-kg: value is not a number",
        ),
        (
            ["--protocol", "im-ketamine", "--weight-kg", "70", "--weight-date", "23/11/2026"],
            "--weight-date",
        ),
        (
            ["--protocol", "nope", "--weight-kg", "70"],
            "no example protocol 'nope'; known: im-ketamine",
        ),
        (["--protocol", "missing.json", "--weight-kg", "70"], "missing.json: cannot read"),
        (
            [
                "--protocol",
                "intranasal-esketamine-spravato",
                "--weight-kg",
                "70",
                "--concentration-mg-ml",
                "28",
            ],
            "dosed in mg/device: give --mg-per-unit",
        ),
        (
            ["--protocol", "im-ketamine", "--weight-kg", "70", "--mg-per-unit", "50"],
            "dosed in mg/mL: give --concentration-mg-ml",
        ),
        (
            [
                "--protocol",
                "sublingual-ketamine-lozenge",
                "--weight-kg",
                "70",
                "--mg-per-unit",
                "100",
            ],
            "lists several products",
        ),
        (
            [
                "--protocol",
                "im-ketamine",
                "--weight-kg",
                "70",
                "--product",
                "ketamine-hcl-injection",
            ],
            "--product needs --concentration-mg-ml or --mg-per-unit",
        ),
        (
            ["--protocol", "im-ketamine", "--weight-kg", "70", "--previous-weight-kg", "0"],
            "--previous-weight-kg: must be positive",
        ),
        (
            [
                "--protocol",
                "im-ketamine",
                "--weight-kg",
                "70",
                "--dose-mg",
                "1",
                "--dose-mg-per-kg",
                "1",
            ],
            "not allowed with argument",
        ),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert message in err


def test_malformed_protocol_file_names_the_problem(capsys, tmp_path):
    path = tmp_path / "bad.json"
    data = example_dict("im-ketamine")
    data["absolute_max"] = {}
    path.write_text(json.dumps(data, default=float), encoding="utf-8")
    code, out, err = run(capsys, "--protocol", str(path), "--weight-kg", "70")
    assert code == 2
    assert out == ""
    assert "absolute_max: give mg_per_kg, mg or both" in err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "intranasal-esketamine-spravato" in capsys.readouterr().out


def test_openkap_command_dispatches_dose():
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "openkap.cli",
            "dose",
            "--protocol",
            "oral-ketamine",
            "--weight-kg",
            "70",
            "--concentration-mg-ml",
            "10",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["volume_ml"] == "3.5"
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "openkap.cli",
            "dose",
            "--protocol",
            "oral-ketamine",
            "--weight-kg",
            "20",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["stops"][0]["code"] == "weight_implausible"


def test_a_number_is_not_looked_up_without_the_library(capsys):
    code, out, err = run(capsys, "--protocol", "12", "--weight-kg", "70")
    assert code == 2
    assert out == ""
    assert "no example protocol '12'" in err


def test_the_pure_path_of_the_openkap_command_does_not_import_django():
    script = (
        "import sys\n"
        "from openkap.cli import dose_main\n"
        "code = dose_main(['--protocol', 'im-ketamine', '--weight-kg', '70'])\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["dose_mg"] == "35"


def test_a_library_that_cannot_be_read_is_a_clear_error():
    # Production settings without a SECRET_KEY refuse to load: reported, not a traceback.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "OPENKAP_DEMO"}
    }
    done = subprocess.run(
        [sys.executable, "-m", "openkap.cli", "dose", "--protocol", "12", "--weight-kg", "70"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "cannot read the clinic's protocol library: SECRET_KEY must be set" in done.stderr
    assert "Traceback" not in done.stderr


def test_reviewers_lozenge_command_is_refused_with_exit_2(capsys):
    # Issue 12: 300 mg for 30 kg from 100 mg tablets (10 mg/kg) was approved silently.
    code, result, err = run_json(
        capsys, "--protocol", "sublingual-ketamine-lozenge", "--weight-kg", "30", "--dose-mg", "300",
        "--product", "ketamine-rdt-compounded", "--mg-per-unit", "100",
    )
    assert code == 2
    assert [s["code"] for s in result["stops"]] == ["weight_below_minimum", "above_absolute_max"]
    assert "10.0 mg/kg at 30.0 kg" in err


def test_im_at_250_kg_is_capped_whatever_the_override(capsys):
    code, result, _err = run_json(
        capsys, "--protocol", "im-ketamine", "--weight-kg", "250", "--dose-mg-per-kg", "1.5",
        "--override-reason", "Prescriber's judgement",
    )
    assert code == 2
    assert "above_absolute_max" in [s["code"] for s in result["stops"]]


def test_adjusted_body_weight_from_height_and_sex(capsys, tmp_path):
    # Devine IBW for a 177.8 cm (70 in) man 73.0 kg; adjusted for 120 kg: 91.8 kg (Bauer 2008).
    from importlib import resources

    text = resources.files("openkap.core.protocols.examples").joinpath("im-ketamine.json").read_text()
    data = json.loads(text)
    data["dosing_weight"] = "adjusted"
    path = tmp_path / "im-adjusted.json"
    path.write_text(json.dumps(data))
    code, result, _err = run_json(
        capsys, "--protocol", str(path), "--weight-kg", "120", "--dose-mg-per-kg", "1.0",
        "--height-cm", "177.8", "--sex", "male",
    )
    assert code == 0, result
    assert result["dosing_weight"] == {"basis": "adjusted", "kg": "91.8", "height_cm": "177.8", "sex": "male"}
    assert result["dose_mg"] == "92"
    code, result, _err = run_json(capsys, "--protocol", str(path), "--weight-kg", "120")
    assert code == 2
    assert result["stops"][0]["code"] == "dosing_weight_unavailable"
