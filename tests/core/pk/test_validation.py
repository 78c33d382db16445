"""The racemic model against the published data it was fitted to, and leave-one-study-out.

Data: src/openkap/core/pk/data/observations.json (each value with its paper and
table or figure). Target (issue 19): Cmax and AUC within 0.75-1.33 of the
observed mean, Tmax within +/-15 min, typical 70-kg individual.

- In sample: every arm re-simulated here through simulate(), the same call the
  clinic's pages use, with the parameters in data/fitted.json.
- Leave one study out: each study predicted by the model fitted without it.
  The table is computed by `python -m openkap.core.pk.fit --write` (a minute of
  fitting) and stored in data/fitted.json; test_fit.py re-computes one study's
  rows and checks the stored parameters reproduce, so the table cannot go stale.

Rows that miss are strict xfails with the reason: published sources (or the
two dose groups of one study) that disagree with each other, named side by side.
Run with -s for the table.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import pytest

from openkap.core.pk.fit import FITTED, OBSERVATIONS, WEIGHT_KG, Row, arm_dose, format_rows
from openkap.core.pk.params import IM_ABSORPTION
from openkap.core.pk.simulation import Analyte, SimulationResult, simulate

DATA = json.loads(OBSERVATIONS.read_text())
STORED = json.loads(FITTED.read_text())

_IN_DISAGREE = (
    "the only intranasal racemic concentrations (PT2022, F 11-17 %) disagree with the only "
    "other intranasal F (Yanagihara 2003, ~45 %, n=3): fitted without PT2022 the model "
    "falls back on Yanagihara and over-predicts AUC 3-5x"
)
_ORAL_TMAX = (
    "one gut absorption serves the oral and the swallowed sublingual dose: Chong 2006's oral "
    "Tmax (0.96 +/- 0.8 h, n=6) cannot be met together with the sublingual Tmax of Chong "
    "and Rolan 2014 (0.75 h) and Grant 1981's oral Cmax"
)
_IM_DISAGREE = (
    "Hirlinger 1984's two IM groups disagree under linear kinetics: the 1 mg/kg median at "
    "15 min (474 ng/mL) is 3.2x the 0.5 mg/kg median at 30 min (147) for twice the dose, and "
    "the medians peak at different times (15 vs 30 min); 20 trauma patients in two groups, "
    "weights and the other sampling times not in the abstract"
)
_IV_EARLY = (
    "PT2022's 10-mg push (296 ng/mL at 2 min, 30 per mg) against the emergency study's "
    "5-min medians (167 and 238 ng/mL after 0.25 and 0.5 mg/kg: 9.5 and 6.8 per mg): fitted "
    "without the emergency study the early distribution follows PT2022 and over-predicts at "
    "5 min; neither abstract states the injection time"
)
# (study, arm, metric) -> why it misses; "in" for in-sample rows, "loso" for held-out ones.
KNOWN_MISSES: dict[tuple[str, str, str], str] = {
    ("in", "Chong2006-oral-25mg", "Tmax"): _ORAL_TMAX,
    ("in", "Hirlinger1984-im-0.5mgkg", "Tmax"): _IM_DISAGREE,
    ("in", "Hirlinger1984-im-1mgkg", "C(15 min)"): _IM_DISAGREE,
    ("loso", "PT2022-in-10mg", "AUC0-inf"): _IN_DISAGREE,
    ("loso", "PT2022-in-30mg", "AUC0-inf"): _IN_DISAGREE,
    ("loso", "PT2022-in-50mg", "Cmax"): _IN_DISAGREE,
    ("loso", "PT2022-in-50mg", "AUC0-inf"): _IN_DISAGREE,
    ("loso", "Chong2006-sl-25mg", "AUC0-8h"): (
        "without Chong 2006 the sublingual F comes from Rolan 2014 (29 %) and the IV "
        "exposure of PT2022/Hasan 2021; Chong's own AUC is 1.4x that"
    ),
    ("loso", "Chong2006-oral-25mg", "Tmax"): _ORAL_TMAX,
    ("loso", "Grant1981-oral-0.5mgkg", "Cmax"): (
        "Grant 1981's oral Cmax (45 ng/mL at 0.5 mg/kg) is 1.5x what Chong 2006's oral "
        "arm (22.8 ng/mL at 25 mg) implies per mg; fitted to Chong alone the model gives 0.68"
    ),
    ("loso", "Hasan2021-iv-5mg", "Cmax"): (
        "Hasan 2021's peak (S+R 32 ng/mL after 5 mg) is lower per mg than PT2022's 10-mg "
        "bolus and Zarate 2006's infusion imply; its infusion time is not in the sources "
        "we could read (30 min assumed)"
    ),
    ("loso", "Hirlinger1984-im-1mgkg", "C(15 min)"): _IM_DISAGREE,
    ("loso", "EmergencyIV-iv-0.25mgkg", "C(5 min)"): _IV_EARLY,
    ("loso", "EmergencyIV-iv-0.5mgkg", "C(5 min)"): _IV_EARLY,
}


def _dose(arm: dict[str, Any]) -> str:
    if "dose_mg" in arm:
        return f"{arm['dose_mg']:g} mg"
    return f"{arm['dose_mg_kg']:g} mg/kg (70 kg)"


@functools.cache
def _simulated(arm_id: str, norketamine: bool = False) -> SimulationResult:
    arm = next(a for a in DATA["arms"] if a["id"] == arm_id)
    return simulate(
        route=arm["route"],
        dose_mg=arm_dose(arm),
        weight_kg=WEIGHT_KG,
        infusion_min=arm.get("infusion_min"),
        hours=24.0,
        step_s=15.0,
        norketamine=norketamine,
    )


def _metric(analyte: Analyte, times: Any, obs: dict[str, Any]) -> tuple[float, str]:
    kind = obs["kind"]
    if kind == "cmax":
        return float(np.median(analyte.cmax_ng_ml)), "Cmax"
    if kind == "tmax":
        return float(np.median(analyte.tmax_min)), "Tmax"
    if kind == "auc":
        return float(analyte.auc_inf_ng_h_ml[0]), "AUC0-inf"
    early = times <= 480
    if kind == "auc8":
        return float(np.trapezoid(analyte.median[early], times[early])) / 60, "AUC0-8h"
    return float(np.interp(obs["t_min"], times, analyte.median)), f"C({obs['t_min']:g} min)"


def _rows(analyte: str) -> list[Row]:
    """Each arm's observations of the analyte against the simulated typical individual."""
    rows = []
    nk = analyte == "norketamine"
    for arm in DATA["arms"]:
        for obs in arm["observations"]:
            kind = obs["kind"]
            if obs.get("analyte", "ketamine") != analyte or kind in ("f", "cl"):
                continue
            if obs.get("digitised"):
                continue  # digitised decay curves: fitted, and drawn on the overlay PNG
            result = _simulated(arm["id"], norketamine=nk)
            value, metric = _metric(result.analytes[1 if nk else 0], result.times_min, obs)
            rows.append(
                Row(
                    arm["study"],
                    arm["id"],
                    arm["route"],
                    _dose(arm),
                    ("NK " if nk else "") + metric,
                    obs["value"],
                    value,
                    obs["where"],
                )
            )
    return rows


