"""LLMRecapper: recaps written from the extractive stage's excerpts, checked in code, with crafted replies, a real
model in process and one behind a server.

SmolLM2-135M is weak: the real-model tests check structure, grounding and fallbacks, never the quality of the text;
the quality rules are tested on crafted replies (the real model's figures are in bench/llm_recap.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.components.cleaner import TranscriptCleaner
from pipeline.components.quotes import TalkText
from pipeline.llm.factory import create_generator
from pipeline.llm.llama_cpp import LlamaCppGenerator
from pipeline.llm.recap import LLMRecapper, talk_sentences, theme_schema
from pipeline.llm.recap_checks import check_rewrite, check_takeaway, repeats, snap_quote, title_problem
from pipeline.llm.settings import GeneratorConfig
from pipeline.models import Citation, Quote, Takeaway, TalkRecap, Theme, Transcript, format_timestamp
from pipeline.render import render
from pipeline.sources.files import load_file
from pipeline.text import clean_sentence
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
CANDIDATE = re.compile(r"^\[(\d+)\] \((\d\d:\d\d:\d\d)\) (.*)$", re.M)


def sentence_number(prompt: str, phrase: str) -> int:
    """The number the theme prompt gives the candidate sentence saying `phrase`."""
    for number, _, text in CANDIDATE.findall(prompt):
        if phrase in text:
            return int(number)
    raise AssertionError(f"no candidate sentence says '{phrase}'")


def theme_reply(title: str, picks: list[tuple[str | int, str]]) -> Callable[[str], str]:
    """A theme reply picking, for each (phrase or number, text), the sentence saying the phrase."""

    def reply(prompt: str) -> str:
        takeaways = [
            {"sentence": pick if isinstance(pick, int) else sentence_number(prompt, pick), "text": text}
            for pick, text in picks
        ]
        return json.dumps({"title": title, "takeaways": takeaways})

    return reply


def scripted(*replies: Callable[[str], str] | str) -> ScriptedGenerator:
    """A generator playing `replies` in turn: a string as it is, a function of the last prompt's text."""
    queue = list(replies)

    def respond(messages) -> str:
        reply = queue.pop(0)
        return reply if isinstance(reply, str) else reply(messages[-1].text)

    return ScriptedGenerator(respond=respond)


# The talk's opening the crafted replies are written for: one extractive theme (segments 2-33), whose candidate
# sentences are found by the recap's sentence encoder (the same 8 with the int8 ONNX default and with torch).
OPENING = 34
FIRST_THEME = theme_reply(  # the reply for the talk's first `OPENING` segments
    "Why Driftwood went open source",
    [
        (  # framed, but followed by "that …": rewritten to the point itself
            "column rename",
            "Maya Lindqvist emphasizes that a column rename locked a table of four hundred million rows for forty "
            "minutes.",
        ),
        ("founder of Driftwood", "The speaker discusses the importance of open source."),
        ("eleven thousand teams", "Driftwood is used by about ninety thousand teams."),  # a number it never says
        ("column rename", "A column rename locked a big table during peak traffic in Brazil."),  # picked twice
        (99, "An invented claim about revenue."),  # no such sentence
        (  # joins the sentence after it ("A column rename, on a table with … four hundred million rows"): cites both
            "payments company",
            "In 2018 a migration went wrong at a payments company: a column rename locked a table of four hundred "
            "million rows.",
        ),
    ],
)


def crafted_replies() -> list[Callable[[str], str] | str]:
    """The replies for the talk's first `OPENING` segments (`scripted`): the theme's (`FIRST_THEME`), then the
    overview."""
    return [FIRST_THEME, json.dumps({"overview": OVERVIEW, "questions": []})]


# --- the checks ---------------------------------------------------------------------------------------------------


