"""One scoring engine for every instrument.

Each `Instrument` is compiled once into a `_Plan` (lookup tables for answers, bands and
flags), so scoring a response is table look-ups and a few sums. Nothing here names a scale.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from .errors import (
    DefinitionError,
    IncompleteResponseError,
    InvalidAnswerError,
    ItemCountError,
)
from .model import (
    AllSubscalesAtLeast,
    Band,
    Condition,
    CountCriterion,
    FlagSpec,
    Instrument,
    Item,
    MissingRule,
    RiskLevel,
    Severity,
    Sex,
    Subscale,
    SubscaleRule,
    TotalRule,
)
from .registry import all_instruments, get_instrument

Answer = int | None
Number = int | float

# ScoreResult.missing_handling values.
COMPLETE = "complete"  # every item answered
SKIPPED_BY_DESIGN = "skipped_by_design"  # blanks the form allows (skip logic, either/or)
MANUAL_RULE = "manual_rule_applied"  # blanks scored by the instrument's own rule

SEX_NOT_GIVEN_NOTE = (
    "sex was not given and the band at this total depends on it: the more cautious "
    "cut-off was applied (a possible positive); record the patient's sex to confirm"
)


@dataclass(frozen=True, slots=True)
class Flag:
    id: str
    severity: Severity
    message: str
    items: tuple[str, ...]
    risk_level: RiskLevel | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": str(self.severity),
            "risk_level": None if self.risk_level is None else str(self.risk_level),
            "items": list(self.items),
            "message": self.message,
        }


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class ScoreResult:
    """The scored response. `total` is None for triage instruments (C-SSRS, ASQ)."""

    instrument_id: str
    version: str
    total: Number | None
    raw_total: int | None  # sum of item scores before a mean or percent transform
    band: str | None
    band_label: str | None
    flags: tuple[Flag, ...]
    subscales: Mapping[str, Number]
    indicators: Mapping[str, bool]
    item_ids: tuple[str, ...]
    item_values: tuple[Answer, ...]  # as answered; None = blank
    item_scores: tuple[Answer, ...]  # after reverse scoring and any refusal rule
    missing: tuple[str, ...]  # ids of blank items
    missing_handling: str
    notes: tuple[str, ...] = ()

    @property
    def flag_ids(self) -> tuple[str, ...]:
        return tuple(flag.id for flag in self.flags)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form; also what the CLI prints."""
        return {
            "instrument": self.instrument_id,
            "version": self.version,
            "total": self.total,
            "raw_total": self.raw_total,
            "band": self.band,
            "band_label": self.band_label,
            "flags": [flag.id for flag in self.flags],
            "flag_details": [flag.to_dict() for flag in self.flags],
            "subscales": dict(self.subscales),
            "indicators": dict(self.indicators),
            "items": dict(zip(self.item_ids, self.item_values, strict=True)),
            "item_scores": dict(zip(self.item_ids, self.item_scores, strict=True)),
            "missing": list(self.missing),
            "missing_handling": self.missing_handling,
            "notes": list(self.notes),
        }


# A compiled condition: any of the clauses, each all of (item index, accepted values).
_Clauses = tuple[tuple[tuple[int, frozenset[Answer]], ...], ...]
_Getter = Callable[[Sequence[Answer]], tuple[Answer, ...]]

_new = object.__new__
_lookup = dict.__getitem__


def _make_result(**fields: Any) -> ScoreResult:
    """A ScoreResult without the frozen dataclass's per-field __setattr__ (the hot path).

    The instance is the same frozen dataclass; assignment still raises.
    """
    result: ScoreResult = _new(ScoreResult)
    result.__dict__.update(fields)
    return result


def _holds(clauses: _Clauses, values: Sequence[Answer]) -> int:
    """Index of the first clause that holds, or -1."""
    for number, clause in enumerate(clauses):
        for index, accepted in clause:
            if values[index] not in accepted:
                break
        else:
            return number
    return -1


