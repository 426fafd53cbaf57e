"""The library API (`pipeline.api.Library`) on the bundled samples: the calls the CLI, the server and batch use."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pipeline.api import Library, Step, TalksError
from pipeline.models import AskRequest, EventDigest, IngestedTalk, IngestFailure, IngestOptions, TalkRecap
from tests.conftest import DATA

QUESTION = "Why did they keep the Apache license?"


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Library:
    root = tmp_path_factory.mktemp("api") / "ws"
    with Library(root) as library:
        yield library


@pytest.fixture(scope="module")
def ingested(library: Library, tmp_path_factory):
    bad = tmp_path_factory.mktemp("bad") / "empty.vtt"
    bad.write_bytes(b"")
    steps: list[Step] = []
    report = library.ingest([DATA, bad], progress=steps.append)
    return report, steps


def test_ingest_reports_each_talk_and_each_bad_source(ingested):
    report, steps = ingested
    samples = {"fireside-chat", "founder-talk", "lightning-pricing", "panel-remote-teams"}
    assert samples <= {t.talk_id for t in report.talks}
    assert [f.problem for f in report.failures] == ["file is empty"]
    assert not report.ok
    finished = [step.result for step in steps if step.result is not None]
    assert sum(isinstance(r, IngestedTalk) for r in finished) == len(report.talks)
    assert sum(isinstance(r, IngestFailure) for r in finished) == 1
    assert steps[-1].done == steps[-1].total == len(report.talks) + 1


def test_talks_are_listed_indexed_and_missing_ones_are_not_found(library: Library, ingested):
    assert {info.status for info in library.talks()} == {"indexed"}
    assert library.transcript("founder-talk").talk.id == "founder-talk"
    with pytest.raises(TalksError) as error:
        library.transcript("nope")
    assert error.value.kind == "not_found"


def test_ask_cites_passages_and_filters(library: Library, ingested):
    answer = library.ask(QUESTION, top_k=3)
    assert len(answer.passages) == 3 and answer.answer and answer.sentences[0].citations
    only = library.ask(AskRequest(question=QUESTION, talk="fireside-chat", top_k=2))
    assert {p.talk_id for p in only.passages} == {"fireside-chat"}
    with pytest.raises(TalksError) as error:
        library.ask(QUESTION, talk="nope")
    assert error.value.kind == "not_found" and "no talk 'nope'" in str(error.value)
    with pytest.raises(TalksError):
        library.ask("   ")


def test_ask_many_keeps_going_past_a_bad_question(library: Library, ingested):
    steps: list[Step] = []
    answers = library.ask_many([QUESTION, AskRequest(question="pricing?", talk="nope")], top_k=2, progress=steps.append)
    assert answers[0].error is None and len(answers[0].passages) == 2
    assert "no talk 'nope'" in (answers[1].error or "")
    assert [s.done for s in steps if s.result is not None] == [1, 2]


def test_concurrent_questions_get_the_answers_asked_alone(library: Library, ingested):
    questions = [QUESTION, "How do remote teams stay in touch?", "What should a product cost?"] * 2
    alone = {q: library.ask(q, top_k=2).model_dump() for q in questions}
    results: dict[int, dict] = {}

    def ask(number: int, question: str) -> None:
        results[number] = library.ask(question, top_k=2).model_dump()

    threads = [threading.Thread(target=ask, args=(n, q)) for n, q in enumerate(questions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[n] for n in range(len(questions))] == [alone[q] for q in questions]


def test_recap_digest_themes_and_render(library: Library, ingested):
    recap = library.recap("fireside-chat", count=2)
    assert isinstance(recap, TalkRecap) and len(recap.themes) == 2
    markdown = Library.render(recap, "md")
    assert markdown.startswith("---\n") and "\n---\n\n# " in markdown and recap.themes[0].title in markdown
    assert TalkRecap.model_validate_json(Library.render(recap, "json")) == recap
    event = recap.talk.event or ""
    digest = library.digest(event.upper())
    assert isinstance(digest, EventDigest) and len(digest.talks) >= 2
    assert library.themes(event=event) == digest.themes
    with pytest.raises(TalksError):
        library.themes()
    with pytest.raises(TalksError) as error:
        library.digest("No Such Event")
    assert error.value.kind == "not_found"
    with pytest.raises(TalksError):
        Library.render(recap, "pdf")


def test_remove_and_reingest_are_seen_by_the_warm_searcher(library: Library, ingested, tmp_path: Path):
    assert "lightning-pricing" in {p.talk_id for p in library.ask("What should a product cost?", top_k=5).passages}
    removed = library.remove("lightning-pricing")
    assert removed.talk_id == "lightning-pricing"
    assert "lightning-pricing" not in {p.talk_id for p in library.ask("What should a product cost?").passages}
    with pytest.raises(TalksError) as error:
        library.remove("lightning-pricing")
    assert error.value.kind == "not_found"
    report = library.ingest([DATA / "lightning-pricing.json"], IngestOptions(title="Pricing, again"))
    assert [t.talk_id for t in report.talks] == ["lightning-pricing"] and report.ok
    assert library.transcript("lightning-pricing").talk.title == "Pricing, again"
    assert library.reindex().talks == []  # every index is up to date
    assert len(library.reindex(["fireside-chat"]).talks) == 1


def test_open_resolves_settings_and_rejects_bad_ones(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TALKS_STORE", "memory")
    library = Library.open(tmp_path / "ws")
    assert library.store_config.kind == "memory" and library.generator_config.backend == "extractive"
    with pytest.raises(TalksError) as error:
        Library.open(tmp_path / "ws", store="nosuch")
    assert "unknown store 'nosuch'" in str(error.value)
    with pytest.raises(TalksError) as error:
        library.ask(QUESTION)
    assert error.value.kind == "not_found"  # no talks yet
    with pytest.raises(TalksError):
        library.migrate(library.store_config)


def test_llm_recap_progress_counts_each_call_against_the_plan(library: Library, ingested):
    """With an LLM, `recap` reports every call as it finishes and how many calls the recap plans (the bar's total)."""
    import json

    from pipeline.llm.settings import GeneratorConfig
    from tests.llm_server import ScriptedGenerator  # skips without llama-cpp-python

    def respond(messages) -> str:
        if "Task: give this theme" in (messages[-1].text or ""):
            return json.dumps({"title": "Maintainers", "takeaways": []})  # the extractive takeaways fill in
        return json.dumps({"overview": "A chat between two maintainers about funding their open-source work."})

    class Reporting(ScriptedGenerator):
        def chat(self, messages, **options):
            counter = self._stream(options.get("label", "generating"), 10)
            generation = super().chat(messages, **options)
            counter.finish()
            return generation

    config = GeneratorConfig(backend="llama-cpp", model="scripted")
    generator = Reporting(respond=respond)
    library._generators[config.model_dump_json()] = generator  # the warm LLM the library would have loaded
    steps: list[Step] = []
    recap = library.recap("fireside-chat", generator=config, progress=steps.append)
    calls = [step for step in steps if step.stage == "llm" and step.result is not None]
    assert len(calls) == len(generator.calls) >= 3 and [s.done for s in calls] == list(range(1, len(calls) + 1))
    assert calls[-1].total == len(calls)  # the plan, once the themes were known, was exact
    assert recap.generation.method == "llama-cpp" and "Maintainers" in [theme.title for theme in recap.themes]


def test_llm_answer_reports_its_call_as_progress(library: Library, ingested):
    """With an LLM, `ask` reports its one call (streamed, then finished) to `progress`; extractive asks report none."""
    import re

    from pipeline.llm.settings import GeneratorConfig
    from tests.llm_server import ScriptedGenerator  # skips without llama-cpp-python

    class Reporting(ScriptedGenerator):
        def chat(self, messages, **options):
            counter = self._stream(options.get("label", "generating"), 10)
            generation = super().chat(messages, **options)
            counter.finish()
            return generation

    reply = "They kept Apache and competed on being better [1]."  # the talk's words: a passage supports it
    config = GeneratorConfig(backend="llama-cpp", model="scripted-answer")
    library._generators[config.model_dump_json()] = Reporting(respond=lambda messages: reply)
    steps: list[Step] = []
    answer = library.ask(QUESTION, generator=config, progress=steps.append)
    finished = [step for step in steps if step.stage == "llm" and step.result is not None]
    assert answer.method == "llama-cpp" and re.search(r"\[\d\]", answer.answer)
    assert [(step.done, step.total) for step in finished] == [(1, 1)] and finished[0].result.label == "answer"
    steps.clear()
    library.ask(QUESTION, progress=steps.append)
    assert steps == []
