"""Why the same milligrams differ between routes, in plain words.

Pure Python (no Django). Every number in the text is read from the parameters
the simulation actually used (``SimulationResult.parameters``) or from its
results, never typed here, so the words cannot drift from the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from openkap.core.pk import SimulationResult
from openkap.core.pk.models import esketamine_devices
from openkap.core.pk.params import (
    ESKETAMINE_DEVICE_MG,
    IM_ABSORPTION,
    IN_RACEMIC_ABSORPTION,
    INTERACTIONS,
    ORAL_ABSORPTION,
    PEREZ_RUIXO_2021,
    SUBLINGUAL_ABSORPTION,
    ParameterSet,
)
from openkap.core.pk.simulation import ParameterUse

# Route names as the clinic says them, short enough for a chart legend.
SHORT_LABELS = {
    "iv": "IV infusion",
    "im": "IM injection",
    "in-racemic": "Intranasal racemic ketamine",
    "in-esketamine": "Intranasal esketamine",
    "sublingual": "Sublingual / buccal",
    "oral": "Oral (swallowed)",
}


@dataclass(frozen=True)
class RouteFacts:
    """What sets a route's curve apart, with the numbers the model used."""

    route: str
    label: str
    # Fraction of the dose that reaches the circulation in the typical individual.
    bioavailability: float
    # How that fraction is made up ("0.93 (IM depot)"), for the table.
    bioavailability_basis: str
    # One or two plain sentences: how much arrives, how fast, whether it meets the liver first.
    text: str
    first_pass: bool


@dataclass(frozen=True)
class Explanation:
    lead: str
    routes: tuple[RouteFacts, ...]
    comparisons: tuple[str, ...]
    notes: tuple[str, ...]


def explain(results: Sequence[SimulationResult]) -> Explanation:
    """The plain-language comparison of routes simulated at the same dose."""
    if not results:
        raise ValueError("nothing to explain: no simulation results")
    facts = tuple(route_facts(r) for r in results)
    doses = {r.dose_mg for r in results}
    dose = f"{results[0].dose_mg:g} mg" if len(doses) == 1 else "these doses"
    lead = (
        f"The same {dose} gives different curves because routes differ in how much of the "
        "dose reaches the blood (bioavailability, F), how fast it gets there (absorption), "
        "and whether it passes the gut wall and liver first, where much of it is broken "
        "down (first pass)."
    )
    comparisons: list[str] = []
    if len(results) > 1:
        ref_index = max(range(len(facts)), key=lambda i: facts[i].bioavailability)
        ref, ref_facts = results[ref_index], facts[ref_index]
        for result, fact in zip(results, facts, strict=True):
            if result is ref:
                continue
            comparisons.append(_compare(result, fact, ref, ref_facts))
    notes = [
        "These are predictions for a population of virtual adults from published models, "
        "not measurements and not a dosing instruction."
    ]
    if any(r.route == "in-esketamine" for r in results) and any(
        r.route != "in-esketamine" for r in results
    ):
        notes.append(
            "Esketamine curves are of S-ketamine alone; racemic ketamine curves count both "
            "enantiomers (S and R), so equal ng/mL is not the same exposure to the same drug."
        )
    return Explanation(lead, facts, tuple(comparisons), tuple(notes))


def route_facts(result: SimulationResult) -> RouteFacts:
    """Bioavailability and absorption of the route, from the parameters used."""
    route = result.route
    label = SHORT_LABELS[route]
    peak = f"Median peak {result.cmax_ng_ml:.3g} ng/mL at {result.tmax_min:.0f} min."
    if route == "iv":
        how = result.administration or "given into a vein"
        return RouteFacts(
            route,
            label,
            1.0,
            "1 (into the vein)",
            f"The whole dose enters the bloodstream ({how}); nothing passes the liver "
            f"first, so F is 1. {peak}",
            first_pass=False,
        )
    if route == "im":
        f = _param(result, IM_ABSORPTION, "f")
        ka = _param(result, IM_ABSORPTION, "ka")
        return RouteFacts(
            route,
            label,
            f.value,
            f"{f.value:g} (muscle depot)",
            f"{_pct(f.value)} of the dose reaches the blood (F {f.value:g}); it leaves the "
            f"muscle with a half-time of about {_half_time_min(ka):.2g} min and does not "
            f"pass the liver first. {peak}",
            first_pass=False,
        )
    if route == "in-racemic":
        f = _param(result, IN_RACEMIC_ABSORPTION, "f")
        ka = _param(result, IN_RACEMIC_ABSORPTION, "ka")
        lag = _param(result, IN_RACEMIC_ABSORPTION, "lag_min")
        return RouteFacts(
            route,
            label,
            f.value,
            f"{f.value:.3g} (nasal lining)",
            f"{_pct(f.value)} of the dose is absorbed through the lining of the nose "
            f"(F {f.value:.3g}), starting after about {lag.value:.2g} min and with a "
            f"half-time of about {_half_time_min(ka):.2g} min, straight into the blood. {peak}",
            first_pass=False,
        )
    if route == "oral":
        swallowed = _swallowed_f(result)
        release = _param(result, ORAL_ABSORPTION, "release_min")
        lag = _param(result, ORAL_ABSORPTION, "lag_min")
        ka = _param(result, ORAL_ABSORPTION, "ka")
        return RouteFacts(
            route,
            label,
            swallowed,
            f"{swallowed:.3g} (after first pass{_with(result)})",
            f"Everything is swallowed and passes the gut wall and liver before reaching the "
            f"circulation; only {_pct(swallowed)} survives this first pass (F {swallowed:.3g}"
            f"{_with(result)}). "
            f"The tablet dissolves in about {release.value:.2g} min and absorption starts "
            f"about {lag.value:.2g} min later, with a half-time of about "
            f"{_half_time_min(ka):.2g} min, so the peak is low and late. "
            f"{peak}",
            first_pass=True,
        )
    if route == "sublingual":
        return _sublingual(result, label, peak)
    return _esketamine(result, label, peak)


