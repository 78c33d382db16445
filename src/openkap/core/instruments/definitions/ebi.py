"""EBI, Emotional Breakthrough Inventory (Roseman et al. 2019). Reference: §9."""

from __future__ import annotations

from ..model import Instrument, Item, Licence, Option, Rater, Scale, TotalRule

_VAS = Scale(
    0,
    100,
    (
        Option(0, "No, not more than usually"),
        Option(100, "Yes, entirely / much more than usually"),
    ),
)

_LABELS = (
    "Faced difficult feelings usually pushed aside",
    "Resolution of a personal conflict or trauma",
    "Able to explore challenging emotions and memories",
    "Had an emotional breakthrough",
    "Sense of closure on an emotional problem",
    "Emotional release followed by a sense of relief",
)

INSTRUMENT = Instrument(
    id="ebi",
    short_name="EBI",
    name="Emotional Breakthrough Inventory",
    version="EBI, 6 items (Roseman et al. 2019)",
    rater=Rater.SELF_REPORT,
    recall_period="the session (completed about one day after it)",
    items=tuple(Item(f"q{n}", label, _VAS) for n, label in enumerate(_LABELS, 1)),
    total_rule=TotalRule.MEAN,
    licence=Licence.PERMISSION_REQUIRED,
    licence_note="Published research instrument; terms unverified. Only short labels ship.",
    sources=("Roseman L et al. J Psychopharmacol 2019;33:1076-87.",),
    caveats=(
        "The total is the mean of the six items (0-100); the Roseman 2019 abstract does not "
        "say mean or sum, and secondary copies do both (the sum, 0-600, is in raw_total).",
        "Item order matches two secondary copies (a clinician form copy and a published "
        "validation's analysis script); the Roseman 2019 paper itself was not read.",
        "No bands, cut-offs or LOINC codes.",
    ),
)