def _getter(indices: tuple[int, ...]) -> _Getter:
    if len(indices) == 1:
        only = indices[0]
        return lambda values: (values[only],)
    getter: _Getter = operator.itemgetter(*indices)
    return getter


class _Plan:
    """Everything about one instrument that does not depend on the answers."""

    def __init__(self, instrument: Instrument) -> None:
        _check_definition(instrument)
        items = instrument.items
        index = {item.id: i for i, item in enumerate(items)}
        self.instrument = instrument
        self.id = instrument.id
        self.version = instrument.version
        self.name = instrument.short_name
        self.n = len(items)
        self.ids = tuple(item.id for item in items)
        self.maps: tuple[dict[Any, int], ...] = tuple(_score_map(item) for item in items)
        self.rules = tuple(item.missing for item in items)
        self.refusal = tuple(item.refusal_value for item in items)
        self.lowest = tuple(item.scale.minimum for item in items)
        self.asked_if = tuple(
            None if item.asked_if is None else _compile(item.asked_if, index) for item in items
        )
        self.conditional = tuple(
            (i, condition) for i, condition in enumerate(self.asked_if) if condition is not None
        )
        self.one_of = tuple(tuple(index[i] for i in group) for group in instrument.answer_one_of)
        self.total_rule = instrument.total_rule
        domains = tuple(tuple(index[i] for i in d.items) for d in instrument.domains)
        self.domains = tuple(
            (d.id, _getter(g)) for d, g in zip(instrument.domains, domains, strict=True)
        )
        self.domain_ids = tuple(d.id for d in instrument.domains)
        lows = [min(m.values()) for m in self.maps]
        highs = [max(m.values()) for m in self.maps]
        if domains:
            self.min_raw = sum(min(lows[i] for i in d) for d in domains)
            self.max_raw = sum(max(highs[i] for i in d) for d in domains)
        else:
            self.min_raw, self.max_raw = sum(lows), sum(highs)
        self.bands = _band_table(instrument.bands, self.min_raw, self.max_raw)
        self.sex_bands = {
            str(sb.sex): _band_table(sb.bands, self.min_raw, self.max_raw)
            for sb in instrument.sex_bands
        }
        # Without a sex: the band where every sex's table agrees; where they differ
        # (AUDIT-C total 3), the higher band, as a possible one (issue 12: a screen that
        # could be positive must not read as nothing).
        self.sexless_bands: tuple[tuple[Band | None, bool], ...] = ()
        if self.sex_bands:
            tables = list(self.sex_bands.values())
            self.sexless_bands = tuple(
                (row[0], False)
                if all(_same_band(b, row[0]) for b in row)
                else (_higher_band(instrument.sex_bands, row), True)
                for row in zip(*tables, strict=True)
            )
        self.item_flags = tuple(
            (index[rule.item], _flag_table(rule.levels, items[index[rule.item]]))
            for rule in instrument.item_flags
        )
        self.triage = tuple(
            (
                level.band,
                level.label,
                _compile(level.when, index),
                tuple(
                    tuple(_flag(spec, _clause_items(clause)) for spec in level.flags)
                    for clause in level.when
                ),
            )
            for level in instrument.triage
        )
        self.subscales = tuple(
            (
                s.id,
                _getter(tuple(index[i] for i in s.items)),
                s.rule,
                s.weights or (1,) * len(s.items),
                sum(highs[index[i]] for i in s.items),
            )
            for s in instrument.subscales
        )
        self.counts = tuple(
            (
                c.id,
                c.threshold,
                tuple(
                    (_getter(tuple(index[i] for i in _subscale(instrument, s).items)), k)
                    for s, k in c.minimum_counts
                ),
            )
            for c in instrument.indicators
            if isinstance(c, CountCriterion)
        )
        maxima = {s[0]: s[4] for s in self.subscales}
        self.all_at_least = tuple(
            (c.id, c.percent, tuple((s, maxima[s]) for s in c.subscales))
            for c in instrument.indicators
            if isinstance(c, AllSubscalesAtLeast)
        )
        self.has_subscales = bool(self.domains or self.subscales)
        self.has_indicators = bool(self.counts or self.all_at_least)

    # -- scoring -------------------------------------------------------------------------

    def score(self, answers: Sequence[Answer], sex: str | None) -> ScoreResult:
        if len(answers) == self.n:
            try:
                scores: list[Answer] = list(map(_lookup, self.maps, answers))
            except (KeyError, TypeError):
                pass  # a blank or a bad answer: the general path handles and names it
            else:
                if not all(type(a) is int for a in answers):
                    # 1.0 and True hash like 1 and find a score: refuse them by name.
                    return self._score_general(answers, sex)
                notes = self._skip_notes(answers) if self.conditional else ()
                return self._result(answers, answers, scores, (), COMPLETE, notes, sex)
        return self._score_general(answers, sex)

    def _skip_notes(self, values: Sequence[Answer]) -> tuple[str, ...]:
        # A "no" where the form skips is harmless; anything more is kept, and said.
        return tuple(
            f"{self.ids[i]} was answered although the form skips it; the answer is counted"
            for i, condition in self.conditional
            if values[i] is not None
            and values[i] != self.lowest[i]
            and _holds(condition, values) < 0
        )

    def _score_general(self, answers: Sequence[Answer], sex: str | None) -> ScoreResult:
        values = self._padded(answers)
        given = len(answers)
        effective, scores = self._validated(values, given)
        notes = list(self._skip_notes(effective))
        missing: list[str] = []
        required: list[str] = []
        left_off: list[str] = []  # trailing items the form asks and that were not given
        imputed = False
        for i, value in enumerate(values):
            if value is not None:
                continue
            missing.append(self.ids[i])
            condition = self.asked_if[i]
            rule = self.rules[i]
            if rule is MissingRule.MAY_SKIP or (
                condition is not None and _holds(condition, effective) < 0
            ):
                continue
            if i >= given:
                left_off.append(self.ids[i])
            elif rule is MissingRule.REQUIRED:
                required.append(self.ids[i])
            else:
                imputed = True
                notes.append(
                    f"{self.ids[i]} unanswered (refused): counted as "
                    f"{self.refusal[i]} by the instrument's rule"
                )
        if left_off:
            raise ItemCountError(
                f"{self.name} expects {self.n} answers, got {given} "
                f"(not given: {', '.join(left_off)})"
            )
        for group in self.one_of:
            if all(values[i] is None for i in group):
                required.append(" or ".join(self.ids[i] for i in group))
        if required:
            raise IncompleteResponseError(
                f"{self.name}: unanswered {', '.join(required)}; the instrument defines no "
                "rule for missing items, so the response is not scored",
                missing=tuple(required),
                flags=self._flags(effective),
            )
        handling = MANUAL_RULE if imputed else SKIPPED_BY_DESIGN if missing else COMPLETE
        return self._result(values, effective, scores, tuple(missing), handling, tuple(notes), sex)

    def _padded(self, answers: Sequence[Answer]) -> list[Answer]:
        """Trailing items the form skipped may be left off; more answers than items may not."""
        if len(answers) > self.n:
            raise ItemCountError(f"{self.name} expects {self.n} answers, got {len(answers)}")
        return [*answers, *([None] * (self.n - len(answers)))]

    def _validated(self, values: Sequence[Answer], given: int) -> tuple[list[Answer], list[Answer]]:
        """(effective answers after any refusal rule, item scores); raises on a bad value.

        Only a blank among the `given` answers is a refusal; items left off are not.
        """
        effective: list[Answer] = []
        scores: list[Answer] = []
        for i, value in enumerate(values):
            if value is None:
                if i < given and self.rules[i] is MissingRule.REFUSAL_COUNTS_AS:
                    value = self.refusal[i]
                effective.append(value)
                scores.append(None if value is None else self.maps[i][value])
                continue
            try:
                # Only a plain int: 1.0 or True would find the score of 1 (equal hashes).
                score = self.maps[i].get(value) if type(value) is int else None
            except TypeError:  # unhashable
                score = None
            if score is None:
                item = self.instrument.items[i]
                raise InvalidAnswerError(
                    f"{self.name} {item.id} ({item.label}): {value!r} is not an answer; "
                    f"expected a whole number from {item.scale.minimum} to {item.scale.maximum}"
                )
            effective.append(value)
            scores.append(score)
        return effective, scores

    def _triage(self, effective: Sequence[Answer]) -> tuple[str, str, tuple[Flag, ...]]:
        for band, label, clauses, level_flags in self.triage:
            if not clauses:
                return band, label, ()
            matched = _holds(clauses, effective)
            if matched >= 0:
                return band, label, level_flags[matched]
        raise AssertionError("definitions end with a catch-all triage level")  # pragma: no cover

    def _flags(self, effective: Sequence[Answer]) -> tuple[Flag, ...]:
        """Flags of possibly partial answers (triage from the answered items: a lower bound)."""
        flags = [f for i, table in self.item_flags if (f := table.get(effective[i])) is not None]
        if self.triage:
            flags.extend(self._triage(effective)[2])
        return tuple(flags)

    def _result(
        self,
        values: Sequence[Answer],
        effective: Sequence[Answer],
        scores: list[Answer],
        missing: tuple[str, ...],
        handling: str,
        notes: tuple[str, ...],
        sex: str | None,
    ) -> ScoreResult:
        flags = (
            [f for i, table in self.item_flags if (f := table.get(effective[i])) is not None]
            if self.item_flags
            else []
        )
        band: Band | None = None
        band_id: str | None = None
        band_label: str | None = None
        total: Number | None = None
        raw: int | None = None
        rule = self.total_rule
        domain_scores = self._domain_scores(scores, bool(missing)) if self.domains else []
        if rule is TotalRule.NONE:
            band_id, band_label, triage_flags = self._triage(effective)
            flags.extend(triage_flags)
        else:
            if self.domains:
                raw = sum(domain_scores)
            elif missing:
                raw = sum(s for s in scores if s is not None)
            else:
                raw = sum(scores)  # type: ignore[arg-type]
            if rule is TotalRule.SUM:
                total = raw
                if self.bands:
                    band = self.bands[raw - self.min_raw]
                elif self.sex_bands:
                    if sex is None:
                        band, possible = self.sexless_bands[raw - self.min_raw]
                        if possible and band is not None:
                            notes = (*notes, SEX_NOT_GIVEN_NOTE)
                            band_id, band_label = band.id, f"Possible: {band.label} (sex not given)"
                            band = None
                    else:
                        band = self.sex_bands[sex][raw - self.min_raw]
                if band is not None:
                    band_id, band_label = band.id, band.label
            elif rule is TotalRule.MEAN:
                total = raw / (sum(1 for s in scores if s is not None) if missing else len(scores))
            else:
                total = raw * 100 / self.max_raw
        subscales = indicators = _EMPTY
        if self.has_subscales:
            subscales, sums = self._subscales(scores, bool(missing), domain_scores)
            if self.has_indicators:
                indicators = self._indicators(effective, sums)
        return _make_result(
            instrument_id=self.id,
            version=self.version,
            total=total,
            raw_total=raw,
            band=band_id,
            band_label=band_label,
            flags=tuple(flags),
            subscales=subscales,
            indicators=indicators,
            item_ids=self.ids,
            item_values=tuple(values),
            item_scores=tuple(scores),
            missing=missing,
            missing_handling=handling,
            notes=notes,
        )

    def _domain_scores(self, scores: Sequence[Answer], blanks: bool) -> list[int]:
        if blanks:
            return [max(v for v in get(scores) if v is not None) for _id, get in self.domains]
        return cast("list[int]", [max(get(scores)) for _id, get in self.domains])  # type: ignore[type-var]

    def _subscales(
        self, scores: Sequence[Answer], blanks: bool, domain_scores: list[int]
    ) -> tuple[Mapping[str, Number], dict[str, int]]:
        """(subscale values, raw sums); items left blank by design count as nothing."""
        out: dict[str, Number] = dict(zip(self.domain_ids, domain_scores, strict=True))
        sums: dict[str, int] = {}
        for subscale_id, get, rule, weights, maximum in self.subscales:
            values = get(scores)
            if blanks:
                values = tuple(0 if v is None else v for v in values)
            if rule is SubscaleRule.MAX:
                out[subscale_id] = max(map(operator.mul, weights, values))
                continue
            total: int = sum(values)  # type: ignore[arg-type]
            sums[subscale_id] = total
            out[subscale_id] = total if rule is SubscaleRule.SUM else total * 100 / maximum
        return MappingProxyType(out), sums

    def _indicators(
        self, effective: Sequence[Answer], sums: Mapping[str, int]
    ) -> Mapping[str, bool]:
        out: dict[str, bool] = {}
        for indicator_id, threshold, requirements in self.counts:
            out[indicator_id] = all(
                len([v for v in get(effective) if v is not None and v >= threshold]) >= k
                for get, k in requirements
            )
        for indicator_id, percent, parts in self.all_at_least:
            # Whole-number comparison: 60% of 15 must not fail on a rounding error.
            out[indicator_id] = all(
                sums[subscale_id] * 100 >= percent * maximum for subscale_id, maximum in parts
            )
        return MappingProxyType(out)


