"""LLMRecapper: map–reduce recaps that are schema-valid and grounded, with a real model in process and via a server.

SmolLM2-135M is weak: these tests check structure, grounding and fallbacks, never the quality of the text.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from pipeline.components.cleaner import TranscriptCleaner
from pipeline.llm.factory import create_generator
from pipeline.llm.llama_cpp import LlamaCppGenerator
from pipeline.llm.recap import LLMRecapper, make_windows
from pipeline.llm.settings import GeneratorConfig
from pipeline.models import TalkRecap, Transcript
from pipeline.sources.files import load_file
from tests.llm_server import (  # noqa: F401  (fixtures)
    FAKE_API_KEY,
    KEY_ENV,
    ScriptedGenerator,
    llama_server_fixture,
    smollm_config,
    smollm_fixture,
)

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def talk() -> Transcript:
    return TranscriptCleaner().run(transcript=load_file(DATA / "founder-talk.vtt"))["transcript"]


def opening(talk: Transcript, segments: int) -> Transcript:
    """The talk's first segments only (indices stay 0..n-1), to keep the real-model tests short."""
    return talk.model_copy(update={"segments": talk.segments[:segments]})


def text_of(talk: Transcript, first: int, last: int) -> str:
    return " ".join(" ".join(s.text for s in talk.segments[first : last + 1]).split()).lower()


def assert_grounded(recap: TalkRecap, talk: Transcript) -> None:
    """Schema-valid, citations inside the talk, quotes verbatim at their segment."""
    assert TalkRecap.model_validate_json(recap.model_dump_json()) == recap
    assert recap.talk == talk.talk and recap.overview.strip()
    for theme in recap.themes:
        assert theme.title and theme.takeaways and theme.talk_ids == [talk.talk.id]
        for takeaway in theme.takeaways:
            assert takeaway.citations
            for citation in takeaway.citations:
                assert 0 <= citation.first_segment <= citation.last_segment < len(talk.segments)
                assert citation.talk_id == talk.talk.id
        for span in theme.spans:
            assert 0 <= span.first_segment <= span.last_segment < len(talk.segments)
        for quote in theme.quotes:
            last = quote.last_segment if quote.last_segment is not None else quote.segment
            assert " ".join(quote.text.split()).lower() in text_of(talk, quote.segment, last)
    grounding = recap.grounding
    assert grounding.citations_dropped <= grounding.citations_checked


# --- windows ------------------------------------------------------------------------------------------------------


def test_windows_cover_every_segment_once_within_budget(talk, smollm):
    budget = 700
    windows = make_windows(talk, budget, smollm.count_tokens)
    assert len(windows) >= 5
    assert all(smollm.count_tokens(w.excerpt) <= budget for w in windows)
    numbers = [int(line[1 : line.index("]")]) for w in windows for line in w.lines]
    assert numbers == [s.index for s in talk.segments if s.text.strip()]
    assert all(a.last < b.first for a, b in itertools.pairwise(windows))


def test_a_segment_longer_than_a_window_is_split_not_cut(talk, smollm):
    long = talk.segments[5].model_copy(update={"text": " ".join(s.text for s in talk.segments[2:60])})
    transcript = talk.model_copy(update={"segments": [*talk.segments[:5], long, *talk.segments[6:20]]})
    windows = make_windows(transcript, 300, smollm.count_tokens)
    pieces = [line for w in windows for line in w.lines if line.startswith("[5] ")]
    assert len(pieces) >= 3
    assert " ".join(p.removeprefix("[5] ").removeprefix("… ") for p in pieces).split() == long.text.split()


# --- real model ---------------------------------------------------------------------------------------------------


def test_recap_in_process_is_schema_valid_and_grounded(talk):
    transcript = opening(talk, 30)
    smollm = LlamaCppGenerator(smollm_config(n_ctx=1024, max_tokens=128))  # a small context: several windows
    # The first reply is broken JSON: the repair request then goes to the real model.
    generator = ScriptedGenerator(replies=['{"summary": "The speaker thanks'], delegate=smollm)
    recap = LLMRecapper(generator, min_themes=1, max_themes=1, max_tokens=96).recap_transcript(transcript)
    assert recap.generation.method == "llama-cpp" and recap.generation.model.startswith("SmolLM2")
    assert recap.generation.parameters["windows"] >= 2  # the map step really had several windows
    assert len(generator.calls) >= 2 and "could not be used" in generator.calls[1][-1].text
    assert_grounded(recap, transcript)


