"""`openkap pk simulate`: output formats, charts and argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openkap.cli import main as openkap_main
from openkap.core.pk import validation
from openkap.core.pk.cli import main


def test_json_without_population_has_the_median_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["simulate", "--route", "iv", "--dose-mg-kg", "0.5", "--weight-kg", "70", "--json"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["dose_mg"] == 35.0
    assert set(data["conc_ng_ml"]) == {"median"}
    assert data["tmax_min"] == 40.0
    assert len(data["times_min"]) == len(data["conc_ng_ml"]["median"])
    assert data["cmax_ng_ml"] > 0
    assert data["auc_ng_h_ml"] > 0


def test_age_reaches_the_simulation(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--route", "iv", "--dose-mg", "35", "--weight-kg", "70", "--json"]
    assert main([*argv, "--age-years", "80"]) == 0
    older = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    typical = json.loads(capsys.readouterr().out)
    assert older["age_years"] == 80
    assert older["auc_ng_h_ml"] > typical["auc_ng_h_ml"]
    assert any(
        p["name"] == "cl_multiplier" and "Perez-Ruixo" in p["source"] for p in older["parameters"]
    )


def test_json_with_population_has_bands(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "simulate",
        "--route",
        "sublingual",
        "--dose-mg",
        "100",
        "--weight-kg",
        "70",
        "--population",
        "50",
        "--seed",
        "3",
        "--hours",
        "4",
        "--json",
    ]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv) == 0
    data = json.loads(first)
    assert first == capsys.readouterr().out  # same seed, same numbers
    conc = data["conc_ng_ml"]
    assert set(conc) == {"median", "p5", "p95"}
    assert all(
        lo <= mid <= hi for lo, mid, hi in zip(conc["p5"], conc["median"], conc["p95"], strict=True)
    )
    assert data["times_min"][-1] == 240.0
    assert data["n_patients"] == 50
    assert data["seed"] == 3


def test_readable_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "simulate",
                "--route",
                "in-esketamine",
                "--dose-mg",
                "84",
                "--population",
                "20",
                "--threshold-ng-ml",
                "50",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "intranasal esketamine: 84 mg, 3 x 28-mg device(s), 5 min apart" in out
    assert "Perez-Ruixo" in out
    assert "noresketamine: Cmax" in out
    assert "min above 50 ng/mL" in out
    assert out.rstrip().endswith("Population prediction, not a dosing instruction.")


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_writes_the_chart(
    tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / f"curve{suffix}"
    assert (
        main(
            [
                "simulate",
                "--route",
                "im",
                "--dose-mg",
                "50",
                "--weight-kg",
                "70",
                "--population",
                "20",
                "--plot",
                str(target),
            ]
        )
        == 0
    )
    content = target.read_bytes()
    assert content.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in content
    assert f"Chart: {target}" in capsys.readouterr().out


def test_top_level_command_dispatches_to_pk(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        openkap_main(
            ["pk", "simulate", "--route", "oral", "--dose-mg", "25", "--weight-kg", "60", "--json"]
        )
    assert stop.value.code == 0
    assert json.loads(capsys.readouterr().out)["route"] == "oral"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--route", "iv", "--dose-mg", "-10", "--weight-kg", "70"], "dose_mg must be > 0"),
        (["--route", "iv", "--dose-mg-kg", "0.5"], "--dose-mg-kg needs --weight-kg"),
        (["--route", "iv", "--dose-mg-kg", "-0.5", "--weight-kg", "70"], "--dose-mg-kg must be"),
        (["--route", "nasal", "--dose-mg", "10"], "invalid choice"),
        (["--route", "im", "--dose-mg", "50"], "weight_kg is required"),
        (
            ["--route", "im", "--dose-mg", "50", "--weight-kg", "70", "--population", "0"],
            "population must be between",
        ),
        (
            ["--route", "im", "--dose-mg", "50", "--weight-kg", "70", "--seed", "1"],
            "--seed needs --population",
        ),
        (
            ["--route", "im", "--dose-mg", "50", "--dose-mg-kg", "1", "--weight-kg", "70"],
            "not allowed with",
        ),
        (["--route", "im"], "one of the arguments --dose-mg --dose-mg-kg is required"),
        (["--route", "im", "--dose-mg", "fifty", "--weight-kg", "70"], "invalid float value"),
        (
            ["--route", "im", "--dose-mg", "50", "--weight-kg", "70", "--infusion-min", "40"],
            "iv route only",
        ),
        (["--route", "in-esketamine", "--dose-mg", "50"], "28-mg devices"),
        (
            ["--route", "im", "--dose-mg", "50", "--weight-kg", "70", "--plot", "out.pdf"],
            ".png or .svg",
        ),
        (
            [
                "--route",
                "im",
                "--dose-mg",
                "50",
                "--weight-kg",
                "70",
                "--plot",
                "/no/such/dir/a.png",
            ],
            "does not exist",
        ),
        (["--route", "im", "--dose-mg", "50", "--weight-kg", "70", "--booster", "60"], "MIN:MG"),
        (["--route", "im", "--dose-mg", "50", "--weight-kg", "70", "--hours", "0"], "hours"),
        (
            ["--route", "im", "--dose-mg", "50", "--weight-kg", "70", "--age-years", "12"],
            "age_years",
        ),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "simulate" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--help"]) == 0
    assert "--dose-mg-kg" in capsys.readouterr().out


def test_validation_prints_each_miss_with_its_sources_side_by_side(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validation", "--table", "loso"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Leave one study out")
    rows = validation.stored_rows("loso")
    assert f"{sum(r.ok for r in rows)} of {len(rows)} rows on target" in out
    lines = out.splitlines()
    miss = next(i for i, line in enumerate(lines) if "PT2022-in" not in line and "MISS" in line)
    # The line under a miss names both sides with their numbers.
    assert "PT2022: F 17 / 13 / 11 %" in lines[miss + 1]
    assert "Yanagihara 2003: F ~45 %" in lines[miss + 1]


def test_validation_markdown_is_all_tables_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validation", "--markdown"]) == 0
    assert "## Norketamine, predicted" in capsys.readouterr().out
    assert main(["validation", "--markdown", "--table", "nk"]) == 2
    assert "--markdown prints all tables" in capsys.readouterr().err


def test_interactions_show_each_study_beside_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["interactions"]) == 0
    out = capsys.readouterr().out
    block = out[out.index("clarithromycin:") : out.index("rifampicin:")]
    assert "published: oral AUC x2.6, oral Cmax x3.6, no IV arm" in block
    # The model meets the AUC ratio; its peak moves by the same ratio, not by 3.6.
    assert "model:     oral AUC x2.6, oral Cmax x2.6, IV AUC x1 " in block
    assert "PMID 19897389" in block
    rifampicin = out[out.index("rifampicin:") : out.index("ticlopidine:")]
    assert "oral Cmax not read, IV AUC x0.86" in rifampicin
    assert "IV AUC x0.86 (25 mg" in rifampicin
