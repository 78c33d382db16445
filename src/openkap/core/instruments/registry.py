"""The instrument registry: ids, aliases and lookup."""

from __future__ import annotations

import re

from .definitions import (
    asq,
    auditc,
    cadss,
    cadss6,
    cssrs,
    dast10,
    ebi,
    gad2,
    gad7,
    madrs,
    meq30,
    pcl5,
    phq2,
    phq9,
    qidssr16,
)
from .errors import DefinitionError, UnknownInstrumentError
from .model import Instrument

_ALL: tuple[Instrument, ...] = (
    phq9.INSTRUMENT,
    phq2.INSTRUMENT,
    gad7.INSTRUMENT,
    gad2.INSTRUMENT,
    asq.INSTRUMENT,
    cssrs.RECENT,
    cssrs.SINCE_LAST_VISIT,
    pcl5.INSTRUMENT,
    qidssr16.INSTRUMENT,
    madrs.INSTRUMENT,
    cadss.INSTRUMENT,
    cadss6.INSTRUMENT,
    meq30.INSTRUMENT,
    ebi.INSTRUMENT,
    auditc.INSTRUMENT,
    dast10.INSTRUMENT,
)

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def normalize_id(text: str) -> str:
    """'PHQ-9', 'phq_9' and 'phq9' all become 'phq9'."""
    return _NOT_ALNUM.sub("", text.casefold())


def _build_lookup() -> dict[str, Instrument]:
    lookup: dict[str, Instrument] = {}
    for instrument in _ALL:
        for name in (instrument.id, instrument.short_name, *instrument.aliases):
            key = normalize_id(name)
            other = lookup.setdefault(key, instrument)
            if other is not instrument:
                raise DefinitionError(f"{name!r} names both {other.id} and {instrument.id}")
    return lookup


_LOOKUP = _build_lookup()


def get_instrument(instrument_id: str) -> Instrument:
    """The instrument with this id or alias, ignoring case and punctuation."""
    instrument = _LOOKUP.get(normalize_id(instrument_id))
    if instrument is None:
        known = ", ".join(i.id for i in _ALL)
        raise UnknownInstrumentError(
            f"unknown instrument {instrument_id!r}; known instruments: {known}"
        )
    return instrument


def all_instruments() -> tuple[Instrument, ...]:
    return _ALL
