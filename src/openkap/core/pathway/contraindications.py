"""The medical contraindication checklist, as data (``contraindications.json``).

Each item says, for every route, whether it is an absolute contraindication
(blocks eligibility) or a relative one (the prescriber must write a
justification), with the sources behind that. The file is checked when it is
loaded: every item covers every route exactly once and cites known sources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Any

from openkap.core.routes import Route


class Severity(StrEnum):
    ABSOLUTE = "absolute"
    RELATIVE = "relative"


@dataclass(frozen=True)
class RouteRule:
    severity: Severity
    sources: tuple[str, ...]  # full citations


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    label: str
    rules: Mapping[Route, RouteRule]

    def rule(self, route: Route | None) -> RouteRule:
        """The rule for ``route``; with no route yet, the strictest over all routes."""
        if route is not None:
            return self.rules[route]
        absolute = [r for r in self.rules.values() if r.severity is Severity.ABSOLUTE]
        return (absolute or list(self.rules.values()))[0]


@dataclass(frozen=True)
class Checklist:
    version: str
    route_labels: Mapping[Route, str]
    items: tuple[ChecklistItem, ...]

    def item(self, item_id: str) -> ChecklistItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise ValueError(f"Unknown contraindication checklist item: {item_id!r}.")


class ChecklistDataError(ValueError):
    """contraindications.json is malformed; the message names the problem."""


def parse_checklist(data: Mapping[str, Any]) -> Checklist:
    """Build and check a checklist from its JSON form."""
    try:
        route_labels = {Route(k): str(v) for k, v in data["routes"].items()}
        sources: dict[str, str] = {str(k): str(v) for k, v in data["sources"].items()}
        items = tuple(_parse_item(raw, sources) for raw in data["items"])
        version = str(data["version"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ChecklistDataError(f"Checklist data is missing or misshapen: {exc!r}.") from None
    except ValueError as exc:  # an unknown route or severity value
        raise ChecklistDataError(str(exc)) from None
    if set(route_labels) != set(Route):
        raise ChecklistDataError("Checklist data must label every route.")
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise ChecklistDataError("Checklist item ids must be unique.")
    return Checklist(version, MappingProxyType(route_labels), items)


def _parse_item(raw: Mapping[str, Any], sources: Mapping[str, str]) -> ChecklistItem:
    item_id = str(raw["id"])
    label = str(raw["label"])
    if not item_id or not label:
        raise ChecklistDataError("Every checklist item needs an id and a label.")
    rules: dict[Route, RouteRule] = {}
    for rule in raw["rules"]:
        keys = [str(k) for k in rule["sources"]]
        if not keys:
            raise ChecklistDataError(f"Item {item_id}: every rule needs a source.")
        unknown = [k for k in keys if k not in sources]
        if unknown:
            raise ChecklistDataError(f"Item {item_id}: unknown source {unknown[0]!r}.")
        parsed = RouteRule(Severity(rule["severity"]), tuple(sources[k] for k in keys))
        for name in rule["routes"]:
            route = Route(name)
            if route in rules:
                raise ChecklistDataError(f"Item {item_id}: route {route} is listed twice.")
            rules[route] = parsed
    missing = [r.value for r in Route if r not in rules]
    if missing:
        raise ChecklistDataError(f"Item {item_id}: no rule for route {missing[0]}.")
    return ChecklistItem(item_id, label, MappingProxyType(rules))


def load_checklist() -> Checklist:
    text = (
        resources.files("openkap.core.pathway")
        .joinpath("contraindications.json")
        .read_text("utf-8")
    )
    return parse_checklist(json.loads(text))


CHECKLIST = load_checklist()


@dataclass(frozen=True)
class Finding:
    item_id: str
    label: str
    severity: Severity
    sources: tuple[str, ...]


@dataclass(frozen=True)
class ChecklistResult:
    absolute: tuple[Finding, ...]
    relative: tuple[Finding, ...]
    unanswered: tuple[str, ...]  # item ids with no answer yet

    @property
    def complete(self) -> bool:
        return not self.unanswered


def evaluate_checklist(
    answers: Mapping[str, bool], route: Route | None, checklist: Checklist = CHECKLIST
) -> ChecklistResult:
    """Sort the items answered "present" into absolute and relative for ``route``.

    ``answers`` maps item id to True (present) or False (absent); an item not in
    it is unanswered. With ``route`` None (no route chosen yet) each item counts
    at its strictest over all routes.
    """
    for item_id, answer in answers.items():
        checklist.item(item_id)
        if not isinstance(answer, bool):
            # A stray "no" string is truthy; answers must be real yes/no.
            raise ValueError(f"The answer for {item_id!r} must be yes or no, not {answer!r}.")
    absolute: list[Finding] = []
    relative: list[Finding] = []
    unanswered: list[str] = []
    for item in checklist.items:
        if item.id not in answers:
            unanswered.append(item.id)
            continue
        if not answers[item.id]:
            continue
        rule = item.rule(route)
        finding = Finding(item.id, item.label, rule.severity, rule.sources)
        (absolute if rule.severity is Severity.ABSOLUTE else relative).append(finding)
    return ChecklistResult(tuple(absolute), tuple(relative), tuple(unanswered))
