from __future__ import annotations

from pipeline.components.cleaner import TranscriptCleaner, clean_text
from pipeline.models import Segment, Talk, Transcript


def test_caption_artefacts_are_removed():
    assert clean_text("[Music] >> so <i>we</i>  ship&nbsp;it [Applause]") == "so we ship it"
    assert clean_text("♪ ♪") == ""
    assert clean_text("we (laughter) agree , right ?") == "we agree, right?"
    assert clean_text("<c.colorE5E5E5>word</c>") == "word"


def test_indices_times_and_speakers_are_preserved():
    transcript = Transcript(
        talk=Talk(id="t"),
        segments=[
            Segment(index=0, text="[Music]", start=0.0, end=2.0),
            Segment(index=1, text=">> Hello   there", start=2.0, end=3.5, speaker="Ada"),
        ],
    )
    cleaned = TranscriptCleaner().run(transcript=transcript)["transcript"]
    assert [(s.index, s.text, s.start, s.end, s.speaker) for s in cleaned.segments] == [
        (0, "", 0.0, 2.0, None),
        (1, "Hello there", 2.0, 3.5, "Ada"),
    ]
    assert transcript.segments[0].text == "[Music]"  # the input is not mutated


def test_extra_noise_patterns():
    transcript = Transcript(talk=Talk(id="t"), segments=[Segment(index=0, text="so {disfmarker} we")])
    cleaned = TranscriptCleaner(extra_noise_patterns=[r"\{\w+\}"]).run(transcript=transcript)["transcript"]
    assert cleaned.segments[0].text == "so we"
