"""youtube-transcript-api JSON, the canonical transcript JSON, and plain-text speaker turns → segments."""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from pipeline.models import Transcript
from pipeline.sources.base import RawSegment, SourceError
from pipeline.sources.speakers import split_speaker

_TIMESTAMP = re.compile(r"^\s*\[(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:[.,]\d+)?\]\s*")


def parse_json(text: str, where: str) -> list[RawSegment] | Transcript:
    """A youtube-transcript-api list of `{text, start, duration}`, or a canonical `Transcript` object."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SourceError(where, f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
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
    segments = []
    for number, item in enumerate(data):
        try:
            start = float(item["start"])
            duration = float(item.get("duration", 0.0))
            text_value = item["text"]
        except (TypeError, KeyError, ValueError):
            raise SourceError(where, f"entry {number} is not a {{text, start, duration}} object") from None
        if not isinstance(text_value, str) or start < 0 or duration < 0:
            raise SourceError(where, f"entry {number} has a bad text, start or duration")
        segments.append(RawSegment(text_value, start, start + duration, None))
    return segments


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
    closed = []
    for position, segment in enumerate(segments):
        later = (s.start for s in segments[position + 1 :] if s.start is not None)
        end = next(later, None)
        closed.append(RawSegment(segment.text, segment.start, end, segment.speaker))
    return closed
