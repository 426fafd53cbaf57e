"""LLMAnswerWriter: answers from the passages only, with citations of passages that exist, with a real model."""

from __future__ import annotations

import json

import pytest

from pipeline.llm.answer import NO_ANSWER, AnswerReply, LLMAnswerWriter, capped, compact_text, ground_reply
from pipeline.models import Answer, AnswerSentence, GroundingReport, Passage
from tests.llm_server import ScriptedGenerator, smollm_fixture  # noqa: F401  (fixture)


def passage(text: str, first: int, highlight: str | None = None) -> Passage:
    return Passage(
        talk_id="founder-talk",
        title="From Side Project to Company",
        text=text,
        score=1.0,
        first_segment=first,
        last_segment=first + 4,
        start=10.0 * first,
        speakers=["Maya Lindqvist"],
        highlights=[highlight] if highlight else [],
    )


PASSAGES = [
    passage(
        "We bootstrapped for two years. Consulting revenue paid the bills while the open-source project grew.",
        10,
        "Consulting revenue paid the bills while the open-source project grew.",
    ),
    passage(
        "Our first hire was a support engineer, because the community questions were eating all our time.",
        40,
        "Our first hire was a support engineer.",
    ),
]


def reply(answerable: bool, *sentences: tuple[str, list[int]]) -> str:
    return json.dumps({"answerable": answerable, "sentences": [{"text": t, "citations": c} for t, c in sentences]})


def test_real_model_answer_cites_only_existing_passages(smollm):
    answer = LLMAnswerWriter(smollm, max_tokens=160).run(question="How was the company funded?", passages=PASSAGES)
    answer = answer["answer"]
    assert isinstance(answer, Answer) and answer.passages == PASSAGES
    assert answer.answer and answer.sentences
    assert answer.method in ("llama-cpp", "extractive")
    for sentence in answer.sentences:
        assert all(1 <= n <= len(PASSAGES) for n in sentence.citations)
        assert sentence.citations or sentence.text == NO_ANSWER
    assert answer.generation.method == "llama-cpp" and answer.generation.model.startswith("SmolLM2")
    report = answer.grounding
    assert report.citations_checked >= report.citations_dropped >= 0


def test_citations_of_missing_passages_are_removed_and_counted():
    report = GroundingReport()
    parsed = AnswerReply.model_validate_json(
        reply(True, ("Consulting paid the bills [1].", [1, 3]), ("Invented.", [0, 7]), ("Support came first.", [2]))
    )
    sentences = ground_reply(parsed, passages=2, report=report)
    assert [(s.text, s.citations) for s in sentences] == [
        ("Consulting paid the bills.", [1]),
        ("Support came first.", [2]),
    ]
    assert (report.citations_checked, report.citations_dropped, report.claims_dropped) == (5, 3, 1)


def test_reply_without_valid_citations_says_the_passages_do_not_answer():
    generator = ScriptedGenerator(replies=[reply(True, ("They sold ice cream.", [5]))])
    answer = LLMAnswerWriter(generator).write(Answer(question="What did they sell?", passages=PASSAGES))
    assert answer.answer == NO_ANSWER and answer.sentences[0].citations == []
    assert answer.grounding.citations_dropped == 1 and answer.method == "llama-cpp"


def test_model_saying_unanswerable_is_respected():
    generator = ScriptedGenerator(replies=[reply(False)])
    answer = LLMAnswerWriter(generator).write(Answer(question="Who won the 1998 World Cup?", passages=PASSAGES))
    assert answer.answer == NO_ANSWER


def test_no_passages_means_no_model_call():
    generator = ScriptedGenerator()
    answer = LLMAnswerWriter(generator).run(question="Anything?", passages=[])["answer"]
    assert answer.answer == NO_ANSWER and generator.calls == []


def test_invalid_reply_after_repair_falls_back_to_the_extractive_answer():
    generator = ScriptedGenerator(replies=["I think the answer is consulting.", '{"answerable": "maybe"}'])
    answer = LLMAnswerWriter(generator).write(Answer(question="How was it funded?", passages=PASSAGES))
    assert answer.method == "extractive" and len(generator.calls) == 2
    assert [s.citations for s in answer.sentences] == [[1], [2]]
    assert answer.answer.startswith("Consulting revenue paid the bills") and "[1]" in answer.answer
    assert answer.grounding.fallbacks and "invalid reply" in answer.grounding.fallbacks[0]

    extractive = [AnswerSentence(text="Our first hire was a support engineer.", citations=[2])]
    given = Answer(question="Who came first?", passages=PASSAGES, sentences=extractive, method="extractive")
    generator = ScriptedGenerator(replies=["{", "{"])
    answer = LLMAnswerWriter(generator).write(given)
    assert answer.sentences == extractive and answer.method == "extractive"  # the extractive answer it was given


def test_passages_that_do_not_fit_the_context_are_left_out_and_recorded():
    long = [passage(" ".join(f"word{n}" for n in range(600)) + ".", 10 * i) for i in range(6)]
    generator = ScriptedGenerator(replies=[reply(True, ("Words.", [1, 6]))])
    generator.config = generator.config.model_copy(update={"n_ctx": 3000})
    writer = LLMAnswerWriter(generator, max_tokens=200, max_passages=6)
    answer = writer.write(Answer(question="What?", passages=long))
    shown = generator.calls[0][-1].text.count("\n[")
    assert 1 <= shown < 6
    assert answer.sentences[0].citations == [1] and answer.grounding.citations_dropped == 1
    assert f"passages {shown + 1}–6 left out" in answer.grounding.fallbacks[0]


def test_the_model_reads_the_best_passages_compacted_in_the_order_they_were_said():
    turns = "Ann: Um, we we should ship in May.\nBob: Yeah.\nAnn: Uh, because the the demo is in June."
    meeting = passage(turns, 30).model_copy(update={"speakers": ["Ann", "Bob"]})
    assert compact_text(meeting) == "Ann: We should ship in May.\nAnn: Because the demo is in June."
    ranked = [passage("Later we hired.", 40), meeting, passage("Never shown.", 5)]
    generator = ScriptedGenerator(replies=[reply(True, ("Ann wanted May.", [2, 3]))])
    answer = LLMAnswerWriter(generator, max_passages=2).write(Answer(question="When?", passages=ranked))
    prompt = generator.calls[0][-1].text
    assert "Never shown" not in prompt and prompt.index("[2]") < prompt.index("[1]")  # time order, rank numbers
    assert answer.sentences[0].citations == [2] and answer.grounding.citations_dropped == 1


def test_answers_are_capped_at_whole_sentences():
    sentences = [AnswerSentence(text=" ".join(["word"] * n), citations=[1]) for n in (50, 30, 30)]
    assert [len(s.text.split()) for s in capped(sentences, 90)] == [50, 30]
    assert len(capped(sentences[:1], 10)) == 1  # the first sentence is always kept


def test_extractive_is_no_generator_and_the_writer_needs_one():
    from pipeline.llm.factory import create_generator
    from pipeline.llm.settings import GeneratorConfig

    assert create_generator(GeneratorConfig()) is None
    with pytest.raises(ValueError, match="LLM"):
        LLMAnswerWriter(create_generator(GeneratorConfig(backend="extractive")))
