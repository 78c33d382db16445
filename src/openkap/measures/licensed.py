"""The instruments as the clinic has them: the core's definitions with the licensed wording
the organisation loaded (``services.licensed_wording_save``). A read of the clinic's own
settings, used by the services, selectors and pages alike."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError

from openkap.compiled import CompiledRead
from openkap.core.instruments import Instrument, ScoringError, get_instrument, with_licensed_text
from openkap.measures.models import LicensedWording

# All of the organisation's wording (one row per instrument it loaded, a few at most),
# compiled once per process: the Measures tab reads it on every page (ADR 0096).
_WORDINGS = CompiledRead(LicensedWording, lambda organization_id: LicensedWording.objects.filter(
    organization_id=organization_id), "organization_id")


def instrument_for(organization_id: int, instrument_id: str) -> Instrument:
    """The core instrument with the organisation's licensed wording, if it loaded any.

    Raises ValidationError for an unknown instrument."""
    return instruments_for(organization_id, [instrument_id])[instrument_id]


def instruments_for(organization_id: int, instrument_ids: Iterable[str]) -> dict[str, Instrument]:
    """``instrument_for`` of several instruments, reading the wording once (a page that
    lists every instrument must not query per instrument)."""
    bases: dict[str, Instrument] = {}
    for instrument_id in instrument_ids:
        try:
            bases[instrument_id] = get_instrument(instrument_id)
        except ScoringError as exc:
            raise ValidationError({"instrument_id": str(exc)}) from None
    wanted = {b.id for b in bases.values()}
    wordings = {w.instrument_id: w for w in _WORDINGS.read(organization_id=organization_id) if w.instrument_id in wanted}
    return {key: _with_wording(base, wordings.get(base.id)) for key, base in bases.items()}


def _with_wording(base: Instrument, wording: LicensedWording | None) -> Instrument:
    if wording is None:
        return base
    known = {item.id for item in base.items}
    texts = {k: v for k, v in wording.texts.items() if k in known and str(v).strip()}
    return with_licensed_text(base, texts) if texts else base
