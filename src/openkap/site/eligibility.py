"""Who may not be eligible, in plain words, from the contraindication checklist in core.

The checklist (``openkap.core.pathway.contraindications``) is what prescribers decide
with; this module only words it for the public. Whether an item rules ketamine out or
needs a prescriber's review comes from the checklist's own severities, so a change
there shows here; an item without plain words here fails a test."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from openkap.core.pathway.contraindications import CHECKLIST, Checklist, Severity

PLAIN_WORDS: dict[str, Promise] = {
    "aneurysmal_vascular_disease": _("An aneurysm: a bulging, weakened artery (in the chest, belly, brain or limbs)"),
    "arteriovenous_malformation": _("An arteriovenous malformation: a tangle of blood vessels, for example in the brain"),
    "intracerebral_haemorrhage": _("Bleeding in the brain at any time in the past"),
    "ketamine_hypersensitivity": _("An allergic reaction to ketamine or esketamine before"),
    "uncontrolled_hypertension": _("High blood pressure that is not under control"),
    "active_psychosis": _("Psychosis now (hearing or seeing things others do not, or beliefs others do not share)"),
    "mania": _("Mania or hypomania now (days of unusually high energy, little sleep, racing thoughts)"),
    "pregnancy": _("Being pregnant, or planning to become pregnant"),
    "breastfeeding": _("Breastfeeding"),
    "substance_use_disorder": _("A drug or alcohol use problem now, or having misused ketamine in the past"),
    "heavy_alcohol_use": _("Drinking heavily"),
    "severe_hepatic_impairment": _("Severe liver disease"),
    "cystitis": _("A bladder inflammation called ulcerative or interstitial cystitis"),
    "cns_depressants": _("Taking benzodiazepines, opioids or other medicines that make you sleepy"),
    "stimulants_or_maoi": _("Taking stimulants (such as ADHD medicines) or MAO-inhibitor antidepressants"),
}


@dataclass(frozen=True)
class PlainItem:
    id: str
    text: Promise


@dataclass(frozen=True)
class Eligibility:
    rules_out: tuple[PlainItem, ...]  # absolute on every route
    needs_review: tuple[PlainItem, ...]  # relative on some route: the prescriber weighs it
    checklist_version: str


def plain_eligibility(checklist: Checklist = CHECKLIST) -> Eligibility:
    rules_out, needs_review = [], []
    for item in checklist.items:
        plain = PlainItem(item.id, PLAIN_WORDS[item.id])
        if all(rule.severity is Severity.ABSOLUTE for rule in item.rules.values()):
            rules_out.append(plain)
        else:
            needs_review.append(plain)
    return Eligibility(tuple(rules_out), tuple(needs_review), checklist.version)
