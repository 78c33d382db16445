"""Read protocols from JSON, strictly.

Numbers are read as exact Decimals; unknown keys, duplicate keys, strings
where numbers belong and NaN are errors, because a misspelt "absolute_max"
that is silently ignored would remove a hard limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TypeVar

from openkap.core.body_weight import DosingWeightBasis, IdealWeightFormula
from openkap.core.missed_vitals import MissedVitalsPolicy
from openkap.core.protocols.schema import (
    AbsoluteMax,
    ChecklistItem,
    Dilution,
    DoseBasis,
    DoseRule,
    Product,
    ProductForm,
    Protocol,
    ProtocolError,
    Route,
    Source,
)
from openkap.core.vitals import (
    AlarmRule,
    Comparison,
    DischargeCriterion,
    Measure,
    Severity,
)

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

_EXAMPLES_PACKAGE = "openkap.core.protocols.examples"


def parse_protocol(data: object) -> Protocol:
    """Build a ``Protocol`` from decoded JSON (numbers as int or Decimal)."""
    d = _object(
        data,
        "",
        required={
            "id",
            "version",
            "title",
            "route",
            "dose_rule",
            "absolute_max",
            "rounding_mg",
            "min_interval_days",
            "max_weight_age_days",
            "products",
            "pre_dose_checklist",
            "vitals_schedule_min",
            "alarm_rules",
            "min_monitoring_minutes",
            "discharge_criteria",
            "sources",
        },
        optional={
            "infusion_minutes",
            "dilution",
            "rems_required",
            "notes",
            "min_weight_kg",
            "dosing_weight",
            "ideal_weight_formula",
            "missed_vitals",
        },
    )
    return Protocol(
        id=_text(d["id"], "id"),
        version=_integer(d["version"], "version"),
        title=_text(d["title"], "title"),
        route=_enum(Route, d["route"], "route"),
        dose_rule=_dose_rule(d["dose_rule"], "dose_rule"),
        absolute_max=_absolute_max(d["absolute_max"], "absolute_max"),
        rounding_mg=_number(d["rounding_mg"], "rounding_mg"),
        min_interval_days=_integer(d["min_interval_days"], "min_interval_days"),
        max_weight_age_days=_integer(d["max_weight_age_days"], "max_weight_age_days"),
        products=tuple(_list(d["products"], "products", _product)),
        pre_dose_checklist=tuple(
            _list(d["pre_dose_checklist"], "pre_dose_checklist", _checklist_item)
        ),
        vitals_schedule_min=tuple(_list(d["vitals_schedule_min"], "vitals_schedule_min", _integer)),
        min_monitoring_minutes=_integer(d["min_monitoring_minutes"], "min_monitoring_minutes"),
        discharge_criteria=tuple(
            _list(
                d["discharge_criteria"],
                "discharge_criteria",
                lambda v, p: _enum(DischargeCriterion, v, p),
            )
        ),
        sources=tuple(_list(d["sources"], "sources", _source)),
        infusion_minutes=_optional(d, "infusion_minutes", _integer),
        dilution=_optional(d, "dilution", _dilution),
        alarm_rules=tuple(_list(d["alarm_rules"], "alarm_rules", _alarm_rule)),
        rems_required=bool(_optional(d, "rems_required", _boolean)),
        notes=_optional(d, "notes", _text) or "",
        min_weight_kg=_optional(d, "min_weight_kg", _number),
        dosing_weight=_optional(
            d, "dosing_weight", lambda v, p: _enum(DosingWeightBasis, v, p)
        )
        or DosingWeightBasis.TOTAL,
        ideal_weight_formula=_optional(
            d, "ideal_weight_formula", lambda v, p: _enum(IdealWeightFormula, v, p)
        )
        or IdealWeightFormula.DEVINE,
        missed_vitals=_optional(d, "missed_vitals", lambda v, p: _enum(MissedVitalsPolicy, v, p))
        or MissedVitalsPolicy.REASON,
    )


def loads_protocol(text: str) -> Protocol:
    """Parse a protocol from JSON text."""
    try:
        data = json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicate_keys,
        )
    except json.JSONDecodeError as exc:
        raise ProtocolError([f"not valid JSON: {exc}"]) from None
    return parse_protocol(data)


def load_protocol(path: str | Path) -> Protocol:
    """Read a protocol file; every error message starts with the file name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError([f"{path}: cannot read: {exc}"]) from None
    try:
        return loads_protocol(text)
    except ProtocolError as exc:
        raise ProtocolError(f"{path}: {e}" for e in exc.errors) from None


