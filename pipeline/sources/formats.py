"""youtube-transcript-api JSON, the canonical transcript JSON, and plain-text speaker turns → segments."""

from __future__ import annotations

import json
import math
import re

from pydantic import ValidationError

from pipeline.models import Transcript
from pipeline.sources.base import RawSegment, SourceError
from pipeline.sources.captions import drop_repeated_words
from pipeline.sources.limits import Limits, check_time
from pipeline.sources.speakers import split_speaker

_TIMESTAMP = re.compile(r"^\s*\[(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:[.,]\d+)?\]\s*")


def load_json(text: str, where: str) -> object:
    """`json.loads` with one-line errors: the position of a syntax error; absurd nesting; huge numbers."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SourceError(where, f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    except RecursionError:
        raise SourceError(where, "JSON nested too deeply to be a transcript") from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise SourceError(where, f"invalid JSON ({' '.join(str(error).split())[:120]})") from None


def parse_json(text: str, where: str) -> list[RawSegment] | Transcript:
    """A youtube-transcript-api list of `{text, start, duration}` (an entry repeating the words of the one before
    loses them: `drop_repeated_words`), or a canonical `Transcript` object."""
    data = load_json(text, where)
    if isinstance(data, dict) and "segments" in data:
        try:
            return Transcript.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            place = ".".join(str(part) for part in first["loc"])
            raise SourceError(where, f"not a valid transcript: {place}: {first['msg']}") from None
    if isinstance(data, dict) and isinstance(data.get("snippets"), list):
        data = data["snippets"]
    if not isinstance(data, list):
        raise SourceError(where, "JSON is neither a YouTube transcript list nor a talks transcript object")
    if not data:
        raise SourceError(where, "transcript JSON has no entries")
    limits = Limits.from_env(where)
    segments = []
    for number, item in enumerate(data):
        what = f"entry {number}"
        try:
            start = _number(item["start"])
            duration = _number(item.get("duration", 0.0))
            text_value = item["text"]
        except (TypeError, KeyError, ValueError, AttributeError):
            raise SourceError(where, f"{what} is not a {{text, start, duration}} object") from None
        if not isinstance(text_value, str):
            raise SourceError(where, f"{what} has a 'text' that is not a string")
        check_time(start, limits, where, f"{what} 'start'")
        check_time(duration, limits, where, f"{what} 'duration'")
        end = check_time(start + duration, limits, where, f"{what} 'start' + 'duration'")
        segments.append(RawSegment(text_value, start, end, None))
    return drop_repeated_words(segments)


def _number(value: object) -> float:
    """A JSON number (or numeric string) as a float; booleans and other types are not times."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(value)
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float
        return math.inf


def parse_turns(text: str, where: str) -> list[RawSegment]:
    """One turn a line, `[hh:mm:ss] Speaker: text`; timestamp and speaker are optional.

    A line without a speaker continues the previous speaker's turn as its own segment. A segment ends
    where the next timestamped one starts; the last one's end is unknown.
    """
    segments: list[RawSegment] = []
    speaker: str | None = None
    latest = 0.0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        start = None
        match = _TIMESTAMP.match(line)
        if match:
            hours, minutes, seconds = match.groups()
            start = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
            if start < latest:
                raise SourceError(where, f"timestamp at line {number} is earlier than the one before it")
            latest = start
            line = line[match.end() :]
        label, content = split_speaker(line.strip(), allow_mixed_case=True)
        speaker = label or speaker
        segments.append(RawSegment(content, float(start) if start is not None else None, None, speaker))
    if not segments:
        raise SourceError(where, "file has no text lines")
    return _close_turn_times(segments)


def _close_turn_times(segments: list[RawSegment]) -> list[RawSegment]:
    """Each segment ends where the next timestamped one starts (one pass from the end: linear in the turns)."""
    closed = []
    following: float | None = None
    for segment in reversed(segments):
        closed.append(RawSegment(segment.text, segment.start, following, segment.speaker))
        if segment.start is not None:
            following = segment.start
    return closed[::-1]
