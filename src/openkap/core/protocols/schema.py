"""Medicine-session protocol: what a route's protocol states, as frozen dataclasses.

A ``Protocol`` validates itself on construction, so an object that exists is
internally consistent whether it came from a JSON file, the database or a
test. Whether a clinic has *approved* it is not part of the content: the
sessions app stores the status and passes it to the dose calculation.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final

from openkap.core.blood_pressure import POST_DOSE_CHECK_EARLIEST_MIN, POST_DOSE_CHECK_MIN
from openkap.core.body_weight import DosingWeightBasis, IdealWeightFormula
from openkap.core.missed_vitals import MissedVitalsPolicy
from openkap.core.routes import Route as Route  # re-exported for loader and dosing
from openkap.core.vitals import AlarmRule, DischargeCriterion


class ProtocolError(ValueError):
    """A protocol that cannot be used; ``errors`` lists every problem found."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(self.errors))


class DoseBasis(StrEnum):
    MG_PER_KG = "mg_per_kg"
    FIXED_MG = "fixed_mg"

    @property
    def unit(self) -> str:
        return "mg/kg" if self is DoseBasis.MG_PER_KG else "mg"


class ProductForm(StrEnum):
    SOLUTION = "solution"  # strength in mg/mL, measured in mL
    UNIT = "unit"  # strength in mg per device / troche / tablet, given as whole units


# Route-product matrix by form (reference §5.2 "wrong route/product pairing").
ROUTE_FORMS: Final[dict[Route, frozenset[ProductForm]]] = {
    Route.IV_INFUSION: frozenset({ProductForm.SOLUTION}),
    Route.INTRAMUSCULAR: frozenset({ProductForm.SOLUTION}),
    Route.INTRANASAL_ESKETAMINE: frozenset({ProductForm.UNIT}),
    Route.INTRANASAL_RACEMIC: frozenset({ProductForm.SOLUTION}),
    Route.SUBLINGUAL: frozenset({ProductForm.UNIT}),
    Route.ORAL: frozenset({ProductForm.UNIT, ProductForm.SOLUTION}),
}

# Ketalar label: 100 mg/mL must be diluted with at least an equal volume before
# IV use, so nothing stronger than 50 mg/mL may run into a vein.
IV_MAX_ADMINISTERED_MG_ML: Final = Decimal(50)

# Spravato US label (reference §1.5): 28 mg devices, 5-minute rests, max 84 mg,
# at least 2 h monitoring, REMS. A clinic protocol may be stricter, never looser.
ESKETAMINE_DEVICE_MG: Final = Decimal(28)
ESKETAMINE_MAX_MG: Final = Decimal(84)
ESKETAMINE_MIN_REST_MIN: Final = 5
ESKETAMINE_MIN_MONITORING_MIN: Final = 120

_SLUG: Final = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class DoseRule:
    """How the dose is ordered: mg/kg times weight, or a fixed number of mg."""

    basis: DoseBasis
    default: Decimal
    # Usual range, in the basis unit: outside it a prescriber override is needed.
    usual_low: Decimal
    usual_high: Decimal
    # Fixed-mg only: the only doses that may be ordered (esketamine 56/84 mg).
    allowed: tuple[Decimal, ...] = ()
    # Fixed-mg only: the dose expected at a patient's first session (esketamine 56 mg).
    first_session: Decimal | None = None
    # Fixed-mg only: the usual range per kg of dosing weight (soft limit, issue 12): a
    # fixed 300 mg is usual for 75 kg and 10 mg/kg for 30 kg.
    usual_low_mg_per_kg: Decimal | None = None
    usual_high_mg_per_kg: Decimal | None = None


@dataclass(frozen=True)
class AbsoluteMax:
    """Hard per-session ceiling; with both set the lower one applies."""

    mg_per_kg: Decimal | None = None
    mg: Decimal | None = None

    def for_weight(self, weight_kg: Decimal) -> Decimal:
        limits = [] if self.mg is None else [self.mg]
        if self.mg_per_kg is not None:
            limits.append(self.mg_per_kg * weight_kg)
        return min(limits)


