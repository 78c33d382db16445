"""Every parameter marked calibrated=True is fitted jointly and re-derived in test_fit.py."""

from __future__ import annotations

import json

from openkap.core.pk import params
from openkap.core.pk.fit import FITTED
from openkap.core.pk.params import ParameterSet


def test_every_calibrated_parameter_is_covered_and_says_what_it_was_fitted_to() -> None:
    fitted = {tuple(key.split(".")) for key in json.loads(FITTED.read_text())["parameters"]}
    all_sets = [v for v in vars(params).values() if isinstance(v, ParameterSet)]
    calibrated = {
        (pset.key, name): p for pset in all_sets for name, p in pset.params.items() if p.calibrated
    }
    assert set(calibrated) == fitted
    assert all(p.note for p in calibrated.values())
