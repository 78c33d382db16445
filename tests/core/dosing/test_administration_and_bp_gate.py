"""How each route is charted, and which protocols ask the prescriber to weigh a pre-dose
blood pressure above 140/90, on the shipped example protocols."""

import dataclasses

import pytest

from openkap.core.dosing.order import bp_gate_applies
from openkap.core.protocols import load_example
from openkap.core.routes import Route, administration_mode


@pytest.mark.parametrize(("route", "mode"), [
    (Route.IV_INFUSION, "infusion"), (Route.INTRANASAL_ESKETAMINE, "devices"), (Route.INTRAMUSCULAR, "single"),
    (Route.INTRANASAL_RACEMIC, "single"), (Route.SUBLINGUAL, "single"), (Route.ORAL, "single"),
])
def test_each_route_is_charted_as_an_infusion_devices_or_one_administration(route, mode):
    assert administration_mode(route) == mode


def test_esketamine_gates_on_blood_pressure_by_its_label_even_without_the_checklist_item():
    spravato = load_example("intranasal-esketamine-spravato")
    without = dataclasses.replace(spravato, pre_dose_checklist=tuple(
        i for i in spravato.pre_dose_checklist if i.code != "baseline-bp"))
    assert bp_gate_applies(spravato)
    assert bp_gate_applies(without)


def test_other_routes_gate_only_when_their_checklist_asks_for_a_baseline_bp():
    im = load_example("im-ketamine")
    assert any(i.code == "baseline-bp" for i in im.pre_dose_checklist)  # the examples all do
    assert bp_gate_applies(im)
    without = dataclasses.replace(im, pre_dose_checklist=tuple(
        i for i in im.pre_dose_checklist if i.code != "baseline-bp"))
    assert not bp_gate_applies(without)
