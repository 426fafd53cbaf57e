"""`talks recap --style prose` without an LLM: the post's structure on the founder talk, through the library API and
the CLI (the LLM's prose is tested in tests/test_llm_recap.py with crafted replies)."""

from __future__ import annotations

import os
import re

import pytest

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

from pipeline.api import Library, TalksError
from pipeline.components.cleaner import TranscriptCleaner
from pipeline.sources.files import load_file
from pipeline.workspace import Workspace
from tests.conftest import DATA
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Library:
    root = tmp_path_factory.mktemp("prose")
    workspace = Workspace(root).create()
    workspace.save_transcript(TranscriptCleaner().run(transcript=load_file(DATA / "founder-talk.vtt"))["transcript"])
    with Library(root) as library:
        yield library


def test_extractive_prose_of_the_founder_talk(library):
    recap = library.recap("founder-talk", style="prose")
    prose = recap.prose
    assert "Maya Lindqvist" in prose.intro and "Open Source Founders Summit 2026" in prose.intro
    assert 2 <= len(prose.questions) <= 4 and all(q.endswith("?") for q in prose.questions)
    assert "How do you pay people when the product is free?" in prose.questions
    assert [s.title for s in prose.sections] == [t.title for t in recap.themes]
    for section in prose.sections:
        assert 1 <= len(section.paragraphs) <= 4 and section.span is not None
        assert all(re.search(r"\(\d\d:\d\d:\d\d\)", p) for p in section.paragraphs)  # takeaways with their times
        assert all(q.text[:1].isupper() and q.text[-1] in ".!?" for q in section.quotes)  # whole sentences
    markdown = library.render(recap, "md")
    body = markdown.split("---\n", 2)[2]
    assert body.index("# From Side Project to Company") < body.index(prose.intro) < body.index("## ")
    assert body.count("\n## ") == len(recap.themes) and "\n- " not in body.split("\n## ", 1)[1]
    assert re.search(r"^> “.+” — Maya Lindqvist, \[00:\d\d:\d\d\]\(https://www\.youtube\.com/watch\?v=", body, re.M)
    assert body.rstrip().endswith(
        "[From Side Project to Company: Open Source, Bootstrapping, and Staying Aligned]"
        "(https://www.youtube.com/watch?v=dW7fT3kQm2A&t=0s)"
    )
    assert "<p>" in library.render(recap, "html") and "talk-post" in library.render(recap, "html")
    bullets = library.render(library.recap("founder-talk"), "md")
    assert "\n- " in bullets.split("\n## ", 1)[1]  # bullets stay the default


def test_an_unknown_style_is_refused_in_one_line(library, tmp_path):
    with pytest.raises(TalksError, match="unknown recap style 'poem'"):
        library.recap("founder-talk", style="poem")
    result = run_cli("recap", "founder-talk", "--style", "poem", "--workspace", str(tmp_path))
    assert result.exit_code == 2 and "poem" in result.output and "Traceback" not in result.output
