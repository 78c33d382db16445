"""``openkap dose``: the dose arithmetic from the command line.

``--protocol`` is a protocol file, a shipped example id, or the number of a
protocol version in the clinic's library (the id in its page's address and in
the API). A file or an example is treated as approved (this is the clinician's
arithmetic tool); a library version is approved only if a prescriber approved
it, exactly as in a session. The library is read through ``stored``, which the
``openkap`` command supplies, so this module never imports Django.
``--override-reason`` is taken as the prescriber's. Without a concentration
only the order (mg, mg/kg) is computed; no volume is ever shown from a guessed
concentration.

Exit status: 0 with the JSON result on stdout; 2 when the dose is refused
(JSON with the stops on stdout, a summary on stderr) or the arguments are bad.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from openkap.core.dosing.order import PRESCRIBER_ROLE, order_dose
from openkap.core.dosing.prepare import prepare_dose
from openkap.core.dosing.results import (
    DoseCalculation,
    DoseOrder,
    DoseRefusal,
    Height,
    Lot,
    Override,
    Weight,
)
from openkap.core.protocols import (
    ProductForm,
    Protocol,
    ProtocolError,
    example_ids,
    load_example,
    load_protocol,
)
from openkap.core.units import UnitsError, to_decimal

EXIT_OK = 0
EXIT_REFUSED = 2

T = TypeVar("T")

# A library version's database id, as the web's URLs accept it.
_VERSION_ID = re.compile(r"[1-9][0-9]{0,17}")


@dataclass(frozen=True)
class StoredProtocol:
    """A protocol version from the clinic's library, as the database holds it."""

    protocol: Protocol
    approved: bool
    # Which version the number named, for the person at the terminal (stderr).
    description: str


# Looks a version up by id; None when there is none. Raises ProtocolError when the
# library cannot be read.
StoredProtocols = Callable[[int], StoredProtocol | None]


class _UsageError(Exception):
    """Bad arguments: reported with the usage line, exit 2."""


def main(argv: Sequence[str], *, stored: StoredProtocols | None = None) -> int:
    """``stored`` reads the clinic's protocol library; without it only files and
    examples are accepted."""
    parser = _parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # argparse reports the problem itself
        return exc.code if isinstance(exc.code, int) else EXIT_REFUSED
    try:
        result = _run(args, stored)
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"openkap dose: error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    if isinstance(result, DoseRefusal):
        print(_refusal_summary(result), file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openkap dose",
        description=(
            "Compute a ketamine / esketamine dose from a protocol and a weight in kg: mg, "
            "mg/kg and, given the lot's concentration, mL (or devices, tablets, sprays) and "
            "the IV pump rate. A protocol file or example is treated as approved; a "
            "version from the clinic's library only if a prescriber approved it."
        ),
        epilog=f"Example protocols: {', '.join(example_ids())}",
    )
    parser.add_argument(
        "--protocol",
        required=True,
        metavar="FILE_OR_ID",
        help=(
            "a protocol JSON file, an example id, or the number of a version in the "
            "clinic's protocol library: the id in its page's address "
            "(/dosing/protocols/12/ is 12) and the API's id (reads the database "
            "named by DJANGO_SETTINGS_MODULE, default openkap.settings)"
        ),
    )
    parser.add_argument("--weight-kg", required=True, help="weight in kg (never lb)")
    parser.add_argument(
        "--weight-date",
        metavar="YYYY-MM-DD",
        help="date the weight was measured (default: session date)",
    )
    parser.add_argument("--previous-weight-kg", help="previous weight, to warn on a change > 10%%")
    parser.add_argument(
        "--height-cm",
        help="height in cm (never inches), for protocols that dose on ideal or adjusted body weight",
    )
    parser.add_argument(
        "--sex",
        choices=["female", "male"],
        help="sex at birth, for the ideal body weight formulas",
    )
    parser.add_argument("--session-date", metavar="YYYY-MM-DD", help="default: today")
    parser.add_argument(
        "--last-session-date",
        metavar="YYYY-MM-DD",
        help="previous session (omit for a first session)",
    )
    dose = parser.add_mutually_exclusive_group()
    dose.add_argument("--dose-mg-per-kg", help="ordered mg/kg (default: the protocol's default)")
    dose.add_argument("--dose-mg", help="ordered mg, for fixed-mg protocols")
    parser.add_argument(
        "--product", metavar="CODE", help="product code when the protocol lists several"
    )
    strength = parser.add_mutually_exclusive_group()
    strength.add_argument("--concentration-mg-ml", help="the lot's concentration, for solutions")
    strength.add_argument("--mg-per-unit", help="the lot's mg per device / tablet / troche")
    parser.add_argument("--lot-number", default="", help="recorded in the output")
    parser.add_argument("--override-reason", help="prescriber's reason to override soft limits")
    return parser


