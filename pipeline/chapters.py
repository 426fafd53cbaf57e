"""Video chapters: read from a YouTube description, and written out from a recap's themes.

`description_chapters` finds the uploader's chapter list in a video description (lines such as `0:00 Intro`,
`12:30 - Pricing`, `1:02:03 Q&A`) and checks it the way YouTube does: times in increasing order and inside the video;
a list that breaks a rule is ignored as a whole, with a warning naming the line. A description without such lines
simply has no chapters.

`recap_chapters` turns a recap's themes into chapters (one per run of a theme, first at 0:00, each at least
`MIN_CHAPTER_SECONDS` long), and `youtube_chapter_list` / `webvtt_chapters` write them as a YouTube description list
or a WebVTT chapters file.

Hand-written because no maintained library exposes this: yt-dlp has a description-chapter parser, but as a private
method of its extractor classes, and pulling in yt-dlp for a regex is not worth its weight.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence

from pipeline.models import Chapter, TalkRecap

logger = logging.getLogger(__name__)

MIN_CHAPTER_SECONDS = 10.0  # YouTube's shortest chapter
MIN_CHAPTERS = 2  # fewer timestamp lines are mentions ("at 5:30 she shows..."), not a chapter list
_TIME = r"(?:(?P<h>\d{1,2}):)?(?P<m>\d{1,2}):(?P<s>\d{2})"
_SEPARATOR = r"\s*(?:[-–—:|•·]\s*)?"
_LEADING = re.compile(rf"^\s*(?:[-*•▶►]\s*)?[\[(]?{_TIME}[\])]?{_SEPARATOR}(?P<title>\S.*?)\s*$")
_TRAILING = re.compile(rf"^\s*(?:[-*•▶►]\s*)?(?P<title>\S.*?)\s*(?:[-–—:|•·]\s*)?[\[(]?{_TIME}[\])]?\s*$")


def _seconds(match: re.Match[str]) -> float | None:
    hours, minutes, seconds = int(match["h"] or 0), int(match["m"]), int(match["s"])
    if seconds >= 60 or (match["h"] is not None and minutes >= 60):
        return None
    return float(hours * 3600 + minutes * 60 + seconds)


def description_chapters(description: str | None, duration: float | None, where: str) -> list[Chapter]:
    """The chapter list written in a video description, or [] when there is none or it is unusable.

    Each line starting (or ending) with a time such as `0:00`, `12:30` or `1:02:03` is a chapter; the rest of the
    line is its title. The list is a block of at least two such lines in a row: the one starting at 0:00, else the
    longest (a lone time elsewhere is a mention, not a chapter). It is ignored, with a warning naming `where` and
    the line, when its times do not increase, when one cannot be read (`1:75`), or when one starts at or after the
    end of the video (`duration`, when known)."""
    runs: list[list[tuple[int, float | None, str]]] = []
    for number, line in enumerate((description or "").splitlines(), 1):
        match = _LEADING.match(line) or _TRAILING.match(line)
        title = " ".join(match["title"].split()).strip(" -–—:|") if match else ""
        if match is None or not title:
            continue
        if not runs or runs[-1][-1][0] != number - 1:
            runs.append([])  # a new block of consecutive timestamp lines
        runs[-1].append((number, _seconds(match), title[:300]))
    lists = [run for run in runs if len(run) >= MIN_CHAPTERS]
    if not lists:
        return []
    # the chapter list is the block of consecutive timestamp lines that starts at 0:00, else the longest block
    found = next((run for run in lists if run[0][1] == 0), max(lists, key=len))
    previous: float | None = None
    for number, start, _title in found:
        if start is None:
            logger.warning("%s: ignoring the description's chapters: line %d has an impossible time", where, number)
            return []
        if previous is not None and start <= previous:
            logger.warning(
                "%s: ignoring the description's chapters: they are not in time order (line %d)", where, number
            )
            return []
        if duration is not None and start >= duration:
            logger.warning(
                "%s: ignoring the description's chapters: line %d starts at %s, past the end of the video (%s)",
                where,
                number,
                clock(start),
                clock(duration),
            )
            return []
        previous = start
    return [Chapter(start=start, title=title) for _number, start, title in found if start is not None]


def clock(seconds: float, hours: bool = False) -> str:
    """`m:ss`-style time as YouTube writes it: `05:07`, `1:02:03` (always with hours when `hours`)."""
    total = int(seconds)
    if total >= 3600 or hours:
        return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"
    return f"{total // 60:02d}:{total % 60:02d}"


def chapter_spans(chapters: Sequence[Chapter], end: float | None) -> list[tuple[float, float, str]]:
    """(start, end, title) of each chapter: a chapter ends where the next begins, the last at `end` (or, when the
    end is unknown, `MIN_CHAPTER_SECONDS` after its start)."""
    spans = []
    for number, chapter in enumerate(chapters):
        stop = chapters[number + 1].start if number + 1 < len(chapters) else end
        if stop is None or stop <= chapter.start:
            stop = chapter.start + MIN_CHAPTER_SECONDS
        spans.append((chapter.start, stop, chapter.title))
    return spans


def recap_chapters(recap: TalkRecap, min_seconds: float = MIN_CHAPTER_SECONDS) -> list[Chapter]:
    """Chapters from the recap's themes: one per run of a theme, in time order, titled by the theme; the first
    starts at 0:00 and each lasts at least `min_seconds` (a shorter one joins the chapter before it). A run that
    begins less than `min_seconds` after one of the uploader's chapter starts begins there. Without times (a
    plain-text transcript) there are no chapters."""
    runs: list[tuple[float, str]] = []
    for number, theme in enumerate(recap.themes):
        title = _one_line(theme.title) or f"Theme {number + 1}"
        runs += [(span.start, title) for span in theme.spans if span.start is not None and math.isfinite(span.start)]
    uploaded = sorted(chapter.start for chapter in recap.talk.chapters)
    runs = [(_snap(start, uploaded, min_seconds), title) for start, title in runs]
    runs.sort(key=lambda run: run[0])
    ends = [span.end for theme in recap.themes for span in theme.spans if span.end is not None]
    end = recap.talk.duration or (max(ends) if ends else None)
    starts = [0.0] + [float(int(start)) for start, _title in runs[1:]]  # whole seconds, the first at 0:00
    chapters: list[Chapter] = []
    for number, (_start, title) in enumerate(runs):
        following = starts[number + 1] if number + 1 < len(runs) else end
        if following is not None and following - starts[number] < min_seconds and (chapters or number + 1 < len(runs)):
            continue  # too short: the chapter before it goes on (or, for the first, the next one starts at 0:00)
        if chapters and title == chapters[-1].title:
            continue  # the same theme again right after itself
        chapters.append(Chapter(start=starts[number] if chapters else 0.0, title=title))
    return chapters


def _snap(start: float, uploaded: list[float], within: float) -> float:
    """A theme run that begins just after one of the uploader's chapter starts (its first caption a few seconds
    in) begins at that chapter start."""
    before = [chapter for chapter in uploaded if chapter <= start]
    return before[-1] if before and start - before[-1] < within else start


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def youtube_chapter_list(chapters: Sequence[Chapter], duration: float | None = None) -> str:
    """A chapter list to paste into a YouTube description: `00:00 Intro`, one line each; with hours on every line
    when the video is an hour or longer."""
    long = max([duration or 0.0, *(chapter.start for chapter in chapters)]) >= 3600
    return "".join(f"{clock(chapter.start, hours=long)} {_one_line(chapter.title)}\n" for chapter in chapters)


def _vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, minutes, secs = millis // 3_600_000, millis % 3_600_000 // 60_000, millis % 60_000 // 1000
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis % 1000:03d}"


def _vtt_text(text: str) -> str:
    """Cue text on one line with WebVTT's reserved characters escaped (`-->` cannot then appear either)."""
    return _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webvtt_chapters(chapters: Sequence[Chapter], end: float | None) -> str:
    """A WebVTT chapters file (for `<track kind="chapters">`): one numbered cue per chapter, until the next one."""
    cues = [
        f"{number}\n{_vtt_time(start)} --> {_vtt_time(stop)}\n{_vtt_text(title)}\n"
        for number, (start, stop, title) in enumerate(chapter_spans(chapters, end), 1)
    ]
    return "WEBVTT\n\n" + "\n".join(cues)