@dataclass(frozen=True)
class Product:
    """A product allowed for the protocol's route, with its allowed strengths."""

    code: str
    name: str
    form: ProductForm
    # mg/mL for solutions, mg per unit for unit forms.
    strengths: tuple[Decimal, ...]
    # Unit forms: "device", "troche"...; solutions with actuation_volume_ml: "spray".
    unit_name: str | None = None
    # Nasal sprays: mL per spray, so the dose is also shown as a whole number of sprays.
    actuation_volume_ml: Decimal | None = None
    # A volume outside this band suggests the wrong strength was drawn (10 vs 100 mg/mL).
    min_volume_ml: Decimal | None = None
    max_volume_ml: Decimal | None = None
    # Minutes between units or sprays (Spravato: 5-minute rest between devices).
    interval_between_units_min: int | None = None

    @property
    def strength_unit(self) -> str:
        return "mg/mL" if self.form is ProductForm.SOLUTION else f"mg/{self.unit_name}"


@dataclass(frozen=True)
class Dilution:
    """IV dilution: to a fixed final volume, or to a target final concentration."""

    diluent: str
    final_volume_ml: Decimal | None = None
    final_concentration_mg_ml: Decimal | None = None


@dataclass(frozen=True)
class ChecklistItem:
    code: str
    text: str


