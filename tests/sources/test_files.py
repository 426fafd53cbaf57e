"""Real parsers on real-shaped files, including the malformed ones."""

from __future__ import annotations

import itertools
import json
import re
import time
from pathlib import Path

import pytest

from pipeline.models import Segment, Talk, Transcript
from pipeline.sources import expand_sources, load_source
from pipeline.sources.base import RawSegment, SourceError
from pipeline.sources.files import load_file, split_long_segment, talk_id_from
from tests.conftest import DATA, FIXTURES


def test_youtube_auto_captions_rolling_lines_are_deduplicated():
    transcript = load_file(FIXTURES / "auto-captions.vtt")
    texts = [s.text for s in transcript.segments]
    assert texts == ["so today we're going", "to talk about open source", "[Music]", "and why we never raised money"]
    assert transcript.segments[1].start == pytest.approx(2.36)
    assert transcript.segments[1].end == pytest.approx(5.13)  # the 10 ms repeat cue folds into it
    assert transcript.segments[3].start == pytest.approx(8.0)


def test_human_vtt_sample_with_sidecar_metadata():
    transcript = load_file(DATA / "founder-talk.vtt")
    talk = transcript.talk
    assert talk.id == "founder-talk"
    assert talk.youtube_id == "dW7fT3kQm2A"
    assert talk.event == "Open Source Founders Summit 2026"
    assert talk.speakers == ["Maya Lindqvist"]
    assert len(transcript.segments) > 200
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts)
    assert any(s.speaker == "Audience Member" for s in transcript.segments)


def test_srt_speakers_carry_forward_and_tags_go():
    transcript = load_file(FIXTURES / "panel.srt")
    speakers = [s.speaker for s in transcript.segments]
    assert speakers[:3] == ["Tomás Okafor", "Tomás Okafor", "Priya Raman"]
    assert transcript.segments[2].text == "So, um, we write everything down."
    assert transcript.segments[2].start == 8.5 and transcript.segments[2].end == 12.0
    assert transcript.talk.speakers == ["Priya Raman", "Tomás Okafor"]


def test_speaker_turn_text_with_optional_timestamps_and_speakers():
    segments = load_file(FIXTURES / "turns.txt").segments
    assert [s.speaker for s in segments] == ["Lena Park", "Maya Lindqvist", "Maya Lindqvist", "Lena Park"]
    assert [s.start for s in segments] == [5.0, 12.0, 3723.0, None]
    assert segments[0].end == 12.0 and segments[1].end == 3723.0 and segments[3].end is None
    assert segments[2].text == "and that's the thing, right"


def test_youtube_json_list():
    transcript = load_file(FIXTURES / "yt.json")
    assert [s.start for s in transcript.segments] == [0.0, 2.5, 5.6]
    assert transcript.segments[1].end == pytest.approx(5.6)


def test_canonical_json_round_trips(tmp_path: Path):
    original = Transcript(
        talk=Talk(id="keynote", title="Keynote", speakers=["Ada"]),
        segments=[Segment(index=0, text="Hello.", start=0.0, end=1.5, speaker="Ada")],
    )
    path = tmp_path / "anything.json"
    path.write_text(original.model_dump_json())
    loaded = load_file(path)
    assert loaded.segments == original.segments
    assert loaded.talk.model_dump(exclude={"source"}) == original.talk.model_dump(exclude={"source"})
    assert loaded.talk.source == str(path)


