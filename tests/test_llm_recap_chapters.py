"""LLM recaps of a talk with the uploader's chapters: its themes follow them, as the extractive recap's do (a
theme never straddles a chapter start), and a theme that is a chapter keeps the chapter's title."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.components.cleaner import TranscriptCleaner
from pipeline.llm.recap import LLMRecapper
from pipeline.models import Chapter
from pipeline.sources.files import load_file
from tests.llm_server import ScriptedGenerator

DATA = Path(__file__).resolve().parents[1] / "data"
CHAPTERS = [
    Chapter(start=0.0, title="Getting started"),
    Chapter(start=300.0, title="Choosing a licence"),
    Chapter(start=600.0, title="Hiring the first people"),
]


def test_llm_themes_follow_the_uploaders_chapters(extractive):
    talk = TranscriptCleaner().run(transcript=load_file(DATA / "founder-talk.vtt"))["transcript"]
    transcript = talk.model_copy(
        update={"segments": talk.segments[:117], "talk": talk.talk.model_copy(update={"chapters": CHAPTERS})}
    )

    def respond(messages) -> str:
        prompt = messages[-1].text
        if "Task: give this theme" in prompt:  # a title the checks accept: a word its excerpt says
            said = re.findall(r"[A-Za-z]{6,}", " ".join(re.findall(r"^\[\d+\] (.*)$", prompt, flags=re.M)))
            return json.dumps({"title": f"{max(said, key=len).capitalize()} notes", "takeaways": []})
        return json.dumps({"overview": "An overview.", "questions": []})

    expected = extractive.recap_transcript(transcript)
    recap = LLMRecapper(ScriptedGenerator(respond=respond), extractive=extractive).recap_transcript(transcript)

    def chapter_of(segment: int) -> int:
        start = transcript.segments[segment].start + 1.0  # a cue may start a little before its chapter
        return sum(1 for chapter in CHAPTERS if chapter.start <= start) - 1

    assert len(recap.themes) >= 2
    for theme in recap.themes:
        inside = {chapter_of(i) for span in theme.spans for i in range(span.first_segment, span.last_segment + 1)}
        assert len(inside) == 1, (theme.title, inside)
    titles = {chapter.title for chapter in CHAPTERS}
    chapter_titled = [theme.title for theme in expected.themes if theme.title in titles]
    assert chapter_titled and all(title in [theme.title for theme in recap.themes] for title in chapter_titled)
    others = [theme.title for theme in recap.themes if theme.title not in titles]
    assert all(title.endswith(" notes") for title in others)  # the model's titles name the other themes
