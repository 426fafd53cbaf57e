"""Chapters: read from descriptions, respected by the theme segmentation, offered as theme titles, and exported as a
YouTube chapter list and a WebVTT chapters file (read back with webvtt-py). Synthetic embeddings: no model needed."""

from __future__ import annotations

import html
import itertools
import logging
import os

import numpy as np
import pytest
import webvtt

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

from haystack import Document

from pipeline.chapters import description_chapters, recap_chapters, webvtt_chapters, youtube_chapter_list
from pipeline.components.chapter_titles import ChapterTitler
from pipeline.components.segmenter import ThemeSegmenter
from pipeline.models import Chapter, Segment, Span, Talk, TalkRecap, Theme, Transcript
from pipeline.render import render

# -- reading a description -----------------------------------------------------------------------------------------


def titles(chapters: list[Chapter]) -> list[tuple[float, str]]:
    return [(chapter.start, chapter.title) for chapter in chapters]


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("0:00 Intro\n1:05 Pricing\n", [(0, "Intro"), (65, "Pricing")]),
        ("00:00 - Intro\n01:05 – Pricing\n1:02:03 | Q&A", [(0, "Intro"), (65, "Pricing"), (3723, "Q&A")]),
        ("[0:00] Intro\n(1:05) Pricing", [(0, "Intro"), (65, "Pricing")]),
        ("- 0:00 Intro\n• 1:05: Pricing", [(0, "Intro"), (65, "Pricing")]),
        ("Intro 0:00\nPricing - 1:05", [(0, "Intro"), (65, "Pricing")]),
        ("Intro\n\nwatch at 5:30 for the demo\n\nbye", []),  # one time is a mention, not a chapter list
        ("", []),
        (None, []),
        # the block starting at 0:00 is the list; the lone time in the links below is not part of it
        ("Links:\n0:00 Intro\n2:00 Demo\n\nslides (updated 12:00)\nrepo 13:00", [(0, "Intro"), (120, "Demo")]),
    ],
)
def test_description_chapters(description: str | None, expected: list) -> None:
    assert titles(description_chapters(description, 3800.0, "youtube:x")) == expected