def test_recap_through_the_openai_compatible_server(talk, llama_server, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, FAKE_API_KEY)
    config = GeneratorConfig(
        backend="openai",
        model="smollm2",
        base_url=llama_server.base_url,
        api_key_env=KEY_ENV,
        n_ctx=2048,
        max_tokens=160,
    )
    transcript = opening(talk, 30)
    recap = LLMRecapper(create_generator(config), min_themes=1, max_themes=1).recap_transcript(transcript)
    assert recap.generation.method == "openai" and recap.generation.parameters["base_url"] == llama_server.base_url
    assert_grounded(recap, transcript)
    assert FAKE_API_KEY not in recap.model_dump_json() and FAKE_API_KEY not in "".join(capsys.readouterr())


# --- grounding, with crafted replies --------------------------------------------------------------------------------


def crafted_replies(talk: Transcript) -> list[str]:
    near = talk.segments[12].text.replace("subtitle", "subtitel")  # a near match of segment 12, as models misquote
    return [
        json.dumps({"summary": "The speaker opens the talk.", "topics": ["opening"]}),
        json.dumps(
            {"overview": "An opening.", "themes": [{"title": "Opening", "keywords": ["thanks"], "parts": [1, 7]}]}
        ),
        json.dumps(
            {
                "takeaways": [
                    {"text": "The speaker thanks the organisers.", "first_segment": 4, "last_segment": 5},
                    {"text": "Reversed but real.", "first_segment": 9, "last_segment": 8},
                    {"text": "An invented claim.", "first_segment": 9000, "last_segment": 9001},
                    {"text": "Outside what was shown.", "first_segment": 200, "last_segment": 201},
                ],
                "quotes": [
                    {"text": "We raised a billion dollars from aliens in one afternoon.", "segment": 6},
                    {"text": near, "segment": 12},
                    {"text": "Anything", "segment": 5000},
                ],
            }
        ),
    ]


def test_invalid_citations_and_invented_quotes_are_dropped(talk):
    transcript = opening(talk, 40)
    generator = ScriptedGenerator(replies=crafted_replies(transcript))
    recap = LLMRecapper(generator, max_themes=2).recap_transcript(transcript)
    assert len(generator.calls) == 3 and not generator.replies
    (theme,) = recap.themes
    assert [t.text for t in theme.takeaways] == ["The speaker thanks the organisers.", "Reversed but real."]
    assert [(c.first_segment, c.last_segment) for t in theme.takeaways for c in t.citations] == [(4, 5), (8, 9)]
    assert theme.spans[0].first_segment == 4 and theme.spans[0].last_segment == 9
    grounding = recap.grounding
    assert (grounding.citations_checked, grounding.citations_dropped, grounding.claims_dropped) == (4, 2, 2)
    assert [q.text for q in theme.quotes] == [transcript.segments[12].text]  # the near match, repaired
    assert grounding.quotes_repaired == 1 and grounding.quotes_dropped == 2 and grounding.quotes_kept == 0
    assert recap.key_quotes == theme.quotes and not grounding.fallbacks
    assert_grounded(recap, transcript)


def test_a_part_that_stays_invalid_falls_back_to_the_extractive_recapper(talk):
    transcript = opening(talk, 40)
    replies = [*crafted_replies(transcript)[:2], "not json", '{"takeaways": "none"}']
    generator = ScriptedGenerator(replies=replies)
    recap = LLMRecapper(generator, max_themes=2).recap_transcript(transcript)
    assert len(generator.calls) == 4
    assert any(f.startswith("takeaways: Opening") and "invalid reply" in f for f in recap.grounding.fallbacks)
    assert recap.themes and recap.themes[0].title == "Opening"
    assert_grounded(recap, transcript)