def test_takeaway_checks_on_the_issues_examples(talk):
    def problem(text: str, cited: tuple[int, int]) -> str | None:
        return check_takeaway(text, cited, talk, NAMES, [(2, 275)])[0]

    assert problem("Maya Lindqvist discusses the importance of writing things down.", (158, 158))
    assert problem("The speaker emphasizes the value of open source for bootstrapping.", (36, 37))
    assert problem("Open source matters to a startup because of many reasons.", (36, 37))  # nothing of the span
    assert problem("They raised prices from nine to forty-nine dollars a project.", (0, 1)) == (
        "citation outside its theme"
    )
    found, text, cited = check_takeaway(
        "The speaker highlights that at nine dollars a month they looked like a toy, so they moved to "
        "forty-nine dollars per project.",
        (117, 132),
        talk,
        NAMES,
    )
    assert found is None and text.startswith("At nine dollars a month")
    assert 117 <= cited[0] <= 125 and cited[1] - cited[0] < 4  # a wide citation narrowed to the segments that say it
    assert repeats("Writing things down is their most important habit.", ["writing things down is their habit"])
    assert not repeats("They moved to forty-nine dollars.", ["They moved to nine dollars."])
    assert title_problem("Scaling a Company", "we scaled the company", ["Starting a Company"])
    assert title_problem("The speaker discusses/emphasizes/highlights", "we scaled", [])
    assert title_problem("Pricing", "we raised prices at last", []) is None


def test_a_rewritten_sentence_is_checked_against_that_sentence():
    said = "At nine dollars a month, we were telling people we were a toy."
    assert check_rewrite("A price of nine dollars a month told people Driftwood was a toy.", said, NAMES) == (
        None,
        "A price of nine dollars a month told people Driftwood was a toy.",
    )
    assert check_rewrite("At forty-nine dollars a month, people took it for a toy.", said, NAMES)[0] == (
        "states a number its sentence does not"
    )
    assert check_rewrite("Maya Lindqvist talks about pricing.", said, NAMES)[0].startswith("opens with")
    assert (
        check_rewrite("Maya Lindqvist priced Driftwood at nine dollars a month.", said, NAMES, speaker=NAMES[0])[0]
        is None
    )  # "we" is the speaker's
    assert check_rewrite(  # "we" is not Lena's
        "Lena Park priced Driftwood at nine dollars a month, like a toy.", said, [*NAMES, "Lena Park"], speaker=NAMES[0]
    )[0] == ("names someone its sentence does not")
    assert title_problem("The Importance of Mentorship", "mentorship matters", []) == "vague ('the importance of …')"
    assert check_rewrite("Pricing shows the importance of the message.", said, NAMES)[0].startswith("vague")
    assert check_rewrite("Customers value calm founders and good support.", said, NAMES)[0] == (
        "says too little of its sentence"
    )
    schema = theme_schema([1, 2, 5], 3)
    assert schema["$defs"]["PickedTakeaway"]["properties"]["sentence"]["enum"] == [1, 2, 5]
    assert schema["properties"]["takeaways"]["maxItems"] == 3


def test_a_quote_starting_mid_sentence_grows_to_the_whole_sentence(talk):
    quote = Quote(text="locked the table for forty minutes during", segment=22)
    snapped = snap_quote(quote, TalkText.of(talk))
    assert snapped.text.startswith("A column rename, on a table with") and snapped.text.endswith("in Brazil.")
    assert snap_quote(Quote(text="nothing of the sort was ever said here", segment=3), TalkText.of(talk)) is None


# --- the recapper, with crafted replies ---------------------------------------------------------------------------


def test_takeaways_are_written_from_picked_sentences_checked_or_replaced(talk, extractive):
    transcript = opening(talk, OPENING)
    generator = scripted(FIRST_THEME, json.dumps({"overview": OVERVIEW, "questions": []}))
    recap = LLMRecapper(generator, extractive=extractive).recap_transcript(transcript)
    assert len(generator.calls) == 2
    prompt = generator.calls[0][-1].text
    shown = CANDIDATE.findall(prompt)
    assert 3 <= len(shown) <= 8 and [int(n) for n, _, _ in shown] == list(range(1, len(shown) + 1))
    (theme,) = recap.themes
    assert theme.title == "Why Driftwood went open source"
    plain = [t.text for t in extractive.recap_transcript(transcript).themes[0].takeaways]
    (filled,) = [t for t in theme.takeaways if t.text in plain]  # for the rejected ones
    joined, rewritten = [t for t in theme.takeaways if t is not filled]  # in the order they are said
    assert joined.text == (
        "In 2018 a migration went wrong at a payments company: a column rename locked a table of four hundred "
        "million rows."
    )
    cited = joined.citations[0]
    assert "payments company" in text_of(transcript, cited.first_segment, cited.last_segment)
    assert "four hundred million rows" in text_of(transcript, cited.first_segment, cited.last_segment)
    assert rewritten.text == "A column rename locked a table of four hundred million rows for forty minutes."
    # the citation is the picked sentence's span, and the time shown with it in the prompt
    cited = rewritten.citations[0]
    assert "column rename" in text_of(transcript, cited.first_segment, cited.last_segment)
    (time,) = [t for _, t, text in shown if "column rename" in text]
    assert format_timestamp(cited.start) == time
    grounding = recap.grounding
    assert (grounding.citations_checked, grounding.citations_dropped, grounding.claims_dropped) == (6, 1, 4)
    assert recap.generation.parameters["model_takeaways"] == 2
    (fallback,) = [f for f in grounding.fallbacks if "takeaways" in f]
    for reason in ("4 rejected", "a number its sentence does not", "already used", "no listed sentence", "opens with"):
        assert reason in fallback
    assert "used 1 extractive takeaway" in fallback
    assert [q.text for q in theme.quotes] == [
        "If you haven't heard of it, Driftwood is an open-source database migration tool."
    ]
    assert recap.overview == OVERVIEW and recap.key_quotes == theme.quotes
    assert_grounded(recap, transcript)