# A DOI as the DOI Handbook (doi.org/the-identifier) writes it: "10." + registrant + "/" +
# suffix, optionally written "doi:10..." ; the suffix excludes spaces and angle brackets.
_DOI: Final = re.compile(r"(?i:doi:)?(10\.\d{4,9}/[^\s<>\"]+)")
_HTTP_URL: Final = re.compile(r"https?://[^\s/?#<>\"@]+(?:[/?#][^\s<>\"]*)?", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    citation: str
    # An http(s) address or a DOI; anything else (javascript:, data:, a bare word) is
    # refused, because the protocol page renders it as a link.
    url: str | None = None

    @property
    def href(self) -> str | None:
        """The link to render: the URL itself, or https://doi.org/ + the DOI."""
        if self.url is None:
            return None
        doi = _DOI.fullmatch(self.url)
        if doi is not None:
            return f"https://doi.org/{doi.group(1)}"
        return self.url if _HTTP_URL.fullmatch(self.url) else None


def source_url_error(url: str) -> str | None:
    """Why a source address is refused, or None."""
    if _DOI.fullmatch(url) or _HTTP_URL.fullmatch(url):
        return None
    return (
        f"{url[:80]!r} is neither an http(s) address (https://...) nor a DOI "
        "(10.xxxx/... or doi:10.xxxx/...)"
    )


@dataclass(frozen=True)
class Protocol:
    id: str
    version: int
    title: str
    route: Route
    dose_rule: DoseRule
    absolute_max: AbsoluteMax
    # Doses are rounded to a multiple of this (never up past the absolute maximum).
    rounding_mg: Decimal
    min_interval_days: int
    max_weight_age_days: int
    products: tuple[Product, ...]
    pre_dose_checklist: tuple[ChecklistItem, ...]
    # Minutes after the start of dosing at which vitals are due.
    vitals_schedule_min: tuple[int, ...]
    # Stated in every protocol (DEFAULT_ALARM_RULES pre-fill new ones), so that
    # changing a code default never changes an approved protocol version.
    alarm_rules: tuple[AlarmRule, ...]
    # Counted from the end of administration (last device, end of infusion).
    min_monitoring_minutes: int
    discharge_criteria: tuple[DischargeCriterion, ...]
    sources: tuple[Source, ...]
    infusion_minutes: int | None = None
    dilution: Dilution | None = None
    rems_required: bool = False
    notes: str = ""
    # Below this total body weight the route's doses are outside experience: hard stop.
    min_weight_kg: Decimal | None = None
    # The weight mg/kg doses and ceilings are computed on (issue 12).
    dosing_weight: DosingWeightBasis = DosingWeightBasis.TOTAL
    ideal_weight_formula: IdealWeightFormula = IdealWeightFormula.DEVINE
    # A scheduled vitals check with no reading: discharge with a written reason, or not at all.
    missed_vitals: MissedVitalsPolicy = MissedVitalsPolicy.REASON

    def __post_init__(self) -> None:
        errors = _protocol_errors(self)
        if errors:
            raise ProtocolError(errors)

    def product(self, code: str) -> Product | None:
        return next((p for p in self.products if p.code == code), None)


def safety_limit_gaps(p: Protocol) -> list[str]:
    """What a protocol must state before it is approved or dosed from (issue 12).

    Kept apart from validation so that a version stored before these rules still loads
    (its record stays readable); the dose calculation refuses it with a hard stop and
    approval refuses it, so a dose is never computed without the ceilings."""
    gaps: list[str] = []
    if p.min_weight_kg is None:
        gaps.append("min_weight_kg: state the minimum body weight for this route")
    if p.dose_rule.basis is DoseBasis.FIXED_MG:
        if p.absolute_max.mg_per_kg is None:
            gaps.append(
                "absolute_max.mg_per_kg: a fixed-mg protocol needs a per-kg ceiling (a fixed "
                "dose is a much larger dose for a small patient)"
            )
        if p.dose_rule.usual_low_mg_per_kg is None:
            gaps.append(
                "dose_rule.usual_low_mg_per_kg and usual_high_mg_per_kg: a fixed-mg protocol "
                "needs a usual range per kg"
            )
    elif p.absolute_max.mg is None:
        gaps.append(
            "absolute_max.mg: a weight-based protocol needs an absolute mg maximum per session "
            "(mg/kg times a very heavy patient's weight is otherwise unbounded)"
        )
    return gaps


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_positive(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and value > 0


def _is_multiple(value: Decimal, step: Decimal) -> bool:
    return _is_positive(step) and value % step == 0


def _protocol_errors(p: Protocol) -> list[str]:
    errors: list[str] = []
    if not isinstance(p.id, str) or not _SLUG.match(p.id):
        errors.append(f"id: {p.id!r} must be a slug (lowercase letters, digits and dashes)")
    if not _is_int(p.version) or p.version < 1:
        errors.append(f"version: must be a whole number from 1, got {p.version!r}")
    if not p.title.strip():
        errors.append("title: must not be empty")
    if not _is_positive(p.rounding_mg):
        errors.append(f"rounding_mg: must be a positive number, got {p.rounding_mg}")
    for name in ("min_interval_days", "max_weight_age_days", "min_monitoring_minutes"):
        value = getattr(p, name)
        if not _is_int(value) or value < 0:
            errors.append(f"{name}: must be a whole number of 0 or more, got {value!r}")
    if p.min_weight_kg is not None and not _is_positive(p.min_weight_kg):
        errors.append(f"min_weight_kg: must be a positive number, got {p.min_weight_kg}")
    errors += _dose_errors(p)
    errors += _product_errors(p)
    errors += _route_errors(p)
    errors += _monitoring_errors(p)
    return errors


def _dose_errors(p: Protocol) -> list[str]:
    rule, cap = p.dose_rule, p.absolute_max
    errors = _dose_number_errors(rule, cap)
    if errors:
        return errors
    unit = rule.basis.unit
    if not rule.usual_low <= rule.default <= rule.usual_high:
        errors.append(
            f"dose_rule: default {rule.default} {unit} must lie within the usual range "
            f"{rule.usual_low}-{rule.usual_high} {unit}"
        )
    ceiling = cap.mg_per_kg if rule.basis is DoseBasis.MG_PER_KG else cap.mg
    if rule.basis is DoseBasis.FIXED_MG and ceiling is None:
        errors.append("absolute_max.mg: required for a fixed-mg protocol")
    if ceiling is not None and rule.usual_high > ceiling:
        errors.append(
            f"dose_rule.usual_high {rule.usual_high} {unit} is above the absolute maximum "
            f"{ceiling} {unit}"
        )
    errors += _per_kg_range_errors(rule, cap)
    if rule.basis is DoseBasis.MG_PER_KG:
        if rule.allowed or rule.first_session is not None:
            errors.append("dose_rule: allowed and first_session are for fixed-mg protocols only")
        if rule.usual_low_mg_per_kg is not None or rule.usual_high_mg_per_kg is not None:
            errors.append("dose_rule: the per-kg usual range is for fixed-mg protocols (mg/kg "
                          "protocols state it as usual_low and usual_high)")
        return errors
    return errors + _fixed_dose_errors(p, ceiling)


def _dose_number_errors(rule: DoseRule, cap: AbsoluteMax) -> list[str]:
    """The doses and the ceiling are positive numbers, and there is a ceiling."""
    errors = []
    for name in ("default", "usual_low", "usual_high"):
        if not _is_positive(getattr(rule, name)):
            errors.append(f"dose_rule.{name}: must be a positive number")
    for name in ("mg_per_kg", "mg"):
        value = getattr(cap, name)
        if value is not None and not _is_positive(value):
            errors.append(f"absolute_max.{name}: must be a positive number")
    if cap.mg is None and cap.mg_per_kg is None:
        errors.append("absolute_max: give mg_per_kg, mg or both")
    return errors


def _per_kg_range_errors(rule: DoseRule, cap: AbsoluteMax) -> list[str]:
    """A fixed-mg protocol's usual range in mg/kg: both ends or neither, in order, under the ceiling."""
    errors = []
    per_kg_range = (rule.usual_low_mg_per_kg, rule.usual_high_mg_per_kg)
    for name, value in zip(("usual_low_mg_per_kg", "usual_high_mg_per_kg"), per_kg_range, strict=True):
        if value is not None and not _is_positive(value):
            errors.append(f"dose_rule.{name}: must be a positive number")
    low_kg, high_kg = per_kg_range
    if (low_kg is None) != (high_kg is None):
        errors.append("dose_rule: give both usual_low_mg_per_kg and usual_high_mg_per_kg, or neither")
    elif _is_positive(low_kg) and _is_positive(high_kg):
        assert low_kg is not None
        assert high_kg is not None
        if low_kg > high_kg:
            errors.append("dose_rule: usual_low_mg_per_kg must not be above usual_high_mg_per_kg")
        if cap.mg_per_kg is not None and high_kg > cap.mg_per_kg:
            errors.append(
                f"dose_rule.usual_high_mg_per_kg {high_kg} mg/kg is above the absolute maximum "
                f"{cap.mg_per_kg} mg/kg"
            )
    return errors


def _fixed_dose_errors(p: Protocol, ceiling: Decimal | None) -> list[str]:
    """A fixed-mg protocol's doses: positive, whole devices, under the ceiling, among the allowed."""
    rule, errors = p.dose_rule, []
    fixed = [("default", rule.default)]
    fixed += [(f"allowed[{i}]", d) for i, d in enumerate(rule.allowed)]
    if rule.first_session is not None:
        fixed.append(("first_session", rule.first_session))
    for name, dose in fixed:
        if not _is_positive(dose):
            errors.append(f"dose_rule.{name}: must be a positive number")
        elif _is_positive(p.rounding_mg) and not _is_multiple(dose, p.rounding_mg):
            errors.append(f"dose_rule.{name}: {dose} mg is not a multiple of rounding_mg")
        elif ceiling is not None and dose > ceiling:
            errors.append(f"dose_rule.{name}: {dose} mg is above the absolute maximum {ceiling} mg")
    if len(set(rule.allowed)) != len(rule.allowed):
        errors.append("dose_rule.allowed: doses must not repeat")
    if rule.allowed:
        expected: list[tuple[str, Decimal | None]] = [
            ("default", rule.default),
            ("first_session", rule.first_session),
        ]
        for name, value in expected:
            if value is not None and value not in rule.allowed:
                errors.append(f"dose_rule.{name}: {value} mg is not one of the allowed doses")
    return errors


def _product_errors(p: Protocol) -> list[str]:
    errors: list[str] = []
    if not p.products:
        errors.append("products: at least one product is required")
    codes = [product.code for product in p.products]
    if len(set(codes)) != len(codes):
        errors.append("products: codes must be unique")
    for i, product in enumerate(p.products):
        where = f"products[{i}] ({product.code})"
        if not _SLUG.match(product.code):
            errors.append(f"{where}: code must be a slug")
        if not product.name.strip():
            errors.append(f"{where}: name must not be empty")
        if product.form not in ROUTE_FORMS[p.route]:
            errors.append(f"{where}: a {product.form} product cannot be used for route {p.route}")
        if not product.strengths or not all(_is_positive(s) for s in product.strengths):
            errors.append(f"{where}: strengths must be a non-empty list of positive numbers")
        elif len(set(product.strengths)) != len(product.strengths):
            errors.append(f"{where}: strengths must not repeat")
        counted = product.form is ProductForm.UNIT or product.actuation_volume_ml is not None
        if counted != bool(product.unit_name and product.unit_name.strip()):
            errors.append(
                f"{where}: unit_name is required for unit products and sprays, and only for them"
            )
        if product.form is ProductForm.UNIT and (
            product.actuation_volume_ml is not None
            or product.min_volume_ml is not None
            or product.max_volume_ml is not None
        ):
            errors.append(f"{where}: volumes apply to solutions only")
        for name in ("actuation_volume_ml", "min_volume_ml", "max_volume_ml"):
            value = getattr(product, name)
            if value is not None and not _is_positive(value):
                errors.append(f"{where}: {name} must be a positive number")
        low, high = product.min_volume_ml, product.max_volume_ml
        if low is not None and high is not None and _is_positive(low) and low >= high:
            errors.append(f"{where}: min_volume_ml must be below max_volume_ml")
        interval = product.interval_between_units_min
        if interval is not None and (not _is_int(interval) or interval < 0 or not counted):
            errors.append(
                f"{where}: interval_between_units_min must be a whole number of 0 or more, "
                "for unit products and sprays"
            )
    return errors


def _route_errors(p: Protocol) -> list[str]:
    errors: list[str] = []
    if p.route is Route.IV_INFUSION:
        if p.infusion_minutes is None or not _is_int(p.infusion_minutes) or p.infusion_minutes < 1:
            errors.append("infusion_minutes: required for IV infusion, a whole number from 1")
        errors += _dilution_errors(p)
    else:
        if p.infusion_minutes is not None:
            errors.append(f"infusion_minutes: only for IV infusion, not {p.route}")
        if p.dilution is not None:
            errors.append(f"dilution: only for IV infusion, not {p.route}")
    if p.route is Route.INTRANASAL_ESKETAMINE:
        errors += _esketamine_errors(p)
    return errors


def _dilution_errors(p: Protocol) -> list[str]:
    strengths = [s for product in p.products for s in product.strengths if _is_positive(s)]
    d = p.dilution
    if d is None:
        return [
            f"products: {s} mg/mL cannot be infused undiluted (above "
            f"{IV_MAX_ADMINISTERED_MG_ML} mg/mL); add a dilution"
            for s in strengths
            if s > IV_MAX_ADMINISTERED_MG_ML
        ]
    errors: list[str] = []
    if not d.diluent.strip():
        errors.append("dilution.diluent: must not be empty")
    if (d.final_volume_ml is None) == (d.final_concentration_mg_ml is None):
        errors.append("dilution: give exactly one of final_volume_ml and final_concentration_mg_ml")
    for name in ("final_volume_ml", "final_concentration_mg_ml"):
        value = getattr(d, name)
        if value is not None and not _is_positive(value):
            errors.append(f"dilution.{name}: must be a positive number")
    target = d.final_concentration_mg_ml
    if target is not None and _is_positive(target):
        if target > IV_MAX_ADMINISTERED_MG_ML:
            errors.append(
                f"dilution.final_concentration_mg_ml: {target} mg/mL is above "
                f"{IV_MAX_ADMINISTERED_MG_ML} mg/mL, too strong to infuse"
            )
        errors += [
            f"dilution.final_concentration_mg_ml: {target} mg/mL is stronger than the "
            f"{s} mg/mL product it is made from"
            for s in strengths
            if target > s
        ]
    return errors


def _esketamine_errors(p: Protocol) -> list[str]:
    errors: list[str] = []
    rule = p.dose_rule
    if rule.basis is not DoseBasis.FIXED_MG or not rule.allowed:
        errors.append("dose_rule: esketamine is dosed in fixed mg with a list of allowed doses")
    if p.rounding_mg != ESKETAMINE_DEVICE_MG:
        errors.append(f"rounding_mg: esketamine is given in {ESKETAMINE_DEVICE_MG} mg devices")
    if p.absolute_max.mg is None or p.absolute_max.mg > ESKETAMINE_MAX_MG:
        errors.append(f"absolute_max.mg: at most {ESKETAMINE_MAX_MG} mg esketamine per session")
    for product in p.products:
        if product.strengths != (ESKETAMINE_DEVICE_MG,):
            errors.append(
                f"products ({product.code}): esketamine devices hold {ESKETAMINE_DEVICE_MG} mg"
            )
        rest = product.interval_between_units_min
        if rest is None or not _is_int(rest) or rest < ESKETAMINE_MIN_REST_MIN:
            errors.append(
                f"products ({product.code}): at least {ESKETAMINE_MIN_REST_MIN} minutes "
                "between devices"
            )
    # SPRAVATO label 2.1: "reassess blood pressure at approximately 40 minutes".
    if not any(
        _is_int(m) and POST_DOSE_CHECK_EARLIEST_MIN <= m <= 45 for m in p.vitals_schedule_min
    ):
        errors.append(
            f"vitals_schedule_min: esketamine needs a check at about {POST_DOSE_CHECK_MIN} "
            "minutes after the dose (blood pressure at its peak)"
        )
    if p.min_monitoring_minutes < ESKETAMINE_MIN_MONITORING_MIN:
        errors.append(
            f"min_monitoring_minutes: esketamine needs at least {ESKETAMINE_MIN_MONITORING_MIN}"
        )
    if not p.rems_required:
        errors.append("rems_required: esketamine is given only under the Spravato REMS")
    return errors


def _monitoring_errors(p: Protocol) -> list[str]:
    errors: list[str] = []
    schedule = p.vitals_schedule_min
    if not schedule or not all(_is_int(m) and m >= 0 for m in schedule):
        errors.append("vitals_schedule_min: a non-empty list of minutes (0 or more)")
    elif any(b <= a for a, b in itertools.pairwise(schedule)):
        errors.append("vitals_schedule_min: minutes must be strictly increasing")
    if not p.alarm_rules:
        errors.append("alarm_rules: at least one rule is required")
    if not p.discharge_criteria:
        errors.append("discharge_criteria: at least one criterion is required")
    elif len(set(p.discharge_criteria)) != len(p.discharge_criteria):
        errors.append("discharge_criteria: criteria must not repeat")
    codes = [item.code for item in p.pre_dose_checklist]
    if len(set(codes)) != len(codes):
        errors.append("pre_dose_checklist: codes must be unique")
    for item in p.pre_dose_checklist:
        if not _SLUG.match(item.code) or not item.text.strip():
            errors.append(f"pre_dose_checklist ({item.code}): needs a slug code and a text")
    if not p.sources or not all(s.citation.strip() for s in p.sources):
        errors.append("sources: at least one citation is required")
    for i, source in enumerate(p.sources):
        problem = None if source.url is None else source_url_error(source.url)
        if problem:
            errors.append(f"sources[{i}].url: {problem}")
    return errors
