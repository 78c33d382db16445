"""CADSS, 23 subjective items (Bremner et al. 1998). Reference: instruments.md §7.

A tolerability / acute-effects measure in ketamine care, not an efficacy outcome: no bands.
"""

from __future__ import annotations

from ..model import Instrument, Item, Licence, Rater, TotalRule
from ._common import numbered

CADSS_SCALE = numbered(0, 4)

# Items 1-19 match Bremner 1998 Table 1 (subjective items; its items 20+ are observer items,
# so the wording of the ketamine form's subjective items 20-23 is not verified).
CADSS_LABELS = (
    "Things seem to move in slow motion",
    "Things seem unreal, as in a dream",
    "Feeling separated from what is happening",
    "Looking at things from outside the body",
    "Watching the situation as an observer",
    "Feeling disconnected from own body",
    "Sense of own body changed (larger or smaller)",
    "People seem motionless or mechanical",
    "Objects look different than expected",
    "Colours seem diminished",
    "Tunnel or wide-angle vision",
    "Experience takes much longer than expected",
    "Things happen very quickly",
    "Things happen that cannot be accounted for",
    "Spacing out or losing track",
    "Sounds disappear or become stronger",
    "Things seem very real, special clarity",
    "World seen through a fog",
    "Colours much brighter",
    "Item 20 (see licensed form)",
    "Item 21 (see licensed form)",
    "Item 22 (see licensed form)",
    "Item 23 (see licensed form)",
)

CADSS_LICENCE = (
    "Copyright J. D. Bremner (Emory); permission terms unverified. Only short labels ship "
    "here: load the licensed wording."
)

INSTRUMENT = Instrument(
    id="cadss",
    short_name="CADSS",
    name="Clinician-Administered Dissociative States Scale (23 subjective items)",
    version="CADSS, 23 subjective items (Bremner et al. 1998; ketamine-trial form)",
    rater=Rater.CLINICIAN,
    recall_period="present state (at this time, in this room)",
    items=tuple(Item(f"q{n}", label, CADSS_SCALE) for n, label in enumerate(CADSS_LABELS, 1)),
    total_rule=TotalRule.SUM,
    licence=Licence.PERMISSION_REQUIRED,
    licence_note=CADSS_LICENCE,
    aliases=("cadss23",),
    sources=(
        "Bremner JD et al. J Trauma Stress 1998;11:125-36.",
        "Bremner JD et al. J Affect Disord 2024 (23-item CADSS).",
    ),
    caveats=(
        "Wording of items 20-23 and the answer labels (0 not at all ... 4 extremely) are "
        "unverified; only numbers ship.",
        "Subscales (depersonalisation, derealisation, amnesia) are not computed: no source "
        "read gives their item key, and factor analyses disagree (one factor in a 23-item "
        "CADSS study of trauma-exposed adults; one 16-item factor after IV ketamine, J Affect "
        "Disord 2018;227:11-16). Observer items are not included.",
        "No official bands and no LOINC codes.",
    ),
)