def _sublingual(result: SimulationResult, label: str, peak: str) -> RouteFacts:
    mucosal = _param(result, SUBLINGUAL_ABSORPTION, "mucosal_fraction").value
    hold = _param(result, SUBLINGUAL_ABSORPTION, "hold_min").value
    ka = _param(result, SUBLINGUAL_ABSORPTION, "ka_mucosal")
    f_oral = _swallowed_f(result)
    across = (
        f"{_pct(mucosal)} of the dose crosses the lining of the mouth into the blood "
        f"(half-time about {_half_time_min(ka):.2g} min)"
    )
    if "spat" in result.administration:
        return RouteFacts(
            result.route,
            label,
            mucosal,
            f"{mucosal:.3g} (mouth lining; saliva spat)",
            f"{across}; the rest is spat out after the {hold:g}-min hold, so F is "
            f"{mucosal:.3g}. {peak}",
            first_pass=False,
        )
    f = mucosal + (1.0 - mucosal) * f_oral
    return RouteFacts(
        result.route,
        label,
        f,
        f"{f:.3g} = {mucosal:.3g} + {1 - mucosal:.3g} × {f_oral:.3g}",
        f"{across}; the other {_pct(1 - mucosal)} is swallowed after the {hold:g}-min hold "
        f"and, like an oral dose, only {_pct(f_oral)} of it survives the first pass. "
        f"Overall F = {mucosal:.3g} + {1 - mucosal:.3g} × {f_oral:.3g} = {f:.3g}. {peak}",
        first_pass=True,
    )


def _esketamine(result: SimulationResult, label: str, peak: str) -> RouteFacts:
    p = {name: _param(result, PEREZ_RUIXO_2021, name).value for name in _ESKETAMINE_PARAMS}
    later = p["frn"] * p["frn_later_devices"]
    # Each dose is whole devices; the first device of a dose puts more into the nose.
    nasal_mg = sum(
        ESKETAMINE_DEVICE_MG * (p["frn"] + (esketamine_devices(mg) - 1) * later)
        for _, mg in result.doses
    )
    nasal = nasal_mg / result.dose_mg
    # Drug reaching the liver from the gut leaves towards the blood at Qh/Vh and is
    # removed at kel + kmet: the fraction that escapes on its first pass.
    outflow = p["qh"] / p["vh"]
    hepatic = outflow / (outflow + p["kel"] + p["kmet"])
    swallowed = p["f_gut"] * hepatic
    f = nasal + (1.0 - nasal) * swallowed
    return RouteFacts(
        result.route,
        label,
        f,
        f"{f:.3g} = {nasal:.3g} + {1 - nasal:.3g} × {p['f_gut']:g} × {hepatic:.3g}",
        f"Of each 28-mg device, {_pct(p['frn'])} (the first) or {_pct(later)} (later ones) "
        f"is absorbed in the nose straight into the blood (half-time about "
        f"{math.log(2) / p['ka_n'] * 60:.2g} min); the rest is swallowed, {_pct(p['f_gut'])} "
        f"of it is absorbed from the gut and {_pct(hepatic)} of that escapes the liver on its "
        f"first pass. Overall about {_pct(f)} of {result.dose_mg:g} mg reaches the blood. "
        f"{peak}",
        first_pass=True,
    )


_ESKETAMINE_PARAMS = ("frn", "frn_later_devices", "ka_n", "f_gut", "qh", "vh", "kel", "kmet")


def _compare(
    result: SimulationResult, fact: RouteFacts, ref: SimulationResult, ref_fact: RouteFacts
) -> str:
    peak = f"its median peak is {_ratio(result.cmax_ng_ml, ref.cmax_ng_ml)} as high"
    shift = result.tmax_min - ref.tmax_min
    if abs(shift) >= 1:
        peak += f" and comes {abs(shift):.0f} min {'later' if shift > 0 else 'earlier'}"
    hours = float(result.times_min[-1]) / 60.0
    return (
        f"{fact.label} delivers {_ratio(fact.bioavailability, ref_fact.bioavailability)} of "
        f"the drug that {ref_fact.label} delivers (F {fact.bioavailability:.3g} vs "
        f"{ref_fact.bioavailability:.3g}); {peak}; exposure over {hours:g} h (AUC) is "
        f"{_ratio(result.auc_ng_h_ml, ref.auc_ng_h_ml)} of {ref_fact.label}'s."
    )


def _param(result: SimulationResult, pset: ParameterSet, name: str) -> ParameterUse:
    for used in result.parameters:
        if used.set_name == pset.name and used.name == name:
            return used
    raise LookupError(f"{pset.name} {name} was not used in this simulation")


def _swallowed_f(result: SimulationResult) -> float:
    """F of swallowed drug, with the interaction's documented multiplier if one was used."""
    f = _param(result, ORAL_ABSORPTION, "f").value
    for used in result.parameters:
        if used.name == "oral_f_multiplier":
            f = min(f * used.value, 1.0)
    return f


def _with(result: SimulationResult) -> str:
    return f" with {INTERACTIONS[result.interaction].label}" if result.interaction else ""


def _half_time_min(ka: ParameterUse) -> float:
    per_min = ka.value / 60.0 if ka.unit == "1/h" else ka.value
    return math.log(2) / per_min


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.3g} %"


def _ratio(value: float, reference: float) -> str:
    return _pct(value / reference)
