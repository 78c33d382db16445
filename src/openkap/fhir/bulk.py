"""Vital signs in bulk: rows as PostgreSQL's COPY text in, NDJSON Observations out.

Most of an export's Observations are vital signs, four a row (ADR 0045). The export reads
them with ``COPY (SELECT ...) TO STDOUT``: one row a line, fields separated by tabs,
``\\N`` for NULL, in ``mapping.VITAL_FIELDS`` order. Integers are then already the text
that goes into the resources, and the two times arrive as the database writes a UTC
timestamp cut to the second (``2026-01-05 14:03:00``, DateStyle ISO): the space becomes
the instant's ``T`` and the templates add the ``Z``, so nothing is parsed (ADR 0085). A
block of rows is filled into the templates column by column with C-level joins instead
of one Python call per row (ADR 0070). The output is, byte for byte,
``mapping.vital_lines`` row by row (a property test checks it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain, repeat
from string import Formatter
from typing import Any, NamedTuple

from openkap.fhir.mapping import VITAL_FIELDS, VITAL_KEYS, VITAL_TEMPLATES, vital_lines

NULL = b"\\N"
_WIDTH = len(VITAL_FIELDS)
_WRONG_WIDTH = f"vitals rows must have {_WIDTH} fields each"
_TIMES = (VITAL_FIELDS.index("taken"), VITAL_FIELDS.index("updated"))
# One pass over a block: rows become fields like the tabs, the times' spaces their "T".
_FIELDS_AND_T = bytes.maketrans(b"\n ", b"\tT")

Plan = tuple[list[bytes], list[str]]


def _plan(template: str) -> Plan:
    """A template's constant pieces and the field between each two of them."""
    pieces, fields, pending = [], [], ""
    for literal, field, spec, conversion in Formatter().parse(template):
        pending += literal
        if field is not None:
            if spec or conversion is not None:  # the templates hold bare names only
                raise ValueError(f"{field!r} is formatted in {template!r}")
            pieces.append(pending.encode())
            fields.append(field)
            pending = ""
    pieces.append(pending.encode())
    return pieces, fields


def _shared(templates: Sequence[str]) -> str:
    """The run every vital Observation of a row has in common (subject, encounter, both
    times): made once a row and used four times, it saves ~40 % of the pieces joined."""
    first = templates[0]
    start = first.index('"subject":')
    shared = first[start:first.index(',"code":', start)]
    assert all(t.count(shared) == 1 for t in templates), shared
    return shared


# The times come without their "Z" (see above): the templates carry it.
_TEMPLATES = [VITAL_TEMPLATES[key].replace("{taken}", "{taken}Z").replace("{updated}", "{updated}Z")
              for key in VITAL_KEYS]
_SHARED = _shared(_TEMPLATES)
_SHARED_PLAN = _plan(_SHARED)
_ROW_PLAN = _plan("".join(_TEMPLATES).replace(_SHARED, "{shared}"))


def _rows(plan: Plan, columns: dict[str, list[bytes]]) -> Iterator[tuple[bytes, ...]]:
    """Each row's pieces in order: the constant pieces repeated, the fields from their columns."""
    pieces, fields = plan
    args: list[Any] = []
    for piece, field in zip(pieces[:-1], fields, strict=True):
        args += (repeat(piece), columns[field])
    args.append(repeat(pieces[-1]))
    return zip(*args, strict=False)  # the repeats never end; the columns are all as long


class Lines(NamedTuple):
    """NDJSON already serialised, and how many resources (lines) it holds."""

    ndjson: bytes
    resources: int


def _complete(block: bytes) -> Lines:
    """Rows without a NULL: all four Observations each."""
    if not block:
        return Lines(b"", 0)
    rows = block.count(b"\n")
    fields = block.translate(_FIELDS_AND_T).split(b"\t")  # one list; the last item is the empty tail
    if rows * _WIDTH != len(fields) - 1:
        raise ValueError(_WRONG_WIDTH)
    columns = {name: fields[n:-1:_WIDTH] for n, name in enumerate(VITAL_FIELDS)}
    columns["shared"] = list(map(b"".join, _rows(_SHARED_PLAN, columns)))
    return Lines(b"".join(chain.from_iterable(_rows(_ROW_PLAN, columns))), rows * len(VITAL_KEYS))


def _with_nulls(row: bytes) -> Lines:
    """A row with a reading missing: its own templates, which leave out what is not there."""
    values: list[str | None] = [None if f == NULL else f.decode() for f in row.rstrip(b"\n").split(b"\t")]
    if len(values) != _WIDTH:
        raise ValueError(_WRONG_WIDTH)
    for n in _TIMES:
        values[n] = instant(values[n])
    text = vital_lines(values)
    return Lines(text.encode(), text.count("\n"))


def vital_ndjson(block: bytes) -> Lines:
    """The NDJSON lines of whole COPY-text vitals rows (each ending in a newline). The count
    comes from the rows, not from scanning the ~35 times longer output."""
    out: list[Lines] = []
    start = 0
    while (null := block.find(NULL, start)) >= 0:
        row_start = max(block.rfind(b"\n", start, null) + 1, start)  # rfind is -1 when the row begins at start
        row_end = block.index(b"\n", null) + 1
        out += (_complete(block[start:row_start]), _with_nulls(block[row_start:row_end]))
        start = row_end
    out.append(_complete(block[start:] if start else block))
    if len(out) == 1:
        return out[0]
    return Lines(b"".join(part.ndjson for part in out), sum(part.resources for part in out))


def instant(time: str | None) -> str:
    """A time as COPY writes it (``2026-01-05 14:03:00``) as a FHIR instant."""
    if time is None or len(time) != 19 or time[10] != " ":
        raise ValueError(f"vitals times must be written 'YYYY-MM-DD HH:MM:SS', not {time!r}")
    return f"{time[:10]}T{time[11:]}Z"


def copy_text(row: Sequence[Any]) -> bytes:
    """A vitals row (``VITAL_FIELDS`` order: integers, the times as ``instant`` reads them,
    None) as COPY writes it; the export's reader on databases without COPY."""
    return ("\t".join("\\N" if v is None else str(v) for v in row) + "\n").encode()
