"""WebVTT (including YouTube's auto-captions) and SRT caption files → raw segments."""

from __future__ import annotations

import re
from collections.abc import Iterable

import srt
import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from pipeline.sources.base import RawSegment, SourceError
from pipeline.sources.limits import Limits, check_time
from pipeline.sources.speakers import split_speaker

_TIMING_LINE = re.compile(r"-->")
_VTT_TIME = re.compile(r"^(?:(\d{1,12}):)?(\d{1,2}):(\d{2})[.,](\d{1,3})$")
_INLINE_TAG = re.compile(r"<[^>]*>")


def _vtt_seconds(stamp: str) -> float:
    """Seconds of a WebVTT timestamp (`[hh:]mm:ss.ttt`); minutes and seconds must be below 60."""
    match = _VTT_TIME.match(stamp.strip())
    if not match:
        raise ValueError(stamp)
    hours, minutes, seconds, millis = match.groups()
    if int(minutes) >= 60 or int(seconds) >= 60:
        raise ValueError(stamp)
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis.ljust(3, "0")) / 1000


def parse_vtt(text: str, where: str) -> list[RawSegment]:
    """Cues of a WebVTT file. YouTube's rolling auto-captions (each line shown twice) are de-duplicated."""
    try:
        captions = list(webvtt.from_string(text))
    except (MalformedCaptionError, MalformedFileError) as error:
        if not text.lstrip("\ufeff").startswith("WEBVTT"):
            raise SourceError(where, "malformed WebVTT: the first line must be 'WEBVTT'") from None
        raise SourceError(where, f"malformed WebVTT ({' '.join(str(error).split())})") from None
    except (ValueError, OverflowError, RecursionError) as error:
        raise SourceError(where, f"malformed WebVTT ({type(error).__name__}: {str(error)[:80]})") from None
    timing_lines = [n for n, line in enumerate(text.splitlines(), 1) if _TIMING_LINE.search(line)]
    if not captions:
        problem = "no caption cues found" if not timing_lines else f"malformed cue timing at line {timing_lines[0]}"
        raise SourceError(where, f"malformed WebVTT: {problem}")
    if len(captions) != len(timing_lines):
        bad = _first_bad_timing_line(text, [(c.start, c.end) for c in captions])
        raise SourceError(where, f"malformed WebVTT: cue timing at line {bad} cannot be read; fix or remove that cue")
    limits = Limits.from_env(where)
    cues = []
    for line, caption in zip(timing_lines, captions, strict=True):
        try:
            start, end = _vtt_seconds(caption.start), _vtt_seconds(caption.end)
        except ValueError:
            raise SourceError(where, f"malformed WebVTT: cue timing at line {line} cannot be read") from None
        check_time(start, limits, where, f"the cue at line {line}")
        check_time(end, limits, where, f"the cue at line {line}")
        if end < start:
            problem = f"the cue at line {line} ends before it starts ({caption.start})"
            raise SourceError(where, f"malformed WebVTT: {problem}")
        lines = [_INLINE_TAG.sub("", line) for line in caption.raw_text.splitlines()]
        if caption.voice:
            lines = [f"{caption.voice.upper()}: {' '.join(lines)}"]
        cues.append((start, end, lines))
    return _merge_rolling_lines(cues)


def _first_bad_timing_line(text: str, parsed: list[tuple[str, str]]) -> int:
    """The line of the first `-->` line webvtt-py did not take as a cue: one whose timestamps we cannot read, else
    the first whose timing differs from the next cue webvtt-py returned (it skips some cues silently)."""
    timings: list[tuple[int, str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if "-->" in line:
            left, _, right = line.partition("-->")
            start, end = left.strip(), (right.split() or [""])[0]
            try:
                _vtt_seconds(start)
                _vtt_seconds(end)
            except ValueError:
                return number
            timings.append((number, start, end))
    for (number, start, end), cue in zip(timings, [*parsed, ("", "")], strict=False):
        if (_normal(start), _normal(end)) != (_normal(cue[0]), _normal(cue[1])):
            return number
    return timings[-1][0] if timings else 1


def _normal(stamp: str) -> float | None:
    try:
        return _vtt_seconds(stamp)
    except ValueError:
        return None


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
    except OverflowError:  # a time beyond what datetime.timedelta holds
        raise SourceError(where, f"malformed SRT: {_overflowing_subtitle(text)} has an impossible time") from None
    if not subtitles:
        raise SourceError(where, "malformed SRT: no subtitles found")
    limits = Limits.from_env(where)
    segments = []
    speaker: str | None = None
    for subtitle in subtitles:
        start, end = subtitle.start.total_seconds(), subtitle.end.total_seconds()
        if end < start or subtitle.proprietary.strip():
            raise SourceError(where, f"malformed SRT: timing of subtitle {subtitle.index} cannot be read")
        check_time(start, limits, where, f"subtitle {subtitle.index}")
        check_time(end, limits, where, f"subtitle {subtitle.index}")
        content = " ".join(_INLINE_TAG.sub("", subtitle.content).split())
        speaker, content = _track_speaker(content, speaker)
        segments.append(RawSegment(content, start, end, speaker))
    return segments


def _overflowing_subtitle(text: str) -> str:
    """ "the subtitle at line N": the first timing line holding a number too large for a time."""
    for number, line in enumerate(text.splitlines(), 1):
        if "-->" in line and any(len(part) > 6 for part in re.findall(r"\d+", line)):
            return f"the subtitle at line {number}"
    return "a subtitle"


def _track_speaker(text: str, current: str | None) -> tuple[str | None, str]:
    """The cue's speaker: a new label, None after a bare `>>` change mark, else the current one."""
    label, rest = split_speaker(text, allow_mixed_case=False)
    if label:
        return label, rest
    if text.lstrip().startswith(">>"):
        return None, text
    return current, text