@pytest.mark.parametrize(
    ("description", "problem"),
    [
        ("0:00 Intro\n3:00 B\n2:00 C", "they are not in time order (line 3)"),
        ("0:00 Intro\n3:00 B\n3:00 C", "they are not in time order (line 3)"),
        ("0:00 Intro\n3:00 B\n12:00 C", "line 3 starts at 12:00, past the end of the video (10:00)"),
        ("0:00 Intro\n10:00 Outro", "line 2 starts at 10:00, past the end of the video (10:00)"),
        ("0:00 Intro\n3:75 B", "line 2 has an impossible time"),
    ],
)
def test_chapters_with_bad_times_are_ignored_with_one_warning(
    description: str, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pipeline.chapters"):
        assert description_chapters(description, 600.0, "youtube:abc") == []
    assert [record.getMessage() for record in caplog.records] == [
        f"youtube:abc: ignoring the description's chapters: {problem}"
    ]


def test_without_a_known_length_only_the_order_is_checked() -> None:
    assert titles(description_chapters("0:00 A\n99:00 B", None, "x")) == [(0, "A"), (5940, "B")]


# -- exporting -----------------------------------------------------------------------------------------------------


def span(start: float, end: float) -> Span:
    return Span(talk_id="t", first_segment=0, last_segment=1, start=start, end=end)


def recap_with(spans: dict[str, list[tuple[float, float]]], duration: float | None = 600.0) -> TalkRecap:
    themes = [Theme(title=title, spans=[span(*s) for s in runs], talk_ids=["t"]) for title, runs in spans.items()]
    return TalkRecap(talk=Talk(id="t", duration=duration), overview="x", themes=themes)


def test_recap_chapters_follow_the_themes_spans() -> None:
    recap = recap_with({"Pricing": [(12.4, 200.0), (420.0, 600.0)], "Seats & <usage>": [(200.0, 420.0)]})

    assert titles(recap_chapters(recap)) == [(0, "Pricing"), (200, "Seats & <usage>"), (420, "Pricing")]


def test_recap_chapters_are_at_least_ten_seconds() -> None:
    recap = recap_with({"A": [(0.0, 100.0)], "B": [(100.0, 104.0)], "C": [(104.0, 595.0)], "D": [(595.0, 600.0)]})

    chapters = recap_chapters(recap)

    assert titles(chapters) == [(0, "A"), (104, "C")]  # B (4 s) and D (the last 5 s) join the chapter before them
    starts = [c.start for c in chapters] + [600.0]
    assert all(b - a >= 10 for a, b in itertools.pairwise(starts))


def test_youtube_chapter_list() -> None:
    recap = recap_with({"Intro": [(0.0, 65.0)], "Pricing": [(65.0, 600.0)]})

    assert render(recap, "chapters") == "00:00 Intro\n01:05 Pricing\n"
    long = recap_with({"Intro": [(0.0, 65.0)], "Q&A": [(3725.0, 4000.0)]}, duration=4000.0)
    assert render(long, "chapters") == "0:00:00 Intro\n1:02:05 Q&A\n"  # hours on every line of a long video


def test_webvtt_chapters_read_back_with_webvtt_py() -> None:
    recap = recap_with({"Intro --> <b>": [(0.0, 65.5)], "Pricing & seats": [(65.5, 600.0)]})

    text = render(recap, "vtt-chapters")
    cues = list(webvtt.from_string(text))

    assert text.startswith("WEBVTT\n\n")
    assert [(c.identifier, c.start_in_seconds, c.end_in_seconds) for c in cues] == [("1", 0, 65), ("2", 65, 600)]
    assert [html.unescape(c.text) for c in cues] == ["Intro --> <b>", "Pricing & seats"]
    assert "<b>" not in text and "-->" not in text.split("\n")[4]  # escaped: the title cannot end the cue


def test_webvtt_chapters_without_a_known_end() -> None:
    chapters = [Chapter(start=0, title="A"), Chapter(start=30, title="B")]
    cues = list(webvtt.from_string(webvtt_chapters(chapters, None)))
    assert [(c.start, c.end) for c in cues] == [("00:00:00.000", "00:00:30.000"), ("00:00:30.000", "00:00:40.000")]
    assert youtube_chapter_list(chapters) == "00:00 A\n00:30 B\n"


# -- segmentation and titles ---------------------------------------------------------------------------------------

DIM = 16


def topic(number: int, rng: np.random.Generator) -> list[float]:
    vector = np.zeros(DIM)
    vector[number] = 1.0
    vector += rng.normal(0, 0.05, DIM)
    return list(vector / np.linalg.norm(vector))


def talk_of(topics: list[int], chapters: list[Chapter], seconds: float = 10.0) -> tuple[Transcript, list[Document]]:
    """One 20-word sentence (and segment) every `seconds` per entry of `topics`, embedded near that topic's axis."""
    rng = np.random.default_rng(7)
    talk = Talk(id="t", chapters=chapters)
    segments = [
        Segment(index=i, text=" ".join(["word"] * 20), start=i * seconds, end=(i + 1) * seconds)
        for i in range(len(topics))
    ]
    documents = [
        Document(
            id=f"t:s{i}",
            content=segments[i].text,
            embedding=topic(t, rng),
            meta={
                "talk_id": "t",
                "position": i,
                "words": 20,
                "start": i * seconds,
                "end": (i + 1) * seconds,
                "first_segment": i,
                "last_segment": i,
            },
        )
        for i, t in enumerate(topics)
    ]
    return Transcript(talk=talk, segments=segments), documents


def cuts(result: dict) -> list[int]:
    """The sentence positions where a new block starts."""
    docs = sorted(result["documents"], key=lambda d: d.meta["position"])
    return [d.meta["position"] for a, d in itertools.pairwise(docs) if d.meta["block"] != a.meta["block"]]


SEGMENTER = ThemeSegmenter(min_theme_words=400)


def test_without_chapters_the_content_decides() -> None:
    transcript, documents = talk_of([0] * 30 + [1] * 30, [])
    assert cuts(SEGMENTER.run(documents=documents, transcripts=[transcript])) == [30]


def test_a_theme_does_not_straddle_a_chapter_boundary() -> None:
    # the content turns at sentence 30, the uploader's chapter at sentence 25 (250 s): the chapter wins
    chapters = [Chapter(start=0, title="Costs"), Chapter(start=250, title="Hiring")]
    transcript, documents = talk_of([0] * 30 + [1] * 30, chapters)

    result = SEGMENTER.run(documents=documents, transcripts=[transcript])

    assert cuts(result) == [25]
    assert {d.meta["chapter"] for d in result["documents"] if d.meta["position"] < 25} == {0}


def test_a_long_chapter_is_cut_further_where_its_content_turns() -> None:
    chapters = [Chapter(start=0, title="Costs"), Chapter(start=600, title="Hiring")]
    transcript, documents = talk_of([0] * 30 + [2] * 30 + [1] * 30, chapters)

    assert cuts(SEGMENTER.run(documents=documents, transcripts=[transcript])) == [30, 60]


def test_a_chapter_too_short_for_a_theme_joins_the_neighbour_it_is_most_alike() -> None:
    chapters = [Chapter(start=0, title="A"), Chapter(start=300, title="Aside"), Chapter(start=330, title="B")]
    transcript, documents = talk_of([0] * 30 + [1] * 3 + [1] * 30, chapters)  # the 60-word aside is about B

    assert cuts(SEGMENTER.run(documents=documents, transcripts=[transcript])) == [30]


def test_a_requested_theme_count_joins_the_most_alike_chapters() -> None:
    chapters = [Chapter(start=0, title="A"), Chapter(start=250, title="A again"), Chapter(start=500, title="B")]
    transcript, documents = talk_of([0] * 50 + [1] * 25, chapters)

    result = SEGMENTER.run(documents=documents, transcripts=[transcript], theme_count=2)

    assert cuts(result) == [50] and len(result["themes"]) == 2


def test_chapter_titles_name_the_themes_that_fit() -> None:
    chapters = [Chapter(start=0, title="Costs"), Chapter(start=250, title="Hiring & firing")]
    transcript, documents = talk_of([0] * 25 + [1] * 25, chapters)
    segmented = SEGMENTER.run(documents=documents, transcripts=[transcript])
    named = [
        theme.model_copy(update={"title": f"keyphrase {n}", "keywords": ["k"]})
        for n, theme in enumerate(segmented["themes"])
    ]

    themes = ChapterTitler().run(themes=named, documents=segmented["documents"], transcripts=[transcript])["themes"]

    assert [theme.title for theme in themes] == ["Costs", "Hiring & firing"]
    assert all(theme.keywords == ["k"] for theme in themes)


def test_a_theme_covering_two_chapters_keeps_its_own_title() -> None:
    chapters = [Chapter(start=0, title="Costs"), Chapter(start=250, title="Hiring")]
    transcript, documents = talk_of([0] * 25 + [1] * 25, chapters)
    segmented = SEGMENTER.run(documents=documents, transcripts=[transcript], theme_count=1)
    named = [theme.model_copy(update={"title": "Running a company"}) for theme in segmented["themes"]]

    themes = ChapterTitler().run(themes=named, documents=segmented["documents"], transcripts=[transcript])["themes"]

    assert [theme.title for theme in themes] == ["Running a company"]


def test_exported_chapters_start_where_the_uploader_s_do() -> None:
    recap = recap_with({"Intro": [(0.0, 663.0)], "Licences": [(663.4, 1323.0)], "Hiring": [(1323.0, 2000.0)]}, 2000.0)
    recap.talk.chapters = [Chapter(start=0, title="Intro"), Chapter(start=660, title="Licences")]

    assert titles(recap_chapters(recap)) == [(0, "Intro"), (660, "Licences"), (1323, "Hiring")]
