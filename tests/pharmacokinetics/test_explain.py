"""The explanation's numbers are the parameters the simulation used, not typed text."""

from __future__ import annotations

import math

import numpy as np
import pytest

from openkap.core.pk import simulate
from openkap.core.pk.models import Regimen, build, parameter_sets, sample
from openkap.pharmacokinetics.explain import explain, route_facts


def used(result, set_name_part: str, name: str) -> float:
    matches = [p for p in result.parameters if set_name_part in p.set_name and p.name == name]
    assert len(matches) == 1, (set_name_part, name)
    return matches[0].value


def sim(route: str, dose: float = 100, **kwargs):
    return simulate(route=route, dose_mg=dose, weight_kg=70, step_s=60, **kwargs)


def test_im_bioavailability_and_absorption_half_time_are_the_parameters_used():
    result = sim("im", population=20)
    facts = route_facts(result)
    f = used(result, "IM", "f")
    ka = used(result, "IM", "ka")
    assert facts.bioavailability == f == 0.93
    assert f"F {f:g}" in facts.text
    assert f"{f * 100:.3g} %" in facts.text
    assert f"half-time of about {math.log(2) / ka:.2g} min" in facts.text
    assert f"Median peak {result.cmax_ng_ml:.3g} ng/mL at {result.tmax_min:.0f} min" in facts.text
    assert not facts.first_pass


def test_published_iv_dispositions_are_refused_for_absorption_routes():
    with pytest.raises(ValueError, match="iv route only"):
        sim("im", disposition="domino")


def test_sublingual_f_is_mucosal_plus_swallowed_share_of_oral_f():
    result = sim("sublingual")
    facts = route_facts(result)
    mucosal = used(result, "transmucosal", "mucosal_fraction")
    oral_f = used(result, "gut", "f")
    hold = used(result, "transmucosal", "hold_min")
    ka = used(result, "transmucosal", "ka_mucosal")
    expected = mucosal + (1 - mucosal) * oral_f
    assert facts.bioavailability == pytest.approx(expected, rel=1e-12)
    assert f"Overall F = {mucosal:.3g} + {1 - mucosal:.3g} × {oral_f:.3g} = {expected:.3g}" in facts.text
    assert f"{hold:g}-min hold" in facts.text
    assert f"half-time about {math.log(2) / ka:.2g} min" in facts.text
    assert facts.first_pass


def test_sublingual_with_saliva_spat_keeps_only_the_mucosal_part():
    result = sim("sublingual", saliva="spit")
    facts = route_facts(result)
    assert facts.bioavailability == used(result, "transmucosal", "mucosal_fraction")
    assert "spat out" in facts.text
    assert not facts.first_pass


def test_oral_release_lag_and_absorption_come_from_the_gut_parameters():
    result = sim("oral")
    facts = route_facts(result)
    assert facts.bioavailability == used(result, "gut", "f")
    assert f"dissolves in about {used(result, 'gut', 'release_min'):.2g} min" in facts.text
    assert f"starts about {used(result, 'gut', 'lag_min'):.2g} min later" in facts.text
    assert f"half-time of about {math.log(2) / used(result, 'gut', 'ka'):.2g} min" in facts.text


def test_intranasal_racemic_uses_its_f_and_per_hour_rate():
    result = sim("in-racemic", dose=50)
    facts = route_facts(result)
    assert facts.bioavailability == used(result, "nasal", "f")
    assert f"{math.log(2) / used(result, 'nasal', 'ka'):.2g} min" in facts.text
    assert f"after about {used(result, 'nasal', 'lag_min'):.2g} min" in facts.text


def test_iv_is_the_whole_dose_with_its_administration():
    facts = route_facts(sim("iv", infusion_min=40))
    assert facts.bioavailability == 1.0
    assert "infused over 40 min" in facts.text


@pytest.mark.parametrize("dose", [28, 56, 84])
def test_esketamine_f_equals_the_model_s_own_exposure_ratio(dose):
    """The derived F (nasal part + swallowed part through gut and liver) equals
    AUC(nasal dose) / AUC(same mg straight into the central compartment)."""
    result = simulate(route="in-esketamine", dose_mg=dose, hours=48, step_s=60)
    regimen = Regimen(route="in-esketamine", doses=((0.0, float(dose)),))
    values = sample(parameter_sets(regimen), 1, None)
    model = build(regimen, values).model
    into_central = model.outputs[0, 0] @ np.linalg.inv(-model.rates[0])[:, 0]
    exposure_f = result.parent.auc_inf_ng_h_ml[0] * 60 / (dose * into_central)
    facts = route_facts(result)
    assert facts.bioavailability == pytest.approx(exposure_f, rel=1e-9)
    assert f"{used(result, 'Perez-Ruixo', 'frn') * 100:.3g} % (the first)" in facts.text


def test_comparison_ratios_come_from_the_results():
    im, sl = sim("im", population=30), sim("sublingual", population=30)
    explanation = explain([im, sl])
    (line,) = explanation.comparisons
    f_im, f_sl = route_facts(im).bioavailability, route_facts(sl).bioavailability
    assert f"{f_sl / f_im * 100:.3g} % of the drug that IM injection delivers" in line
    assert f"{sl.cmax_ng_ml / im.cmax_ng_ml * 100:.3g} % as high" in line
    assert f"comes {sl.tmax_min - im.tmax_min:.0f} min later" in line
    assert f"(AUC) is {sl.auc_ng_h_ml / im.auc_ng_h_ml * 100:.3g} %" in line
    assert "The same 100 mg" in explanation.lead


def test_esketamine_beside_racemic_adds_the_enantiomer_note():
    notes = explain([sim("im", dose=56), simulate(route="in-esketamine", dose_mg=56, step_s=60)]).notes
    assert any("S-ketamine alone" in n for n in notes)
    assert not any("S-ketamine" in n for n in explain([sim("im")]).notes)


def test_nothing_to_explain_is_an_error():
    with pytest.raises(ValueError, match="nothing to explain"):
        explain([])


def test_an_interaction_changes_the_f_the_explanation_states():
    plain = route_facts(sim("oral"))
    with_drug = route_facts(sim("oral", interaction="clarithromycin"))
    assert with_drug.bioavailability == pytest.approx(plain.bioavailability * 2.6)
    assert "with clarithromycin" in with_drug.bioavailability_basis


def test_the_f_basis_names_an_interaction_as_the_chart_title_does():
    facts = route_facts(sim("oral", interaction="grapefruit-juice"))
    assert "with grapefruit juice (CYP3A inhibitor)" in facts.bioavailability_basis
