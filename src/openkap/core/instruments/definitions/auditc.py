"""AUDIT-C (Bush et al. 1998). Reference: instruments.md §10. Cut-offs depend on sex."""

from __future__ import annotations

from ..model import Band, Instrument, Item, Licence, Option, Rater, Scale, Sex, SexBands, TotalRule

INSTRUMENT = Instrument(
    id="auditc",
    short_name="AUDIT-C",
    name="AUDIT Alcohol Consumption Questions",
    version="AUDIT-C (items 1-3 of the WHO AUDIT; Bush et al. 1998)",
    rater=Rater.SELF_REPORT,
    recall_period="past year",
    items=(
        Item(
            "q1",
            "How often a drink containing alcohol",
            Scale(
                0,
                4,
                (
                    Option(0, "Never"),
                    Option(1, "Monthly or less"),
                    Option(2, "2-4 times a month"),
                    Option(3, "2-3 times a week"),
                    Option(4, "4 or more times a week"),
                ),
            ),
            text="How often do you have a drink containing alcohol?",
            loinc="68518-0",
        ),
        Item(
            "q2",
            "Drinks on a typical drinking day",
            Scale(
                0,
                4,
                (
                    Option(0, "1 or 2"),
                    Option(1, "3 or 4"),
                    Option(2, "5 or 6"),
                    Option(3, "7 to 9"),
                    Option(4, "10 or more"),
                ),
            ),
            text="How many standard drinks containing alcohol do you have on a typical day?",
            loinc="68519-8",
        ),
        Item(
            "q3",
            "How often six or more drinks on one occasion",
            Scale(
                0,
                4,
                (
                    Option(0, "Never"),
                    Option(1, "Less than monthly"),
                    Option(2, "Monthly"),
                    Option(3, "Weekly"),
                    Option(4, "Daily or almost daily"),
                ),
            ),
            text="How often do you have six or more drinks on one occasion?",
            loinc="68520-6",
        ),
    ),
    total_rule=TotalRule.SUM,
    sex_bands=(
        SexBands(
            Sex.FEMALE,
            (
                Band("negative", "Negative screen", 0, 2),
                Band("positive", "Positive screen for alcohol misuse", 3, 12),
            ),
        ),
        SexBands(
            Sex.MALE,
            (
                Band("negative", "Negative screen", 0, 3),
                Band("positive", "Positive screen for alcohol misuse", 4, 12),
            ),
        ),
    ),
    licence=Licence.PUBLIC_DOMAIN,
    licence_note=(
        "SAMHSA: AUDIT-C is available for use in the public domain. WHO AUDIT (c) WHO 2001: "
        "may be freely reproduced, but not for sale or commercial purposes."
    ),
    aliases=("audit-c",),
    loinc_panel="72109-2",
    loinc_total="75626-2",
    sources=(
        "Bush K et al. Arch Intern Med 1998;158:1789-95; Bradley KA et al. 2003/2007 (women).",
        "US/VA cut-offs: men >= 4, women >= 3 (also LOINC 75626-2 term description).",
        "Item LOINC codes 68518-0, 68519-8, 68520-6: loinc.org panel 72110-0 (AUDIT), items "
        "1-3; 68520-6 also in the HL7 US Core AUDIT-C Questionnaire.",
    ),
    caveats=(
        "Some programmes use >= 5 for men; the common US/VA cut-offs are used here.",
        "Without a sex, total 3 (positive for women, negative for men) is reported as a "
        "possible positive with a note: the cautious reading until sex is recorded.",
    ),
)