def test_flags_override_sidecar(tmp_path: Path):
    (tmp_path / "talk.txt").write_text("Ada: Hello there.\n")
    (tmp_path / "talk.meta.yaml").write_text("title: From sidecar\nevent: PyCon\nroom: B\n")
    transcript = load_file(tmp_path / "talk.txt", {"title": "From flag"})
    assert transcript.talk.title == "From flag"
    assert transcript.talk.event == "PyCon"
    assert transcript.talk.extra == {"room": "B"}


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.vtt", b"", "file is empty"),
        ("blank.srt", b"  \n\n", "file is empty"),
        ("binary.vtt", b"WEBVTT\x00\x01\x02\xff", "binary file"),
        ("latin1.txt", "Ada: caf\u00e9".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 8)"),
        ("notes.docx", b"PK whatever", "unsupported file type '.docx'"),
        ("bad.json", b'[{"text": 1', "invalid JSON at line 1"),
        ("entries.json", b'[{"start": 1}]', "entry 0 is not a {text, start, duration} object"),
        ("noheader.vtt", b"00:00:01.000 --> 00:00:02.000\nhi\n", "malformed WebVTT"),
        ("backwards.txt", b"[01:00] Ada: one\n[00:30] Ada: two\n", "timestamp at line 2 is earlier"),
    ],
)
def test_bad_input_gives_one_line_error_naming_the_file(tmp_path: Path, name: str, content: bytes, problem: str):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError) as caught:
        load_file(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert problem in message
    assert "\n" not in message


def test_malformed_caption_fixtures():
    with pytest.raises(SourceError, match="malformed WebVTT: cue timing at line 6"):
        load_file(FIXTURES / "malformed.vtt")
    with pytest.raises(SourceError, match="malformed SRT near line 5"):
        load_file(FIXTURES / "malformed.srt")


def test_missing_path_and_non_youtube_text():
    with pytest.raises(SourceError, match="no such file or directory"):
        load_source("/nowhere/talk.vtt", None, None)
    with pytest.raises(SourceError, match="not a YouTube URL or video id"):
        load_source("definitely not a talk", None, None)


def test_directories_expand_recursively_skipping_sidecars():
    items = expand_sources([str(DATA)])
    names = {Path(item).name for item in items}
    assert {"fireside-chat.txt", "founder-talk.vtt", "lightning-pricing.json", "panel-remote-teams.srt"} <= names
    assert not any(name.endswith((".meta.yaml", ".md", ".csv")) for name in names)


def test_sample_youtube_json_is_auto_captions():
    transcript = load_file(DATA / "lightning-pricing.json")
    assert transcript.talk.captions_auto is True
    assert json.loads(transcript.model_dump_json())["talk"]["youtube_id"] == "Xq4pL9vN0sE"


# --- ids from file names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "talk_id"),
    [
        ("founder-talk", "founder-talk"),
        ("講演", "JiangYan"),
        ("発表", "FaBiao"),
        ("Überblick über Qualität", "Uberblick-uber-Qualitat"),
        ("Доклад 2026", "Doklad-2026"),
        ("café.ñ", "cafe.n"),
    ],
)
def test_ids_transliterate_non_ascii_names(stem: str, talk_id: str):
    assert talk_id_from(stem) == talk_id
    Talk(id=talk_id)  # valid


def test_names_with_nothing_left_get_distinct_stable_ids():
    ids = {name: talk_id_from(name) for name in ("-", "..", "...", "—", "")}
    assert len(set(ids.values())) == len(ids)
    assert all(re.fullmatch(r"talk-[0-9a-f]{10}", value) for value in ids.values())
    assert talk_id_from("-") == ids["-"]  # the same file gets the same id next run, so it is replaced
    for value in ids.values():
        Talk(id=value)


def test_long_names_are_cut_to_a_valid_id():
    talk_id = talk_id_from("a" * 127 + "-b" * 40)
    assert len(talk_id) <= 128 and Talk(id=talk_id).id == talk_id and not talk_id.endswith("-")


# --- one-line messages for malformed input ------------------------------------------------------------------------


def test_sidecar_extra_must_be_a_mapping_of_plain_values(tmp_path: Path):
    (tmp_path / "talk.txt").write_text("Ada: Hello there.\n")
    sidecar = tmp_path / "talk.meta.yaml"
    sidecar.write_text("room: B\ntags: [ai, ops]\nextra: {track: 2, day: 2026-05-14}\n")
    assert load_file(tmp_path / "talk.txt").talk.extra == {
        "room": "B",
        "tags": "ai, ops",
        "track": "2",
        "day": "2026-05-14",
    }
    for text, problem in (
        ("extra: [1, 2]\n", "bad talk metadata 'extra': must be a mapping of names to values"),
        ("extra: {a: {b: 1}}\n", "bad talk metadata 'extra.a': must be text, a number or a list of them"),
        ("room: {floor: 2}\n", "bad talk metadata 'room': must be text, a number or a list of them"),
    ):
        sidecar.write_text(text)
        with pytest.raises(SourceError) as caught:
            load_file(tmp_path / "talk.txt")
        assert str(caught.value) == f"{tmp_path / 'talk.txt'}: {problem}, not nested data" or problem in str(
            caught.value
        )


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("deep.json", "[" * 10_000 + "]" * 10_000, "JSON nested too deeply to be a transcript"),
        ("big-int.json", '[{"text": "hi", "start": ' + "9" * 5000 + "}]", "invalid JSON (Exceeds the limit"),
        ("inf.json", '[{"text": "hi", "start": 1e400, "duration": 1}]', "entry 0 'start' has a time that is not a"),
        ("nan.json", '[{"text": "hi", "start": NaN}]', "entry 0 'start' has a time that is not a number"),
        ("neg.json", '[{"text": "a", "start": 0}, {"text": "b", "start": -3}]', "entry 1 'start' has a negative"),
        ("sum.json", '[{"text": "a", "start": 80000, "duration": 10000}]', "entry 0 'start' + 'duration' has a time"),
        ("bool.json", '[{"text": "hi", "start": true}]', "entry 0 is not a {text, start, duration} object"),
        ("text.json", '[{"text": 5, "start": 1}]', "entry 0 has a 'text' that is not a string"),
        (
            "canon.json",
            '{"talk": {"id": "x"}, "segments": [{"index": 0, "text": "hi", "start": 1e999}]}',
            "segments.0.start: Input should be a finite number",
        ),
        ("vtt60.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhi\n\n00:00:60.000 --> 00:01:02.000\nbad\n", "line 6"),
        ("huge.srt", "1\n" + "9" * 30 + ":00:00,000 --> " + "9" * 30 + ":00:01,000\nhi\n", "subtitle at line 2 has an"),
        ("far.srt", "1\n2562047788:00:00,000 --> 2562047788:00:01,000\nhi\n", "subtitle 1 has a time of 9.223e+12 s"),
        ("far.vtt", "WEBVTT\n\n99999:00:00.000 --> 99999:00:01.000\nhi\n", "the cue at line 3 has a time of 3.6e+08 s"),
        ("noise.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n[Music]\n", "only caption noise such as [Music]"),
    ],
)
def test_malformed_values_get_a_specific_line(tmp_path: Path, name: str, content: str, problem: str):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SourceError) as caught:
        load_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message
    assert "unexpected" not in message


