"""Real parsers on real-shaped files, including the malformed ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.models import Segment, Talk, Transcript
from pipeline.sources import expand_sources, load_source
from pipeline.sources.base import SourceError
from pipeline.sources.files import load_file
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
    names = sorted(Path(item).name for item in items)
    assert names == ["fireside-chat.txt", "founder-talk.vtt", "lightning-pricing.json", "panel-remote-teams.srt"]


def test_sample_youtube_json_is_auto_captions():
    transcript = load_file(DATA / "lightning-pricing.json")
    assert transcript.talk.captions_auto is True
    assert json.loads(transcript.model_dump_json())["talk"]["youtube_id"] == "Xq4pL9vN0sE"