def test_a_repeated_takeaway_and_an_overlapping_title_are_replaced(talk, extractive):
    transcript = opening(talk, 59)  # two extractive themes: segments 2-33 and 34-58
    tool = "Driftwood, an open-source database migration tool"
    said = "Driftwood is an open-source database migration tool."
    first = theme_reply(
        "Driftwood beginnings",
        [
            ("open-source database migration tool", said),
            ("founder of Driftwood", f"Maya Lindqvist is the founder of {tool}."),  # says `said` again
        ],
    )
    lawyers = "They talked to lawyers and to founders who had regretted a license change."
    second = theme_reply("Driftwood licensing", [("talked to lawyers", lawyers)])
    generator = scripted(first, second, json.dumps({"overview": OVERVIEW}))
    recap = LLMRecapper(generator, extractive=extractive).recap_transcript(transcript)
    one, two = recap.themes
    assert one.title == "Driftwood beginnings" and two.title == "Business source license"  # the extractive title
    assert said in [t.text for t in one.takeaways]
    assert not any(t.text.startswith("Maya Lindqvist is the founder") for t in one.takeaways)
    assert any("theme 1/2 takeaways: 1 rejected (repeats another takeaway)" in f for f in recap.grounding.fallbacks)
    assert lawyers in [t.text for t in two.takeaways]
    assert any("theme 2/2 title" in f for f in recap.grounding.fallbacks)
    assert_grounded(recap, transcript)


def test_an_invalid_reply_falls_back_to_the_extractive_recap(talk, extractive):
    transcript = opening(talk, 39)
    generator = ScriptedGenerator(replies=["not json", '{"takeaways": "none"}', json.dumps({"overview": OVERVIEW})])
    recap = LLMRecapper(generator, extractive=extractive).recap_transcript(transcript)
    assert len(generator.calls) == 3 and "could not be used" in generator.calls[1][-1].text
    assert any(f.startswith("theme 1/1: invalid reply") for f in recap.grounding.fallbacks)
    plain = extractive.recap_transcript(transcript)
    assert recap.themes[0].title == plain.themes[0].title
    assert [t.text for t in recap.themes[0].takeaways] == [t.text for t in plain.themes[0].takeaways[:2]]
    assert_grounded(recap, transcript)


