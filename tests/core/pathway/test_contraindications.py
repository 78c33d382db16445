"""The contraindication checklist data and its evaluation."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from openkap.core.pathway import CHECKLIST, Route, Severity, evaluate_checklist
from openkap.core.pathway.contraindications import ChecklistDataError, parse_checklist

ESK = Route.INTRANASAL_ESKETAMINE


def _raw() -> dict[str, Any]:
    text = resources.files("openkap.core.pathway").joinpath("contraindications.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


@pytest.mark.parametrize(
    "item_id",
    [
        "aneurysmal_vascular_disease",
        "arteriovenous_malformation",
        "intracerebral_haemorrhage",
        "ketamine_hypersensitivity",
    ],
)
def test_spravato_label_contraindications_are_absolute_for_esketamine(item_id: str) -> None:
    rule = CHECKLIST.item(item_id).rule(ESK)
    assert rule.severity is Severity.ABSOLUTE
    assert any("Spravato (esketamine) US label, Contraindications" in s for s in rule.sources)


@pytest.mark.parametrize(
    "item_id",
    ["uncontrolled_hypertension", "active_psychosis", "mania", "pregnancy"],
)
def test_issue_examples_are_relative(item_id: str) -> None:
    for route in Route:
        assert CHECKLIST.item(item_id).rule(route).severity is Severity.RELATIVE


def test_every_item_covers_every_route_with_a_cited_source() -> None:
    for item in CHECKLIST.items:
        assert set(item.rules) == set(Route), item.id
        for rule in item.rules.values():
            assert rule.sources
            assert all("reference/" in s or "issue 5" in s for s in rule.sources), item.id


def test_racemic_rules_borrowed_from_the_label_say_they_are_policy() -> None:
    for item in CHECKLIST.items:
        for route, rule in item.rules.items():
            from_label = any("Spravato" in s for s in rule.sources)
            if route is not ESK and from_label:
                assert any(s.startswith("Clinic policy, not a label") for s in rule.sources), (
                    item.id,
                    route,
                )


def test_evaluate_sorts_present_items_and_lists_unanswered() -> None:
    answers = {item.id: False for item in CHECKLIST.items}
    answers.update(arteriovenous_malformation=True, pregnancy=True, uncontrolled_hypertension=True)
    del answers["mania"]
    result = evaluate_checklist(answers, ESK)
    assert [f.item_id for f in result.absolute] == ["arteriovenous_malformation"]
    assert [f.item_id for f in result.relative] == ["uncontrolled_hypertension", "pregnancy"]
    assert result.unanswered == ("mania",)
    assert not result.complete
    assert result.absolute[0].label == "Arteriovenous malformation"


def test_all_absent_is_complete_and_clear() -> None:
    result = evaluate_checklist({item.id: False for item in CHECKLIST.items}, ESK)
    assert result.complete
    assert result.absolute == ()
    assert result.relative == ()


def test_unknown_item_refused() -> None:
    with pytest.raises(ValueError, match="Unknown contraindication checklist item: 'gout'"):
        evaluate_checklist({"gout": True}, ESK)


def test_answer_must_be_yes_or_no() -> None:
    with pytest.raises(ValueError, match="must be yes or no"):
        evaluate_checklist({"pregnancy": "no"}, ESK)


def _custom() -> dict[str, Any]:
    """An item absolute for esketamine only, to show per-route severity."""
    data = _raw()
    data["items"] = [
        {
            "id": "severe_hepatic_impairment",
            "label": "Severe hepatic impairment",
            "rules": [
                {
                    "routes": ["intranasal_esketamine"],
                    "severity": "absolute",
                    "sources": ["spravato_warnings"],
                },
                {
                    "routes": ["iv_infusion", "intramuscular", "intranasal_racemic", "sublingual", "oral"],
                    "severity": "relative",
                    "sources": ["racemic_policy"],
                },
            ],
        }
    ]
    return data


def test_severity_follows_the_route() -> None:
    checklist = parse_checklist(_custom())
    answers = {"severe_hepatic_impairment": True}
    assert len(evaluate_checklist(answers, ESK, checklist).absolute) == 1
    assert len(evaluate_checklist(answers, Route.INTRAMUSCULAR, checklist).relative) == 1


def test_without_a_route_the_strictest_severity_counts() -> None:
    checklist = parse_checklist(_custom())
    result = evaluate_checklist({"severe_hepatic_impairment": True}, None, checklist)
    assert [f.severity for f in result.absolute] == [Severity.ABSOLUTE]
    assert result.relative == ()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["items"][0]["rules"].pop(), "no rule for route iv_infusion"),
        (
            lambda d: d["items"][0]["rules"][1]["routes"].append("intranasal_esketamine"),
            "route intranasal_esketamine is listed twice",
        ),
        (lambda d: d["items"][0]["rules"][0].update(sources=[]), "every rule needs a source"),
        (lambda d: d["items"][0]["rules"][0].update(sources=["wikipedia"]), "unknown source"),
        (lambda d: d["items"][0]["rules"][0].update(severity="mild"), "'mild'"),
        (lambda d: d["items"][0]["rules"][0].update(routes=["oral_gel"]), "'oral_gel'"),
        (lambda d: d["items"].append(d["items"][0]), "ids must be unique"),
        (lambda d: d["routes"].pop("intramuscular"), "label every route"),
        (lambda d: d.pop("sources"), "missing or misshapen"),
        (lambda d: d["items"][0].update(label=""), "needs an id and a label"),
    ],
)
def test_malformed_checklist_data_refused(mutate: Any, message: str) -> None:
    data = _custom()
    mutate(data)
    with pytest.raises(ChecklistDataError, match=message):
        parse_checklist(data)


def test_protocols_and_checklist_share_one_route_list() -> None:
    from openkap.core import protocols
    from openkap.core.routes import Route as CoreRoute

    assert protocols.Route is CoreRoute is Route
    for protocol_id in protocols.example_ids():
        route = protocols.load_example(protocol_id).route
        assert all(route in item.rules for item in CHECKLIST.items), protocol_id
