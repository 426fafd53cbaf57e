"""The Recapper service end to end on the bundled samples, with the real model and a temporary workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

from haystack import Pipeline

from pipeline.components.cleaner import TranscriptCleaner
from pipeline.components.quotes import normalise
from pipeline.models import EventDigest, Segment, TalkRecap, Transcript
from pipeline.recap import EmptyTalkError, RecapError, Recapper, build_digest_pipeline, build_recap_pipeline
from pipeline.render import render_digest, render_recap
from pipeline.sources.files import load_file
from pipeline.workspace import Workspace, WorkspaceError

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = ["founder-talk.vtt", "panel-remote-teams.srt", "lightning-pricing.json", "fireside-chat.txt"]
EVENT = "Open Source Founders Summit 2026"


def load(name: str) -> Transcript:
    return TranscriptCleaner().run(transcript=load_file(DATA / name))["transcript"]


@pytest.fixture(scope="module")
def recapper(tmp_path_factory: pytest.TempPathFactory) -> Recapper:
    workspace = Workspace(tmp_path_factory.mktemp("workspace")).create()
    for name in SAMPLES:
        workspace.save_transcript(load(name))
    founder = load("founder-talk.vtt")
    minute = [s for s in founder.segments if s.start is not None and s.start < 70]
    workspace.save_transcript(
        Transcript(talk=founder.talk.model_copy(update={"id": "one-minute", "event": None}), segments=minute)
    )
    silent = [Segment(index=i, text=t, start=i * 5.0, end=i * 5.0 + 4) for i, t in enumerate(["", "  ", ""])]
    workspace.save_transcript(
        Transcript(talk=founder.talk.model_copy(update={"id": "silent", "event": "Quiet Days"}), segments=silent)
    )
    service = Recapper(workspace)
    service.warm_up()
    return service


@pytest.fixture(scope="module")
def founder_recap(recapper: Recapper) -> TalkRecap:
    return recapper.recap("founder-talk")


def all_quotes(recap: TalkRecap) -> list:
    return [q for theme in recap.themes for q in theme.quotes] + recap.key_quotes


def test_recap_is_a_valid_grounded_talk_recap(founder_recap: TalkRecap) -> None:
    recap = TalkRecap.model_validate_json(founder_recap.model_dump_json())
    assert recap == founder_recap
    assert recap.talk.id == "founder-talk"
    assert 4 <= len(recap.themes) <= 7
    assert recap.generation.method == "extractive"
    assert recap.generation.parameters["segmentation"] == "dp"
    assert recap.generation.parameters["themes"] is None
    assert recap.generation.seconds and recap.generation.seconds > 0
    theme_quotes = [q for theme in recap.themes for q in theme.quotes]
    assert recap.grounding.quotes_kept + recap.grounding.quotes_repaired == len(theme_quotes)
    assert recap.grounding.citations_checked == sum(len(t.takeaways) for t in recap.themes)
    assert recap.grounding.citations_dropped == 0
    assert 1 <= len(recap.key_quotes) <= 5
    assert all(q in theme_quotes for q in recap.key_quotes)


def test_every_quote_is_verbatim_at_the_start_of_its_segment(recapper: Recapper, founder_recap: TalkRecap) -> None:
    founder = recapper.workspace.load_transcript("founder-talk")
    whole = normalise(" ".join(s.text for s in founder.segments))
    for quote in all_quotes(founder_recap):
        assert normalise(quote.text) in whole
        assert quote.start == founder.segments[quote.segment].start
        assert quote.url == f"https://www.youtube.com/watch?v=dW7fT3kQm2A&t={int(quote.start)}s"
        assert quote.speaker == "Maya Lindqvist" and quote.talk_id == "founder-talk"


def test_overview_is_one_paragraph_naming_speaker_event_and_themes(founder_recap: TalkRecap) -> None:
    overview = founder_recap.overview
    assert "\n" not in overview
    assert "Maya Lindqvist" in overview and EVENT in overview and "2026" in overview
    assert all(theme.title.lower() in overview.lower() for theme in founder_recap.themes)
    assert 40 <= len(overview.split()) <= 200


def test_markdown_draft_of_the_real_recap(founder_recap: TalkRecap) -> None:
    markdown = render_recap(founder_recap)
    assert markdown.startswith("---\n") and f"\n---\n\n# {founder_recap.talk.title}\n" in markdown
    assert markdown.count("\n## ") == len(founder_recap.themes)
    assert markdown.count("\n> “") == sum(len(t.quotes) for t in founder_recap.themes)
    assert "](https://www.youtube.com/watch?v=dW7fT3kQm2A&t=" in markdown
    assert "Watch the full talk" in markdown


def test_a_requested_number_of_themes(recapper: Recapper) -> None:
    recap = recapper.recap("panel-remote-teams", themes=2)
    assert len(recap.themes) == 2
    assert recap.generation.parameters["themes"] == 2
    assert "Tomás Okafor, Priya Raman and Jonas Weber cover" in recap.overview


def test_a_one_minute_talk_gives_one_small_theme(recapper: Recapper) -> None:
    recap = recapper.recap("one-minute")
    assert len(recap.themes) == 1
    theme = recap.themes[0]
    assert theme.title and theme.spans[0].first_segment == 2
    assert 1 <= len(theme.takeaways) <= 2
    assert recap.overview.startswith("In “From Side Project to Company")


def test_an_empty_talk_is_a_clear_error(recapper: Recapper) -> None:
    with pytest.raises(EmptyTalkError, match="'silent'") as caught:
        recapper.recap("silent")
    assert isinstance(caught.value, ValueError)
    with pytest.raises(EmptyTalkError, match="Quiet Days"):
        recapper.event_digest("quiet days")


def test_bad_requests_are_clear_errors(recapper: Recapper) -> None:
    with pytest.raises(WorkspaceError, match="no talk 'nope'"):
        recapper.recap("nope")
    with pytest.raises(RecapError, match="at least 1"):
        recapper.recap("founder-talk", themes=0)
    with pytest.raises(RecapError, match=f"events: {EVENT}, Quiet Days"):
        recapper.event_digest("Nonexistent Conf")


def test_event_digest_groups_themes_across_talks(recapper: Recapper) -> None:
    digest = EventDigest.model_validate_json(recapper.event_digest(EVENT.lower()).model_dump_json())
    assert digest.event == EVENT
    assert [t.id for t in digest.talks] == ["founder-talk", "panel-remote-teams", "fireside-chat", "lightning-pricing"]
    counts = [len(theme.talk_ids) for theme in digest.themes]
    assert counts == sorted(counts, reverse=True) and counts[0] >= 2
    covered = {talk_id for theme in digest.themes for talk_id in theme.talk_ids}
    assert covered == {t.id for t in digest.talks}
    for theme in digest.themes:
        assert {span.talk_id for span in theme.spans} == set(theme.talk_ids)
        for quote in theme.quotes:
            transcript = recapper.workspace.load_transcript(quote.talk_id)
            assert normalise(quote.text) in normalise(" ".join(s.text for s in transcript.segments))
    shared = digest.themes[0]
    assert {c.talk_id for t in shared.takeaways for c in t.citations} == set(shared.talk_ids)
    assert shared.title in digest.overview
    markdown = render_digest(digest)
    assert markdown.count("\n## ") == len(digest.themes)
    assert all(talk.display_title in markdown for talk in digest.talks)


def test_pipelines_can_be_dumped_and_loaded() -> None:
    for pipeline in (build_recap_pipeline(), build_digest_pipeline()):
        dumped = pipeline.dumps()
        for name in ("SentenceSplitter", "ThemeSegmenter", "KeyphraseTitler", "QuoteVerifier", "CitationChecker"):
            assert name in dumped
        loaded = Pipeline.loads(dumped, allowed_modules=["pipeline"]).to_dict()
        assert loaded["components"] == pipeline.to_dict()["components"]
        assert sorted(map(str, loaded["connections"])) == sorted(map(str, pipeline.to_dict()["connections"]))
