"""Quote verification and citation checks against the real founder-talk captions (no model needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

from pipeline.components.cleaner import TranscriptCleaner
from pipeline.components.quotes import (
    CitationChecker,
    QuoteVerifier,
    TalkText,
    check_citation,
    merge_reports,
    normalise,
    verify_quotes,
)
from pipeline.models import Citation, GroundingReport, Quote, Segment, Takeaway, Talk, Theme, Transcript
from pipeline.sources.files import load_file

DATA = Path(__file__).resolve().parents[2] / "data"

# The README's quotes with their approximate times (seconds); several cross a cue boundary.
README_QUOTES = [
    ("Your community is not your marketing department, but it will become it if you treat it well.", 651),
    ("a license change is a promise you break once and pay for forever.", 460),
    ("default alive is a state of mind before it's a spreadsheet.", 1007),
    ("if it isn't written down, it didn't get decided.", 1190),
    ("The customer who wants you to become a different company is not your customer.", 1802),
    ("scale what already works. Don't scale what you hope will work.", 1847),
]


@pytest.fixture(scope="module")
def founder() -> Transcript:
    return TranscriptCleaner().run(transcript=load_file(DATA / "founder-talk.vtt"))["transcript"]


def quote(text: str, talk_id: str | None = None) -> Quote:
    return Quote(text=text, talk_id=talk_id, segment=0)


def starts_in_segment(found: Quote, transcript: Transcript) -> bool:
    """The quote's first words are where its segment's text ends (or inside it), not in a neighbour."""
    first_words = normalise(found.text).split()[:2]
    return " ".join(first_words) in normalise(transcript.segments[found.segment].text)


def test_normalise_ignores_case_punctuation_and_apostrophes() -> None:
    assert normalise("  It's  OPEN-source, isn’t it?! ") == "its open source isnt it"
    assert normalise("Café — déjà vu") == "cafe deja vu"


@pytest.mark.parametrize(("text", "seconds"), README_QUOTES)
def test_readme_quotes_are_kept_with_the_time_of_their_first_word(founder: Transcript, text: str, seconds: int) -> None:
    verified, report = verify_quotes([quote(text)], [founder])
    assert report.quotes_kept == 1 and report.quotes_dropped == 0
    (found,) = verified
    assert found.text == text
    assert found.start == founder.segments[found.segment].start
    assert abs(found.start - seconds) <= 2
    assert starts_in_segment(found, founder)
    assert found.speaker == "Maya Lindqvist"
    assert found.talk_id == "founder-talk"
    assert found.url == f"https://www.youtube.com/watch?v=dW7fT3kQm2A&t={int(found.start)}s"


def test_a_quote_across_two_cues_records_both(founder: Transcript) -> None:
    (found,), _ = verify_quotes([quote(README_QUOTES[0][0])], [founder])
    assert (found.segment, found.last_segment) == (85, 86)


def test_a_quote_with_other_punctuation_and_case_is_kept(founder: Transcript) -> None:
    (found,), report = verify_quotes([quote("IF IT ISN'T WRITTEN DOWN -- IT DIDN'T GET DECIDED")], [founder])
    assert report.quotes_kept == 1
    assert found.segment == 159


def test_an_invented_quote_is_dropped(founder: Transcript) -> None:
    invented = "Open source is the best marketing strategy any startup could ever have, trust me."
    verified, report = verify_quotes([quote(invented)], [founder])
    assert verified == []
    assert report.quotes_dropped == 1


def test_a_slight_misquote_is_repaired_to_the_transcript_words(founder: Transcript) -> None:
    misquoted = "A license change is a promise you break once and then pay for forever"
    (found,), report = verify_quotes([quote(misquoted)], [founder])
    assert report.quotes_repaired == 1
    assert found.text == "a license change is a promise you break once and pay for forever."
    assert found.segment == 61 and found.start == founder.segments[61].start


def test_a_misquote_across_cues_is_repaired(founder: Transcript) -> None:
    misquoted = "Your community isn't your marketing department but it becomes it if you treat it well"
    (found,), report = verify_quotes([quote(misquoted)], [founder])
    assert report.quotes_repaired == 1
    assert normalise(found.text) == normalise(README_QUOTES[0][0])
    assert (found.segment, found.last_segment) == (85, 86)


def test_verifier_component_keeps_order_and_counts(founder: Transcript) -> None:
    quotes = [
        quote(README_QUOTES[1][0]),
        quote("we never used a single spreadsheet in our whole company history"),
        quote(README_QUOTES[3][0]),
    ]
    result = QuoteVerifier().run(quotes=quotes, transcript=founder)
    assert [q.segment for q in result["quotes"]] == [61, 159]
    assert result["report"] == GroundingReport(quotes_kept=2, quotes_dropped=1)


def two_speaker_talk() -> Transcript:
    talk = Talk(id="chat", speakers=["Ana", "Ben"])
    segments = [
        Segment(index=0, text="I think pricing is the hardest problem we have.", start=0.0, end=4.0, speaker="Ana"),
        Segment(index=1, text="Pricing is a message to your customers.", start=4.0, end=8.0, speaker="Ben"),
    ]
    return Transcript(talk=talk, segments=segments)


def test_words_of_two_speakers_are_not_one_quote() -> None:
    stitched = "pricing is the hardest problem we have. Pricing is a message"
    verified, report = verify_quotes([quote(stitched)], [two_speaker_talk()])
    assert verified == [] and report.quotes_dropped == 1


def test_quotes_are_checked_against_the_talk_they_name(founder: Transcript) -> None:
    text = "Pricing is a message to your customers."
    verified, _ = verify_quotes(
        [quote(text, "chat"), quote(text, "founder-talk"), quote(text)], [founder, two_speaker_talk()]
    )
    assert [(q.talk_id, q.speaker, q.segment) for q in verified] == [("chat", "Ben", 1), ("chat", "Ben", 1)]
    result = QuoteVerifier().run(quotes=[quote(text, "nowhere")], transcripts=[two_speaker_talk()])
    assert result["quotes"] == [] and result["report"].quotes_dropped == 1


def test_talk_text_maps_back_to_segments(founder: Transcript) -> None:
    text = TalkText.of(founder)
    offset = text.find(normalise("Kestrel Freight"))
    first, _ = text.original_span(offset, offset + len("kestrel freight"))
    assert text.segment_at(first) == 104


def test_citations_outside_the_talk_are_dropped_and_times_come_from_the_transcript(founder: Transcript) -> None:
    talks = {"founder-talk": founder}
    checked = check_citation(Citation(talk_id="founder-talk", first_segment=85, last_segment=86, start=1.0), talks)
    assert checked is not None and checked.start == founder.segments[85].start
    assert checked.url and checked.url.endswith("&t=651s")
    assert check_citation(Citation(talk_id="founder-talk", first_segment=10, last_segment=9), talks) is None
    assert check_citation(Citation(talk_id="founder-talk", first_segment=0, last_segment=999), talks) is None
    assert check_citation(Citation(talk_id="other", first_segment=0, last_segment=0), talks) is None


def test_citation_checker_drops_takeaways_left_without_citations(founder: Transcript) -> None:
    good = Citation(talk_id="founder-talk", first_segment=168, last_segment=168)
    bad = Citation(talk_id="founder-talk", first_segment=500, last_segment=501)
    theme = Theme(
        title="Decision log",
        takeaways=[
            Takeaway(text="Keep a decision log.", citations=[good, bad]),
            Takeaway(text="Made up.", citations=[bad]),
        ],
    )
    result = CitationChecker().run(themes=[theme], transcripts=[founder])
    (checked,) = result["themes"]
    assert [t.text for t in checked.takeaways] == ["Keep a decision log."]
    assert checked.takeaways[0].citations[0].start == founder.segments[168].start
    report = result["report"]
    assert (report.citations_checked, report.citations_dropped, report.claims_dropped) == (3, 2, 1)


def test_reports_add_up() -> None:
    merged = merge_reports(
        GroundingReport(quotes_kept=2, fallbacks=["a"]), GroundingReport(quotes_dropped=1, fallbacks=["a", "b"])
    )
    assert (merged.quotes_kept, merged.quotes_dropped, merged.fallbacks) == (2, 1, ["a", "b"])
