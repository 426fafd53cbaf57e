"""What every source shares: the error type and the raw-segment shape parsers produce."""

from __future__ import annotations

from dataclasses import dataclass


class SourceError(Exception):
    """A transcript could not be read or fetched. The message names the file or talk and the problem."""

    def __init__(self, where: str, problem: str, *, retryable: bool = False) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem
        self.retryable = retryable


@dataclass(frozen=True)
class RawSegment:
    """A segment as a parser found it, before cleaning and indexing."""

    text: str
    start: float | None = None
    end: float | None = None
    speaker: str | None = None