def _subscale(instrument: Instrument, subscale_id: str) -> Subscale:
    return next(s for s in instrument.subscales if s.id == subscale_id)


# -- compiling definitions -------------------------------------------------------------------


def _score_map(item: Item) -> dict[Any, int]:
    low, high = item.scale.minimum, item.scale.maximum
    return {v: (low + high - v if item.reverse else v) for v in item.scale.values}


def _compile(condition: Condition, index: Mapping[str, int]) -> _Clauses:
    return tuple(tuple((index[m.item], m.values) for m in clause) for clause in condition)


def _clause_items(clause: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(m.item for m in clause if m.values != frozenset({None}))


def _flag(spec: FlagSpec, items: tuple[str, ...]) -> Flag:
    return Flag(spec.id, spec.severity, spec.message, items, spec.risk_level)


def _flag_table(levels: tuple[tuple[int, FlagSpec], ...], item: Item) -> dict[Any, Flag]:
    table: dict[Any, Flag] = {}
    for value in item.scale.values:
        reached = [spec for minimum, spec in levels if value >= minimum]
        if reached:
            table[value] = _flag(reached[-1], (item.id,))
    return table


def _higher_band(tables: Sequence[Any], row: Sequence[Band | None]) -> Band | None:
    """Of the sexes' bands at one total, the one furthest up its own table (bands run
    from the lowest totals up, so further up is the more cautious reading)."""
    ranked = [
        (table.bands.index(band), band)
        for table, band in zip(tables, row, strict=True)
        if band is not None
    ]
    return max(ranked, key=operator.itemgetter(0))[1] if ranked else None


def _same_band(a: Band | None, b: Band | None) -> bool:
    return a is not None and b is not None and (a.id, a.label) == (b.id, b.label)


def _band_table(bands: tuple[Band, ...], low: int, high: int) -> tuple[Band | None, ...]:
    if not bands:
        return ()
    table: list[Band | None] = [None] * (high - low + 1)
    for band in bands:
        for total in range(band.minimum, band.maximum + 1):
            table[total - low] = band
    return tuple(table)


def _check_definition(instrument: Instrument) -> None:
    """Refuse inconsistent data at import: a gap in the bands would mislead a clinician."""
    problems = _reference_problems(instrument) + _rule_problems(instrument)
    if not problems:
        problems = _band_problems(instrument)
    if problems:
        raise DefinitionError(f"{instrument.id}: " + "; ".join(problems))


def _reference_problems(instrument: Instrument) -> list[str]:
    """Items, skip logic, flags, subscales and triage name only items (and subscales) that exist."""
    problems: list[str] = []
    ids = [item.id for item in instrument.items]
    known = set(ids)
    if len(known) != len(ids):
        problems.append("duplicate item ids")

    def check_items(what: str, names: Sequence[str]) -> None:
        unknown = [name for name in names if name not in known]
        if unknown:
            problems.append(f"{what} names unknown items {unknown}")

    for item in instrument.items:
        if item.asked_if is not None:
            check_items(f"{item.id} skip logic", [m.item for c in item.asked_if for m in c])
        if (item.missing is MissingRule.REFUSAL_COUNTS_AS) != (item.refusal_value is not None):
            problems.append(f"{item.id}: refusal_value goes with REFUSAL_COUNTS_AS")
        if item.refusal_value is not None and item.refusal_value not in item.scale.values:
            problems.append(f"{item.id}: refusal value outside the scale")
    for rule in instrument.item_flags:
        check_items("flag rule", [rule.item])
        minimums = [minimum for minimum, _spec in rule.levels]
        if minimums != sorted(minimums):
            problems.append(f"flag levels for {rule.item} are not ascending")
    for group in (*instrument.domains, *instrument.subscales):
        check_items(f"subscale {group.id}", group.items)
        if group.weights and len(group.weights) != len(group.items):
            problems.append(f"subscale {group.id}: one weight per item")
    if instrument.domains and sorted(i for d in instrument.domains for i in d.items) != sorted(ids):
        problems.append("domains must use every item exactly once")
    for group_items in instrument.answer_one_of:
        check_items("answer_one_of", group_items)
    for level in instrument.triage:
        check_items(f"triage {level.band}", [m.item for c in level.when for m in c])
    subscale_ids = {s.id for s in instrument.subscales}
    for indicator in instrument.indicators:
        names = (
            [s for s, _k in indicator.minimum_counts]
            if isinstance(indicator, CountCriterion)
            else list(indicator.subscales)
        )
        if not set(names) <= subscale_ids:
            problems.append(f"indicator {indicator.id} names unknown subscales")
    return problems


def _rule_problems(instrument: Instrument) -> list[str]:
    """The total rule agrees with triage, domains and bands."""
    problems: list[str] = []
    if (instrument.total_rule is TotalRule.NONE) != bool(instrument.triage):
        problems.append("triage levels go with (and only with) TotalRule.NONE")
    if instrument.triage and instrument.triage[-1].when != ():
        problems.append("the last triage level must be the catch-all (when=())")
    if instrument.domains and instrument.total_rule is not TotalRule.SUM:
        problems.append("domains are summed: use TotalRule.SUM")
    if (instrument.bands or instrument.sex_bands) and instrument.total_rule is not TotalRule.SUM:
        problems.append("bands apply to summed totals only")
    return problems


def _band_problems(instrument: Instrument) -> list[str]:
    """Each set of bands covers the whole score range, in order, without gaps or overlaps."""
    problems: list[str] = []
    low, high = _raw_range(instrument)
    for name, bands in (
        ("bands", instrument.bands),
        *((f"bands for {sb.sex}", sb.bands) for sb in instrument.sex_bands),
    ):
        if bands and [t for b in bands for t in range(b.minimum, b.maximum + 1)] != list(
            range(low, high + 1)
        ):
            problems.append(f"{name} must cover {low}-{high} in order without gaps/overlaps")
    return problems


def _raw_range(instrument: Instrument) -> tuple[int, int]:
    index = {item.id: item for item in instrument.items}
    if instrument.domains:
        return (
            sum(min(index[i].scale.minimum for i in d.items) for d in instrument.domains),
            sum(max(index[i].scale.maximum for i in d.items) for d in instrument.domains),
        )
    return (
        sum(item.scale.minimum for item in instrument.items),
        sum(item.scale.maximum for item in instrument.items),
    )


# -- public API ----------------------------------------------------------------------------

_PLANS: dict[str, _Plan] = {i.id: _Plan(i) for i in all_instruments()}


@functools.lru_cache(maxsize=64)
def _plan_of(instrument: Instrument) -> _Plan:
    # Bounded: a caller may build a fresh copy (with_licensed_text) for every request.
    return _Plan(instrument)


def _plan_for(instrument: str | Instrument) -> _Plan:
    if isinstance(instrument, str):
        return _PLANS.get(instrument) or _PLANS[get_instrument(instrument).id]
    plan = _PLANS.get(instrument.id)
    if plan is not None and plan.instrument is instrument:
        return plan
    return _plan_of(instrument)


def _sex(instrument: Instrument, sex: Sex | str | None) -> str | None:
    if sex is None:
        return None
    try:
        return str(Sex(str(sex).casefold()))
    except ValueError:
        raise InvalidAnswerError(
            f"{instrument.short_name}: sex must be one of {', '.join(Sex)}, not {sex!r}"
        ) from None


def score(
    instrument: str | Instrument,
    answers: Sequence[Answer],
    *,
    sex: Sex | str | None = None,
) -> ScoreResult:
    """Score one response.

    `answers` are the numeric option values in item order; None marks a blank item. Items
    the form skips (skip logic) may be left off the end. `sex` picks sex-specific cut-offs
    (AUDIT-C) and is ignored elsewhere.

    Raises UnknownInstrumentError, ItemCountError, InvalidAnswerError, or
    IncompleteResponseError (which carries the safety flags the answered items raise).
    """
    plan = _PLANS.get(instrument) if isinstance(instrument, str) else None
    if plan is None:
        plan = _plan_for(instrument)
    return plan.score(answers, None if sex is None else _sex(plan.instrument, sex))


_DIGITS = re.compile(r"[0-9]+")


def parse_answer_text(text: str, *, what: str = "answer") -> int:
    """An answer typed as text: plain ASCII digits only.

    int() also reads "+1", " 1", "1_0" and other scripts' digits ("١"); "-0" has a sign
    no option value has. Each of those is a typing slip or a tool's artefact, and a
    guessed reading could score the wrong option, so they are refused by name."""
    if not isinstance(text, str) or _DIGITS.fullmatch(text) is None:
        raise InvalidAnswerError(
            f"{what} ({text!r}) is not an answer: use the option's number in plain digits "
            "0-9 (no sign, spaces, decimal point or separators)"
        )
    return int(text)


def safety_flags(instrument: str | Instrument, answers: Sequence[Answer]) -> tuple[Flag, ...]:
    """Flags raised by the answered items of a possibly unfinished response.

    For save-and-resume: a positive suicide-risk answer counts the moment it is given.
    """
    plan = _plan_for(instrument)
    effective, _scores = plan._validated(plan._padded(answers), len(answers))
    return plan._flags(effective)


def score_range(instrument: str | Instrument) -> tuple[Number, Number] | None:
    """(lowest, highest) possible total, or None for triage instruments."""
    plan = _plan_for(instrument)
    rule = plan.total_rule
    if rule is TotalRule.NONE:
        return None
    if rule is TotalRule.PERCENT_OF_MAX:
        return (plan.min_raw * 100 / plan.max_raw, 100.0)
    if rule is TotalRule.MEAN:
        return (plan.min_raw / plan.n, plan.max_raw / plan.n)
    return (plan.min_raw, plan.max_raw)


__all__ = [
    "COMPLETE",
    "MANUAL_RULE",
    "SEX_NOT_GIVEN_NOTE",
    "SKIPPED_BY_DESIGN",
    "Flag",
    "ScoreResult",
    "parse_answer_text",
    "safety_flags",
    "score",
    "score_range",
]
