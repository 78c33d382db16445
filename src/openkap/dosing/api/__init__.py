"""JSON API of medicine sessions: the protocol library and every step of a session,
calling the same services (and so the same checks, refusals and audit) as the web. One
module per step of the clinic's work, each with its own router, mounted here in the order
the OpenAPI document lists them.

Decimals travel as strings so that no client turns a dose into a float. Times are
ISO 8601 with an offset; leave ``at`` out for now (a late entry gives the time it
happened, up to 7 days back).
"""

from __future__ import annotations

from ninja import Router

from . import (
    administration,
    board,
    check_in,
    discharge,
    monitoring,
    orders,
    preparation,
    protocols,
    records,
    rems,
    session,
)

router = Router(tags=["medicine sessions"])
for step in (protocols, session, check_in, orders, preparation, administration, monitoring, discharge, rems, board, records):
    router.add_router("", step.router)
