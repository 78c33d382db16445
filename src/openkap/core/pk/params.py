"""Parameter sets with their units and sources.

Every number that drives a simulation is here, next to where it comes from.
`calibrated=True` marks values we fitted ourselves, with the data used in
`note`; tests/core/pk/test_calibration.py re-derives each of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DOMINO = "Domino EF et al. (racemic ketamine IV, 3-compartment); constants as implemented in opentiva (cites PMID 7198883) and fus_anes"
CLEMENTS = "Clements JA, Nimmo WS. Br J Anaesth 1981;53:27 (PMID 7459184), 250 ug/kg IV bolus; constants as implemented in opentiva"
CLEMENTS_1982 = "Clements JA et al. J Pharm Sci 1982;71:539 (seen in secondary summaries only)"
HASAN = "Hasan M et al. Anesthesiology 2021;135:326, Table 1 (5 mg IV, n=15; transcription in indand21/ketamine_therapeutic_window)"
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
DEFAULT_DISPOSITION = "clements"

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

# Racemic extravascular absorption. Rates of absorption from the gut and the
# nose are not published for racemic ketamine; we borrow Perez-Ruixo's
# esketamine values (same molecule, same physicochemistry). Rates with no
# published value at all are calibrated against a published Tmax from a
# different study than the one the validation table compares with, where one
# exists.
_SL_F = 0.32  # Chong 2006, 32 +/- 17 %
_ORAL_F = 0.23  # Chong 2006, 23 +/- 9 %

IM_ABSORPTION = ParameterSet(
    key="im",
    name="IM first-order depot",
    citation=CLEMENTS_1982,
    params={
        "f": Param(0.93, "-", CLEMENTS_1982),
        "ka_clements": Param(
            0.24714,
            "1/min",
            "calibrated",
            calibrated=True,
            note="typical Tmax 10 min with Clements disposition (midpoint of IM Tmax 5-15 min, "
            + CLEMENTS_1982
            + ")",
        ),
        "ka_domino": Param(
            0.027587,
            "1/min",
            "calibrated",
            calibrated=True,
            note="typical Tmax 10 min with Domino disposition (midpoint of IM Tmax 5-15 min, "
            + CLEMENTS_1982
            + ")",
        ),
    },
)

IN_RACEMIC_ABSORPTION = ParameterSet(
    key="in-racemic",
    name="nasal first-order depot",
    citation=YANAGIHARA + "; " + PEREZ_RUIXO,
    params={
        "f": Param(
            0.45,
            "-",
            YANAGIHARA,
            note="chosen over 11-17 % (10-50 mg, " + PHARMACOTHERAPY_2022 + "), which cannot "
            "reproduce that study's own Cmax with either disposition model; see docs/pk.md",
        ),
        "ka": Param(
            2.93,
            "1/h",
            PEREZ_RUIXO + ": esketamine ka_n, borrowed",
            iiv_sd=omega_from_cv(0.615),
            iiv_source=PEREZ_RUIXO + ": 61.5% CV",
        ),
    },
)

ORAL_ABSORPTION = ParameterSet(
    key="oral",
    name="gut: zero-order release, first-order absorption",
    citation=CHONG + "; " + PEREZ_RUIXO,
    params={
        "f": Param(
            _ORAL_F,
            "-",
            CHONG,
            iiv_sd=0.09 / (_ORAL_F * (1 - _ORAL_F)),
            iiv_scale="logit",
            iiv_source=CHONG + ": 23 +/- 9 %; logit SD = SD/(F(1-F))",
        ),
        "d_po": Param(0.32, "h", PEREZ_RUIXO + ": esketamine oral solution Dpo, borrowed"),
        "ka_po": Param(
            0.97,
            "1/h",
            PEREZ_RUIXO + ": esketamine ka_po, borrowed",
            iiv_sd=omega_from_cv(1.32),
            iiv_source=PEREZ_RUIXO + ": 132% CV",
        ),
    },
)

SUBLINGUAL_ABSORPTION = ParameterSet(
    key="sublingual",
    name="transmucosal depot + swallowed saliva",
    citation=CHONG + "; " + ROLAN,
    params={
        # F_SL = f_m + (1 - f_m) * F_oral, both F from the same subjects.
        "mucosal_fraction": Param(
            (_SL_F - _ORAL_F) / (1 - _ORAL_F),
            "-",
            "derived from " + CHONG + ": F_SL 0.32, F_oral 0.23",
            calibrated=True,
            note="solves F_SL = f_m + (1 - f_m) * F_oral",
        ),
        "hold_min": Param(
            10.0, "min", "assumption: dose held 10 min before saliva is swallowed or spat"
        ),
        # The 3.4 recipe gives the transmucosal part alone Tmax ~45 min: fitted
        # with saliva spat, so the swallow-mode Tmax stays a prediction.
        "ka_mucosal_clements": Param(
            0.023967,
            "1/min",
            "calibrated",
            calibrated=True,
            note="typical Tmax 0.75 h of the transmucosal part alone (saliva spat) with"
            " Clements disposition; median SL Tmax of " + ROLAN,
        ),
        "ka_mucosal_domino": Param(
            0.0064682,
            "1/min",
            "calibrated",
            calibrated=True,
            note="typical Tmax 0.75 h of the transmucosal part alone (saliva spat) with"
            " Domino disposition; median SL Tmax of " + ROLAN,
        ),
    },
)
