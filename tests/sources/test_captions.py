"""Caption clean-up: a cue that repeats the words of the cue before (re-synced or edited caption exports) loses them."""

from __future__ import annotations

import json

import pytest

from pipeline.sources.base import RawSegment
from pipeline.sources.captions import REPEAT_MIN_WORDS, drop_repeated_words, parse_srt, parse_vtt
from pipeline.sources.files import load_file
from pipeline.sources.youtube import _segments
from tests.conftest import DATA

PREVIOUS = "We started as a side project, we're now about forty people, and we're used by eleven thousand teams."


def vtt(*cues: tuple[str, str, str]) -> str:
    return "WEBVTT\n\n" + "".join(f"{start} --> {end}\n{text}\n\n" for start, end, text in cues)


def srt(*cues: tuple[str, str, str]) -> str:
    return "".join(
        f"{n}\n{start.replace('.', ',')} --> {end.replace('.', ',')}\n{text}\n\n"
        for n, (start, end, text) in enumerate(cues, 1)
    )


def parsed(kind: str, *cues: tuple[str, str, str]) -> list[tuple[str, float | None, float | None]]:
    segments = parse_vtt(vtt(*cues), "t.vtt") if kind == "vtt" else parse_srt(srt(*cues), "t.srt")
    return [(s.text, s.start, s.end) for s in segments]


def test_the_founder_talk_cue_repeating_the_one_before_cut_short_is_dropped():
    transcript = load_file(DATA / "founder-talk.vtt")
    texts = [s.text for s in transcript.segments]
    (at,) = [n for n, text in enumerate(texts) if text.startswith("We started as a side project")]
    assert texts[at].endswith("I think last I checked, a bit over eleven thousand teams.")
    assert texts[at + 1].startswith("The title of this talk is")
    assert transcript.segments[at].start == pytest.approx(68.389)
    assert transcript.segments[at].end == pytest.approx(87.601)  # the dropped cue's time (01:19.165-01:27.601)
    # the talk's three other repeated cues (09:38, 14:12, 23:34) go too: 282 cues, 278 segments, each said once
    assert len(transcript.segments) == 278
    for said in ("Never underestimate stickers", "Shout out to Dana", "It was not funny then"):
        assert sum(said in text for text in texts) == 1
    whole = " ".join(texts)
    assert whole.count("last I checked") == 1 and "last I checked, The title" not in whole


def test_the_panel_subtitle_repeating_the_one_before_is_dropped_but_a_shared_opening_is_kept():
    transcript = load_file(DATA / "panel-remote-teams.srt")
    texts = [s.text for s in transcript.segments]
    assert len(texts) == 116  # 117 subtitles; 38 repeats 37 cut short
    assert sum(text.startswith("It's the incident that starts at five fifty-five") for text in texts) == 1
    # two subtitles opening with the same five words ("They already know how to") are two things said
    assert sum(text.startswith("They already know how to") for text in texts) == 2


@pytest.mark.parametrize("kind", ["vtt", "srt"])
def test_a_cue_repeating_a_prefix_or_the_whole_of_the_one_before_is_dropped_and_its_time_folded(kind: str):
    first = ("00:00:01.000", "00:00:05.000", PREVIOUS)
    prefix = ("00:00:05.200", "00:00:08.000", "we started as a side project -- We're now\nabout forty people")
    whole = ("00:00:08.100", "00:00:09.000", PREVIOUS.upper())
    after = ("00:00:09.500", "00:00:11.000", "So, pricing.")
    assert parsed(kind, first, prefix, whole, after) == [(PREVIOUS, 1.0, 9.0), ("So, pricing.", 9.5, 11.0)]


@pytest.mark.parametrize("kind", ["vtt", "srt"])
def test_new_words_after_a_repeat_are_kept_with_the_cue_times(kind: str):
    first = ("00:00:01.000", "00:00:05.000", PREVIOUS)
    tail = ("00:00:05.200", "00:00:09.000", "and we're used by eleven thousand\nteams. Most of them host on GitHub.")
    whole = ("00:00:09.100", "00:00:12.000", "Most of them host on GitHub. And we never paid for ads.")
    assert parsed(kind, first, tail, whole) == [
        (PREVIOUS, 1.0, 5.0),
        ("Most of them host on GitHub.", 5.2, 9.0),
        ("And we never paid for ads.", 9.1, 12.0),
    ]


