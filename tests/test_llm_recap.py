"""LLMRecapper: recaps written from the extractive stage's excerpts, checked in code, with crafted replies, a real
model in process and one behind a server.

SmolLM2-135M is weak: the real-model tests check structure, grounding and fallbacks, never the quality of the text;
the quality rules are tested on crafted replies (the real model's figures are in bench/llm_recap.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.components.cleaner import TranscriptCleaner
from pipeline.components.quotes import TalkText
from pipeline.llm.factory import create_generator
from pipeline.llm.llama_cpp import LlamaCppGenerator
from pipeline.llm.recap import LLMRecapper
from pipeline.llm.recap_checks import check_takeaway, repeats, snap_quote, title_problem
from pipeline.llm.settings import GeneratorConfig
from pipeline.models import Quote, TalkRecap, Transcript
from pipeline.recap import Recapper
from pipeline.render import render
from pipeline.sources.files import load_file
from tests.llm_server import (  # noqa: F401  (fixtures)
    FAKE_API_KEY,
    KEY_ENV,
    ScriptedGenerator,
    llama_server_fixture,
    smollm_config,
)

DATA = Path(__file__).resolve().parents[1] / "data"
NAMES = ["Maya Lindqvist"]


@pytest.fixture(scope="module")
def talk() -> Transcript:
    return TranscriptCleaner().run(transcript=load_file(DATA / "founder-talk.vtt"))["transcript"]


@pytest.fixture(scope="module")
def extractive() -> Recapper:
    """One extractive recapper (the embedding model loads once) for every recap of the module."""
    recapper = Recapper()
    recapper.warm_up()
    return recapper


def opening(talk: Transcript, segments: int) -> Transcript:
    """The talk's first segments only (indices stay 0..n-1), to keep the tests short."""
    return talk.model_copy(update={"segments": talk.segments[:segments]})


def text_of(talk: Transcript, first: int, last: int) -> str:
    return " ".join(" ".join(s.text for s in talk.segments[first : last + 1]).split()).lower()


def assert_grounded(recap: TalkRecap, talk: Transcript) -> None:
    """Schema-valid, each citation inside its theme's spans, quotes verbatim at their segment."""
    assert TalkRecap.model_validate_json(recap.model_dump_json()) == recap
    assert recap.talk == talk.talk and recap.overview.strip()
    for theme in recap.themes:
        assert theme.title and theme.takeaways and theme.talk_ids == [talk.talk.id]
        spans = [(s.first_segment, s.last_segment) for s in theme.spans]
        for takeaway in theme.takeaways:
            (citation,) = takeaway.citations
            assert citation.talk_id == talk.talk.id
            assert any(a <= citation.first_segment <= citation.last_segment <= b for a, b in spans)
        for quote in theme.quotes:
            last = quote.last_segment if quote.last_segment is not None else quote.segment
            assert " ".join(quote.text.split()).lower() in text_of(talk, quote.segment, last)


OVERVIEW = (
    "Maya Lindqvist tells how a tool written after a forty-minute table lock became Driftwood, an open-source "
    "migration tool used by eleven thousand teams."
)


def crafted_replies(talk: Transcript) -> list[str]:
    """The replies for the talk's first 40 segments (one theme, segments 2-39): the theme's, then the overview."""
    takeaways = [
        {  # framed, but followed by "that …": rewritten to the point itself
            "text": "Maya Lindqvist emphasizes that a column rename locked a table of four hundred million rows "
            "for forty minutes.",
            "first_segment": 22,
            "last_segment": 23,
        },
        {"text": "The speaker discusses the importance of open source.", "first_segment": 37, "last_segment": 38},
        {"text": "A stranger in Poland wrote MySQL support over a weekend.", "first_segment": 32, "last_segment": 32},
        {"text": "An invented claim about revenue.", "first_segment": 9000, "last_segment": 9001},
    ]
    return [
        json.dumps({"title": "Why Driftwood went open source", "takeaways": takeaways}),
        json.dumps({"overview": OVERVIEW, "questions": []}),
    ]


# --- the checks ---------------------------------------------------------------------------------------------------


def test_takeaway_checks_on_the_issues_examples(talk):
    def problem(text: str, cited: tuple[int, int]) -> str | None:
        return check_takeaway(text, cited, talk, NAMES, [(2, 279)])[0]

    assert problem("Maya Lindqvist discusses the importance of writing things down.", (161, 161))
    assert problem("The speaker emphasizes the value of open source for bootstrapping.", (37, 38))
    assert problem("Open source matters to a startup because of many reasons.", (37, 38))  # nothing of the span
    assert problem("They raised prices from nine to forty-nine dollars a project.", (0, 1)) == (
        "citation outside its theme"
    )
    found, text, cited = check_takeaway(
        "The speaker highlights that at nine dollars a month they looked like a toy, so they moved to "
        "forty-nine dollars per project.",
        (120, 135),
        talk,
        NAMES,
    )
    assert found is None and text.startswith("At nine dollars a month")
    assert 120 <= cited[0] <= 128 and cited[1] - cited[0] < 4  # a wide citation narrowed to the segments that say it
    assert repeats("Writing things down is their most important habit.", ["writing things down is their habit"])
    assert not repeats("They moved to forty-nine dollars.", ["They moved to nine dollars."])
    assert title_problem("Scaling a Company", "we scaled the company", ["Starting a Company"])
    assert title_problem("The speaker discusses/emphasizes/highlights", "we scaled", [])
    assert title_problem("Pricing", "we raised prices at last", []) is None


