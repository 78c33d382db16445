"""`openkap score` and `openkap instruments`: scoring for clinicians, researchers, scripts.

Exit codes: 0 scored (JSON on stdout), 2 bad input (message on stderr, nothing on stdout).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .engine import Answer, score, score_range
from .errors import IncompleteResponseError, ScoringError
from .model import Instrument, Sex, TotalRule
from .registry import all_instruments, get_instrument

BLANK_TOKENS = frozenset({"-", "na", "n/a"})

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


def _parse_answers(instrument: Instrument, tokens: list[str]) -> list[Answer]:
    answers: list[Answer] = []
    for token in (part for t in tokens for part in t.split(",") if part != ""):
        if token.casefold() in BLANK_TOKENS:
            if not instrument.allows_blanks:
                raise ScoringError(
                    f"answer {len(answers) + 1} is blank ({token!r}), but "
                    f"{instrument.short_name} has no rule for missing items: every item must "
                    "be answered"
                )
            answers.append(None)
            continue
        try:
            answers.append(int(token))
        except ValueError:
            raise ScoringError(
                f"answer {len(answers) + 1} ({token!r}) is not a whole number"
            ) from None
    return answers


def score_main(argv: list[str]) -> int:
    parser = _Parser(
        prog="openkap score",
        description="Score one response and print it as JSON. Answers are the numeric "
        f"option values in item order; {', '.join(sorted(BLANK_TOKENS))} mark an item left "
        "blank where the instrument allows it.",
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
        result = score(instrument.id, _parse_answers(instrument, args.answers), sex=args.sex)
    except IncompleteResponseError as exc:
        message = str(exc)
        if exc.flags:
            raised = ", ".join(f"{f.id} ({f.severity})" for f in exc.flags)
            message += f"\nsafety flags raised by the answered items: {raised}"
        return _fail(message)
    except ScoringError as exc:
        return _fail(str(exc))
    print(json.dumps(result.to_dict(), indent=2))
    return 0


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