def test_deep_json_sidecar(tmp_path: Path):
    (tmp_path / "talk.txt").write_text("Hello.\n")
    (tmp_path / "talk.meta.json").write_text("{" + '"a": {' * 5000 + "}" * 5001)
    with pytest.raises(SourceError, match=r"talk\.meta\.json: JSON nested too deeply"):
        load_file(tmp_path / "talk.txt")


# --- limits -------------------------------------------------------------------------------------------------------


def test_a_single_line_transcript_becomes_bounded_segments_with_proportional_times():
    text = " ".join(f"w{n}" for n in range(1000))
    pieces = split_long_segment(RawSegment(text, 10.0, 110.0, "Ada"))
    assert len(pieces) == 10 and all(len(p.text.split()) == 100 for p in pieces)
    assert " ".join(p.text for p in pieces) == text
    assert pieces[0].start == 10.0 and pieces[-1].end == 110.0
    assert all(a.end == b.start for a, b in itertools.pairwise(pieces))
    share = sum(len(p.text) for p in pieces[:5]) / sum(len(p.text) for p in pieces)
    assert pieces[5].start == pytest.approx(10 + 100 * share, abs=0.001)
    assert {p.speaker for p in pieces} == {"Ada"}

    giant = split_long_segment(RawSegment("x" * 2500 + " tail", None, None, None))
    assert [len(p.text) for p in giant] == [908, 908, 711]  # 100-character words, at most 1000 characters a piece
    assert all(p.start is None and p.end is None for p in giant)
    untimed_end = split_long_segment(RawSegment(text, 7.0, None, None))
    assert {p.start for p in untimed_end} == {7.0} and {p.end for p in untimed_end} == {None}


def test_a_ten_megabyte_single_line_is_refused_quickly_by_the_word_cap(tmp_path: Path):
    path = tmp_path / "one-line.txt"
    path.write_text("lorem ipsum dolor sit amet " * 400_000)  # 10.8 MB, 2 million words, one line
    started = time.perf_counter()
    with pytest.raises(SourceError, match=r"2000000 words, more than the 300000 word limit .*TALKS_MAX_WORDS"):
        load_file(path)
    assert time.perf_counter() - started < 10


def test_limits_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "talk.txt"
    path.write_text("[00:00:05] Ada: " + "word " * 250 + "\n[02:00:00] Ada: the end\n")
    transcript = load_file(path)
    assert len(transcript.segments) == 4  # the 250-word turn split in three
    assert [s.start for s in transcript.segments[:3]] == [5.0, pytest.approx(2884.4, abs=1), pytest.approx(5764, abs=1)]
    monkeypatch.setenv("TALKS_MAX_HOURS", "1")
    with pytest.raises(SourceError, match="has a time of 7200 s, beyond the 1 h limit"):
        load_file(path)
    monkeypatch.setenv("TALKS_MAX_HOURS", "3")
    monkeypatch.setenv("TALKS_MAX_WORDS", "100")
    with pytest.raises(SourceError, match="252 words, more than the 100 word limit"):
        load_file(path)