def _in_sample_rows() -> list[Row]:
    return _rows("ketamine")


def _loso_rows() -> list[Row]:
    keys = ("study", "arm", "route", "dose", "metric", "observed", "predicted", "where")
    return [Row(*(r[k] for k in keys)) for r in STORED["leave_one_study_out"]]


def _params(kind: str, rows: list[Row]) -> list[Any]:
    marks = []
    for row in rows:
        reason = KNOWN_MISSES.get((kind, row.arm, row.metric))
        marks.append(
            pytest.param(
                row,
                id=f"{row.arm}-{row.metric}",
                marks=[pytest.mark.xfail(strict=True, reason=reason)] if reason else [],
            )
        )
    return marks


def test_validation_table_prints() -> None:
    """Both tables, every row with its source; every miss has a stated reason."""
    for kind, rows in (("in", _in_sample_rows()), ("loso", _loso_rows())):
        dicts = [r.as_dict() for r in rows]
        title = "In sample" if kind == "in" else "Leave one study out"
        print(f"\n{title} (typical {WEIGHT_KG:g}-kg individual):\n" + format_rows(dicts))
        for r in rows:
            print(f"  {r.arm} {r.metric}: {r.where}")
        unexplained = [
            (r.arm, r.metric)
            for r in rows
            if not r.ok and (kind, r.arm, r.metric) not in KNOWN_MISSES
        ]
        assert not unexplained, f"{title}: rows miss without a stated reason: {unexplained}"


def test_every_route_with_data_has_held_out_rows() -> None:
    routes = {r.route for r in _loso_rows()}
    assert routes == {"iv", "im", "in-racemic", "sublingual", "oral"}


@pytest.mark.parametrize("row", _params("in", _in_sample_rows()))
def test_in_sample(row: Row) -> None:
    assert row.ok, f"{row.metric}: model {row.predicted:.4g} vs observed {row.observed:.4g}"


@pytest.mark.parametrize("row", _params("loso", _loso_rows()))
def test_leave_one_study_out(row: Row) -> None:
    assert row.ok, f"{row.metric}: model {row.predicted:.4g} vs observed {row.observed:.4g}"


# Esketamine (published Perez-Ruixo model, not fitted here): no observed Cmax
# could be read (reference/dosing_pk.md V13), so only the label's Tmax is checked.
@pytest.mark.parametrize(("dose", "window"), [(56.0, (25.0, 45.0)), (84.0, (30.0, 50.0))])
def test_esketamine_tmax_within_the_label_window(dose: float, window: tuple[float, float]) -> None:
    """Spravato label: Tmax 20-40 min after the last spray (devices 5 min apart)."""
    result = simulate(route="in-esketamine", dose_mg=dose, population=400, seed=20240808, step_s=15)
    lo, hi = window
    assert lo - 15 <= result.tmax_min <= hi + 15


