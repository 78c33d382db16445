"""A protocol as named fields, for the editor form and the API's field edits.

``to_fields`` turns protocol JSON into one text value per field (what a form shows);
``apply_fields`` parses edited values back into the JSON, reporting problems per
field. The result is then validated as a whole by the loader and the schema, whose
messages start with the same names (``dose_rule.usual_high``), so ``field_of`` can put
each message beside its field.

Lists are written one item per line: vitals minutes and allowed doses as numbers
(commas also separate), alarm rules as ``systolic >= 180 warning``, checklist items as
``code: text``, sources as ``citation | url``. Products keep their JSON (a list of
objects with up to nine keys each reads worse as lines).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final

from openkap.core.protocols.loader import dump_protocol
from openkap.core.routes import Route
from openkap.core.vitals import Comparison, DischargeCriterion, Measure, Severity

MAX_VALUE_CHARS: Final = 20_000


class Kind(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    DECIMAL = "decimal"
    WHOLE = "whole"
    CHOICE = "choice"
    YES_NO = "yes_no"
    NUMBERS = "numbers"  # decimals, one per line or comma-separated
    MINUTES = "minutes"  # whole numbers, one per line or comma-separated
    CRITERIA = "criteria"  # several of a set of codes
    ALARMS = "alarms"
    CHECKLIST = "checklist"
    SOURCES = "sources"
    JSON = "json"


@dataclass(frozen=True)
class Field:
    name: str  # the JSON path, dotted
    label: str
    kind: Kind
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    help: str = ""
    group: str = ""


def _choices(enum: type[StrEnum], labels: Mapping[Any, str] | None = None) -> tuple[tuple[str, str], ...]:
    return tuple((m.value, (labels or {}).get(m, m.value.replace("_", " "))) for m in enum)


ROUTE_CHOICES = _choices(Route, {r: r.label for r in Route})
BASIS_CHOICES = (("mg_per_kg", "mg per kg of dosing weight"), ("fixed_mg", "fixed mg"))
WEIGHT_CHOICES = (
    ("total", "total body weight"), ("ideal", "ideal body weight"), ("adjusted", "adjusted body weight"),
)
FORMULA_CHOICES = (("devine", "Devine"), ("robinson", "Robinson"))
MISSED_CHOICES = (
    ("reason", "discharge with a written reason for each missed check"),
    ("block", "no discharge until the missed checks are taken"),
)
CRITERIA_CHOICES = _choices(DischargeCriterion)

DOSE, LIMITS, WEIGHT, MONITOR, ABOUT = "Dose", "Limits (hard stops)", "Weight", "Monitoring", "About"

FIELDS: Final[tuple[Field, ...]] = (
    Field("id", "Identifier", Kind.TEXT, required=True, group=ABOUT,
          help="Lowercase letters, digits and dashes; it stays the same in every version."),
    Field("title", "Title", Kind.TEXT, required=True, group=ABOUT),
    Field("route", "Route", Kind.CHOICE, required=True, choices=ROUTE_CHOICES, group=ABOUT),
    Field("dose_rule.basis", "Dose rule", Kind.CHOICE, required=True, choices=BASIS_CHOICES, group=DOSE),
    Field("dose_rule.default", "Default dose", Kind.DECIMAL, required=True, group=DOSE,
          help="In the rule's unit: mg/kg, or mg for a fixed dose."),
    Field("dose_rule.usual_low", "Usual range from", Kind.DECIMAL, required=True, group=DOSE,
          help="Outside the usual range a prescriber's override with a reason is needed."),
    Field("dose_rule.usual_high", "Usual range to", Kind.DECIMAL, required=True, group=DOSE),
    Field("dose_rule.allowed", "Only these doses (mg)", Kind.NUMBERS, group=DOSE,
          help="Fixed-mg protocols only, e.g. 56, 84 for esketamine. Empty: any dose in the range."),
    Field("dose_rule.first_session", "First-session dose (mg)", Kind.DECIMAL, group=DOSE,
          help="Fixed-mg protocols only."),
    Field("dose_rule.usual_low_mg_per_kg", "Usual range per kg from (mg/kg)", Kind.DECIMAL, group=DOSE,
          help="Fixed-mg protocols: the usual range per kg of dosing weight."),
    Field("dose_rule.usual_high_mg_per_kg", "Usual range per kg to (mg/kg)", Kind.DECIMAL, group=DOSE),
    Field("rounding_mg", "Round doses to (mg)", Kind.DECIMAL, required=True, group=DOSE,
          help="Never rounded up past the absolute maximum."),
    Field("absolute_max.mg_per_kg", "Absolute maximum (mg/kg)", Kind.DECIMAL, group=LIMITS,
          help="With both maxima the lower applies."),
    Field("absolute_max.mg", "Absolute maximum (mg per session)", Kind.DECIMAL, group=LIMITS),
    Field("min_weight_kg", "Minimum body weight (kg)", Kind.DECIMAL, group=LIMITS,
          help="Below it the route is not dosed (hard stop)."),
    Field("min_interval_days", "Minimum days between sessions", Kind.WHOLE, required=True, group=LIMITS),
    Field("max_weight_age_days", "Weight measured within (days)", Kind.WHOLE, required=True, group=WEIGHT),
    Field("dosing_weight", "Dose on", Kind.CHOICE, choices=WEIGHT_CHOICES, group=WEIGHT),
    Field("ideal_weight_formula", "Ideal-weight formula", Kind.CHOICE, choices=FORMULA_CHOICES, group=WEIGHT,
          help="Used for ideal and adjusted body weight."),
    Field("infusion_minutes", "Infusion over (minutes)", Kind.WHOLE, group=DOSE, help="IV infusion only."),
    Field("dilution.diluent", "Diluent", Kind.TEXT, group=DOSE, help="IV infusion only, e.g. 0.9% sodium chloride."),
    Field("dilution.final_volume_ml", "Diluted to a volume of (mL)", Kind.DECIMAL, group=DOSE),
    Field("dilution.final_concentration_mg_ml", "or to a concentration of (mg/mL)", Kind.DECIMAL, group=DOSE),
    Field("products", "Products (JSON)", Kind.JSON, required=True, group=DOSE,
          help="Each product: code, name, form (solution or unit), strengths; see the shipped examples."),
    Field("vitals_schedule_min", "Vitals at (minutes after the dose starts)", Kind.MINUTES, required=True,
          group=MONITOR, help="e.g. 5, 15, 30, 45, 60, 90, 120"),
    Field("min_monitoring_minutes", "Monitoring at least (minutes after administration ends)", Kind.WHOLE,
          required=True, group=MONITOR),
    Field("missed_vitals", "A missed vitals check", Kind.CHOICE, choices=MISSED_CHOICES, group=MONITOR),
    Field("alarm_rules", "Alarms", Kind.ALARMS, required=True, group=MONITOR,
          help="One per line: measure, comparison, threshold, severity, e.g. 'systolic >= 180 warning'. "
               "Measures: " + ", ".join(m.value for m in Measure) + "."),
    Field("discharge_criteria", "Discharge criteria", Kind.CRITERIA, required=True, choices=CRITERIA_CHOICES,
          group=MONITOR),
    Field("rems_required", "SPRAVATO REMS monitoring form after every session", Kind.YES_NO, group=MONITOR),
    Field("pre_dose_checklist", "Pre-dose checklist", Kind.CHECKLIST, group=MONITOR,
          help="One item per line: 'code: what is checked'."),
    Field("sources", "Sources", Kind.SOURCES, required=True, group=ABOUT,
          help="One per line: 'citation | https://address or DOI' (the address is optional)."),
    Field("notes", "Notes", Kind.LONG_TEXT, group=ABOUT),
)
BY_NAME: Final = {f.name: f for f in FIELDS}


class FieldErrors(ValueError):
    """Values that could not be read; ``errors`` maps a field name to its messages."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items()))


