"""data/fitted.json is what the joint fit gives on data/observations.json, and what simulations use."""

from __future__ import annotations

import json
import math

import pytest

from openkap.core.pk import fit
from openkap.core.pk.params import (
    IM_ABSORPTION,
    IN_RACEMIC_ABSORPTION,
    JOINT_DISPOSITION,
    NORKETAMINE,
    ORAL_ABSORPTION,
    SUBLINGUAL_ABSORPTION,
)

STORED = json.loads(fit.FITTED.read_text())
DATA = fit.load_observations()
SETS = {
    s.key: s
    for s in (
        JOINT_DISPOSITION,
        IM_ABSORPTION,
        IN_RACEMIC_ABSORPTION,
        ORAL_ABSORPTION,
        SUBLINGUAL_ABSORPTION,
    )
}


def _stored() -> list[float]:
    return [STORED["parameters"][f"{p.set_key}.{p.name}"]["value"] for p in fit.FIT_PARAMS]


def test_fitted_parameters_were_computed_from_the_current_data() -> None:
    assert STORED["data_sha256"] == fit.data_digest(), (
        "observations.json changed: run python -m openkap.core.pk.fit --write"
    )


def test_refitting_reproduces_the_stored_parameters() -> None:
    """Started at the stored values, least squares stays there (a converged optimum)."""
    refit = fit.fit(DATA, start=_stored())
    assert refit == pytest.approx(_stored(), rel=2e-3)


def test_refitting_without_one_study_reproduces_its_stored_validation_rows() -> None:
    """PT2022 is the study behind the intranasal disagreement; its rows are recomputed here."""
    theta = fit.fit(DATA, exclude="PT2022")
    rows = [
        r.as_dict()
        for arm in DATA["arms"]
        if arm["study"] == "PT2022"
        for r in fit.rows_for(arm, theta)
    ]
    stored = [r for r in STORED["leave_one_study_out"] if r["study"] == "PT2022"]
    assert [r["metric"] for r in rows] == [r["metric"] for r in stored]
    for new, old in zip(rows, stored, strict=True):
        assert new["predicted"] == pytest.approx(old["predicted"], rel=1e-2)


def test_simulations_use_the_stored_values_with_their_provenance() -> None:
    for p in fit.FIT_PARAMS:
        entry = STORED["parameters"][f"{p.set_key}.{p.name}"]
        used = SETS[p.set_key].params[p.name]
        assert used.value == entry["value"]
        assert used.source == "fitted to " + ", ".join(entry["fitted_to"])
        assert entry["fitted_to"], f"{p.name} was not informed by any study"
        assert all(study in used.note for study in entry["fitted_to"])


def test_each_parameter_is_attributed_to_the_studies_of_its_route() -> None:
    fitted_to = {k: set(v["fitted_to"]) for k, v in STORED["parameters"].items()}
    assert fitted_to["in-racemic.f"] == {"PT2022"}
    assert fitted_to["im.ka"] == {"Hirlinger1984"}
    assert fitted_to["sublingual.mucosal_fraction"] == {"Chong2006", "Rolan2014"}
    assert {"Hasan2021", "Zarate2006", "PT2022"} <= fitted_to["joint.cl"]


def test_every_observation_names_its_source() -> None:
    for arm in DATA["arms"]:
        assert arm["study"] in DATA["studies"]
        assert arm["observations"]
        for obs in arm["observations"]:
            assert obs["where"], arm["id"]
            assert obs["value"] > 0


def test_the_objective_weights_the_mean_by_its_spread_and_n() -> None:
    """Hand-computed: Chong oral Cmax 22.8 +/- 12.8, n=6, between-study SD 0.15."""
    obs = {"kind": "cmax", "value": 22.8, "sd": 12.8, "n": 6}
    sigma = ((math.log1p((12.8 / 22.8) ** 2)) / 6 + 0.15**2) ** 0.5
    assert fit.residual(obs, 22.8 * 2.0) == pytest.approx(math.log(2) / sigma)
    tmax = {"kind": "tmax", "value": 57.6, "sd": 48.0, "n": 6}
    assert fit.residual(tmax, 67.6) == pytest.approx(10 / (48**2 / 6 + 25) ** 0.5)


def test_norketamine_is_published_not_fitted() -> None:
    """The metabolite model takes Simons 2022's values; the fit has none of its own."""
    assert not [k for k in STORED["parameters"] if k.startswith("norketamine.")]
    values = fit.values_of(_stored(), norketamine=True)["norketamine"]
    assert {n: float(v[0]) for n, v in values.items()} == {
        n: p.value for n, p in NORKETAMINE.params.items()
    }
    assert NORKETAMINE.params["fm"].value == 0.8
    assert NORKETAMINE.params["cln"].value == pytest.approx(1.00 * 60)  # CLN1 1.00 L/min


def test_fitted_clearance_lies_in_an_independent_meta_analysis_interval() -> None:
    """Kamp 2020 (Anesthesiology 133:1192; 18 studies, none of ours pooled the same
    way): weighted mean ketamine clearance 79 L/h at 70 kg, 95 % CI 69-90."""
    cl_l_per_h = STORED["parameters"]["joint.cl"]["value"] * 60
    assert 69 <= cl_l_per_h <= 90