def test_a_quote_starting_mid_sentence_grows_to_the_whole_sentence(talk):
    quote = Quote(text="locked the table for forty minutes during", segment=23)
    snapped = snap_quote(quote, TalkText.of(talk))
    assert snapped.text.startswith("A column rename, on a table with") and snapped.text.endswith("in Brazil.")
    assert snap_quote(Quote(text="nothing of the sort was ever said here", segment=3), TalkText.of(talk)) is None


# --- the recapper, with crafted replies ---------------------------------------------------------------------------


def test_takeaways_are_checked_rewritten_or_replaced(talk, extractive):
    transcript = opening(talk, 40)
    generator = ScriptedGenerator(replies=crafted_replies(transcript))
    recap = LLMRecapper(generator, extractive=extractive).recap_transcript(transcript)
    assert len(generator.calls) == 2 and not generator.replies
    (theme,) = recap.themes
    assert theme.title == "Why Driftwood went open source"
    texts = [t.text for t in theme.takeaways]
    assert texts[1:] == [
        "A column rename locked a table of four hundred million rows for forty minutes.",  # rewritten
        "A stranger in Poland wrote MySQL support over a weekend.",
    ]
    assert texts[0] == "Why we open-sourced Driftwood and what that actually did for us as a business."  # extractive
    grounding = recap.grounding
    assert (grounding.citations_checked, grounding.citations_dropped, grounding.claims_dropped) == (4, 1, 2)
    assert any("2 rejected" in f and "used 1 extractive takeaway" in f for f in grounding.fallbacks)
    assert [q.text for q in theme.quotes] == [
        "If you haven't heard of it, Driftwood is an open-source database migration tool."
    ]
    assert recap.overview == OVERVIEW and recap.key_quotes == theme.quotes
    assert_grounded(recap, transcript)


def test_a_repeated_takeaway_and_an_overlapping_title_are_replaced(talk, extractive):
    transcript = opening(talk, 60)  # two extractive themes: segments 2-34 and 35-59
    said = "A column rename locked a table of four hundred million rows for forty minutes."
    replies = [
        json.dumps(
            {"title": "Driftwood beginnings", "takeaways": [{"text": said, "first_segment": 22, "last_segment": 23}]}
        ),
        json.dumps(
            {
                "title": "Driftwood licensing",
                "takeaways": [
                    {"text": said, "first_segment": 40, "last_segment": 40},
                    {
                        "text": "They talked to lawyers and to founders who had regretted a license change.",
                        "first_segment": 56,
                        "last_segment": 56,
                    },
                ],
            }
        ),
        json.dumps({"overview": OVERVIEW}),
    ]
    recap = LLMRecapper(ScriptedGenerator(replies=replies), extractive=extractive).recap_transcript(transcript)
    first, second = recap.themes
    assert first.title == "Driftwood beginnings" and second.title == "Source license"  # the extractive title
    assert said not in [t.text for t in second.takeaways]
    assert "They talked to lawyers and to founders who had regretted a license change." in [
        t.text for t in second.takeaways
    ]
    assert any("theme 2/2 title" in f for f in recap.grounding.fallbacks)
    assert_grounded(recap, transcript)


def test_an_invalid_reply_falls_back_to_the_extractive_recap(talk, extractive):
    transcript = opening(talk, 40)
    generator = ScriptedGenerator(replies=["not json", '{"takeaways": "none"}', json.dumps({"overview": OVERVIEW})])
    recap = LLMRecapper(generator, extractive=extractive).recap_transcript(transcript)
    assert len(generator.calls) == 3 and "could not be used" in generator.calls[1][-1].text
    assert any(f.startswith("theme 1/1: invalid reply") for f in recap.grounding.fallbacks)
    plain = extractive.recap_transcript(transcript)
    assert recap.themes[0].title == plain.themes[0].title
    assert [t.text for t in recap.themes[0].takeaways] == [t.text for t in plain.themes[0].takeaways[:2]]
    assert_grounded(recap, transcript)


