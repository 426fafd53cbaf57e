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
    """Cues of a WebVTT file. YouTube's rolling auto-captions (each line shown twice) are de-duplicated, and a cue
    repeating the words of the cue before (re-synced or edited captions) loses them (see `_merge_cues`)."""
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


REPEAT_MIN_WORDS = 6
"""The shortest run of words a cue may repeat from the cue before and still be taken as a caption artifact rather than
speech: a speaker saying "thank you, thank you" or "yes, yes" again is kept; real talks rarely repeat 6+ words
verbatim from one cue to the next (the samples' own genuine repeats, such as "They already know how to", are 5)."""

_NOT_WORD = re.compile(r"[\W_]+")


def _merge_rolling_lines(cues: Iterable[tuple[float, float, list[str]]]) -> list[RawSegment]:
    """One segment per WebVTT cue: YouTube's rolling lines and repeated words dropped (see `_merge_cues`)."""
    return _merge_cues(cues, rolling_lines=True)


def _merge_cues(cues: Iterable[tuple[float, float, list[str]]], *, rolling_lines: bool) -> list[RawSegment]:
    """One segment per cue, keeping only what the cue before did not already show.

    - Rolling lines (WebVTT only, `rolling_lines`): YouTube's auto-caption VTT repeats the previous line at the top
      of each cue and adds 10 ms cues that only repeat it; a line equal to one of the previous cue's lines is dropped.
    - Repeated words (WebVTT and SRT): re-synced or edited caption exports, and rolling captions whose lines were
      wrapped again, show a cue whose words (case and punctuation ignored) repeat what the previous cue showed: the
      previous cue again, cut short (`data/founder-talk.vtt` at 01:19.165), the whole of it, a stretch of it, or its
      tail followed by new words. Those repeated words are dropped when they are at least `REPEAT_MIN_WORDS` words;
      shorter repeats are kept as speech. Only a repeat at the head of a cue counts, and only of the cue just
      before (or, when that one was dropped, of the cue it repeated): words after the repeat are new and always
      kept, with the cue's own times (the repeated words were timed by the previous cue). A cue that merely starts
      like the previous one and then goes elsewhere (anaphora: "They already know how to ...") is kept whole.

    A cue left with nothing new is dropped, its time folded into the segment before. Neither rule warns: both are
    normal in caption files. An SRT subtitle that was empty to begin with stays an (empty) segment, as before.
    """
    segments: list[RawSegment] = []
    shown_lines: set[str] = set()
    shown_words: list[str] = []
    speaker: str | None = None
    for start, end, lines in cues:
        stripped = [" ".join(line.split()) for line in lines]
        fresh = [line for line in stripped if line and not (rolling_lines and line in shown_lines)]
        text = _without_repeated_head(" ".join(fresh), shown_words)
        shown_lines = {line for line in stripped if line}
        if not text and (fresh or rolling_lines):
            _fold_into_last(segments, end)
            continue  # what this cue showed was all shown before: the words to compare with stay those
        shown_words = _words(" ".join(stripped))
        speaker, text = _track_speaker(text, speaker)
        segments.append(RawSegment(text, start, end, speaker))
    return segments


def drop_repeated_words(pieces: Iterable[RawSegment]) -> list[RawSegment]:
    """Caption pieces that come as a list rather than a caption file (youtube-transcript-api's `{text, start,
    duration}`, fetched or read from `.json`) with the repeated-words rule of `_merge_cues`: a piece repeating
    `REPEAT_MIN_WORDS` or more words of the piece before (cut short, whole, or its tail) loses them, and is dropped,
    its time folded into the piece before, when nothing new is left. Other pieces are returned as given."""
    kept: list[RawSegment] = []
    shown: list[str] = []
    for piece in pieces:
        text = _without_repeated_head(piece.text, shown)
        if not text and piece.text.strip():
            _fold_into_last(kept, piece.end)
            continue  # nothing new: the words to compare with stay those of the piece it repeated
        shown = _words(piece.text)
        kept.append(piece if text == piece.text else RawSegment(text, piece.start, piece.end, piece.speaker))
    return kept


def _fold_into_last(segments: list[RawSegment], end: float | None) -> None:
    """A dropped cue's time folded into the segment before: that segment now ends when the cue did, if later."""
    if segments and end is not None and end > (segments[-1].end or 0):
        last = segments[-1]
        segments[-1] = RawSegment(last.text, last.start, end, last.speaker)


def _words(text: str) -> list[str]:
    """The words of a caption as compared for repeats: lower case, punctuation and symbols removed."""
    return [word for word in (_NOT_WORD.sub("", token).lower() for token in text.split()) if word]


def _without_repeated_head(text: str, shown: list[str]) -> str:
    """`text` without its leading words that repeat `shown` (the previous cue's words), when that repeat is at least
    `REPEAT_MIN_WORDS` words: the whole text if all its words are a run of `shown`, else the longest head of it equal
    to the tail of `shown`. Tokens are removed up to and including the last repeated word; nothing else changes."""
    tokens = text.split()
    normal = [_NOT_WORD.sub("", token).lower() for token in tokens]
    words = [word for word in normal if word]
    if len(words) < REPEAT_MIN_WORDS or len(shown) < REPEAT_MIN_WORDS:
        return text
    if f" {' '.join(words)} " in f" {' '.join(shown)} ":
        return ""
    repeated = _overlap(shown, words)
    if repeated < REPEAT_MIN_WORDS:
        return text
    seen = 0
    for position, word in enumerate(normal):
        seen += bool(word)
        if seen == repeated:
            return " ".join(tokens[position + 1 :])
    return ""  # not reached: `repeated` is at most the number of words


def _overlap(before: list[str], after: list[str]) -> int:
    """The length of the longest head of `after` that is also the tail of `before`, in linear time: the
    Knuth-Morris-Pratt failure function of `after`, run over `before`. Written here because difflib's matcher finds
    the longest common block anywhere (quadratic, and not anchored to the head and tail)."""
    failure = [0] * len(after)
    matched = 0
    for position in range(1, len(after)):
        while matched and after[position] != after[matched]:
            matched = failure[matched - 1]
        if after[position] == after[matched]:
            matched += 1
        failure[position] = matched
    matched = 0
    for word in before:
        while matched and (matched == len(after) or word != after[matched]):
            matched = failure[matched - 1]
        if matched < len(after) and word == after[matched]:
            matched += 1
    return matched


def parse_srt(text: str, where: str) -> list[RawSegment]:
    """Subtitles of an SRT file, in file order; a subtitle repeating the words of the one before loses them, and is
    dropped (its time folded into the segment before) when nothing new is left (see `_merge_cues`)."""
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
    cues = []
    for subtitle in subtitles:
        start, end = subtitle.start.total_seconds(), subtitle.end.total_seconds()
        if end < start or subtitle.proprietary.strip():
            raise SourceError(where, f"malformed SRT: timing of subtitle {subtitle.index} cannot be read")
        check_time(start, limits, where, f"subtitle {subtitle.index}")
        check_time(end, limits, where, f"subtitle {subtitle.index}")
        cues.append((start, end, [_INLINE_TAG.sub("", subtitle.content)]))
    return _merge_cues(cues, rolling_lines=False)


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