def test_recapper_needs_an_llm():
    with pytest.raises(ValueError, match="LLM"):
        LLMRecapper(create_generator(GeneratorConfig()))


def test_a_long_talk_is_condensed_to_fit_the_context_not_cut(talk):
    """Many windows' digests do not fit one themes prompt: they are merged a few at a time first."""

    def respond(messages) -> str:
        prompt = messages[-1].text
        if "Task: summarise this part" in prompt:
            return json.dumps({"summary": "The speaker tells a long story about the company. " * 8, "topics": ["a"]})
        if "Task: merge these summaries" in prompt:
            return json.dumps({"summary": "Several parts of the story, merged. " * 4, "topics": ["b"]})
        if "Task: find the talk's main themes" in prompt:
            return json.dumps({"overview": "A story.", "themes": [{"title": "Story", "keywords": [], "parts": [1, 2]}]})
        first = int(re.search(r"\(segments (\d+) to", prompt).group(1))
        point = {"text": f"A point at {first}.", "first_segment": first, "last_segment": first}
        return json.dumps({"takeaways": [point]})

    generator = ScriptedGenerator(respond=respond)
    generator.config = generator.config.model_copy(update={"n_ctx": 1024, "max_tokens": 128})
    recap = LLMRecapper(generator, max_themes=1).recap_transcript(talk)
    prompts = [call[-1].text for call in generator.calls]
    digests = sum("Task: summarise this part" in p for p in prompts)
    merges = sum("Task: merge these summaries" in p for p in prompts)
    assert digests == recap.generation.parameters["windows"] >= 8 and merges >= 2
    themes_call = next(call for call in generator.calls if "main themes" in call[-1].text)
    assert generator.count_message_tokens(themes_call) + 128 <= 1024
    (theme,) = recap.themes
    assert len(theme.takeaways) == 5 and len(theme.spans) >= 3  # parts 1 and 2 were merged from several windows
    assert not recap.grounding.fallbacks


def test_a_takeaway_is_not_repeated_under_another_theme(talk):
    transcript = opening(talk, 40)
    said = "The speaker thanks the organisers, Hanna and the whole crew, for three months of help."
    replies = [
        json.dumps({"summary": "An opening.", "topics": []}),
        json.dumps(
            {
                "overview": "An opening.",
                "themes": [{"title": "Thanks", "parts": [1]}, {"title": "The venue", "parts": [1]}],
            }
        ),
        json.dumps({"takeaways": [{"text": said, "first_segment": 4, "last_segment": 5}]}),
        json.dumps(
            {
                "takeaways": [
                    {"text": said.replace("The speaker", "Maya"), "first_segment": 4, "last_segment": 5},
                    {"text": "The room is fuller than expected at nine.", "first_segment": 2, "last_segment": 2},
                ]
            }
        ),
    ]
    recap = LLMRecapper(ScriptedGenerator(replies=replies)).recap_transcript(transcript)
    assert [[t.text for t in theme.takeaways] for theme in recap.themes] == [
        [said],
        ["The room is fuller than expected at nine."],
    ]


def test_windows_no_theme_names_are_still_read_for_takeaways(talk):
    def respond(messages) -> str:
        prompt = messages[-1].text
        if "Task: summarise this part" in prompt:
            return json.dumps({"summary": "Thanks and an introduction of Driftwood.", "topics": ["Driftwood"]})
        if "main themes" in prompt:
            return json.dumps({"overview": "Hi.", "themes": [{"title": "Driftwood", "keywords": [], "parts": [1]}]})
        first = int(re.search(r"\(segments (\d+) to", prompt).group(1))
        return json.dumps({"takeaways": [{"text": f"Point {first}.", "first_segment": first, "last_segment": first}]})

    generator = ScriptedGenerator(respond=respond)
    generator.config = generator.config.model_copy(update={"n_ctx": 1024, "max_tokens": 128})
    recap = LLMRecapper(generator).recap_transcript(opening(talk, 60))
    windows = recap.generation.parameters["windows"]
    assert windows >= 2
    read = [call for call in generator.calls if "Task: the theme is" in call[-1].text]
    assert len(read) == windows and len(recap.themes[0].takeaways) == windows