def test_the_model_reads_only_the_picked_excerpts(talk, extractive):
    """The whole talk is never sent: each theme's prompt holds at most `excerpt_tokens` of its own segments."""

    def respond(messages) -> str:
        prompt = messages[-1].text
        if "Task: give this theme" in prompt:
            first = int(re.search(r"^\[(\d+)\]", prompt, re.M).group(1))
            text = talk.segments[first].text
            return json.dumps(
                {"title": f"Part {first}", "takeaways": [{"text": text, "first_segment": first, "last_segment": first}]}
            )
        return json.dumps({"overview": OVERVIEW})

    generator = ScriptedGenerator(respond=respond)
    recapper = LLMRecapper(generator, extractive=extractive, excerpt_tokens=400)
    recap = recapper.recap_transcript(talk)
    themes = [call for call in generator.calls if "Task: give this theme" in call[-1].text]
    assert len(themes) == len(recap.themes) >= 3 and len(generator.calls) == len(themes) + 1
    shown = set()
    for call, theme in zip(themes, recap.themes, strict=True):
        lines = re.findall(r"^\[(\d+)\] (.*)$", call[-1].text, re.M)
        assert sum(generator.count_tokens(f"[{n}] {text}") + 1 for n, text in lines) <= 400
        spans = [(s.first_segment, s.last_segment) for s in theme.spans]
        assert all(any(a <= int(n) <= b for a, b in spans) for n, _ in lines)
        shown.update(int(n) for n, _ in lines)
    assert len(shown) < 0.6 * len([s for s in talk.segments if s.text.strip()])
    assert recap.generation.parameters["calls"] == len(generator.calls)
    assert_grounded(recap, talk)


def test_prose_with_an_llm_reuses_the_theme_conversation(talk, extractive):
    transcript = opening(talk, 40)
    paragraphs = [
        "Driftwood began in 2018, when a column rename locked a payments company's table for forty minutes.",
        "Lindqvist says the company made 90 million dollars in its first year.",  # a figure the talk never gives
        "A stranger in Poland then wrote MySQL support over a weekend, and the side project became a company.",
    ]
    questions = ["Why keep Driftwood open source", "How did a side project become a company?"]
    replies = [
        crafted_replies(transcript)[0],
        json.dumps({"paragraphs": paragraphs}),
        json.dumps({"overview": OVERVIEW, "questions": questions}),
    ]
    generator = ScriptedGenerator(replies=replies)
    recap = LLMRecapper(generator, extractive=extractive).recap_transcript(transcript, style="prose")
    theme_call, section_call, _ = generator.calls
    assert section_call[: len(theme_call)] == theme_call  # the same conversation: llama.cpp reuses its cache
    assert section_call[len(theme_call)].role.value == "assistant"
    prose = recap.prose
    assert prose.intro == OVERVIEW and prose.questions == ["Why keep Driftwood open source?", questions[1]]
    (section,) = prose.sections
    assert section.title == recap.themes[0].title and section.paragraphs == [paragraphs[0], paragraphs[2]]
    markdown = render(recap, "md")
    assert (
        markdown.index(OVERVIEW) < markdown.index("## Why Driftwood went open source") < markdown.index(paragraphs[2])
    )
    quote = "> “If you haven't heard of it, Driftwood is an open-source database migration tool.” — Maya Lindqvist"
    assert f"{quote}, [00:00:50](" in markdown
    assert markdown.rstrip().endswith("(https://www.youtube.com/watch?v=dW7fT3kQm2A&t=0s)")
    assert "- " not in markdown.split("## ")[1]  # paragraphs, not bullets
    assert recap.generation.parameters["style"] == "prose"


def test_recapper_needs_an_llm():
    with pytest.raises(ValueError, match="LLM"):
        LLMRecapper(create_generator(GeneratorConfig()))


# --- real model ---------------------------------------------------------------------------------------------------


def test_recap_in_process_is_schema_valid_and_grounded(talk, extractive):
    transcript = opening(talk, 60)
    smollm = LlamaCppGenerator(smollm_config(n_ctx=2048, max_tokens=160))
    # The first reply is broken JSON: the repair request then goes to the real model.
    generator = ScriptedGenerator(replies=['{"title": "Driftwood'], delegate=smollm)
    recapper = LLMRecapper(generator, extractive=extractive, excerpt_tokens=300, max_tokens=160)
    recap = recapper.recap_transcript(transcript)
    assert recap.generation.method == "llama-cpp" and recap.generation.model.startswith("SmolLM2")
    assert len(recap.themes) == 2 and "could not be used" in generator.calls[1][-1].text
    assert_grounded(recap, transcript)
    smollm.close()


def test_recap_through_the_openai_compatible_server(talk, extractive, llama_server, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, FAKE_API_KEY)
    config = GeneratorConfig(
        backend="openai",
        model="smollm2",
        base_url=llama_server.base_url,
        api_key_env=KEY_ENV,
        n_ctx=2048,
        max_tokens=160,
    )
    transcript = opening(talk, 40)
    recapper = LLMRecapper(create_generator(config), extractive=extractive, excerpt_tokens=300, max_tokens=160)
    recap = recapper.recap_transcript(transcript)
    assert recap.generation.method == "openai" and recap.generation.parameters["base_url"] == llama_server.base_url
    assert_grounded(recap, transcript)
    assert FAKE_API_KEY not in recap.model_dump_json() and FAKE_API_KEY not in "".join(capsys.readouterr())