def _run(
    args: argparse.Namespace, stored: StoredProtocols | None
) -> DoseCalculation | DoseOrder | DoseRefusal:
    protocol, approved = _protocol(args.protocol, stored)
    session_date = _parse(args.session_date, "--session-date", date.fromisoformat) or _today()
    weight_date = _parse(args.weight_date, "--weight-date", date.fromisoformat) or session_date
    order = order_dose(
        protocol=protocol,
        protocol_approved=approved,
        weight=Weight(kg=_decimal(args.weight_kg, "--weight-kg"), measured_on=weight_date),
        previous_weight_kg=_parse(args.previous_weight_kg, "--previous-weight-kg", _positive),
        session_date=session_date,
        last_session_date=_parse(args.last_session_date, "--last-session-date", date.fromisoformat),
        dose_mg_per_kg=_parse(args.dose_mg_per_kg, "--dose-mg-per-kg", _decimal_value),
        dose_mg=_parse(args.dose_mg, "--dose-mg", _decimal_value),
        override=None
        if args.override_reason is None
        else Override(by_role=PRESCRIBER_ROLE, reason=args.override_reason),
        height=None
        if args.height_cm is None
        else Height(cm=_decimal(args.height_cm, "--height-cm"), measured_on=session_date),
        sex=args.sex,
    )
    lot = _lot(args, protocol)
    if lot is None or isinstance(order, DoseRefusal):
        # A refused order is reported as is; the lot is only checked once a dose exists.
        return order
    return prepare_dose(order, lot=lot)


def _protocol(file_or_id: str, stored: StoredProtocols | None) -> tuple[Protocol, bool]:
    """The protocol and whether it is approved."""
    path = Path(file_or_id)
    try:
        if path.suffix == ".json" or path.exists():
            return load_protocol(path), True
        if file_or_id in example_ids() or stored is None or not _VERSION_ID.fullmatch(file_or_id):
            return load_example(file_or_id), True
        found = stored(int(file_or_id))
    except ProtocolError as exc:
        raise _UsageError("\n  ".join(["protocol cannot be used:", *exc.errors])) from None
    if found is None:
        raise _UsageError(
            f"no protocol version {file_or_id} in the clinic's protocol library "
            "(the number is the id in the protocol page's address)"
        )
    print(f"openkap dose: protocol version {file_or_id}: {found.description}", file=sys.stderr)
    return found.protocol, found.approved


def _lot(args: argparse.Namespace, protocol: Protocol) -> Lot | None:
    given = args.concentration_mg_ml if args.concentration_mg_ml is not None else args.mg_per_unit
    if given is None:
        if args.product is not None:
            raise _UsageError("--product needs --concentration-mg-ml or --mg-per-unit")
        return None
    if args.product is None and len(protocol.products) > 1:
        codes = ", ".join(p.code for p in protocol.products)
        raise _UsageError(
            f"protocol {protocol.id} lists several products ({codes}): give --product"
        )
    code = args.product if args.product is not None else protocol.products[0].code
    product = protocol.product(code)
    if product is not None:
        # The flag names the unit, so a 28 mg device cannot be typed as 28 mg/mL.
        wants_ml = product.form is ProductForm.SOLUTION
        if wants_ml != (args.concentration_mg_ml is not None):
            flag = "--concentration-mg-ml" if wants_ml else "--mg-per-unit"
            raise _UsageError(f"{product.name} is dosed in {product.strength_unit}: give {flag}")
    flag = "--concentration-mg-ml" if args.concentration_mg_ml is not None else "--mg-per-unit"
    return Lot(product_code=code, concentration=_decimal(given, flag), lot_number=args.lot_number)


def _parse(value: str | None, flag: str, convert: Callable[[str], T]) -> T | None:
    if value is None:
        return None
    try:
        return convert(value)
    except (ValueError, UnitsError) as exc:
        raise _UsageError(f"{flag}: {exc}") from None


def _decimal_value(value: str) -> Decimal:
    return to_decimal(value, name="value")


def _decimal(value: str, flag: str) -> Decimal:
    result = _parse(value, flag, _decimal_value)
    if result is None:
        raise _UsageError(f"{flag} is required")
    return result


def _positive(value: str) -> Decimal:
    result = to_decimal(value, name="value")
    if result <= 0:
        raise UnitsError("must be positive")
    return result


def _today() -> date:
    return datetime.now(UTC).astimezone().date()


def _refusal_summary(refusal: DoseRefusal) -> str:
    lines = [
        f"openkap dose: refused ({len(refusal.stops)} hard stop(s), "
        f"{len(refusal.soft_limits)} soft limit(s))"
    ]
    lines += [f"  STOP {s.code.value}: {s.message}" for s in refusal.stops]
    lines += [f"  SOFT {s.code.value}: {s.message}" for s in refusal.soft_limits]
    if refusal.override_rejected:
        lines.append(f"  override not accepted: {refusal.override_rejected}")
    if refusal.overridable:
        lines.append("  a prescriber may override the soft limits with --override-reason")
    return "\n".join(lines)