# ---------------------------------------------------------------- JSON -> text


def _get(data: Mapping[str, Any], name: str) -> Any:
    value: Any = data
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _number_text(value: object) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _show(field: Field, value: Any) -> str:
    if value is None:
        return ""
    shown: dict[Kind, Callable[[Any], str]] = {
        Kind.DECIMAL: _number_text,
        Kind.WHOLE: _number_text,
        Kind.YES_NO: lambda v: "yes" if v else "no",
        Kind.NUMBERS: lambda v: ", ".join(_number_text(x) for x in v),
        Kind.MINUTES: lambda v: ", ".join(_number_text(x) for x in v),
        Kind.CRITERIA: lambda v: "\n".join(v),
        Kind.ALARMS: lambda v: "\n".join(
            f"{r['measure']} {r['comparison']} {r['threshold']} {r['severity']}" for r in v
        ),
        Kind.CHECKLIST: lambda v: "\n".join(f"{i['code']}: {i['text']}" for i in v),
        Kind.SOURCES: lambda v: "\n".join(
            s["citation"] + (f" | {s['url']}" if s.get("url") else "") for s in v
        ),
        Kind.JSON: _dump_json,
    }
    return shown[field.kind](value) if field.kind in shown else str(value)


def _dump_json(value: Any, indent: int = 0) -> str:
    """JSON with exact decimals (``json`` would write 0.1 as a float)."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {_dump_json(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(f"{inner}{_dump_json(v, indent + 1)}" for v in value) + f"\n{pad}]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value, ensure_ascii=False)


def to_fields(data: Mapping[str, Any]) -> dict[str, str]:
    """One text value per field, as the editor shows it."""
    return {f.name: _show(f, _get(data, f.name)) for f in FIELDS}


# ---------------------------------------------------------------- text -> JSON


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text.strip()[:40]!r} is not a number") from None
    # A number a person types: also keeps "1E999999999" from becoming a billion digits.
    if not value.is_finite() or not -12 <= value.adjusted() <= 12:
        raise ValueError(f"{text.strip()[:40]!r} is not a number a protocol can use")
    return value


def _whole(text: str) -> int:
    if not re.fullmatch(r"\s*-?\d{1,9}\s*", text):
        raise ValueError(f"{text.strip()[:40]!r} is not a whole number")
    return int(text)


def _items(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[\n,;]", text) if part.strip()]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


_ALARM: Final = re.compile(r"(\w+)\s*(>=|<=|>|<)\s*(-?\d+)\s+(\w+)")


def _alarm(line: str) -> dict[str, Any]:
    found = _ALARM.fullmatch(line)
    if not found:
        raise ValueError(f"{line[:60]!r}: write it as 'measure comparison threshold severity', "
                         "e.g. 'spo2 < 92 critical'")
    measure, comparison, threshold, severity = found.groups()
    if measure not in {m.value for m in Measure}:
        raise ValueError(f"{measure!r} is not a measure ({', '.join(m.value for m in Measure)})")
    if severity not in {s.value for s in Severity}:
        raise ValueError(f"{severity!r} is not a severity ({', '.join(s.value for s in Severity)})")
    assert comparison in {c.value for c in Comparison}
    return {"measure": measure, "comparison": comparison, "threshold": int(threshold), "severity": severity}


def _checklist_item(line: str) -> dict[str, str]:
    code, sep, text = line.partition(":")
    if not sep or not code.strip() or not text.strip():
        raise ValueError(f"{line[:60]!r}: write it as 'code: what is checked'")
    return {"code": code.strip(), "text": text.strip()}


def _source(line: str) -> dict[str, str]:
    citation, _, url = line.rpartition(" | ") if " | " in line else (line, "", "")
    return {"citation": citation.strip(), **({"url": url.strip()} if url.strip() else {})}


def _criteria(text: str) -> list[str]:
    known = {c.value for c in DischargeCriterion}
    chosen = _items(text)
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise ValueError(f"unknown criteria: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return chosen


def _products(text: str) -> Any:
    try:
        value = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise ValueError("a JSON list of products: [ {...}, ... ]")
    return value


def _yes_no(text: str) -> bool:
    value = text.strip().lower()
    if value not in {"yes", "no", "true", "false", "on", "off", "1", "0"}:
        raise ValueError("answer yes or no")
    return value in {"yes", "true", "on", "1"}


def _choice(field: Field, text: str) -> str:
    value = text.strip()
    if value not in {c for c, _ in field.choices}:
        raise ValueError(f"choose one of {', '.join(c for c, _ in field.choices)}")
    return value


_PARSE: Final[dict[Kind, Callable[[str], Any]]] = {
    Kind.TEXT: str.strip,
    Kind.LONG_TEXT: str.strip,
    Kind.DECIMAL: _decimal,
    Kind.WHOLE: _whole,
    Kind.YES_NO: _yes_no,
    Kind.NUMBERS: lambda t: [_decimal(x) for x in _items(t)],
    Kind.MINUTES: lambda t: [_whole(x) for x in _items(t)],
    Kind.CRITERIA: _criteria,
    Kind.ALARMS: lambda t: [_alarm(x) for x in _lines(t)],
    Kind.CHECKLIST: lambda t: [_checklist_item(x) for x in _lines(t)],
    Kind.SOURCES: lambda t: [_source(x) for x in _lines(t)],
    Kind.JSON: _products,
}


def _set(data: dict[str, Any], name: str, value: Any) -> None:
    *parents, last = name.split(".")
    target = data
    for part in parents:
        child = target.get(part)
        if not isinstance(child, dict):
            if value is None:
                return
            child = target[part] = {}
        target = child
    if value is None:
        target.pop(last, None)
    else:
        target[last] = value


def apply_fields(data: Mapping[str, Any], values: Mapping[str, object]) -> dict[str, Any]:
    """A copy of ``data`` with the given fields set from their text. An empty optional
    field is removed (no maximum, no dilution); an empty required one is an error.
    Fields not given keep their value. Raises ``FieldErrors``."""
    result = copy.deepcopy(dict(data))
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(values) - set(BY_NAME))
    if unknown:
        errors["__all__"] = [f"unknown field: {name}" for name in unknown]
    for name, raw in values.items():
        field = BY_NAME.get(name)
        if field is None:
            continue
        if not isinstance(raw, str):
            errors[name] = ["give the value as text"]
            continue
        if len(raw) > MAX_VALUE_CHARS:
            errors[name] = [f"at most {MAX_VALUE_CHARS} characters"]
            continue
        if not raw.strip():
            if field.required:
                errors[name] = ["required"]
            else:
                _set(result, name, None)
            continue
        try:
            value = _choice(field, raw) if field.kind is Kind.CHOICE else _PARSE[field.kind](raw)
        except ValueError as exc:
            errors[name] = [str(exc)]
            continue
        _set(result, name, value)
    if isinstance(result.get("dilution"), dict) and not result["dilution"]:
        result.pop("dilution")
    if errors:
        raise FieldErrors(errors)
    return result


def content_with(base: str, values: Mapping[str, object]) -> str:
    """``base`` protocol JSON with the given fields set from their text, as JSON again
    (the editor's form and the API's field edits). Raises ``FieldErrors``."""
    return dump_protocol(apply_fields(json.loads(base, parse_float=Decimal), values)) + "\n"


_LEAD: Final = re.compile(r"^([a-z_]+(?:\.[a-z_]+)*)")


def field_of(message: str) -> str | None:
    """The field a validation message is about ('dose_rule.usual_high 1.2 mg/kg is above
    ...' -> 'dose_rule.usual_high'; 'products[0] (x): ...' -> 'products'), or None."""
    lead = _LEAD.match(message)
    if lead is None:
        return None
    name = lead.group(1)
    while name:
        if name in BY_NAME:
            return name
        name = name.rpartition(".")[0]
    return None


def group_messages(messages: list[str]) -> dict[str, list[str]]:
    """Messages by field; those about no single field under '__all__'."""
    grouped: dict[str, list[str]] = {}
    for message in messages:
        grouped.setdefault(field_of(message) or "__all__", []).append(message)
    return grouped


