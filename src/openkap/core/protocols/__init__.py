"""Medicine-session protocols: schema, JSON loader and shipped examples."""

from openkap.core.protocols.loader import (
    dump_protocol,
    example_ids,
    example_text,
    load_example,
    load_protocol,
    loads_protocol,
    parse_protocol,
)
from openkap.core.protocols.schema import (
    ROUTE_FORMS,
    AbsoluteMax,
    ChecklistItem,
    Dilution,
    DoseBasis,
    DoseRule,
    Product,
    ProductForm,
    Protocol,
    ProtocolError,
    Route,
    Source,
    safety_limit_gaps,
)

__all__ = [
    "ROUTE_FORMS",
    "AbsoluteMax",
    "ChecklistItem",
    "Dilution",
    "DoseBasis",
    "DoseRule",
    "Product",
    "ProductForm",
    "Protocol",
    "ProtocolError",
    "Route",
    "Source",
    "dump_protocol",
    "example_ids",
    "example_text",
    "load_example",
    "load_protocol",
    "loads_protocol",
    "parse_protocol",
    "safety_limit_gaps",
]