def test_the_model_reads_only_candidate_sentences_of_its_theme(talk, extractive):
    """The whole talk is never sent: each theme's prompt holds at most `candidates` sentences, each said inside
    that theme's spans."""

    def respond(messages) -> str:
        prompt = messages[-1].text
        if CANDIDATE.search(prompt):
            number, _, text = CANDIDATE.findall(prompt)[0]
            return json.dumps({"title": f"Part {number}", "takeaways": [{"sentence": int(number), "text": text}]})
        return json.dumps({"overview": OVERVIEW})

    generator = ScriptedGenerator(respond=respond)
    recap = LLMRecapper(generator, extractive=extractive, candidates=6).recap_transcript(talk)
    themes = [call for call in generator.calls if CANDIDATE.search(call[-1].text)]
    assert len(themes) == len(recap.themes) >= 3 and len(generator.calls) == len(themes) + 1
    sentences = {clean_sentence(spoken): (first, last) for spoken, first, last in talk_sentences(TalkText.of(talk))}
    shown_words = 0
    for call, theme in zip(themes, recap.themes, strict=True):
        shown = CANDIDATE.findall(call[-1].text)
        assert 1 <= len(shown) <= 6
        spans = [(s.first_segment, s.last_segment) for s in theme.spans]
        for _, _, text in shown:
            first, last = sentences[text]
            assert any(a <= first <= last <= b for a, b in spans)
            shown_words += len(text.split())
    assert shown_words < 0.25 * sum(len(s.text.split()) for s in talk.segments)
    assert recap.generation.parameters["calls"] == len(generator.calls)
    assert recap.generation.parameters["model_takeaways"] == len(themes)  # each first sentence, as said
    assert_grounded(recap, talk)


def test_prose_with_an_llm_reuses_the_theme_conversation(talk, extractive):
    transcript = opening(talk, OPENING)
    first = (
        "A column rename on a table of four hundred million rows locked it for forty minutes. It happened during "
        "peak traffic in Brazil."
    )
    second = "Driftwood started as a side project and is used by eleven thousand teams. Maya Lindqvist founded it."
    paragraphs = [
        (["column rename"], first),
        (["eleven thousand"], "Driftwood made 90 million dollars in its first year. Teams loved it."),  # a figure
        (["eleven thousand", "founder of Driftwood"], second),
        (["payments company"], "The speaker discusses the importance of open source."),  # vague
        (["column rename"], f"In her words, {first[:1].lower()}{first[1:]}"),  # the first one again
    ]

    def section_reply(prompt: str) -> str:
        picks = [{"sentences": [sentence_number(prompt, p) for p in phrases], "text": t} for phrases, t in paragraphs]
        return json.dumps({"paragraphs": picks})

    questions = ["Why keep Driftwood open source", "How did a side project become a company?"]
    generator = scripted(
        FIRST_THEME,
        lambda _: section_reply(generator.calls[0][-1].text),  # the numbers are those of the theme's prompt
        json.dumps({"overview": OVERVIEW, "questions": questions}),
    )
    recap = LLMRecapper(generator, extractive=extractive).recap_transcript(transcript, style="prose")
    theme_call, section_call, _ = generator.calls
    assert section_call[: len(theme_call)] == theme_call  # the same conversation: llama.cpp reuses its cache
    assert section_call[len(theme_call)].role.value == "assistant"
    prose = recap.prose
    assert prose.intro == OVERVIEW and prose.questions == ["Why keep Driftwood open source?", questions[1]]
    (section,) = prose.sections
    # each kept paragraph carries the time of the first sentence it tells
    assert section.title == recap.themes[0].title
    assert section.paragraphs == [f"{first[:-1]} (00:02:42).", f"{second[:-1]} (00:00:50)."]
    dropped = "section 1: 3 paragraphs dropped (a number its sentences do not say; repeats another paragraph; vague)"
    assert dropped in recap.grounding.fallbacks
    markdown = render(recap, "md")
    assert markdown.index(OVERVIEW) < markdown.index("## Why Driftwood went open source") < markdown.index(second[:20])
    quote = "> “If you haven't heard of it, Driftwood is an open-source database migration tool.” — Maya Lindqvist"
    assert f"{quote}, [00:00:50](" in markdown
    assert markdown.rstrip().endswith("(https://www.youtube.com/watch?v=dW7fT3kQm2A&t=0s)")
    assert "- " not in markdown.split("## ")[1]  # paragraphs, not bullets
    assert recap.generation.parameters["style"] == "prose"


def test_recapper_needs_an_llm():
    with pytest.raises(ValueError, match="LLM"):
        LLMRecapper(create_generator(GeneratorConfig()))


def overview_themes(talk: Transcript) -> list[Theme]:
    """One written theme of the talk's opening (what `rewrite_overview` sums up)."""
    citation = Citation(talk_id=talk.talk.id, first_segment=2, last_segment=3, start=talk.segments[2].start)
    said = "A column rename locked a table of four hundred million rows for forty minutes."
    return [Theme(title="Driftwood", takeaways=[Takeaway(text=said, citations=[citation])], talk_ids=[talk.talk.id])]


