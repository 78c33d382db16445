"""Rating instruments for measurement-based care: definitions as data, one scoring engine.

from openkap.core.instruments import score, get_instrument
result = score("phq9", [1, 2, 1, 2, 1, 1, 0, 1, 0])
result.total, result.band, result.flag_ids, result.to_dict()
"""

from .engine import (
    COMPLETE,
    MANUAL_RULE,
    SEX_NOT_GIVEN_NOTE,
    SKIPPED_BY_DESIGN,
    Flag,
    ScoreResult,
    parse_answer_text,
    safety_flags,
    score,
    score_range,
)
from .errors import (
    DefinitionError,
    IncompleteResponseError,
    InvalidAnswerError,
    ItemCountError,
    ScoringError,
    UnknownInstrumentError,
)
from .model import (
    Instrument,
    Licence,
    Rater,
    RiskLevel,
    Severity,
    Sex,
    highest_severity,
    with_licensed_text,
)
from .registry import all_instruments, get_instrument, normalize_id

__all__ = [
    "COMPLETE",
    "MANUAL_RULE",
    "SEX_NOT_GIVEN_NOTE",
    "SKIPPED_BY_DESIGN",
    "DefinitionError",
    "Flag",
    "IncompleteResponseError",
    "Instrument",
    "InvalidAnswerError",
    "ItemCountError",
    "Licence",
    "Rater",
    "RiskLevel",
    "ScoreResult",
    "ScoringError",
    "Severity",
    "Sex",
    "UnknownInstrumentError",
    "all_instruments",
    "get_instrument",
    "highest_severity",
    "normalize_id",
    "parse_answer_text",
    "safety_flags",
    "score",
    "score_range",
    "with_licensed_text",
]
