"""How much one input may cost: file size, talk length (hours and words), and segment size.

Every source goes through these bounds, so one huge or hostile input is refused (or split) in bounded work and
never starves the rest of a run. The caps are read from the environment when an input is read:

- `TALKS_MAX_FILE_MB` (default 20): a larger transcript file is refused before it is read;
- `TALKS_MAX_HOURS` (default 24): a cue, entry or turn starting or ending later than this is refused;
- `TALKS_MAX_WORDS` (default 300000, about 30 hours of speech): a longer talk is refused.

Segments longer than `SEGMENT_WORDS` words or `SEGMENT_CHARS` characters are split at word boundaries (a
single-line transcript becomes many segments, so no chunk outgrows the chunk size), and a "word" longer than
`WORD_CHARS` characters is cut into pieces of that length.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from pipeline.sources.base import SourceError

SEGMENT_WORDS = 100
SEGMENT_CHARS = 1000
WORD_CHARS = 100


@dataclass(frozen=True)
class Limits:
    max_file_mb: float = 20.0
    max_hours: float = 24.0
    max_words: int = 300_000

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1_000_000)

    @property
    def max_seconds(self) -> float:
        return self.max_hours * 3600.0

    @classmethod
    def from_env(cls, where: str = "environment") -> Limits:
        """The defaults, with `TALKS_MAX_FILE_MB`, `TALKS_MAX_HOURS` and `TALKS_MAX_WORDS` where set."""
        values: dict[str, float] = {}
        for name, field, kind in (
            ("TALKS_MAX_FILE_MB", "max_file_mb", float),
            ("TALKS_MAX_HOURS", "max_hours", float),
            ("TALKS_MAX_WORDS", "max_words", int),
        ):
            raw = os.environ.get(name, "").strip()
            if not raw:
                continue
            try:
                value = kind(raw)
            except ValueError:
                value = -1
            if not math.isfinite(value) or value <= 0:
                raise SourceError(where, f"{name}={raw!r} is not a positive number")
            values[field] = value
        return cls(**values)  # type: ignore[arg-type]


def check_time(value: float, limits: Limits, where: str, what: str) -> float:
    """`value` (seconds) when it is finite, not negative and within the talk-length cap; else a `SourceError`
    naming `what` (e.g. "entry 3" or "cue at line 12")."""
    if not math.isfinite(value):
        raise SourceError(where, f"{what} has a time that is not a number ({value}); fix or remove it")
    if value < 0:
        raise SourceError(where, f"{what} has a negative time ({value:g} s); fix or remove it")
    if value > limits.max_seconds:
        raise SourceError(
            where,
            f"{what} has a time of {value:.4g} s, beyond the {limits.max_hours:g} h limit "
            "(fix the time, or raise TALKS_MAX_HOURS)",
        )
    return value