LONG_OVERVIEW = [  # the model's sentences, 23 + 27 + 24 + 25 words: 99 in all, over the default cap of 90
    "Maya Lindqvist explains how Driftwood began as a script she wrote after a column rename locked a table of "
    "four hundred million rows.",
    "The lock lasted forty minutes during peak traffic at a payments company in 2018, and it taught her team to "
    "treat every migration as a risky deploy.",
    "She then describes why the team released the tool as open source and how eleven thousand teams came to "
    "rely on it within years.",
    "Finally she talks about the license change they considered, the lawyers and founders they asked for advice, "
    "and why they chose to keep the license.",
]


def test_an_overlong_overview_is_cut_to_its_opening_whole_sentences(talk):
    """Over `overview_max_words`, the overview keeps the model's first sentences that fit (verbatim) rather than
    falling back to the extractive one; the reply's budget grows with the cap, so a long reply is not cut off."""
    generator = scripted(json.dumps({"overview": " ".join(LONG_OVERVIEW), "questions": []}))
    budgets: list[int | None] = []
    chat = generator.chat

    def recording(messages, **options):
        budgets.append(options.get("max_tokens"))
        return chat(messages, **options)

    generator.chat = recording
    recapper = LLMRecapper(generator)
    overview, _, grounding = recapper.rewrite_overview(talk, overview_themes(talk), "The extractive overview.")
    assert overview == " ".join(LONG_OVERVIEW[:3]) and len(overview.split()) == 74
    assert not any(f.startswith("overview:") for f in grounding.fallbacks)
    assert "overview trimmed: 99 words cut to the first 74" in grounding.fallbacks
    assert budgets == [360]  # 4 tokens a word of the 90-word cap, above the 320 of the other calls
    generator = scripted(json.dumps({"overview": " ".join(LONG_OVERVIEW)}))
    overview, _, grounding = LLMRecapper(generator, overview_max_words=150).rewrite_overview(
        talk, overview_themes(talk), "The extractive overview."
    )
    assert overview == " ".join(LONG_OVERVIEW) and not grounding.fallbacks  # within the cap: as written


def test_list_numbers_in_an_overview_are_dropped_before_it_is_cut(talk):
    """Qwen numbers its points inside the paragraph ("… are: 1. … 2. … 3."): the numbers go, so that no "3." is
    left as a sentence of its own; a number inside a sentence stays."""
    points = " ".join(f"{number}. {sentence}" for number, sentence in enumerate(LONG_OVERVIEW[1:], 1))
    reply = f"Maya Lindqvist tells how Driftwood began, in version 2. The most concrete points are: {points} 4."
    generator = scripted(json.dumps({"overview": reply}))
    recapper = LLMRecapper(generator, overview_max_words=80)
    overview, _, _ = recapper.rewrite_overview(talk, overview_themes(talk), "The extractive overview.")
    assert (
        overview
        == (  # 9 + 32 + 24 of its 90 words
            "Maya Lindqvist tells how Driftwood began, in version 2. The most concrete points are: "
            + " ".join(LONG_OVERVIEW[1:3])
        )
    )


def test_an_overview_whose_first_sentence_is_over_the_cap_falls_back(talk):
    generator = scripted(json.dumps({"overview": " ".join(LONG_OVERVIEW)}))
    overview, _, grounding = LLMRecapper(generator, overview_max_words=20).rewrite_overview(
        talk, overview_themes(talk), "The extractive overview."
    )
    assert overview == "The extractive overview."
    (fallback,) = grounding.fallbacks
    assert fallback.startswith("overview: its first sentence alone is over 20 words")


# --- real model ---------------------------------------------------------------------------------------------------


def test_recap_in_process_is_schema_valid_and_grounded(talk, extractive):
    transcript = opening(talk, 59)
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
    transcript = opening(talk, 39)
    recapper = LLMRecapper(create_generator(config), extractive=extractive, excerpt_tokens=300, max_tokens=160)
    recap = recapper.recap_transcript(transcript)
    assert recap.generation.method == "openai" and recap.generation.parameters["base_url"] == llama_server.base_url
    assert_grounded(recap, transcript)
    assert FAKE_API_KEY not in recap.model_dump_json() and FAKE_API_KEY not in "".join(capsys.readouterr())
