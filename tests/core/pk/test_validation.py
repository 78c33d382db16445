"""Published observations (reference/dosing_pk.md section 4) against the models.

Acceptance (issue 8): simulated population median Cmax within +/-30 % of the
observed mean, Tmax within +/-15 min. Rows the models cannot meet with their
sourced parameters are marked as known deviations (strict xfail), not tuned
away. Run with -s to see the table.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest

from openkap.core.pk.simulation import SimulationResult, simulate

POPULATION = 400
SEED = 20240808
WEIGHT_KG = 70.0  # the sources' mean weights are not in the reference; adult 70 kg assumed
CMAX_TOLERANCE = 0.30
TMAX_TOLERANCE_MIN = 15.0

ZANOS = "Zanos 2018 Pharmacol Rev Table 1"
PHARMACOTHERAPY = "Pharmacotherapy 2022 Table 6"


@dataclass(frozen=True)
class Observation:
    key: str
    label: str
    source: str
    route: str
    dose_mg: float
    cmax: float | None  # observed mean ng/mL
    tmax: tuple[float, float] | None  # observed Tmax window in min (a point: lo == hi)
    disposition: str | None = None
    infusion_min: float | None = None
    at_min: float | None = None  # compare the median curve at this sampling time, not Cmax
    known_deviation: str = ""  # why the model misses, when it does
    model_output: bool = False  # the "observation" is another implementation's output
    note: str = ""  # printed with the status, e.g. when a modelling choice used this row

    @property
    def id(self) -> str:
        return f"{self.key}-{self.route}-{self.dose_mg:g}mg" + (
            f"-{self.disposition}" if self.disposition else ""
        )


OBSERVATIONS = [
    Observation(
        "V1",
        "0.5 mg/kg IV over 40 min, end of infusion",
        "Zarate 2006 via " + ZANOS,
        "iv",
        0.5 * WEIGHT_KG,
        185.0,
        (40.0, 40.0),
        infusion_min=40.0,
        note="Clements was made the default disposition on this row",
    ),
    Observation(
        "V1",
        "0.5 mg/kg IV over 40 min, end of infusion",
        "Zarate 2006 via " + ZANOS,
        "iv",
        0.5 * WEIGHT_KG,
        185.0,
        (40.0, 40.0),
        disposition="domino",
        infusion_min=40.0,
        known_deviation="Domino over-predicts the end-of-infusion peak by ~30 % "
        "(also in the reference's own check, dosing_pk.md 3.4)",
    ),
    Observation(
        "V8",
        "10 mg IV (push, 1 min assumed), sample at ~2 min",
        PHARMACOTHERAPY,
        "iv",
        10.0,
        296.0,
        None,
        infusion_min=1.0,
        at_min=2.0,
        known_deviation="Clements' V1 (1.75 L/kg, fitted to later samples) cannot "
        "give early post-bolus peaks; Domino can (next row)",
    ),
    Observation(
        "V8",
        "10 mg IV (push, 1 min assumed), sample at ~2 min",
        PHARMACOTHERAPY,
        "iv",
        10.0,
        296.0,
        None,
        disposition="domino",
        infusion_min=1.0,
        at_min=2.0,
    ),
    Observation(
        "V4",
        "0.5 mg/kg oral, Cmax",
        "Grant 1981 via " + ZANOS,
        "oral",
        0.5 * WEIGHT_KG,
        45.0,
        None,
        known_deviation="sourced F 0.23 with the Clements disposition gives less "
        "than half the observed oral Cmax",
    ),
    Observation(
        "V7",
        "25 mg oral, Cmax",
        "Chong 2006",
        "oral",
        25.0,
        22.8,
        (57.6, 57.6),
        known_deviation="Cmax ~40 % low: Chong's subjects had higher exposure than "
        "Clements' (their 10 mg IV arm, 156 ng/mL, is twice the most Clements can give, "
        "82 ng/mL)",
    ),
    Observation(
        "V6",
        "25 mg sublingual, Cmax",
        "Chong 2006",
        "sublingual",
        25.0,
        28.6,
        (45.6, 45.6),
        known_deviation="Cmax ~30 % low and Tmax ~20 min late: the swallowed part "
        "(oral absorption borrowed from esketamine) peaks late",
    ),
    *(
        Observation(
            "V9",
            f"{mg:g} mg intranasal",
            PHARMACOTHERAPY,
            "in-racemic",
            mg,
            cmax,
            (tmax, tmax),
            note="F 0.45 (Yanagihara) chosen over this study's own F, see sensitivity lines",
        )
        for mg, cmax, tmax in ((10.0, 22.9, 23.0), (30.0, 60.8, 14.0), (50.0, 77.6, 16.0))
    ),
    Observation(
        "V13",
        "Spravato 56 mg, Tmax 20-40 min after last spray (5 min)",
        "Spravato label",
        "in-esketamine",
        56.0,
        None,
        (25.0, 45.0),
    ),
    Observation(
        "V13",
        "Spravato 84 mg, Tmax 20-40 min after last spray (10 min)",
        "Spravato label",
        "in-esketamine",
        84.0,
        None,
        (30.0, 50.0),
    ),
    Observation(
        "3.4",
        "Perez-Ruixo re-implementation, 56 mg: Cmax 73-79 (model output)",
        "dosing_pk.md 3.4",
        "in-esketamine",
        56.0,
        76.0,
        (36.0, 45.0),
        model_output=True,
    ),
    Observation(
        "3.4",
        "Perez-Ruixo re-implementation, 84 mg: Cmax 101-114 (model output)",
        "dosing_pk.md 3.4",
        "in-esketamine",
        84.0,
        107.5,
        (36.0, 45.0),
        model_output=True,
    ),
]


@functools.cache
def _simulated(obs: Observation) -> SimulationResult:
    return simulate(
        route=obs.route,
        dose_mg=obs.dose_mg,
        weight_kg=None if obs.route == "in-esketamine" else WEIGHT_KG,
        infusion_min=obs.infusion_min,
        disposition=obs.disposition,
        hours=6.0,
        step_s=15.0,
        population=POPULATION,
        seed=SEED,
    )


def _concentration(obs: Observation) -> float:
    """What the observation is compared with: median Cmax, or the median curve at at_min."""
    result = _simulated(obs)
    if obs.at_min is None:
        return result.cmax_ng_ml
    return float(np.interp(obs.at_min, result.times_min, result.median))


def _checks(obs: Observation) -> tuple[bool | None, bool | None]:
    result = _simulated(obs)
    cmax_ok = tmax_ok = None
    if obs.cmax is not None:
        cmax_ok = abs(_concentration(obs) / obs.cmax - 1.0) <= CMAX_TOLERANCE
    if obs.tmax is not None:
        lo, hi = obs.tmax
        tmax_ok = lo - TMAX_TOLERANCE_MIN <= result.tmax_min <= hi + TMAX_TOLERANCE_MIN
    return cmax_ok, tmax_ok


def _table() -> str:
    header = (
        f"{'row':<5}{'route':<14}{'dose':>7}  {'model':<9}{'Cmax sim (p5-p95)':>24}"
        f"{'obs':>7}{'ratio':>7}{'Tmax sim':>9}{'obs':>11}  status"
    )
    lines = [header, "-" * len(header)]
    for obs in OBSERVATIONS:
        result = _simulated(obs)
        cmax_ok, tmax_ok = _checks(obs)
        p5, p95 = np.percentile(result.parent.cmax_ng_ml, [5, 95])
        value = _concentration(obs)
        ratio = f"{value / obs.cmax:.2f}" if obs.cmax else "-"
        if obs.at_min is not None:
            p5, p95 = (
                float(np.interp(obs.at_min, result.times_min, band))
                for band in (result.p5, result.p95)
            )
        tmax_obs = (
            "-"
            if obs.tmax is None
            else (
                f"{obs.tmax[0]:g}"
                if obs.tmax[0] == obs.tmax[1]
                else f"{obs.tmax[0]:g}-{obs.tmax[1]:g}"
            )
        )
        failed = [name for name, ok in (("Cmax", cmax_ok), ("Tmax", tmax_ok)) if ok is False]
        at = f"C at {obs.at_min:g} min; " if obs.at_min is not None else ""
        if not failed:
            status = at + "ok" + (" (vs model output, not observed)" if obs.model_output else "")
            status += f"; {obs.note}" if obs.note else ""
        elif obs.known_deviation:
            status = f"{at}KNOWN DEVIATION ({'/'.join(failed)}): {obs.known_deviation}"
        else:
            status = "FAIL " + "/".join(failed)
        lines.append(
            f"{obs.key:<5}{obs.route:<14}{obs.dose_mg:>5g}mg  {obs.disposition or 'default':<9}"
            f"{value:>9.1f} ({p5:6.1f}-{p95:6.1f})"
            f"{obs.cmax if obs.cmax else '-':>7}{ratio:>7}{result.tmax_min:>9.1f}{tmax_obs:>11}  {status}"
        )
    nominal = {o.id: o for o in OBSERVATIONS}
    for key in ("V9-in-racemic-10mg", "V9-in-racemic-30mg", "V9-in-racemic-50mg"):
        obs = nominal[key]
        scaled = _simulated(obs).cmax_ng_ml * 0.13 / 0.45  # IN Cmax is linear in F
        lines.append(
            f"      sensitivity {key}: with that study's own F 0.13 instead of 0.45 "
            f"(Yanagihara) Cmax would be {scaled:.1f} ng/mL (ratio {scaled / obs.cmax:.2f})"
        )
    lines.append(
        f"population {POPULATION} virtual patients, seed {SEED}, {WEIGHT_KG:g} kg; Cmax is the "
        f"median of individual Cmax; tolerance +/-{CMAX_TOLERANCE:.0%} Cmax, "
        f"+/-{TMAX_TOLERANCE_MIN:g} min Tmax"
    )
    return "\n".join(lines)


def test_validation_table_prints() -> None:
    table = _table()
    print("\n" + table)
    assert "FAIL" not in table, "a row misses without a stated known deviation"


@pytest.mark.parametrize(
    "obs",
    [
        pytest.param(
            o,
            id=o.id,
            marks=[pytest.mark.xfail(strict=True, reason=o.known_deviation)]
            if o.known_deviation
            else [],
        )
        for o in OBSERVATIONS
    ],
)
def test_observation_reproduced(obs: Observation) -> None:
    cmax_ok, tmax_ok = _checks(obs)
    assert cmax_ok is not False, f"concentration {_concentration(obs):.1f} vs {obs.cmax}"
    assert tmax_ok is not False, f"Tmax {_simulated(obs).tmax_min:.1f} vs {obs.tmax}"
