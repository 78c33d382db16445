"""Parameter sets with their units and sources.

Every number that drives a simulation is here, next to where it comes from.
`calibrated=True` marks values we fitted ourselves, with the data used in
`note`; tests/core/pk/test_calibration.py re-derives each of them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DOMINO = "Domino EF et al. (racemic ketamine IV, 3-compartment); constants as implemented in opentiva (cites PMID 7198883) and fus_anes"
CLEMENTS = "Clements JA, Nimmo WS. Br J Anaesth 1981;53:27 (PMID 7459184), 250 ug/kg IV bolus; constants as implemented in opentiva"
HASAN = "Hasan M et al. Anesthesiology 2021;135:326, Table 1 (5 mg IV, n=15; transcription in indand21/ketamine_therapeutic_window)"
CLEMENTS_1982 = "Clements JA et al. J Pharm Sci 1982;71:539 (seen in secondary summaries only)"
CHONG = "Chong C et al. Pain Med 2006;7:469 (abstract; 25 mg SL and oral vs 10 mg IV)"
ROLAN = "Rolan P et al. Br J Clin Pharmacol 2014;77:1011 (PMC4093926), 25 mg SL wafer"
YANAGIHARA = (
    "Yanagihara Y et al. Biopharm Drug Dispos 2003;24:37 (abstract; 25 mg nasal spray, n=3)"
)
PHARMACOTHERAPY_2022 = (
    "Pharmacotherapy 2022;42(4):298-310, doi:10.1002/phar.2669, Table 6 (PMC9118341)"
)
PEREZ_RUIXO = (
    "Perez-Ruixo C et al. Clin Pharmacokinet 2021;60:501, Table 3 "
    "(transcription in nlmixr2lib PerezRuixo_2020_esketamine.R)"
)


@dataclass(frozen=True)
class Param:
    """One model parameter: typical value, unit, source, inter-individual variability.

    Variability is an eta ~ N(0, iiv_sd^2) per patient applied on the log scale
    (value * exp(eta), log-normal) or, for fractions, on the logit scale.
    """

    value: float
    unit: str
    source: str
    iiv_sd: float = 0.0
    iiv_scale: Literal["log", "logit"] = "log"
    iiv_source: str = ""
    calibrated: bool = False
    note: str = ""

    def individual(self, eta: FloatArray) -> FloatArray:
        if self.iiv_scale == "logit":
            logit = math.log(self.value / (1.0 - self.value))
            result: FloatArray = 1.0 / (1.0 + np.exp(-(logit + eta)))
            return result
        return self.value * np.exp(eta)


def omega_from_cv(cv: float) -> float:
    """SD of a log-normal eta whose linear-scale coefficient of variation is cv."""
    return math.sqrt(math.log1p(cv * cv))


@dataclass(frozen=True)
class ParameterSet:
    key: str
    name: str
    citation: str
    params: Mapping[str, Param]


CLEMENTS_250 = ParameterSet(
    key="clements",
    name="Clements 2-compartment racemic disposition (per kg)",
    citation=CLEMENTS,
    params={
        # V1 is large as coded in opentiva; see docs/pk.md, limits.
        "v1": Param(1.7522, "L/kg", CLEMENTS),
        "k10": Param(0.0109, "1/min", CLEMENTS),
        "k12": Param(0.0186, "1/min", CLEMENTS),
        "k21": Param(0.0137, "1/min", CLEMENTS),
    },
)

DOMINO_3 = ParameterSet(
    key="domino",
    name="Domino 3-compartment racemic disposition (per kg)",
    citation=DOMINO,
    params={
        "v1": Param(0.063, "L/kg", DOMINO),
        "k10": Param(0.4381, "1/min", DOMINO),
        "k12": Param(0.5921, "1/min", DOMINO),
        "k13": Param(0.5900, "1/min", DOMINO),
        "k21": Param(0.2470, "1/min", DOMINO),
        "k31": Param(0.0146, "1/min", DOMINO),
    },
)

DISPOSITIONS: dict[str, ParameterSet] = {p.key: p for p in (CLEMENTS_250, DOMINO_3)}

# Neither Domino nor Clements report between-subject variability. Hasan 2021
# does (mean +/- SD over 15 subjects); we apply its CVs to clearance and to all
# volumes together, which is our assumption, not theirs.
RACEMIC_VARIABILITY = ParameterSet(
    key="racemic-iiv",
    name="Between-subject variability of racemic ketamine disposition",
    citation=HASAN,
    params={
        "cl_factor": Param(
            1.0,
            "-",
            "scales CL (k10*V1)",
            iiv_sd=omega_from_cv(380 / 1620),
            iiv_source=HASAN + ": S-ketamine CL 1620 +/- 380 mL/min",
        ),
        "v_factor": Param(
            1.0,
            "-",
            "scales V1, V2, V3 together",
            iiv_sd=omega_from_cv(2.2 / 6.6),
            iiv_source=HASAN + ": S-ketamine Vdss 6.6 +/- 2.2 L/kg",
        ),
    },
)

# Esketamine nasal, oral and IV population model; time in h, volumes in L.
PEREZ_RUIXO_2021 = ParameterSet(
    key="perez-ruixo",
    name="Perez-Ruixo 2021 esketamine popPK (3 compartments + hepatic first pass, noresketamine)",
    citation=PEREZ_RUIXO,
    params={
        "frn": Param(
            0.54,
            "-",
            PEREZ_RUIXO + ": nasal-cavity fraction of the first 28-mg device",
            iiv_sd=0.708,
            iiv_scale="logit",
            iiv_source=PEREZ_RUIXO + ": 70.8 (logit SD)",
        ),
        "frn_later_devices": Param(
            0.62, "-", PEREZ_RUIXO + ": factor on FRn for 2nd and later devices (applied linearly)"
        ),
        "ka_n": Param(
            2.93,
            "1/h",
            PEREZ_RUIXO,
            iiv_sd=omega_from_cv(0.615),
            iiv_source=PEREZ_RUIXO + ": 61.5% CV",
        ),
        "d_sw": Param(
            0.53, "h", PEREZ_RUIXO + ": zero-order duration of the swallowed nasal portion"
        ),
        "ka_sw": Param(
            1.45,
            "1/h",
            PEREZ_RUIXO,
            iiv_sd=omega_from_cv(1.32),
            iiv_source=PEREZ_RUIXO + ": 132% CV",
        ),
        "d_po": Param(0.32, "h", PEREZ_RUIXO + ": zero-order duration of an oral solution dose"),
        "ka_po": Param(
            0.97,
            "1/h",
            PEREZ_RUIXO,
            iiv_sd=omega_from_cv(1.32),
            iiv_source=PEREZ_RUIXO + ": 132% CV",
        ),
        "f_gut": Param(0.64, "-", PEREZ_RUIXO),
        "vc": Param(
            192.0,
            "L",
            PEREZ_RUIXO,
            iiv_sd=omega_from_cv(0.275),
            iiv_source=PEREZ_RUIXO + ": 27.5% CV",
        ),
        "q1": Param(84.3, "L/h", PEREZ_RUIXO),
        "vp1": Param(
            143.0,
            "L",
            PEREZ_RUIXO,
            iiv_sd=omega_from_cv(0.493),
            iiv_source=PEREZ_RUIXO + ": 49.3% CV",
        ),
        "q2": Param(37.6, "L/h", PEREZ_RUIXO),
        "vp2": Param(417.0, "L", PEREZ_RUIXO),
        "qh": Param(
            151.0,
            "L/h",
            PEREZ_RUIXO,
            iiv_sd=omega_from_cv(0.232),
            iiv_source=PEREZ_RUIXO + ": 23.2% CV",
        ),
        "vh": Param(
            101.0,
            "L",
            PEREZ_RUIXO,
            iiv_sd=omega_from_cv(0.346),
            iiv_source=PEREZ_RUIXO + ": 34.6% CV",
        ),
        "kel": Param(
            1.11,
            "1/h",
            PEREZ_RUIXO,
            iiv_sd=omega_from_cv(1.20),
            iiv_source=PEREZ_RUIXO + ": 120% CV",
        ),
        # Table 3 leaves the IIV of kmet blank, so none is applied.
        "kmet": Param(2.77, "1/h", PEREZ_RUIXO),
        "vcn": Param(
            70.0,
            "L",
            PEREZ_RUIXO + " (apparent, Vcn/F)",
            iiv_sd=omega_from_cv(0.316),
            iiv_source=PEREZ_RUIXO + ": 31.6% CV",
        ),
        "cln": Param(
            38.0,
            "L/h",
            PEREZ_RUIXO + " (apparent, CLn/F)",
            iiv_sd=omega_from_cv(0.254),
            iiv_source=PEREZ_RUIXO + ": 25.4% CV",
        ),
        "q3": Param(26.1, "L/h", PEREZ_RUIXO + " (apparent, Q3/F)"),
        "vpn": Param(115.0, "L", PEREZ_RUIXO + " (apparent, Vpn/F)"),
    },
)

ESKETAMINE_DEVICE_MG = 28.0
ESKETAMINE_DEVICE_INTERVAL_MIN = 5.0

# The joint fit (openkap.core.pk.fit, offline) writes data/fitted.json: typical
# values at 70 kg with the studies each was fitted to. Between-subject
# variability is not fitted (summary data cannot identify it); it is borrowed
# as before and says so.
_FITTED = json.loads((Path(__file__).with_name("data") / "fitted.json").read_text())
_STUDIES = json.loads((Path(__file__).with_name("data") / "observations.json").read_text())[
    "studies"
]


def study_citation(key: str) -> str:
    return f"{key}: {_STUDIES[key]['citation']}"


def _fitted(set_key: str, name: str, **extra: object) -> Param:
    entry = _FITTED["parameters"][f"{set_key}.{name}"]
    studies = entry["fitted_to"]
    return Param(
        entry["value"],
        entry["unit"],
        "fitted to " + ", ".join(studies),
        calibrated=True,
        note="joint weighted least-squares fit (openkap.core.pk.fit) to "
        + "; ".join(study_citation(s) for s in studies)
        + f"; weak prior {entry['prior']:.4g} ({entry['prior_source']})",
        **extra,  # type: ignore[arg-type]
    )


JOINT_FIT = (
    "Joint fit (openkap.core.pk.fit) to published racemic data: "
    + ", ".join(_STUDIES)
    + " (sources in core/pk/data/observations.json)"
)

JOINT_DISPOSITION = ParameterSet(
    key="joint",
    name="Joint-fit 3-compartment racemic disposition (allometric, per 70 kg)",
    citation=JOINT_FIT,
    params={name: _fitted("joint", name) for name in ("cl", "v1", "q2", "v2", "q3", "v3")},
)
DISPOSITIONS["joint"] = JOINT_DISPOSITION
DEFAULT_DISPOSITION = "joint"
# The published sets were fitted to IV data only; absorption is fitted with the joint set.
IV_ONLY_DISPOSITIONS = ("clements", "domino")

IM_ABSORPTION = ParameterSet(
    key="im",
    name="IM first-order depot",
    citation=JOINT_FIT,
    # F is the published one: the IM data (medians in trauma patients, no IV arm in
    # the same people) cannot separate it from clearance.
    params={"f": Param(0.93, "-", CLEMENTS_1982), "ka": _fitted("im", "ka")},
)

IN_RACEMIC_ABSORPTION = ParameterSet(
    key="in-racemic",
    name="nasal first-order depot with lag",
    citation=JOINT_FIT,
    params={
        "f": _fitted(
            "in-racemic",
            "f",
            iiv_sd=0.5,
            iiv_scale="logit",
            iiv_source="assumption: logit SD 0.5 (no individual F reported)",
        ),
        "ka": _fitted(
            "in-racemic",
            "ka",
            iiv_sd=omega_from_cv(0.615),
            iiv_source=PEREZ_RUIXO + ": esketamine nasal ka_n 61.5% CV, borrowed",
        ),
        "lag_min": _fitted("in-racemic", "lag_min"),
    },
)

ORAL_ABSORPTION = ParameterSet(
    key="oral",
    name="gut: tablet release, lag, first-order absorption",
    citation=JOINT_FIT,
    params={
        "f": _fitted(
            "oral",
            "f",
            iiv_sd=0.09 / (0.23 * (1 - 0.23)),
            iiv_scale="logit",
            iiv_source=CHONG + ": 23 +/- 9 %; logit SD = SD/(F(1-F))",
        ),
        "ka": _fitted(
            "oral",
            "ka",
            iiv_sd=omega_from_cv(1.32),
            iiv_source=PEREZ_RUIXO + ": esketamine ka_po 132% CV, borrowed",
        ),
        "lag_min": _fitted("oral", "lag_min"),
        # Swallowed tablets only, before the lag (ADR 0080).
        "release_min": _fitted("oral", "release_min"),
    },
)

SUBLINGUAL_ABSORPTION = ParameterSet(
    key="sublingual",
    name="transmucosal depot + swallowed saliva",
    citation=JOINT_FIT,
    params={
        "mucosal_fraction": _fitted("sublingual", "mucosal_fraction"),
        "hold_min": Param(
            10.0, "min", "assumption: dose held 10 min before saliva is swallowed or spat"
        ),
        "ka_mucosal": _fitted("sublingual", "ka_mucosal"),
    },
)

# Racemic norketamine, on request (simulate(norketamine=True)): the published
# S-ketamine -> S-norketamine model of Simons 2022, nothing fitted. Ketamine
# leaving the circulation (and, at first pass, swallowed drug that does not
# reach it) passes a two-compartment metabolism chain of which 80 % forms
# norketamine. Applying S-enantiomer values to racemic ketamine and norketamine
# is our assumption: no racemic parent-metabolite model with parameters could
# be read (docs/pk.md, *Norketamine*).
SIMONS = (
    "Simons P et al. Front Pain Res 2022;3:946486 (S-ketamine oral thin film), Table 4 "
    "(transcription in nlmixr2lib Simons_2022_s_ketamine.R), at 70 kg"
)
NORKETAMINE = ParameterSet(
    key="norketamine",
    name="norketamine: Simons 2022 S-norketamine model, applied to racemic ketamine",
    citation=SIMONS,
    params={
        "fm": Param(
            0.8, "-", SIMONS + ": 80 % of metabolised ketamine forms norketamine (abstract; fixed)"
        ),
        "mtt_min": Param(
            20.1,
            "min",
            SIMONS + ": MTT K->NK of the two-compartment metabolism chain",
            iiv_sd=math.sqrt(0.021),
            iiv_source=SIMONS + ": omega^2 0.021",
        ),
        "vcn": Param(11.6, "L", SIMONS + ": VN1 = VK1"),
        "cln": Param(
            60.0,
            "L/h",
            SIMONS + ": CLN1 1.00 L/min",
            iiv_sd=math.sqrt(0.050),
            iiv_source=SIMONS + ": omega^2 0.050",
        ),
        "qn": Param(157.8, "L/h", SIMONS + ": CLN2 2.63 L/min"),
        "vpn": Param(221.0, "L", SIMONS + ": VN2"),
        # Simons's states are ketamine mass; norketamine is reported as its own mass.
        "mw_ratio": Param(223.70 / 237.73, "-", "molar masses: norketamine / ketamine"),
    },
)


# Documented drug interactions (CYP3A / CYP2B6). Each study gave oral (and, for
# rifampicin, also IV) S-ketamine to healthy volunteers after days of the other
# drug or placebo, and reports AUC ratios; every number below is quoted from the
# abstract named (docs/pk.md, *Interacting medicines*, has the words). We apply
# them to racemic ketamine, which is our assumption. An AUC ratio after IV
# dosing changes clearance; what is left of the oral ratio is put on the
# bioavailability of swallowed drug (AUC_oral = F * dose / CL), where these
# inhibitors and inducers act most (gut wall and first pass). Where no IV arm
# was studied, clearance is left unchanged, so the effect on IV, IM and nasal
# routes is understated rather than invented.
HAGELBERG_2010 = (
    "Hagelberg NM et al. Eur J Pain 2010;14:625 (abstract, PMID 19897389): clarithromycin "
    "4 days, oral S-ketamine 0.2 mg/kg, n=10: AUC x2.6, Cmax x3.6"
)
PELTONIEMI_2012 = (
    "Peltoniemi MA et al. Basic Clin Pharmacol Toxicol 2012;111:325 (abstract): rifampicin "
    "600 mg 6 days, n=11: AUC of IV S-ketamine (0.1 mg/kg) -14 %, of oral (0.3 mg/kg) -86 %"
)
PELTONIEMI_2011 = (
    "Peltoniemi MA et al. Clin Pharmacol Ther 2011;90:296 (abstract): 6 days of ticlopidine "
    "or itraconazole, oral S-ketamine 0.2 mg/kg, n=11: ticlopidine AUC x2.4; itraconazole "
    "did not increase exposure"
)
GRAPEFRUIT_2012 = (
    "'S-ketamine concentrations are greatly increased by grapefruit juice', Eur J Clin "
    "Pharmacol 2012;68:979 (abstract, PMID 22286159; Turku): grapefruit juice 200 mL t.i.d. "
    "5 days, oral S-ketamine 0.2 mg/kg, n=12: AUC x3.0 (geometric mean), Cmax x2.1, "
    "half-life +24 %"
)
PELTONIEMI_2012_SJW = (
    "Peltoniemi MA et al. Fundam Clin Pharmacol 2012;26:743 (abstract, "
    "doi:10.1111/j.1472-8206.2011.00954.x): St John's wort 14 days, oral S-ketamine "
    "0.3 mg/kg, n=12: AUC -58 %, Cmax -66 %"
)
# A second IV rifampicin study, side by side with Peltoniemi 2012's -14 % (not applied
# twice: the model uses the study that also gave the oral ratio).
NOPPERS_IV_RIFAMPICIN = (
    "Noppers I, Olofsen E, Niesters M, et al. 'Effect of rifampicin on S-ketamine and "
    "S-norketamine plasma concentrations in healthy volunteers after intravenous S-ketamine "
    "administration' (abstract, Duke Scholars record; journal not shown where read): "
    "S-ketamine 20 or 40 mg/70 kg/h IV for 2 h, n=20: AUC -10 %"
)


@dataclass(frozen=True)
class Interaction:
    key: str
    label: str  # as shown on the chart
    iv_auc_ratio: float | None  # None: not studied
    oral_auc_ratio: float
    source: str
    oral_cmax_ratio: float | None = None  # as published; None: not in what we could read
    # Words that name it in a medication list (lower case, matched as whole words).
    names: tuple[str, ...] = ()

    @property
    def cl_multiplier(self) -> float:
        return 1.0 if self.iv_auc_ratio is None else 1.0 / self.iv_auc_ratio

    @property
    def oral_f_multiplier(self) -> float:
        return self.oral_auc_ratio * self.cl_multiplier

    def parameter_set(self) -> ParameterSet:
        iv = (
            "no IV data: clearance unchanged"
            if self.iv_auc_ratio is None
            else f"1 / IV AUC ratio {self.iv_auc_ratio:g}"
        )
        return ParameterSet(
            key="interaction",
            name=f"interaction: {self.label}",
            citation=self.source,
            params={
                "cl_multiplier": Param(self.cl_multiplier, "-", self.source, note=iv),
                "oral_f_multiplier": Param(
                    self.oral_f_multiplier,
                    "-",
                    self.source,
                    note=f"oral AUC ratio {self.oral_auc_ratio:g} x CL multiplier; "
                    "applied to swallowed drug, capped so that F <= 1",
                ),
            },
        )


INTERACTIONS: dict[str, Interaction] = {
    i.key: i
    for i in (
        Interaction(
            "clarithromycin",
            "clarithromycin (CYP3A inhibitor)",
            None,
            2.6,
            HAGELBERG_2010,
            oral_cmax_ratio=3.6,
            names=("clarithromycin",),
        ),
        Interaction(
            "rifampicin",
            "rifampicin (CYP3A/2B6 inducer)",
            0.86,
            0.14,
            PELTONIEMI_2012,
            names=("rifampicin", "rifampin"),
        ),
        Interaction(
            "ticlopidine",
            "ticlopidine (CYP2B6 inhibitor)",
            None,
            2.4,
            PELTONIEMI_2011,
            names=("ticlopidine",),
        ),
        Interaction(
            "itraconazole",
            "itraconazole (CYP3A inhibitor)",
            None,
            1.0,
            PELTONIEMI_2011,
            names=("itraconazole",),
        ),
        Interaction(
            "grapefruit-juice",
            "grapefruit juice (CYP3A inhibitor)",
            None,
            3.0,
            GRAPEFRUIT_2012,
            oral_cmax_ratio=2.1,
            names=("grapefruit",),
        ),
        Interaction(
            "st-johns-wort",
            "St John's wort (CYP3A4 inducer)",
            None,
            0.42,
            PELTONIEMI_2012_SJW,
            oral_cmax_ratio=0.34,
            names=(
                "st john's wort",
                "st. john's wort",
                "st johns wort",
                "st. johns wort",
                "hypericum",
            ),
        ),
    )
}


def interactions_named_in(text: str) -> tuple[str, ...]:
    """Keys of the documented interactions a medication list names, in INTERACTIONS order.

    Whole words, any case, curly or straight apostrophes; what the words say about the
    medicine (stopped, planned) is not read, so callers show the match for a clinician.
    """
    words = " ".join(re.findall(r"[a-z0-9.']+", text.lower().replace("\u2019", "'")))
    found = []
    for key, i in INTERACTIONS.items():
        if any(re.search(rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])", words) for n in i.names):
            found.append(key)
    return tuple(found)


# Age (Perez-Ruixo 2021 Table 3): hepatic blood flow falls by 2.19 L/h per year
# above 60; below 60 age has no effect, and sex and body weight were screened and
# not retained. For esketamine this is the published model. For racemic ketamine
# (no racemic study we could read reports an age effect) it is our assumption:
# the esketamine well-stirred liver gives the ratio of clearance, applied to the
# joint disposition, and the ratio of hepatic escape (1 - E), applied to
# swallowed drug; oral AUC (= F_gut dose / CL_int) is then unchanged, as that
# model implies.
AGE_QH_SOURCE = PEREZ_RUIXO + ": age on Qh -2.19 L/h per year above 60"
AGE_QH_DECREASE_PER_YEAR = 2.19  # L/h
AGE_EFFECT_FROM_YEARS = 60.0
AGE_RANGE_YEARS = (18.0, 100.0)
# Individual Qh never falls below this fraction of the typical value (our guard:
# the published additive decrease could otherwise make an extreme Qh negative).
AGE_QH_FLOOR = 0.1


def age_qh_decrease(age_years: float) -> float:
    """Decrease of hepatic blood flow (L/h) at this age."""
    return AGE_QH_DECREASE_PER_YEAR * max(0.0, age_years - AGE_EFFECT_FROM_YEARS)


def age_parameter_set(age_years: float, route: str) -> ParameterSet:
    """What an age changes: Qh for esketamine, CL and swallowed F for racemic routes."""
    decrease = age_qh_decrease(age_years)
    name = f"age {age_years:g} years"
    if route == "in-esketamine":
        return ParameterSet(
            key="age",
            name=name,
            citation=PEREZ_RUIXO,
            params={"qh_decrease": Param(decrease, "L/h", AGE_QH_SOURCE)},
        )
    p = PEREZ_RUIXO_2021.params
    cl_int = p["vh"].value * (p["kel"].value + p["kmet"].value)  # L/h

    def extraction(qh: float) -> float:
        return cl_int / (qh + cl_int)

    qh = p["qh"].value
    older = max(qh - decrease, AGE_QH_FLOOR * qh)
    cl_ratio = older * extraction(older) / (qh * extraction(qh))
    escape_ratio = (1 - extraction(older)) / (1 - extraction(qh))
    note = (
        f"esketamine well-stirred liver (Qh {qh:g} -> {older:.4g} L/h, CLint {cl_int:.4g} L/h), "
        "applied to racemic ketamine: our assumption"
    )
    return ParameterSet(
        key="age",
        name=name,
        citation=PEREZ_RUIXO,
        params={
            "cl_multiplier": Param(cl_ratio, "-", AGE_QH_SOURCE, note=note),
            "oral_f_multiplier": Param(escape_ratio, "-", AGE_QH_SOURCE, note=note),
        },
    )
