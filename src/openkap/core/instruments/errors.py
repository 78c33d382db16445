"""Errors raised while looking up or scoring an instrument. Messages are for people."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import Flag


class ScoringError(ValueError):
    """Base class: the input cannot be scored; nothing was computed."""


class DefinitionError(ScoringError):
    """An instrument definition is inconsistent (a bug in the data, caught at import)."""


class UnknownInstrumentError(ScoringError):
    pass


class ItemCountError(ScoringError):
    pass


class InvalidAnswerError(ScoringError):
    pass


class IncompleteResponseError(ScoringError):
    """Required items are unanswered and the instrument has no rule for that.

    `flags` holds the safety flags that the answered items already raise: a lower bound,
    since unanswered items could raise more. They must not be dropped.
    """

    def __init__(self, message: str, *, missing: tuple[str, ...], flags: tuple[Flag, ...]):
        super().__init__(message)
        self.missing = missing
        self.flags = flags
