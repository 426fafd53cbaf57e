"""LLMEventDigester: talks recapped one by one, then regrouped into event themes without losing grounding."""

from __future__ import annotations

import json

import pytest

from pipeline.components.cleaner import TranscriptCleaner
from pipeline.llm.digest import LLMEventDigester
from pipeline.llm.llama_cpp import LlamaCppGenerator
from pipeline.llm.recap import LLMRecapper
from pipeline.models import EventDigest, Transcript
from pipeline.sources.files import load_file
from tests.conftest import DATA
from tests.llm_server import smollm_config
from tests.test_llm_recap import OPENING, OVERVIEW, crafted_replies, opening, scripted


@pytest.fixture(scope="module")
def founder() -> Transcript:
    return TranscriptCleaner().run(transcript=load_file(DATA / "founder-talk.vtt"))["transcript"]


def renamed(transcript: Transcript, talk_id: str) -> Transcript:
    return transcript.model_copy(update={"talk": transcript.talk.model_copy(update={"id": talk_id})})


@pytest.fixture(scope="module")
def two_talks(founder) -> list[Transcript]:
    first = opening(founder, OPENING)
    return [first, renamed(first, "founder-encore")]


def assert_quotes_verbatim(digest: EventDigest, talks: list[Transcript]) -> None:
    by_id = {t.talk.id: t for t in talks}
    for theme in digest.themes:
        for quote in theme.quotes:
            transcript = by_id[quote.talk_id]
            last = quote.last_segment if quote.last_segment is not None else quote.segment
            spoken = " ".join(s.text for s in transcript.segments[quote.segment : last + 1])
            assert " ".join(quote.text.split()).lower() in " ".join(spoken.split()).lower()


def test_event_themes_regroup_the_talk_themes(two_talks, extractive):
    reduce_reply = {
        "overview": "Two openings of the same talk.",
        "themes": [{"title": "Openings everywhere", "talk_themes": ["T1.1", "T2.1", "T9.9", "T1.1"]}],
    }
    replies = crafted_replies() + crafted_replies() + [json.dumps(reduce_reply)]
    generator = scripted(*replies)
    digest = LLMEventDigester(LLMRecapper(generator, max_themes=2, extractive=extractive)).digest("Summit", two_talks)
    assert len(generator.calls) == 5  # a theme and an overview a talk, then the reduce
    assert EventDigest.model_validate_json(digest.model_dump_json()) == digest
    assert digest.overview == "Two openings of the same talk." and digest.event == "Summit"
    (theme,) = digest.themes
    assert theme.title == "Openings everywhere"
    assert theme.talk_ids == ["founder-talk", "founder-encore"]
    assert {c.talk_id for t in theme.takeaways for c in t.citations} == {"founder-talk", "founder-encore"}
    assert {q.talk_id for q in theme.quotes} == {"founder-talk", "founder-encore"}
    grounding = digest.grounding
    # each talk: 6 citations checked, 1 dropped (no such sentence); the reduce step: 4 labels checked, 2 dropped
    # (unknown, repeated)
    assert (grounding.citations_checked, grounding.citations_dropped) == (16, 4)
    assert grounding.quotes_kept == 2 and grounding.quotes_dropped == 0
    assert_quotes_verbatim(digest, two_talks)


def test_talk_themes_no_event_theme_claims_are_kept(two_talks, extractive):
    reduce_reply = {"overview": "An event.", "themes": [{"title": "Only the first", "talk_themes": ["T1.1"]}]}
    replies = crafted_replies() + crafted_replies() + [json.dumps(reduce_reply)]
    recapper = LLMRecapper(scripted(*replies), max_themes=2, extractive=extractive)
    digest = LLMEventDigester(recapper).digest("S", two_talks)
    assert [theme.title for theme in digest.themes] == ["Only the first", "Why Driftwood went open source"]
    assert digest.themes[1].talk_ids == ["founder-encore"]


def test_an_invalid_reduce_reply_falls_back_to_the_talk_themes(two_talks, extractive):
    replies = crafted_replies() + crafted_replies() + ["not json", '{"themes": 3}']
    recapper = LLMRecapper(scripted(*replies), max_themes=2, extractive=extractive)
    digest = LLMEventDigester(recapper).digest("S", two_talks)
    assert any(f.startswith("event themes:") for f in digest.grounding.fallbacks)
    assert [theme.talk_ids for theme in digest.themes] == [["founder-talk"], ["founder-encore"]]
    assert digest.overview == f"{OVERVIEW} {OVERVIEW}"


def test_event_digest_with_a_real_model_is_schema_valid_and_grounded(founder):
    talks = [opening(founder, 19)]
    talks.append(renamed(talks[0], "encore"))
    smollm = LlamaCppGenerator(smollm_config(n_ctx=2048, max_tokens=160))
    recapper = LLMRecapper(smollm, min_themes=1, max_themes=1, max_tokens=128)
    digest = LLMEventDigester(recapper, min_themes=1, max_themes=2).digest("Summit", talks)
    assert EventDigest.model_validate_json(digest.model_dump_json()) == digest
    assert digest.generation.method == "llama-cpp" and digest.overview.strip()
    assert digest.themes and {t for theme in digest.themes for t in theme.talk_ids} <= {"founder-talk", "encore"}
    assert_quotes_verbatim(digest, talks)
