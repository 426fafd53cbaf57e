"""WebVTT (including YouTube's auto-captions) and SRT caption files → raw segments."""

from __future__ import annotations

import re
from collections.abc import Iterable

import srt
import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from pipeline.sources.base import RawSegment, SourceError
from pipeline.sources.speakers import split_speaker

_TIMING_LINE = re.compile(r"-->")
_VTT_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})$")
_INLINE_TAG = re.compile(r"<[^>]*>")


def _vtt_seconds(stamp: str) -> float:
    match = _VTT_TIME.match(stamp.strip())
    if not match:
        raise ValueError(stamp)
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis.ljust(3, "0")) / 1000


def parse_vtt(text: str, where: str) -> list[RawSegment]:
    """Cues of a WebVTT file. YouTube's rolling auto-captions (each line shown twice) are de-duplicated."""
    try:
        captions = list(webvtt.from_string(text))
    except (MalformedFileError, MalformedCaptionError) as error:
        raise SourceError(where, f"malformed WebVTT ({error})") from None
    timing_lines = [n for n, line in enumerate(text.splitlines(), 1) if _TIMING_LINE.search(line)]
    if not captions:
        problem = "no caption cues found" if not timing_lines else f"malformed cue timing at line {timing_lines[0]}"
        raise SourceError(where, f"malformed WebVTT: {problem}")
    if len(captions) != len(timing_lines):
        bad = _first_bad_timing_line(text)
        raise SourceError(where, f"malformed WebVTT: cue timing at line {bad} cannot be read")
    cues = []
    for number, caption in enumerate(captions, 1):
        start, end = _vtt_seconds(caption.start), _vtt_seconds(caption.end)
        if end < start:
            raise SourceError(where, f"malformed WebVTT: cue {number} ends before it starts ({caption.start})")
        lines = [_INLINE_TAG.sub("", line) for line in caption.raw_text.splitlines()]
        if caption.voice:
            lines = [f"{caption.voice.upper()}: {' '.join(lines)}"]
        cues.append((start, end, lines))
    return _merge_rolling_lines(cues)


def _first_bad_timing_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if "-->" in line:
            left, _, right = line.partition("-->")
            try:
                _vtt_seconds(left)
                _vtt_seconds(right.split()[0] if right.split() else "")
            except ValueError:
                return number
    return 0


def _merge_rolling_lines(cues: Iterable[tuple[float, float, list[str]]]) -> list[RawSegment]:
    """One segment per cue, keeping only lines not already shown by the cue before.

    YouTube's auto-caption VTT repeats the previous line at the top of each cue and adds 10 ms cues that
    only repeat it; a line equal to one of the previous cue's lines is dropped, and a cue left with nothing
    new is dropped, its time folded into the segment before.
    """
    segments: list[RawSegment] = []
    previous_lines: set[str] = set()
    speaker: str | None = None
    for start, end, lines in cues:
        stripped = [" ".join(line.split()) for line in lines]
        fresh = [line for line in stripped if line and line not in previous_lines]
        previous_lines = {line for line in stripped if line}
        if not fresh:
            if segments and end > (segments[-1].end or 0):
                last = segments[-1]
                segments[-1] = RawSegment(last.text, last.start, end, last.speaker)
            continue
        speaker, text = _track_speaker(" ".join(fresh), speaker)
        segments.append(RawSegment(text, start, end, speaker))
    return segments


def parse_srt(text: str, where: str) -> list[RawSegment]:
    """Subtitles of an SRT file, in file order."""
    try:
        subtitles = list(srt.parse(text, ignore_errors=False))
    except (srt.SRTParseError, ValueError) as error:
        line = text.count("\n", 0, getattr(error, "expected_start", 0)) + 1
        raise SourceError(where, f"malformed SRT near line {line}") from None
    if not subtitles:
        raise SourceError(where, "malformed SRT: no subtitles found")
    segments = []
    speaker: str | None = None
    for subtitle in subtitles:
        start, end = subtitle.start.total_seconds(), subtitle.end.total_seconds()
        if end < start or subtitle.proprietary.strip():
            raise SourceError(where, f"malformed SRT: timing of subtitle {subtitle.index} cannot be read")
        content = " ".join(_INLINE_TAG.sub("", subtitle.content).split())
        speaker, content = _track_speaker(content, speaker)
        segments.append(RawSegment(content, start, end, speaker))
    return segments


def _track_speaker(text: str, current: str | None) -> tuple[str | None, str]:
    """The cue's speaker: a new label, None after a bare `>>` change mark, else the current one."""
    label, rest = split_speaker(text, allow_mixed_case=False)
    if label:
        return label, rest
    if text.lstrip().startswith(">>"):
        return None, text
    return current, text