# Norketamine (simulate(norketamine=True)): Simons 2022's published metabolite
# model on the fitted parent; nothing is fitted to these rows, so every one is a
# prediction.
_NK_PT2022 = (
    "norketamine per mg of ketamine: PT2022 (AUC 2.2/mg after IV, 6/mg intranasal) vs "
    "Chong 2006 (12/mg over 8 h after oral) and Simons 2022's mass balance (80 % formed, "
    "CLN1 60 L/h: 12.5/mg whatever the route); the model follows Chong and Simons"
)
_NK_10MG = (
    "PT2022 10 mg intranasal: norketamine from 5 patients, only 3 with both analytes "
    "quantified (Table 6 footnote), peak 79 min against 56-60 min at 30 and 50 mg"
)
_NK_DELAY = (
    "Chong 2006 norketamine peaks (96 and 114 min, n=6) come later than the swallowed "
    "drug's absorption fitted to ketamine plus Simons's 20-min metabolism chain; Simons's "
    "gut-to-liver delay (10.7 min) and zero-order gut input are not modelled"
)
NK_MISSES = {
    ("PT2022-iv-10mg", "NK Cmax"): _NK_PT2022,
    ("PT2022-iv-10mg", "NK AUC0-inf"): _NK_PT2022,
    ("PT2022-in-10mg", "NK Cmax"): _NK_PT2022,
    ("PT2022-in-10mg", "NK Tmax"): _NK_10MG,
    ("PT2022-in-30mg", "NK Cmax"): _NK_PT2022,
    ("PT2022-in-30mg", "NK AUC0-inf"): _NK_PT2022,
    ("PT2022-in-50mg", "NK Cmax"): _NK_PT2022,
    ("PT2022-in-50mg", "NK AUC0-inf"): _NK_PT2022,
    ("Chong2006-sl-25mg", "NK Tmax"): _NK_DELAY,
    ("Chong2006-oral-25mg", "NK Tmax"): _NK_DELAY,
}


def _nk_rows() -> list[Row]:
    return _rows("norketamine")


def test_norketamine_table_prints_and_every_miss_is_explained() -> None:
    rows = _nk_rows()
    print("\nNorketamine, predicted:\n" + format_rows([r.as_dict() for r in rows]))
    assert not [(r.arm, r.metric) for r in rows if not r.ok and (r.arm, r.metric) not in NK_MISSES]


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(
            r,
            id=f"{r.arm}-{r.metric}",
            marks=[pytest.mark.xfail(strict=True, reason=NK_MISSES[(r.arm, r.metric)])]
            if (r.arm, r.metric) in NK_MISSES
            else [],
        )
        for r in _nk_rows()
    ],
)
def test_norketamine_predicted(row: Row) -> None:
    assert row.ok, f"{row.metric}: model {row.predicted:.4g} vs observed {row.observed:.4g}"


@pytest.mark.parametrize(
    ("route", "exceeds"), [("oral", True), ("sublingual", True), ("iv", False)]
)
def test_norketamine_exceeds_ketamine_after_oral_and_sublingual_only(
    route: str, exceeds: bool
) -> None:
    """Chong 2006: NK Cmax 82 / 66 vs ketamine 22.8 / 28.6 (oral / SL); PT2022 IV 10 mg: 2.8 vs 296."""
    result = simulate(route=route, dose_mg=25, weight_kg=70, step_s=30, norketamine=True)
    ketamine, nk = result.analytes
    assert bool(nk.cmax_ng_ml[0] > ketamine.cmax_ng_ml[0]) is exceeds


@pytest.mark.parametrize("route", ["iv", "im", "in-racemic", "oral", "sublingual"])
@pytest.mark.parametrize("weight_kg", [50.0, 70.0, 110.0])
def test_norketamine_exposure_is_the_mass_balance_of_simons(route: str, weight_kg: float) -> None:
    """All ketamine given is metabolised (systemically or at first pass) and 80 %
    of it forms norketamine, cleared at CLN1: AUC = 0.8 x (223.70/237.73) x dose /
    (60 L/h x (W/70)^0.75), whatever the route and F (hand-computed: 25 mg at
    70 kg gives 313.7 ng.h/mL)."""
    dose = 25.0
    result = simulate(route=route, dose_mg=dose, weight_kg=weight_kg, step_s=30, norketamine=True)
    expected = 0.8 * 223.70 / 237.73 * dose / (60.0 * (weight_kg / 70) ** 0.75) * 1000
    if route == "im":
        expected *= IM_ABSORPTION.params["f"].value  # the rest of an IM dose is never absorbed
    assert result.analytes[1].auc_inf_ng_h_ml[0] == pytest.approx(expected, rel=1e-6)
    if route != "im" and weight_kg == 70.0:
        assert expected == pytest.approx(313.7, abs=0.1)