@pytest.mark.parametrize("kind", ["vtt", "srt"])
def test_short_genuine_repetitions_and_a_shared_opening_are_kept(kind: str):
    cues = [
        ("00:00:01.000", "00:00:02.000", "Thank you."),
        ("00:00:02.100", "00:00:03.000", "Thank you, thank you so much."),
        ("00:00:03.100", "00:00:04.000", "Yes, yes, it works."),
        ("00:00:04.100", "00:00:05.000", "Yes, yes."),
        ("00:00:05.100", "00:00:08.000", "I have a dream that one day this nation will rise up."),
        ("00:00:08.100", "00:00:11.000", "I have a dream that one day on the red hills of Georgia"),
    ]
    assert [text for text, _, _ in parsed(kind, *cues)] == [text for _, _, text in cues]


def test_a_repeat_just_under_the_threshold_is_kept_and_one_at_it_dropped():
    words = "one two three four five six seven eight".split()
    short = " ".join(words[-(REPEAT_MIN_WORDS - 1) :])
    enough = " ".join(words[-REPEAT_MIN_WORDS:])
    first = ("00:00:01.000", "00:00:02.000", " ".join(words))
    assert parsed("vtt", first, ("00:00:02.100", "00:00:03.000", f"{short} nine"))[1][0] == f"{short} nine"
    assert parsed("vtt", first, ("00:00:02.100", "00:00:03.000", f"{enough} nine"))[1][0] == "nine"


def test_only_the_cue_just_before_counts_and_speakers_carry_on():
    cues = [
        ("00:00:01.000", "00:00:05.000", f">> PRIYA RAMAN: {PREVIOUS}"),
        ("00:00:05.100", "00:00:06.000", ">> JONAS WEBER: Right."),
        ("00:00:06.100", "00:00:09.000", PREVIOUS),  # said again after another cue: speech, not a repeat
        ("00:00:09.100", "00:00:12.000", f"{PREVIOUS} Really."),
    ]
    segments = parse_srt(srt(*cues), "t.srt")
    assert [(s.text, s.speaker) for s in segments] == [
        (PREVIOUS, "Priya Raman"),
        ("Right.", "Jonas Weber"),
        (PREVIOUS, "Jonas Weber"),
        ("Really.", "Jonas Weber"),
    ]


def test_an_empty_srt_subtitle_is_still_kept_as_before():
    cues = [("00:00:01.000", "00:00:02.000", PREVIOUS), ("00:00:02.100", "00:00:03.000", "")]
    assert [text for text, _, _ in parsed("srt", *cues)] == [PREVIOUS, ""]


def test_a_youtube_json_entry_repeating_the_one_before_loses_those_words(tmp_path):
    entries = [
        {"text": PREVIOUS, "start": 1.0, "duration": 4.0},
        {"text": "we started as a side project, we're now about forty", "start": 5.2, "duration": 2.8},
        {"text": "and we're used by eleven thousand teams. Most of them host on GitHub.", "start": 8.1, "duration": 3},
        {"text": "thank you thank you", "start": 11.2, "duration": 1.0},
        {"text": "thank you", "start": 12.3, "duration": 1.0},
    ]
    path = tmp_path / "talk.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    assert [(s.text, s.start, s.end) for s in load_file(path).segments] == [
        (PREVIOUS, 1.0, 8.0),
        ("Most of them host on GitHub.", 8.1, 11.1),
        ("thank you thank you", 11.2, 12.2),
        ("thank you", 12.3, 13.3),
    ]
    assert [s.text for s in drop_repeated_words([RawSegment(PREVIOUS, 0.0, 1.0), RawSegment(PREVIOUS, 1.0, None)])] == [
        PREVIOUS
    ]
    fetched = _segments(entries)  # captions fetched from YouTube go through the same rule
    assert [(s.text, s.start) for s in fetched] == [(s.text, s.start) for s in load_file(path).segments]
