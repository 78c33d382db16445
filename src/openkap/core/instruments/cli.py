"""`openkap score` and `openkap instruments`: scoring for clinicians, researchers, scripts.

Exit codes: 0 scored (JSON on stdout), 2 bad input (message on stderr). Only an unscorable
response with answers prints on stdout too: the safety flags its answered items raise.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .engine import Answer, parse_answer_text, score, score_range
from .errors import IncompleteResponseError, ScoringError
from .model import Instrument, Sex, TotalRule
from .registry import all_instruments, get_instrument

BLANK = "-"

_RANGE_SUFFIX = {
    TotalRule.SUM: "",
    TotalRule.MEAN: " (mean)",
    TotalRule.PERCENT_OF_MAX: " (% of max)",
}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Raises instead of exiting, so the functions return their exit code."""

    def error(self, message: str) -> Any:
        raise _UsageError(f"{self.prog}: {message}")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _parse_answers(tokens: list[str]) -> list[Answer]:
    """Plain ASCII whole numbers and "-" (blank), one per item, or comma-separated.

    Anything else is refused rather than read generously: "+1", "-0", "1_0", "١" and
    "1.0" are not answers, and an empty field between commas would shift every later
    answer onto the wrong item."""
    answers: list[Answer] = []
    for token in tokens:
        for part in token.split(","):
            position = len(answers) + 1
            if part == BLANK:
                answers.append(None)
            elif part == "":
                raise ScoringError(
                    f"answer {position} is empty (two commas together, or a comma at either "
                    f"end?); mark a blank item with {BLANK}"
                )
            else:
                answers.append(parse_answer_text(part, what=f"answer {position}"))
    return answers


def score_main(argv: list[str]) -> int:
    parser = _Parser(
        prog="openkap score",
        description="Score one response and print it as JSON. Answers are the numeric "
        f"option values in item order (plain digits); {BLANK} marks an item left blank. A "
        "response that cannot be scored still prints the safety flags its answered items "
        "raise (JSON on stdout) and exits 2.",
        epilog="instruments: "
        + ", ".join(i.id for i in all_instruments())
        + " (details: openkap instruments)",
    )
    parser.add_argument("instrument", help="instrument id, e.g. phq9 or PHQ-9")
    parser.add_argument("answers", nargs="*", metavar="ANSWER")
    parser.add_argument(
        "--sex",
        type=str.casefold,
        choices=[str(s) for s in Sex],
        help="selects sex-specific cut-offs (AUDIT-C)",
    )
    try:
        args = parser.parse_intermixed_args(argv)
    except _UsageError as exc:
        return _fail(str(exc))
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    try:
        instrument = get_instrument(args.instrument)
        result = score(instrument.id, _parse_answers(args.answers), sex=args.sex)
    except IncompleteResponseError as exc:
        # Not scored, but the flags the answered items raise are a lower bound on the
        # patient's risk: print them where a script reads (issue 12).
        message = str(exc)
        if exc.flags:
            raised = ", ".join(f"{f.id} ({f.severity})" for f in exc.flags)
            message += f"\nsafety flags raised by the answered items: {raised}"
        print(json.dumps(_unscored(instrument, exc), indent=2))
        return _fail(message)
    except ScoringError as exc:
        return _fail(str(exc))
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def _unscored(instrument: Instrument, exc: IncompleteResponseError) -> dict[str, Any]:
    return {
        "instrument": instrument.id,
        "version": instrument.version,
        "scored": False,
        "total": None,
        "band": None,
        "flags": [flag.id for flag in exc.flags],
        "flag_details": [flag.to_dict() for flag in exc.flags],
        "missing": list(exc.missing),
        "error": str(exc),
    }


def _range_text(instrument: Instrument) -> str:
    bounds = score_range(instrument)
    if bounds is None:
        return "triage (no total)"
    low, high = (f"{b:g}" for b in bounds)
    return f"{low}-{high}{_RANGE_SUFFIX[instrument.total_rule]}"


def _as_json(instrument: Instrument) -> dict[str, Any]:
    bounds = score_range(instrument)
    return {
        "id": instrument.id,
        "short_name": instrument.short_name,
        "name": instrument.name,
        "items": len(instrument.items),
        "range": None if bounds is None else list(bounds),
        "total_rule": str(instrument.total_rule),
        "rater": str(instrument.rater),
        "recall_period": instrument.recall_period,
        "sex_specific_cutoffs": bool(instrument.sex_bands),
        "allows_blanks": instrument.allows_blanks,
        "licence": str(instrument.licence),
        "aliases": list(instrument.aliases),
    }


def list_main(argv: list[str]) -> int:
    parser = _Parser(prog="openkap instruments", description="List the rating instruments.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _fail(str(exc))
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    instruments = all_instruments()
    if args.json:
        print(json.dumps([_as_json(i) for i in instruments], indent=2))
        return 0
    rows = [("ID", "NAME", "ITEMS", "RANGE", "RATER")] + [
        (i.id, i.name, str(len(i.items)), _range_text(i), str(i.rater)) for i in instruments
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0