def example_ids() -> tuple[str, ...]:
    """Ids of the example protocols shipped with OpenKAP."""
    folder = resources.files(_EXAMPLES_PACKAGE)
    return tuple(
        sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))
    )


def example_text(protocol_id: str) -> str:
    """The JSON of one shipped example protocol, by id (its file name without ``.json``)."""
    if protocol_id not in example_ids():
        raise ProtocolError(
            [f"no example protocol {protocol_id!r}; known: {', '.join(example_ids())}"]
        )
    return resources.files(_EXAMPLES_PACKAGE).joinpath(f"{protocol_id}.json").read_text("utf-8")


def load_example(protocol_id: str) -> Protocol:
    """One shipped example protocol, by id (its file name without ``.json``)."""
    text = example_text(protocol_id)
    try:
        protocol = loads_protocol(text)
    except ProtocolError as exc:
        raise ProtocolError(f"example {protocol_id}: {e}" for e in exc.errors) from None
    if protocol.id != protocol_id:
        raise ProtocolError([f"example {protocol_id}: file declares id {protocol.id!r}"])
    return protocol


# ---------------------------------------------------------------- pieces


def _dose_rule(value: object, path: str) -> DoseRule:
    d = _object(
        value,
        path,
        required={"basis", "default", "usual_low", "usual_high"},
        optional={"allowed", "first_session", "usual_low_mg_per_kg", "usual_high_mg_per_kg"},
    )
    return DoseRule(
        basis=_enum(DoseBasis, d["basis"], f"{path}.basis"),
        default=_number(d["default"], f"{path}.default"),
        usual_low=_number(d["usual_low"], f"{path}.usual_low"),
        usual_high=_number(d["usual_high"], f"{path}.usual_high"),
        allowed=tuple(_optional(d, "allowed", lambda v, p: _list(v, p, _number), path) or ()),
        first_session=_optional(d, "first_session", _number, path),
        usual_low_mg_per_kg=_optional(d, "usual_low_mg_per_kg", _number, path),
        usual_high_mg_per_kg=_optional(d, "usual_high_mg_per_kg", _number, path),
    )


def _absolute_max(value: object, path: str) -> AbsoluteMax:
    d = _object(value, path, required=set(), optional={"mg_per_kg", "mg"})
    return AbsoluteMax(
        mg_per_kg=_optional(d, "mg_per_kg", _number, path),
        mg=_optional(d, "mg", _number, path),
    )


def _product(value: object, path: str) -> Product:
    d = _object(
        value,
        path,
        required={"code", "name", "form", "strengths"},
        optional={
            "unit_name",
            "actuation_volume_ml",
            "min_volume_ml",
            "max_volume_ml",
            "interval_between_units_min",
        },
    )
    return Product(
        code=_text(d["code"], f"{path}.code"),
        name=_text(d["name"], f"{path}.name"),
        form=_enum(ProductForm, d["form"], f"{path}.form"),
        strengths=tuple(_list(d["strengths"], f"{path}.strengths", _number)),
        unit_name=_optional(d, "unit_name", _text, path),
        actuation_volume_ml=_optional(d, "actuation_volume_ml", _number, path),
        min_volume_ml=_optional(d, "min_volume_ml", _number, path),
        max_volume_ml=_optional(d, "max_volume_ml", _number, path),
        interval_between_units_min=_optional(d, "interval_between_units_min", _integer, path),
    )


