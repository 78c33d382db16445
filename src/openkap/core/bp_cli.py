"""`openkap bp`: the blood-pressure rules of a session (SPRAVATO label, hypertensive crisis).

    openkap bp pre-dose 152/94 [--decision TEXT]
    openkap bp discharge --pre-dose 128/80 40:160/98 120:136/84

JSON on stdout. Exit 0 when dosing (or discharge) may proceed, 2 when it may not or the
input is bad (message on stderr), the same answers the session services give.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from openkap.core.blood_pressure import (
    BpReading,
    PreDoseBp,
    assess_discharge,
    assess_pre_dose,
)
from openkap.core.vitals import VitalsError, validate_vitals

_BP = re.compile(r"([0-9]{2,3})/([0-9]{2,3})")
_TIMED = re.compile(r"([0-9]{1,3}(?:\.[0-9])?):([0-9]{2,3})/([0-9]{2,3})")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise _UsageError(f"{self.prog}: {message}")


def _pair(text: str) -> tuple[int, int]:
    match = _BP.fullmatch(text)
    if match is None:
        raise _UsageError(f"{text!r} is not a blood pressure: write SYSTOLIC/DIASTOLIC, e.g. 128/80")
    systolic, diastolic = int(match.group(1)), int(match.group(2))
    errors = validate_vitals(systolic=systolic, diastolic=diastolic)
    if errors:
        raise _UsageError(str(VitalsError(errors)))
    return systolic, diastolic


def _timed(text: str) -> BpReading:
    match = _TIMED.fullmatch(text)
    if match is None:
        raise _UsageError(
            f"{text!r} is not a timed reading: write MINUTES:SYSTOLIC/DIASTOLIC, e.g. 40:160/98"
        )
    systolic, diastolic = _pair(f"{match.group(2)}/{match.group(3)}")
    return BpReading(float(match.group(1)), systolic, diastolic)


def main(argv: Sequence[str]) -> int:
    parser = _Parser(prog="openkap bp", description=__doc__.splitlines()[0] if __doc__ else "")
    sub = parser.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("pre-dose", help="the measured blood pressure before dosing")
    pre.add_argument("bp", metavar="SYSTOLIC/DIASTOLIC")
    pre.add_argument("--decision", default="", help="the prescriber's documented decision above 140/90")
    dis = sub.add_parser("discharge", help="the blood pressure after the dose, for discharge")
    dis.add_argument("--pre-dose", metavar="SYSTOLIC/DIASTOLIC", help="the reading before dosing")
    dis.add_argument("readings", nargs="+", metavar="MINUTES:SYSTOLIC/DIASTOLIC",
                     help="minutes after the first device, and the reading")
    try:
        args = parser.parse_args(list(argv))
        if args.command == "pre-dose":
            assessment = assess_pre_dose(*_pair(args.bp))
            decision = args.decision.strip()
            may_dose = assessment.status is PreDoseBp.ACCEPTABLE or (
                assessment.status is PreDoseBp.NEEDS_DECISION and bool(decision)
            )
            out: dict[str, Any] = {"status": str(assessment.status), "may_dose": may_dose,
                                   "message": assessment.message, "decision": decision or None}
        else:
            result = assess_discharge(
                None if args.pre_dose is None else _pair(args.pre_dose), [_timed(r) for r in args.readings]
            )
            may_dose = result.status.allows_discharge
            out = {"status": str(result.status), "may_discharge": may_dose, "message": result.message}
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    print(json.dumps(out, indent=2))
    if not may_dose:
        print(out["message"], file=sys.stderr)
        return 2
    return 0
