"""YouTube talks end to end through the fake YouTube and the real model: a playlist in a batch manifest becomes one
talk per video with the video's own metadata and chapters; the recap's themes respect the chapters, take their
titles, and export as chapters; the draft carries the metadata in its front matter."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from html import escape

import pytest
import webvtt
import yaml
from rich.console import Console

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

from pipeline.batch import run_batch
from pipeline.models import TalkRecap, Transcript
from pipeline.recap import Recapper
from pipeline.render import render
from pipeline.sources.files import load_file
from pipeline.workspace import Workspace
from tests.conftest import DATA
from tests.fakeyoutube import FakePlaylist, FakeTrack, FakeVideo, FakeYouTube

PLAYLIST = "PLfakeConference2026talks"
CHAPTERED = "founderTalk"  # 11 characters
PLAIN = "pricingTalk"
CHAPTERS = "0:00 Getting started\n11:00 Choosing a licence\n22:00 Hiring the first people\n"


def cues_of(name: str) -> list[tuple[float, float, str]]:
    """A sample transcript as caption cues (XML-escaped, as YouTube's timedtext is)."""
    transcript = load_file(DATA / name)
    return [
        (segment.start or 0.0, (segment.end or 0.0) - (segment.start or 0.0), escape(segment.text))
        for segment in transcript.segments
        if segment.text.strip()
    ]


@pytest.fixture(scope="module")
def fake_youtube() -> Iterator[FakeYouTube]:
    with FakeYouTube() as fake:
        yield fake


@pytest.fixture(scope="module")
def conference(tmp_path_factory: pytest.TempPathFactory, fake_youtube: FakeYouTube) -> tuple[Workspace, object]:
    """One batch run of a manifest with a playlist (two videos) and a missing playlist, shared by the tests."""
    tmp_path = tmp_path_factory.mktemp("conference")
    fake_youtube.add(
        CHAPTERED,
        FakeVideo(
            tracks=[FakeTrack("en", "English (auto-generated)", auto=True, cues=cues_of("founder-talk.vtt"))],
            title="From Side Project to Company",
            channel="Maya Lindqvist",
            description="The opening keynote.\n\n" + CHAPTERS + "\nSlides: https://example.com/s.pdf",
            length_seconds="2087",
            upload_date="2026-05-14T06:00:00-07:00",
        ),
    )
    fake_youtube.add(
        PLAIN,
        FakeVideo(
            tracks=[FakeTrack("en", "English", cues=cues_of("lightning-pricing.json"))],
            title='Pricing <Dev> Tools: "seats" vs usage',
            channel="Some Conference",
            length_seconds="320",
        ),
    )
    fake_youtube.add_playlist(PLAYLIST, FakePlaylist(video_ids=[CHAPTERED, PLAIN], page_size=1))
    manifest = tmp_path / "conf.yaml"
    manifest.write_text(
        "event: Open Source Founders Summit 2026\n"
        "talks:\n"
        f"  - source: https://www.youtube.com/playlist?list={PLAYLIST}\n"
        "  - source: https://www.youtube.com/playlist?list=PLdoesNotExist0000\n"
    )
    workspace = Workspace(tmp_path / "ws")
    report = run_batch(
        manifest,
        workspace,
        jobs=1,
        http_client=fake_youtube.session(),
        youtube_options={"max_attempts": 1},
        console=Console(file=io.StringIO()),
    )
    return workspace, report


def test_a_playlist_in_a_manifest_becomes_one_talk_per_video(conference: tuple[Workspace, object]) -> None:
    workspace, report = conference

    assert {o.talk_id: o.status for o in report.outcomes} == {CHAPTERED: "done", PLAIN: "done"}
    assert [str(problem) for problem in report.problems] == [
        "line 4: youtube:playlist:PLdoesNotExist0000: the playlist is unavailable: The playlist does not exist."
    ]
    talk = workspace.load_transcript(CHAPTERED).talk
    assert (talk.title, talk.speakers, str(talk.date), talk.duration) == (
        "From Side Project to Company",
        ["Maya Lindqvist"],
        "2026-05-14",
        2087.0,
    )
    assert talk.event == "Open Source Founders Summit 2026" and talk.extra["playlist"] == PLAYLIST
    assert [(c.start, c.title) for c in talk.chapters] == [
        (0.0, "Getting started"),
        (660.0, "Choosing a licence"),
        (1320.0, "Hiring the first people"),
    ]
    assert workspace.load_transcript(PLAIN).talk.chapters == []  # a video without chapters works too


def chapter_at(transcript: Transcript, seconds: float) -> int:
    return sum(1 for chapter in transcript.talk.chapters if seconds + 1.0 >= chapter.start) - 1


def test_themes_respect_chapters_and_export_them(conference: tuple[Workspace, object]) -> None:
    workspace, _ = conference
    transcript = workspace.load_transcript(CHAPTERED)
    recapper = Recapper(workspace)

    for count in (None, 3):
        recap: TalkRecap = recapper.recap_transcript(transcript, count)
        for theme in recap.themes:  # no theme straddles a chapter boundary
            for span in theme.spans:
                first = transcript.segments[span.first_segment].start
                last = transcript.segments[span.last_segment].start
                assert chapter_at(transcript, first) == chapter_at(transcript, last), (theme.title, span)
    assert [theme.title for theme in recap.themes] == [c.title for c in transcript.talk.chapters]

    assert (
        render(recap, "chapters") == "00:00 Getting started\n11:00 Choosing a licence\n22:00 Hiring the first people\n"
    )
    cues = list(webvtt.from_string(render(recap, "vtt-chapters")))
    assert [(c.start_in_seconds, c.end_in_seconds, c.text) for c in cues] == [
        (0, 660, "Getting started"),
        (660, 1320, "Choosing a licence"),
        (1320, 2087, "Hiring the first people"),
    ]
    front = yaml.safe_load(render(recap, "md").split("\n---\n\n", 1)[0].removeprefix("---\n"))
    assert front["title"] == "From Side Project to Company" and front["speakers"] == ["Maya Lindqvist"]
    assert front["source"] == f"https://www.youtube.com/watch?v={CHAPTERED}" and front["tags"]


def test_the_batch_drafts_carry_the_video_metadata(conference: tuple[Workspace, object]) -> None:
    _, report = conference
    draft = (report.out_dir / f"{PLAIN}.md").read_text(encoding="utf-8")

    front = yaml.safe_load(draft.split("\n---\n\n", 1)[0].removeprefix("---\n"))
    assert front["title"] == 'Pricing <Dev> Tools: "seats" vs usage'
    assert "speakers" not in front  # "Some Conference" is an organisation's channel, not the speaker
    assert front["event"] == "Open Source Founders Summit 2026"
