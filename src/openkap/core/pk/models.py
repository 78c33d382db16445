"""Route models: which compartments, which parameters, where each dose goes.

Racemic ketamine routes (iv, im, in-racemic, sublingual, oral) share one
disposition (the joint fit, allometric; or, for IV, the published per-kg
Clements or Domino sets), add absorption depots and, on request, norketamine.
Esketamine
nasal (in-esketamine) follows Perez-Ruixo 2021, including the hepatic first
pass of the swallowed part and the noresketamine metabolite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from openkap.core.pk.engine import FloatArray, Input, LinearModel
from openkap.core.pk.params import (
    AGE_EFFECT_FROM_YEARS,
    AGE_QH_FLOOR,
    DISPOSITIONS,
    ESKETAMINE_DEVICE_INTERVAL_MIN,
    ESKETAMINE_DEVICE_MG,
    IM_ABSORPTION,
    IN_RACEMIC_ABSORPTION,
    INTERACTIONS,
    NORKETAMINE,
    ORAL_ABSORPTION,
    PEREZ_RUIXO_2021,
    RACEMIC_VARIABILITY,
    SUBLINGUAL_ABSORPTION,
    ParameterSet,
    age_parameter_set,
)

Route = Literal["iv", "im", "in-racemic", "in-esketamine", "sublingual", "oral"]
ROUTES: tuple[Route, ...] = get_args(Route)
Saliva = Literal["swallow", "spit"]

ROUTE_LABELS: dict[Route, str] = {
    "iv": "IV infusion (racemic ketamine)",
    "im": "IM injection (racemic ketamine)",
    "in-racemic": "intranasal racemic ketamine",
    "in-esketamine": "intranasal esketamine",
    "sublingual": "sublingual / buccal racemic ketamine",
    "oral": "oral racemic ketamine",
}

Values = dict[str, dict[str, FloatArray]]


@dataclass(frozen=True)
class Regimen:
    """What is given. doses are (start time in min, mg) of the same route."""

    route: Route
    doses: tuple[tuple[float, float], ...]
    weight_kg: float | None = None
    infusion_min: float = 40.0  # iv only; 0 gives a bolus
    disposition: str = "joint"  # racemic routes
    saliva: Saliva = "swallow"  # sublingual only
    interaction: str | None = None  # key of params.INTERACTIONS; racemic routes only
    norketamine: bool = False  # racemic routes: add the metabolite (four more states)
    age_years: float | None = None  # changes the curve only above 60 (params.age_parameter_set)

    @property
    def age_applies(self) -> bool:
        return self.age_years is not None and self.age_years > AGE_EFFECT_FROM_YEARS


@dataclass(frozen=True, eq=False)
class Built:
    model: LinearModel
    inputs: list[Input]
    analytes: tuple[str, ...]


def parameter_sets(regimen: Regimen) -> list[ParameterSet]:
    if regimen.route == "in-esketamine":
        return [PEREZ_RUIXO_2021, *_age_sets(regimen)]
    sets = [DISPOSITIONS[regimen.disposition], RACEMIC_VARIABILITY]
    if regimen.route == "im":
        sets.append(IM_ABSORPTION)
    elif regimen.route == "in-racemic":
        sets.append(IN_RACEMIC_ABSORPTION)
    elif regimen.route == "oral":
        sets.append(ORAL_ABSORPTION)
    elif regimen.route == "sublingual":
        sets += [SUBLINGUAL_ABSORPTION, ORAL_ABSORPTION]
    if regimen.norketamine:
        if regimen.route == "in-racemic":
            sets.append(ORAL_ABSORPTION)
        sets.append(NORKETAMINE)
    if regimen.interaction is not None:
        sets.append(INTERACTIONS[regimen.interaction].parameter_set())
    return [*sets, *_age_sets(regimen)]


def _age_sets(regimen: Regimen) -> list[ParameterSet]:
    if not regimen.age_applies or regimen.age_years is None:
        return []
    return [age_parameter_set(regimen.age_years, regimen.route)]


def sample(
    sets: Sequence[ParameterSet], n_patients: int, rng: np.random.Generator | None
) -> Values:
    """Individual values; rng None gives the typical individual (all etas 0)."""
    values: Values = {}
    for pset in sets:
        values[pset.key] = {}
        for name, param in pset.params.items():
            if rng is not None and param.iiv_sd > 0:
                eta = rng.standard_normal(n_patients) * param.iiv_sd
            else:
                eta = np.zeros(n_patients)
            values[pset.key][name] = param.individual(eta)
    return values


def build(regimen: Regimen, values: Values) -> Built:
    if regimen.route == "in-esketamine":
        return _esketamine(regimen, values)
    return _racemic(regimen, values)


def _transfer(rates: FloatArray, source: int, target: int | None, k: FloatArray) -> None:
    """First-order flow source -> target (None: out of the system) with rate k."""
    rates[:, source, source] -= k
    if target is not None:
        rates[:, target, source] += k


def _racemic(regimen: Regimen, values: Values) -> Built:
    if regimen.weight_kg is None:
        raise ValueError("racemic ketamine models scale with weight: weight_kg is required")
    disposition = values[regimen.disposition]
    cl_factor = values["racemic-iiv"]["cl_factor"]
    v_factor = values["racemic-iiv"]["v_factor"]
    n_pat = cl_factor.shape[0]
    swallowed_f: FloatArray | float = 1.0
    for covariate in ("interaction", "age"):
        if covariate in values:
            cl_factor = cl_factor * values[covariate]["cl_multiplier"]
            swallowed_f = swallowed_f * values[covariate]["oral_f_multiplier"]
    k10, pairs, v1 = _micro_constants(disposition, regimen.weight_kg)
    depot = 1 + len(pairs)  # first depot index
    n_depots = {"iv": 0, "im": 1, "in-racemic": 1, "oral": 1, "sublingual": 2}[regimen.route]
    if regimen.norketamine and regimen.route == "in-racemic":
        n_depots += 1  # the swallowed, not absorbed part of the spray
    # Norketamine (on request, Simons 2022): a two-compartment metabolism chain,
    # then central and peripheral norketamine, after the depots.
    chain = depot + n_depots if regimen.norketamine else None
    n = depot + n_depots + (4 if regimen.norketamine else 0)
    rates = np.zeros((n_pat, n, n))
    # Scaling every volume by v_factor with intercompartmental clearances fixed
    # divides all rate constants by it; CL scales k10 as well.
    k_el = k10 * cl_factor / v_factor
    outputs = np.zeros((n_pat, 2 if chain is not None else 1, n))
    outputs[:, 0, 0] = 1000.0 / (v1 * v_factor)
    # Everything ketamine leaves by (and, at first pass, swallowed drug that
    # does not reach the circulation) enters the metabolism chain.
    _transfer(rates, 0, chain, k_el)
    if chain is not None:
        m = values["norketamine"]
        w = regimen.weight_kg / 70.0
        vcn, vpn = m["vcn"] * w, m["vpn"] * w
        cln, qn = m["cln"] / 60.0 * w**0.75, m["qn"] / 60.0 * w**0.75
        k_tr = 2.0 / m["mtt_min"]
        nk = chain + 2
        _transfer(rates, chain, chain + 1, k_tr)
        _transfer(rates, chain + 1, nk, m["fm"] * k_tr)
        rates[:, chain + 1, chain + 1] -= (1.0 - m["fm"]) * k_tr  # not norketamine
        _transfer(rates, nk, None, cln / vcn)
        _transfer(rates, nk, nk + 1, qn / vcn)
        _transfer(rates, nk + 1, nk, qn / vpn)
        outputs[:, 1, nk] = 1000.0 * m["mw_ratio"] / vcn
    for j, (k_out, k_in) in enumerate(pairs, start=1):
        _transfer(rates, 0, j, k_out / v_factor)
        _transfer(rates, j, 0, k_in / v_factor)

    inputs: list[Input] = []
    route = regimen.route
    if route == "iv":
        for t, mg in regimen.doses:
            inputs.append(Input(0, t, np.full(n_pat, mg), regimen.infusion_min))
    elif route == "im":
        a = values[route]
        _transfer(rates, depot, 0, a["ka"])
        for t, mg in regimen.doses:
            inputs.append(Input(depot, t, a["f"] * mg))
    elif route == "in-racemic":
        a = values[route]
        _transfer(rates, depot, 0, a["ka"])
        lag = float(a["lag_min"][0])
        for t, mg in regimen.doses:
            inputs.append(Input(depot, t + lag, a["f"] * mg))
        if chain is not None:
            # The part not absorbed in the nose is taken as swallowed, absorbed
            # like an oral dose and lost at first pass (PT2022's F of 11-17 %
            # leaves no room for ketamine from it) into the metabolism chain.
            oral = values["oral"]
            gut = depot + 1
            _transfer(rates, gut, chain, oral["ka"])
            swallow_lag = float(oral["lag_min"][0])
            for t, mg in regimen.doses:
                inputs.append(Input(gut, t + swallow_lag, (1.0 - a["f"]) * mg))
    else:
        oral = values["oral"]
        f_oral = np.minimum(oral["f"] * swallowed_f, 1.0)
        gut = depot if route == "oral" else depot + 1
        _absorb(rates, gut, f_oral, oral["ka"], chain)
        lag = float(oral["lag_min"][0])
        if route == "oral":
            # A swallowed tablet dissolves first; saliva and spray arrive dissolved.
            # The delay moves the whole gut input, so first-pass norketamine follows it.
            release = float(oral["release_min"][0])
            for t, mg in regimen.doses:
                inputs.append(Input(gut, t + release + lag, np.full(n_pat, mg)))
        else:
            sl = values["sublingual"]
            mucosal = sl["mucosal_fraction"]
            hold = float(sl["hold_min"][0])
            _transfer(rates, depot, 0, sl["ka_mucosal"])
            for t, mg in regimen.doses:
                inputs.append(Input(depot, t, mucosal * mg))
                if regimen.saliva == "swallow":
                    inputs.append(Input(gut, t + hold + lag, (1.0 - mucosal) * mg))
    analytes = ("ketamine",) if chain is None else ("ketamine", "norketamine")
    return Built(LinearModel(rates, outputs), inputs, analytes)


def _absorb(
    rates: FloatArray,
    source: int,
    f: FloatArray,
    ka: FloatArray,
    chain: int | None,
) -> None:
    """First-order absorption of the whole dose: the fraction f reaches the
    circulation; the rest is lost at first pass, into the metabolism chain
    when norketamine is modelled."""
    rates[:, source, source] -= ka
    rates[:, 0, source] += f * ka
    if chain is not None:
        rates[:, chain, source] += (1.0 - f) * ka


def _micro_constants(
    d: dict[str, FloatArray], weight_kg: float
) -> tuple[FloatArray, list[tuple[FloatArray, FloatArray]], FloatArray]:
    """k10, (k1j, kj1) pairs and V1 (L) of a disposition set for one weight.

    Published sets are per kg (volumes proportional to weight, rate constants
    fixed). The joint fit is per 70 kg with allometric scaling: volumes
    proportional to weight, clearances to weight^0.75.
    """
    if "cl" not in d:
        pairs = [(d["k12"], d["k21"])] + ([(d["k13"], d["k31"])] if "k13" in d else [])
        return d["k10"], pairs, d["v1"] * weight_kg
    size = weight_kg / 70.0
    v1 = d["v1"] * size
    flow = size**0.75
    pairs = [
        (d[q] * flow / v1, d[q] * flow / (d[v] * size)) for q, v in (("q2", "v2"), ("q3", "v3"))
    ]
    return d["cl"] * flow / v1, pairs, v1


def esketamine_devices(dose_mg: float) -> int:
    devices = round(dose_mg / ESKETAMINE_DEVICE_MG)
    if devices < 1 or abs(devices * ESKETAMINE_DEVICE_MG - dose_mg) > 1e-9:
        raise ValueError("esketamine nasal doses are whole 28-mg devices (28, 56, 84 mg ...)")
    return devices


# Perez-Ruixo parameters given per hour; the engine works in minutes.
_PER_HOUR = frozenset({"ka_n", "ka_sw", "ka_po", "q1", "q2", "q3", "qh", "kel", "kmet", "cln"})


def _esketamine(regimen: Regimen, values: Values) -> Built:
    v = {name: x / 60.0 if name in _PER_HOUR else x for name, x in values["perez-ruixo"].items()}
    if "age" in values:
        typical = PEREZ_RUIXO_2021.params["qh"].value / 60.0
        v["qh"] = np.maximum(v["qh"] - values["age"]["qh_decrease"] / 60.0, AGE_QH_FLOOR * typical)
    central, p1, p2, liver, nasal, gut, nk, nk_p = range(8)
    n_pat = v["vc"].shape[0]
    rates = np.zeros((n_pat, 8, 8))
    _transfer(rates, central, p1, v["q1"] / v["vc"])
    _transfer(rates, p1, central, v["q1"] / v["vp1"])
    _transfer(rates, central, p2, v["q2"] / v["vc"])
    _transfer(rates, p2, central, v["q2"] / v["vp2"])
    _transfer(rates, central, liver, v["qh"] / v["vc"])
    _transfer(rates, liver, central, v["qh"] / v["vh"])
    _transfer(rates, liver, None, v["kel"])
    _transfer(rates, liver, nk, v["kmet"])
    _transfer(rates, nasal, central, v["ka_n"])
    _transfer(rates, gut, liver, v["ka_sw"])
    _transfer(rates, nk, None, v["cln"] / v["vcn"])
    _transfer(rates, nk, nk_p, v["q3"] / v["vcn"])
    _transfer(rates, nk_p, nk, v["q3"] / v["vpn"])
    outputs = np.zeros((n_pat, 2, 8))
    outputs[:, 0, central] = 1000.0 / v["vc"]
    outputs[:, 1, nk] = 1000.0 / v["vcn"]

    swallow_min = float(v["d_sw"][0]) * 60.0
    inputs: list[Input] = []
    for t, mg in regimen.doses:
        for device in range(esketamine_devices(mg)):
            frn = v["frn"] * (v["frn_later_devices"] if device else 1.0)
            when = t + device * ESKETAMINE_DEVICE_INTERVAL_MIN
            inputs.append(Input(nasal, when, frn * ESKETAMINE_DEVICE_MG))
            swallowed = (1.0 - frn) * v["f_gut"] * ESKETAMINE_DEVICE_MG
            inputs.append(Input(gut, when, swallowed, swallow_min))
    return Built(LinearModel(rates, outputs), inputs, ("esketamine", "noresketamine"))
