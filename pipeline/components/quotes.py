"""Grounding: quotes checked word for word against the transcript, and citations checked against its segments.

A quote whose normalised text (case, punctuation and spacing ignored) is in the transcript is kept; one that
nearly matches (a fuzzy partial match over consecutive segments) is replaced by the transcript's own words and
counted as repaired; anything else is dropped. Either way its segment, time, speaker and link come from the
transcript, never from whoever proposed the quote. Used by the extractive recap and by any generating backend.
"""

from __future__ import annotations

import bisect
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from haystack import component
from rapidfuzz import fuzz

from pipeline.models import Citation, GroundingReport, Quote, Takeaway, Theme, Transcript

Outcome = Literal["kept", "repaired", "dropped"]
_CLOSING = ".!?…\"'”’)"


def normalise(text: str) -> str:
    """Lower case letters and digits, one space between words; apostrophes vanish ("don't" → "dont") and every
    other punctuation mark separates words ("open-source" → "open source")."""
    return _normalise_with_map(text)[0]


def _normalise_with_map(text: str) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, the index of the original character."""
    out: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        if char in "'’`":
            continue
        folded = unicodedata.normalize("NFKD", char)
        base = "".join(c for c in folded if not unicodedata.combining(c)).lower()
        if base and base.isalnum():
            out.append(base[0])
            where.append(index)
        elif out and out[-1] != " ":
            out.append(" ")
            where.append(index)
    while out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where


@dataclass
class TalkText:
    """A transcript's segments joined by spaces, normalised, with maps back to characters and segments."""

    transcript: Transcript
    original: str
    normal: str
    to_original: list[int]
    segment_starts: list[int]  # offset in `original` where each listed segment begins
    segment_indices: list[int]  # the segment index of each listed (non-empty) segment

    @classmethod
    def of(cls, transcript: Transcript) -> TalkText:
        original, starts, indices = "", [], []
        for segment in transcript.segments:
            text = " ".join(segment.text.split())
            if not text:
                continue
            starts.append(len(original))
            indices.append(segment.index)
            original += text + " "
        normal, where = _normalise_with_map(original)
        return cls(transcript, original, normal, where, starts, indices)

    def segment_at(self, offset: int) -> int:
        """Index of the segment holding character `offset` of `original`."""
        return self.segment_indices[max(0, bisect.bisect_right(self.segment_starts, offset) - 1)]

    def find(self, needle: str) -> int:
        """Offset in `normal` of the first whole-word occurrence of a normalised needle, or -1."""
        start = self.normal.find(needle)
        while start >= 0:
            end = start + len(needle)
            if (start == 0 or self.normal[start - 1] == " ") and (end == len(self.normal) or self.normal[end] == " "):
                return start
            start = self.normal.find(needle, start + 1)
        return -1

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original characters behind normal[start:end], with closing punctuation right after kept."""
        first = self.to_original[start]
        last = self.to_original[end - 1] + 1
        while last < len(self.original) and self.original[last] in _CLOSING:
            last += 1
        return first, last


def _word_bounds(normal: str, start: int, end: int, slack: int) -> tuple[list[int], list[int]]:
    """Word starts and word ends of `normal` within `slack` words of [start, end)."""
    starts = [0] + [i + 1 for i, c in enumerate(normal) if c == " "]
    ends = [i for i, c in enumerate(normal) if c == " "] + [len(normal)]
    s = bisect.bisect_right(starts, start) - 1
    e = bisect.bisect_left(ends, end)
    return starts[max(0, s - slack) : s + slack + 1], ends[max(0, e - slack) : e + slack + 1]


def locate(needle: str, text: TalkText, min_score: float) -> tuple[int, int, bool] | None:
    """(start, end, exact) of a normalised needle in `text.normal`: exact, else the best fuzzy match of whole
    words scoring at least `min_score` (partial ratio to find it, then ratio on word-aligned edges)."""
    exact = text.find(needle)
    if exact >= 0:
        return exact, exact + len(needle), True
    if not text.normal:
        return None
    found = fuzz.partial_ratio_alignment(needle, text.normal, score_cutoff=min_score)
    if found is None:
        return None
    starts, ends = _word_bounds(text.normal, found.dest_start, found.dest_end, slack=3)
    best: tuple[float, int, int] | None = None
    for start in starts:
        for end in ends:
            if end - start < len(needle) // 2:
                continue
            score = fuzz.ratio(needle, text.normal[start:end])
            if best is None or score > best[0]:
                best = (score, start, end)
    if best is None or best[0] < min_score:
        return None
    return best[1], best[2], False


def verify_quote(
    quote: Quote, text: TalkText, min_score: float = 90.0, min_words: int = 3
) -> tuple[Quote | None, Outcome]:
    """The quote grounded in one transcript (see module doc), or None and "dropped"."""
    needle = normalise(quote.text)
    if len(needle.split()) < min_words:
        return None, "dropped"
    found = locate(needle, text, min_score)
    if found is None:
        return None, "dropped"
    start, end, exact = found
    first, last = text.original_span(start, end)
    transcript = text.transcript
    segment, last_segment = text.segment_at(first), text.segment_at(last - 1)
    speakers = {s.speaker for s in transcript.segments[segment : last_segment + 1] if s.speaker}
    if len(speakers) > 1:  # words of two people stitched together are not a quote
        return None, "dropped"
    talk = transcript.talk
    opening = transcript.segments[segment]
    speaker = opening.speaker or (talk.speakers[0] if len(talk.speakers) == 1 else quote.speaker)
    grounded = quote.model_copy(
        update={
            "text": quote.text.strip() if exact else text.original[first:last].strip(),
            "talk_id": talk.id,
            "segment": segment,
            "last_segment": last_segment,
            "start": opening.start,
            "speaker": speaker,
            "url": talk.url_at(opening.start),
        }
    )
    return grounded, "kept" if exact else "repaired"


def verify_quotes(
    quotes: list[Quote], transcripts: list[Transcript], min_score: float = 90.0, min_words: int = 3
) -> tuple[list[Quote], GroundingReport]:
    """Each quote checked against its talk (`quote.talk_id`), or against every transcript when it names none."""
    texts = {t.talk.id: TalkText.of(t) for t in transcripts}
    report = GroundingReport()
    verified: list[Quote] = []
    for quote in quotes:
        candidates = [texts[quote.talk_id]] if quote.talk_id in texts else list(texts.values())
        if quote.talk_id and quote.talk_id not in texts:
            candidates = []
        outcome: Outcome = "dropped"
        result = None
        for text in candidates:
            result, outcome = verify_quote(quote, text, min_score, min_words)
            if outcome == "kept":
                break
        if result is None:
            report.quotes_dropped += 1
            continue
        verified.append(result)
        if outcome == "kept":
            report.quotes_kept += 1
        else:
            report.quotes_repaired += 1
    return verified, report


def check_citation(citation: Citation, transcripts: dict[str, Transcript]) -> Citation | None:
    """The citation with its time and link taken from the transcript, or None when its talk or segment range
    does not exist."""
    transcript = transcripts.get(citation.talk_id)
    if transcript is None or not 0 <= citation.first_segment <= citation.last_segment < len(transcript.segments):
        return None
    start = transcript.segments[citation.first_segment].start
    return citation.model_copy(update={"start": start, "url": transcript.talk.url_at(start)})


def check_takeaways(
    takeaways: list[Takeaway], transcripts: dict[str, Transcript], drop_uncited: bool = True
) -> tuple[list[Takeaway], GroundingReport]:
    report = GroundingReport()
    kept: list[Takeaway] = []
    for takeaway in takeaways:
        citations = []
        for citation in takeaway.citations:
            report.citations_checked += 1
            checked = check_citation(citation, transcripts)
            if checked is None:
                report.citations_dropped += 1
            else:
                citations.append(checked)
        if citations or not drop_uncited:
            kept.append(takeaway.model_copy(update={"citations": citations}))
        else:
            report.claims_dropped += 1
    return kept, report


def merge_reports(*reports: GroundingReport) -> GroundingReport:
    """Counts added up; fallbacks listed once each, in order."""
    merged = GroundingReport()
    for report in reports:
        for name in GroundingReport.model_fields:
            ours, theirs = getattr(merged, name), getattr(report, name)
            if isinstance(ours, list):
                setattr(merged, name, list(dict.fromkeys([*ours, *theirs])))
            elif isinstance(ours, int | float):
                setattr(merged, name, ours + theirs)
    return merged


@component
class QuoteVerifier:
    """Keeps, repairs or drops each quote against the transcript(s); outputs the grounded quotes, in the order
    given, and the counts.

    Usage example:
    ```python
    from pipeline.components.quotes import QuoteVerifier
    from pipeline.models import Quote, Segment, Talk, Transcript

    transcript = Transcript(
        talk=Talk(id="demo"),
        segments=[Segment(index=0, text="A permissive licence is not a gift, it is how you get contributors.")],
    )
    quotes = [
        Quote(text="a permissive license is not a gift", segment=0),  # near: repaired to the transcript's words
        Quote(text="We never had a licence problem.", segment=0),  # not said: dropped
    ]
    result = QuoteVerifier().run(quotes=quotes, transcript=transcript)
    print([quote.text for quote in result["quotes"]])  # ['A permissive licence is not a gift']
    print(result["report"].quotes_repaired, result["report"].quotes_dropped)  # 1 1
    ```
    """

    def __init__(self, min_score: float = 90.0, min_words: int = 3) -> None:
        """
        :param min_score: fuzzy score (0-100) a near match needs to be repaired rather than dropped.
        :param min_words: shorter quotes are dropped (too short to pin to one place).
        """
        if not 0 < min_score <= 100:
            raise ValueError("min_score must be in (0, 100]")
        self.min_score = min_score
        self.min_words = min_words

    @component.output_types(quotes=list[Quote], report=GroundingReport)
    def run(
        self, quotes: list[Quote], transcript: Transcript | None = None, transcripts: list[Transcript] | None = None
    ) -> dict[str, Any]:
        """
        :param quotes: the candidate quotes (an LLM's or `QuotePicker`'s).
        :param transcript: the talk the quotes are from; or `transcripts`, matched by `Quote.talk_id`.
        :returns: `quotes`, those kept (repaired to the transcript's words where needed), and `report`, the counts.
        """
        pool = [*([transcript] if transcript else []), *(transcripts or [])]
        verified, report = verify_quotes(quotes, pool, self.min_score, self.min_words)
        return {"quotes": verified, "report": report}


@component
class CitationChecker:
    """Drops takeaway citations whose talk or segment range does not exist (and, by default, takeaways left with
    none); the rest get their start time and link from the transcript.

    Usage example:
    ```python
    from pipeline.components.quotes import CitationChecker
    from pipeline.models import Citation, Segment, Takeaway, Talk, Theme, Transcript

    transcript = Transcript(
        talk=Talk(id="demo", youtube_id="dQw4w9WgXcQ"),
        segments=[Segment(index=0, text="We picked Apache.", start=12.0, end=15.0)],
    )
    theme = Theme(
        title="Licence",
        takeaways=[
            Takeaway(text="They picked Apache.", citations=[Citation(talk_id="demo", first_segment=0, last_segment=0)]),
            Takeaway(text="Made up.", citations=[Citation(talk_id="demo", first_segment=7, last_segment=9)]),
        ],
    )
    result = CitationChecker().run(themes=[theme], transcripts=[transcript])
    print(result["themes"][0].takeaways[0].citations[0].url)  # https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=12s
    print(result["report"].citations_dropped, result["report"].claims_dropped)  # 1 1
    ```
    """

    def __init__(self, drop_uncited: bool = True) -> None:
        self.drop_uncited = drop_uncited

    @component.output_types(themes=list[Theme], report=GroundingReport)
    def run(self, themes: list[Theme], transcripts: list[Transcript]) -> dict[str, Any]:
        """
        :param themes: the themes whose takeaways' citations are checked.
        :param transcripts: the talks cited.
        :returns: `themes`, copies with the checked takeaways, and `report`, the counts.
        """
        by_id = {t.talk.id: t for t in transcripts}
        out, reports = [], []
        for theme in themes:
            takeaways, report = check_takeaways(theme.takeaways, by_id, self.drop_uncited)
            out.append(theme.model_copy(update={"takeaways": takeaways}))
            reports.append(report)
        return {"themes": out, "report": merge_reports(*reports)}
