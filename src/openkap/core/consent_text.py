"""Consent documents that state the protocol's facts from the protocol itself (issue 21.7).

A document's text may carry placeholders such as ``{{monitoring_minutes}}``; when the
patient signs, they are filled from the protocol the treatment plan names, and the
filled text is what is shown, hashed and stored with the signature. A clinic cannot
then promise 90 minutes of monitoring while the protocol enforces 120.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from openkap.core.protocols import Protocol
from openkap.core.protocols.schema import DoseBasis

PLACEHOLDER: Final = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")

# Name -> what it is filled with (shown to the admin who writes the document).
PLACEHOLDERS: Final[dict[str, str]] = {
    "protocol_title": "the protocol's title",
    "monitoring_minutes": "minimum monitoring time after the dose, in minutes",
    "usual_dose": "the usual dose range (e.g. 0.5 to 1 mg/kg)",
    "maximum_dose": "the hard maximum per session",
    "min_interval_days": "the least number of days between two sessions",
    "vitals_times": "when vital signs are taken (minutes after the dose starts)",
}


def _n(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def protocol_facts(p: Protocol) -> dict[str, str]:
    unit = "mg/kg" if p.dose_rule.basis is DoseBasis.MG_PER_KG else "mg"
    maxima = []
    if p.absolute_max.mg is not None:
        maxima.append(f"{_n(p.absolute_max.mg)} mg")
    if p.absolute_max.mg_per_kg is not None:
        maxima.append(f"{_n(p.absolute_max.mg_per_kg)} mg/kg")
    return {
        "protocol_title": p.title,
        "monitoring_minutes": str(p.min_monitoring_minutes),
        "usual_dose": f"{_n(p.dose_rule.usual_low)} to {_n(p.dose_rule.usual_high)} {unit}",
        "maximum_dose": " and at most ".join(maxima),
        "min_interval_days": str(p.min_interval_days),
        "vitals_times": ", ".join(str(m) for m in p.vitals_schedule_min),
    }


def placeholders(text: str) -> list[str]:
    """The placeholder names used, in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def unknown_placeholders(text: str) -> list[str]:
    return [name for name in placeholders(text) if name not in PLACEHOLDERS]


def fill(text: str, facts: Mapping[str, str]) -> str:
    """The text with every placeholder replaced; KeyError names one that has no fact."""
    return PLACEHOLDER.sub(lambda m: facts[m.group(1)], text)