def _dilution(value: object, path: str) -> Dilution:
    d = _object(
        value,
        path,
        required={"diluent"},
        optional={"final_volume_ml", "final_concentration_mg_ml"},
    )
    return Dilution(
        diluent=_text(d["diluent"], f"{path}.diluent"),
        final_volume_ml=_optional(d, "final_volume_ml", _number, path),
        final_concentration_mg_ml=_optional(d, "final_concentration_mg_ml", _number, path),
    )


def _alarm_rule(value: object, path: str) -> AlarmRule:
    d = _object(value, path, required={"measure", "comparison", "threshold", "severity"})
    try:
        return AlarmRule(
            measure=_enum(Measure, d["measure"], f"{path}.measure"),
            comparison=_enum(Comparison, d["comparison"], f"{path}.comparison"),
            threshold=_integer(d["threshold"], f"{path}.threshold"),
            severity=_enum(Severity, d["severity"], f"{path}.severity"),
        )
    except ProtocolError:
        raise
    except ValueError as exc:
        raise ProtocolError([f"{path}: {exc}"]) from None


def _checklist_item(value: object, path: str) -> ChecklistItem:
    d = _object(value, path, required={"code", "text"})
    return ChecklistItem(
        code=_text(d["code"], f"{path}.code"), text=_text(d["text"], f"{path}.text")
    )


def _source(value: object, path: str) -> Source:
    d = _object(value, path, required={"citation"}, optional={"url"})
    return Source(
        citation=_text(d["citation"], f"{path}.citation"),
        url=_optional(d, "url", _text, path),
    )


# ---------------------------------------------------------------- primitives


def _where(path: str) -> str:
    return path or "protocol"


def _object(
    value: object, path: str, *, required: set[str], optional: Iterable[str] = ()
) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ProtocolError([f"{_where(path)}: expected an object, got {_kind(value)}"])
    problems = [f"{_join(path, k)}: missing" for k in sorted(required - value.keys())]
    known = required | set(optional)
    problems += [f"{_join(path, k)}: unknown field" for k in sorted(value.keys() - known)]
    if problems:
        raise ProtocolError(problems)
    return value


def _optional(
    d: dict[str, object], key: str, read: Callable[[object, str], T], parent: str = ""
) -> T | None:
    value = d.get(key)
    return None if value is None else read(value, _join(parent, key))


def _list(value: object, path: str, read: Callable[[object, str], T]) -> list[T]:
    if not isinstance(value, list):
        raise ProtocolError([f"{path}: expected a list, got {_kind(value)}"])
    return [read(item, f"{path}[{i}]") for i, item in enumerate(value)]


def _number(value: object, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ProtocolError([f"{path}: expected a number, got {_kind(value)}"])
    return Decimal(value)


def _integer(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError([f"{path}: expected a whole number, got {_kind(value)}"])
    return value


def _boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError([f"{path}: expected true or false, got {_kind(value)}"])
    return value


def _text(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError([f"{path}: expected a string, got {_kind(value)}"])
    return value


def _enum(cls: type[E], value: object, path: str) -> E:
    choices = [member.value for member in cls]
    if not isinstance(value, str) or value not in choices:
        raise ProtocolError([f"{path}: expected one of {', '.join(choices)}; got {value!r}"])
    return cls(value)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | Decimal):
        return f"the number {value}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _reject_constant(name: str) -> object:
    raise ProtocolError([f"{name} is not a number a protocol can use"])


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ProtocolError([f"field {key!r} appears twice"])
        result[key] = value
    return result


def dump_protocol(value: object, indent: int = 0) -> str:
    """Canonical protocol JSON with exact decimals (``json`` would turn them into floats)."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dump_protocol(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(f"{inner}{dump_protocol(v, indent + 1)}" for v in value) + f"\n{pad}]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value, ensure_ascii=False)
