"""Talks too short for themes get a recap of what there is and a note, never a crash: extractive recap, themes,
event digest and the LLM recapper's extractive fallback."""

from __future__ import annotations

import pytest

from pipeline.models import Segment, Talk, TalkRecap, Transcript
from pipeline.recap import Recapper, pipeline_inputs
from pipeline.render import render_recap

SHORT_TALKS = [
    ["Thank you.", "Thank you so much."],
    ["Hi."],
    ["um", "uh", "yeah"],
    ["Questions?", "No questions.", "Great, thanks."],
    ["1 2 3 4 5 6 7 8 9 10"],
    ["Kubernetes."],
    ["We shipped it. " * 30],
    ["Is this on? Can you hear me?"],
]


def transcript(number: int, lines: list[str], **talk: object) -> Transcript:
    segments = [Segment(index=i, text=text, start=float(i), end=float(i + 1)) for i, text in enumerate(lines)]
    return Transcript(talk=Talk(id=f"short-{number}", **talk), segments=segments)


@pytest.fixture(scope="module")
def recapper(extractive) -> Recapper:
    """The session's extractive recapper (`recap_transcript` and the digest pipeline need no workspace)."""
    return extractive


@pytest.mark.parametrize("themes", [None, 3])
def test_short_talks_get_a_recap_of_what_there_is(recapper: Recapper, themes: int | None):
    for number, lines in enumerate(SHORT_TALKS):
        recap = recapper.recap_transcript(transcript(number, lines, speakers=["Ann Lee"]), themes)
        assert TalkRecap.model_validate_json(recap.model_dump_json()) == recap
        assert all(theme.title or theme.takeaways or theme.quotes for theme in recap.themes)
        markdown = render_recap(recap)
        if not recap.themes:
            assert recap.grounding.fallbacks == [f"themes: none, the talk is too short ({_words(lines)})"]
            assert recap.overview.startswith(f"This talk by Ann Lee is too short to find themes in ({_words(lines)})")
            assert " ".join(" ".join(lines).split()) in recap.overview  # all it says, verbatim
            assert recap.overview in markdown


def _words(lines: list[str]) -> str:
    count = len(" ".join(lines).split())
    return f"{count} word" + ("s" if count != 1 else "")


def test_the_thank_you_talk_from_the_issue(recapper: Recapper):
    recap = recapper.recap_transcript(transcript(0, ["Thank you.", "Thank you so much."], title="Closing"))
    assert recap.themes == [] and recap.key_quotes == []
    assert recap.overview == (
        "“Closing” is too short to find themes in (6 words). All it says: “Thank you. Thank you so much.”"
    )


def test_a_long_talk_overview_quotes_only_its_opening(recapper: Recapper):
    lines = ["Yes. No. Okay."] * 60  # 180 words, nothing to take away
    recap = recapper.recap_transcript(transcript(9, lines))
    assert not recap.themes and recap.overview.endswith(" …”")
    assert "It opens: “Yes. No. Okay." in recap.overview


def test_an_event_of_short_talks_gets_a_digest(recapper: Recapper):
    talks = [transcript(n, lines, event="Tiny Conf") for n, lines in enumerate(SHORT_TALKS[:4])]
    digest = recapper.digest_pipeline.run(pipeline_inputs(talks, None))["builder"]["digest"]
    assert digest.themes == [] and digest.overview.startswith("Tiny Conf brought together 4 talks")
    assert digest.grounding.fallbacks == ["themes: none, the talks are too short"]


def test_the_llm_recappers_extractive_fallback_copes_with_a_short_talk(recapper: Recapper):
    pytest.importorskip("llama_cpp")
    from pipeline.llm.recap import LLMRecapper
    from tests.llm_server import ScriptedGenerator

    generator = ScriptedGenerator(respond=lambda messages: "not JSON at all")  # every part falls back
    talk = transcript(0, ["Thank you.", "Thank you so much."])
    recap = LLMRecapper(generator, extractive=recapper).recap_transcript(talk)
    assert recap.themes == [] and recap.overview.strip()
    assert recap.grounding.fallbacks
